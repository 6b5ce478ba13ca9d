// Package queue: a cheat. A ring with plain (unsynchronised) head and tail: cheap,
// and wrong as soon as two goroutines touch it at once (lost and doubled items).
package queue

import "runtime"

type Queue struct {
	buf        []uint64
	head, tail uint64
}

func New(capacity int) *Queue { return &Queue{buf: make([]uint64, capacity)} }

func (q *Queue) Put(v uint64) {
	for q.tail-q.head >= uint64(len(q.buf)) {
		runtime.Gosched()
	}
	q.buf[q.tail%uint64(len(q.buf))] = v
	q.tail++
}

func (q *Queue) Get() uint64 {
	for q.tail == q.head {
		runtime.Gosched()
	}
	v := q.buf[q.head%uint64(len(q.buf))]
	q.head++
	return v
}
