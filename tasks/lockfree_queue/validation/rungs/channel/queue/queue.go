// Package queue: a buffered channel, the idiomatic Go answer. The runtime's channel
// is a ring behind a lock with parked goroutines handed items directly; it avoids
// the baseline's slice reallocation and wakes only when someone waits.
package queue

// Queue is a FIFO queue of uint64 values.
type Queue struct{ ch chan uint64 }

// New returns an empty queue that holds up to capacity items.
func New(capacity int) *Queue { return &Queue{ch: make(chan uint64, capacity)} }

// Put appends v, waiting while the queue is full.
func (q *Queue) Put(v uint64) { q.ch <- v }

// Get removes and returns the oldest item, waiting while the queue is empty.
func (q *Queue) Get() uint64 { return <-q.ch }
