// Package queue is the multi-producer multi-consumer FIFO queue the benchmark uses.
//
// This is the only file that is scored. The benchmark harness (main.go) and
// baseline/queue.go (a read-only copy of this file as it was shipped) are not.
package queue

import "sync"

// Queue is a FIFO queue of uint64 values, safe for any number of goroutines
// putting and getting at once.
type Queue struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	items    []uint64
	capacity int
}

// New returns an empty queue that holds up to capacity items (capacity >= 1).
func New(capacity int) *Queue {
	q := &Queue{capacity: capacity}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

// Put appends v, waiting while the queue is full.
func (q *Queue) Put(v uint64) {
	q.mu.Lock()
	for len(q.items) >= q.capacity {
		q.notFull.Wait()
	}
	q.items = append(q.items, v)
	q.notEmpty.Signal()
	q.mu.Unlock()
}

// Get removes and returns the oldest item, waiting while the queue is empty.
func (q *Queue) Get() uint64 {
	q.mu.Lock()
	for len(q.items) == 0 {
		q.notEmpty.Wait()
	}
	v := q.items[0]
	q.items = q.items[1:]
	q.notFull.Signal()
	q.mu.Unlock()
	return v
}
