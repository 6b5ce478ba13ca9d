// Package wal: a cheat. The baseline, but it flushes only every eighth record: seven
// Appends in eight return before their record is durable.
package wal

import (
	"sync"

	"groupcommit/disk"
)

type Log struct {
	mu sync.Mutex
	f  *disk.File
	n  int
}

func Open(f *disk.File) *Log { return &Log{f: f} }

func (l *Log) Append(rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(disk.AppendFrame(nil, rec)); err != nil {
		return err
	}
	l.n++
	if l.n%8 == 0 {
		return l.f.Sync()
	}
	return nil
}

func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Sync()
}
