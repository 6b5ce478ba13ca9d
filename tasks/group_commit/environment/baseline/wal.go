// Package wal is the write-ahead log the benchmark's clients append to.
//
// This is the only file that is scored. The harness (main.go), the log file
// (disk/disk.go) and baseline/wal.go (a read-only copy of this file as it was
// shipped) are not.
package wal

import (
	"sync"

	"groupcommit/disk"
)

// Log appends records to a log file. Its methods are safe for concurrent use.
type Log struct {
	mu    sync.Mutex
	f     *disk.File
	frame []byte
}

// Open returns a Log that appends to f.
func Open(f *disk.File) *Log {
	return &Log{f: f}
}

// Append adds rec to the log as one frame (disk.AppendFrame) and returns once the frame
// is durable: once a call of f.Sync that began after the frame was written has returned.
// Records of one goroutine appear in the log in the order it appended them.
func (l *Log) Append(rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frame = disk.AppendFrame(l.frame[:0], rec)
	if _, err := l.f.Write(l.frame); err != nil {
		return err
	}
	return l.f.Sync()
}

// Close is called once every Append has returned.
func (l *Log) Close() error {
	return nil
}
