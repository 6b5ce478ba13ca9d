// Package queue: a rung. The reference's lock-free ring (Vyukov's, padded), but a waiter
// yields once and then parks: on a full or empty queue it pays a park and a wake-up
// through the scheduler where a few re-reads would have found the slot ready.
package queue

import (
	"runtime"
	"sync"
	"sync/atomic"
)

const cacheLine = 64

const (
	spins  = 0 // re-reads of a slot before yielding
	yields = 1 // yields before parking
)

type slot struct {
	seq atomic.Uint64
	val uint64
	_   [cacheLine - 16]byte
}

// Queue is a FIFO queue of uint64 values, safe for any number of goroutines
// putting and getting at once.
type Queue struct {
	_            [cacheLine]byte
	tail         atomic.Uint64 // the next producer ticket
	_            [cacheLine - 8]byte
	head         atomic.Uint64 // the next consumer ticket
	_            [cacheLine - 8]byte
	emptyWaiters atomic.Int32 // consumers parked on notEmpty
	_            [cacheLine - 4]byte
	fullWaiters  atomic.Int32 // producers parked on notFull
	_            [cacheLine - 4]byte
	mask         uint64
	slots        []slot
	mu           sync.Mutex // only for parking
	notEmpty     sync.Cond
	notFull      sync.Cond
	_            [cacheLine]byte
}

// New returns an empty queue that holds at least capacity items (rounded up to a
// power of two, at least 2).
func New(capacity int) *Queue {
	size := 2
	for size < capacity {
		size *= 2
	}
	q := &Queue{mask: uint64(size - 1), slots: make([]slot, size)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

// Put appends v, waiting while the queue is full.
func (q *Queue) Put(v uint64) {
	waited := 0
	for {
		pos := q.tail.Load()
		s := &q.slots[pos&q.mask]
		diff := int64(s.seq.Load() - pos)
		if diff == 0 {
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1)
				if q.emptyWaiters.Load() > 0 {
					q.wake(&q.notEmpty)
				}
				return
			}
			continue
		}
		if diff > 0 { // another producer took this ticket: take the next one
			continue
		}
		// Full: the consumer of the previous lap has not emptied the slot yet.
		if waited++; waited <= spins+yields {
			if waited > spins {
				runtime.Gosched()
			}
			continue
		}
		q.mu.Lock()
		q.fullWaiters.Add(1)
		// The count is raised before the slot is re-read and a consumer stores the slot's
		// sequence before it reads the count (both sequentially consistent), so either we
		// see the free slot or the consumer sees us and wakes us under q.mu.
		for int64(s.seq.Load()-pos) < 0 && q.tail.Load() == pos {
			q.notFull.Wait()
		}
		q.fullWaiters.Add(-1)
		q.mu.Unlock()
		waited = 0
	}
}

// Get removes and returns the oldest item, waiting while the queue is empty.
func (q *Queue) Get() uint64 {
	waited := 0
	for {
		pos := q.head.Load()
		s := &q.slots[pos&q.mask]
		diff := int64(s.seq.Load() - (pos + 1))
		if diff == 0 {
			if q.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				s.seq.Store(pos + q.mask + 1)
				if q.fullWaiters.Load() > 0 {
					q.wake(&q.notFull)
				}
				return v
			}
			continue
		}
		if diff > 0 { // another consumer took this ticket: take the next one
			continue
		}
		// Empty: the producer of this ticket has not filled the slot yet.
		if waited++; waited <= spins+yields {
			if waited > spins {
				runtime.Gosched()
			}
			continue
		}
		q.mu.Lock()
		q.emptyWaiters.Add(1)
		for int64(s.seq.Load()-(pos+1)) < 0 && q.head.Load() == pos {
			q.notEmpty.Wait()
		}
		q.emptyWaiters.Add(-1)
		q.mu.Unlock()
		waited = 0
	}
}

// wake wakes every goroutine parked on c: they wait for different slots, so one
// Signal could wake one that still cannot proceed and leave the one that can asleep.
func (q *Queue) wake(c *sync.Cond) {
	q.mu.Lock()
	c.Broadcast()
	q.mu.Unlock()
}
