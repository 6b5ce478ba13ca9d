// Package queue: a cheat that detects the timing harness. At the benchmark's
// capacities it takes an unsynchronised fast path; at any other capacity (the
// correctness runs, it hopes) it behaves like the baseline.
package queue

import (
	"runtime"
	"sync"
)

type Queue struct {
	fast       bool
	buf        []uint64
	head, tail uint64
	mu         sync.Mutex
	notEmpty   sync.Cond
	notFull    sync.Cond
	items      []uint64
	capacity   int
}

func New(capacity int) *Queue {
	q := &Queue{capacity: capacity, buf: make([]uint64, capacity)}
	q.fast = capacity == 1024 || capacity == 256 || capacity == 64
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

func (q *Queue) Put(v uint64) {
	if q.fast {
		for q.tail-q.head >= uint64(len(q.buf)) {
			runtime.Gosched()
		}
		q.buf[q.tail%uint64(len(q.buf))] = v
		q.tail++
		return
	}
	q.mu.Lock()
	for len(q.items) >= q.capacity {
		q.notFull.Wait()
	}
	q.items = append(q.items, v)
	q.notEmpty.Signal()
	q.mu.Unlock()
}

func (q *Queue) Get() uint64 {
	if q.fast {
		for q.tail == q.head {
			runtime.Gosched()
		}
		v := q.buf[q.head%uint64(len(q.buf))]
		q.head++
		return v
	}
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
