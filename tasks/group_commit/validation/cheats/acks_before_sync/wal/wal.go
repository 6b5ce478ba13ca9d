// Package wal: a cheat. Append writes the frame and returns at once; a background
// goroutine flushes whenever it can. Every record does become durable, but after
// its client was told it was.
package wal

import (
	"sync"

	"groupcommit/disk"
)

type Log struct {
	mu   sync.Mutex
	f    *disk.File
	kick chan struct{}
	stop chan struct{}
	idle sync.WaitGroup
}

func Open(f *disk.File) *Log {
	l := &Log{f: f, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	l.idle.Add(1)
	go func() {
		defer l.idle.Done()
		for {
			select {
			case <-l.kick:
				_ = l.f.Sync()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

func (l *Log) Append(rec []byte) error {
	l.mu.Lock()
	_, err := l.f.Write(disk.AppendFrame(nil, rec))
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return err
}

func (l *Log) Close() error {
	close(l.stop)
	l.idle.Wait()
	return l.f.Sync()
}
