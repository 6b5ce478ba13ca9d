// Package wal is the write-ahead log the benchmark's clients append to.
//
// The reference solution: group commit with a leader. Append adds its frame to the
// pending batch and waits until that batch is durable. When no flush is in progress,
// the waiting appender whose batch is next becomes the leader: it takes the whole
// pending batch, writes it with one write and makes it durable with one Sync, while
// the next batch collects the frames that arrive meanwhile. One fsync then serves
// every client that appended during the previous one, so the number of fsyncs falls
// from one per record to about one per round of clients, and the disk is never idle
// while records wait.
package wal

import (
	"sync"

	"groupcommit/disk"
)

// Log appends records to a log file. Its methods are safe for concurrent use.
type Log struct {
	f        *disk.File
	mu       sync.Mutex
	done     sync.Cond // a batch became durable (or failed)
	pending  []byte    // frames of batch number next, not written yet
	spare    []byte    // the buffer of the batch last flushed, reused
	next     uint64    // number of the batch collecting frames
	durable  uint64    // last batch that is durable
	flushing bool      // a leader is writing and syncing a batch
	err      error     // the first write or sync error: every later Append fails
}

// Open returns a Log that appends to f.
func Open(f *disk.File) *Log {
	l := &Log{f: f, next: 1}
	l.done.L = &l.mu
	return l
}

// Append adds rec to the log as one frame (disk.AppendFrame) and returns once the frame
// is durable: once a call of f.Sync that began after the frame was written has returned.
// Records of one goroutine appear in the log in the order it appended them.
func (l *Log) Append(rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.pending = disk.AppendFrame(l.pending, rec)
	mine := l.next
	for l.durable < mine && l.err == nil {
		if l.flushing {
			l.done.Wait()
			continue
		}
		// Lead: flush the pending batch (it holds our frame, and maybe many more).
		batch, number := l.pending, l.next
		l.pending, l.spare = l.spare[:0], nil
		l.next++
		l.flushing = true
		l.mu.Unlock()
		err := l.flush(batch)
		l.mu.Lock()
		l.flushing = false
		if err != nil && l.err == nil {
			l.err = err
		}
		l.durable = number
		l.spare = batch
		l.done.Broadcast()
	}
	return l.err
}

func (l *Log) flush(batch []byte) error {
	if _, err := l.f.Write(batch); err != nil {
		return err
	}
	return l.f.Sync()
}

// Close is called once every Append has returned.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
