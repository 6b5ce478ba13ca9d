// Package wal: a rung. A flusher goroutine takes frames from a channel, up to four
// at a time, writes and syncs them, and answers each appender on its own channel.
// Batches of at most four: about a quarter of the baseline's flushes.
package wal

import "groupcommit/disk"

const maxBatch = 4

type request struct {
	frame []byte
	done  chan error
}

type Log struct {
	f        *disk.File
	requests chan request
}

func Open(f *disk.File) *Log {
	l := &Log{f: f, requests: make(chan request, 64)}
	go l.flusher()
	return l
}

func (l *Log) flusher() {
	var batch []byte
	waiting := make([]chan error, 0, maxBatch)
	for first := range l.requests {
		batch = append(batch[:0], first.frame...)
		waiting = append(waiting[:0], first.done)
	more:
		for len(waiting) < maxBatch {
			select {
			case r := <-l.requests:
				batch = append(batch, r.frame...)
				waiting = append(waiting, r.done)
			default:
				break more
			}
		}
		_, err := l.f.Write(batch)
		if err == nil {
			err = l.f.Sync()
		}
		for _, done := range waiting {
			done <- err
		}
	}
}

func (l *Log) Append(rec []byte) error {
	done := make(chan error, 1)
	l.requests <- request{frame: disk.AppendFrame(nil, rec), done: done}
	return <-done
}

func (l *Log) Close() error {
	close(l.requests)
	return nil
}
