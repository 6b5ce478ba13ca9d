// Package disk is the harness's log file. Read-only: the verifier builds it exactly as it is.
//
// A File appends what is written to it to a real file and makes it durable with
// Sync. It models a simple storage device: the device flushes one request at a
// time, and every flush costs a fixed FlushLatency on top of the real fsync, as on
// a disk that must commit to stable media (or to a replica) before it answers, so
// that the cost of durability is the same on a laptop's SSD and on a CI runner.
// A Sync always asks the device for a flush of its own, which covers every byte
// written before the flush began.
//
// The File also keeps track, for the harness, of which records are durable: every
// complete frame in the bytes a flush covered is reported to the harness when the
// flush returns.
//
// The log is a sequence of frames, each made by AppendFrame:
//
//	[payload length, uint32 little-endian][CRC-32 (IEEE) of the payload, uint32 little-endian][payload]
package disk

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"sync"
	"time"
)

// FlushLatency is what every flush costs on top of the fsync.
const FlushLatency = 5 * time.Millisecond

// HeaderSize is the size of a frame's header (length and CRC).
const HeaderSize = 8

// MaxPayload is the largest payload a frame may carry.
const MaxPayload = 1 << 20

// AppendFrame appends the frame of payload to dst and returns the extended slice.
func AppendFrame(dst, payload []byte) []byte {
	var header [HeaderSize]byte
	binary.LittleEndian.PutUint32(header[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(header[4:8], crc32.ChecksumIEEE(payload))
	dst = append(dst, header[:]...)
	return append(dst, payload...)
}

// File is an append-only log file. Its methods are safe for concurrent use.
type File struct {
	device    sync.Mutex // held for a flush: one at a time
	mu        sync.Mutex
	f         *os.File
	written   int64  // bytes written
	mirror    []byte // the bytes written and not yet parsed as durable frames
	mirrorOff int64  // file offset of mirror[0]
	durable   int64  // bytes covered by a Sync that has returned
	syncs     int64
	writes    int64
	bad       error
	onDurable func(payload []byte)
}

// New returns a File writing to f (opened for appending). onDurable is called, under
// the File's lock, with the payload of every frame as it becomes durable.
func New(f *os.File, onDurable func(payload []byte)) *File {
	return &File{f: f, onDurable: onDurable}
}

// Write appends p to the file (one write system call; never a partial write).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.f.Write(p)
	f.written += int64(n)
	f.writes++
	f.mirror = append(f.mirror, p[:n]...)
	return n, err
}

// Sync makes every byte written before it was called durable: it waits for the device,
// then flushes (fsync and FlushLatency) every byte written until the flush begins.
// Writes may run while it waits; Syncs wait for each other.
func (f *File) Sync() error {
	f.device.Lock()
	defer f.device.Unlock()
	f.mu.Lock()
	target := f.written
	f.mu.Unlock()
	if err := f.f.Sync(); err != nil {
		return err
	}
	time.Sleep(FlushLatency)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if target > f.durable {
		f.durable = target
		f.parse()
	}
	return nil
}

// parse reports the complete frames of the durable prefix not reported yet.
func (f *File) parse() {
	for f.bad == nil {
		avail := f.durable - f.mirrorOff
		if avail < HeaderSize {
			break
		}
		n := int64(binary.LittleEndian.Uint32(f.mirror[0:4]))
		if n > MaxPayload {
			f.bad = errors.New("a frame's length is over the maximum payload")
			break
		}
		if avail < HeaderSize+n {
			break
		}
		payload := f.mirror[HeaderSize : HeaderSize+n]
		if crc32.ChecksumIEEE(payload) != binary.LittleEndian.Uint32(f.mirror[4:8]) {
			f.bad = errors.New("a frame's CRC does not match its payload")
			break
		}
		f.onDurable(payload)
		f.mirror = f.mirror[HeaderSize+n:]
		f.mirrorOff += HeaderSize + n
	}
	if len(f.mirror) == 0 {
		f.mirror = nil // let the consumed prefix go
	}
}

// Stats returns the number of Sync and Write calls, the bytes written, the bytes made
// durable, and the first framing error found in the durable bytes (or nil).
func (f *File) Stats() (syncs, writes, written, durable int64, bad error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs, f.writes, f.written, f.durable, f.bad
}
