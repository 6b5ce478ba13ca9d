// Read-only: the benchmark harness. The verifier builds it exactly as it is.
//
// ./bench -log FILE [-seed S] (-bench | -clients C -records M) [-limit SECONDS]
//
// C client goroutines each append M records to a fresh log (wal.Open over a
// disk.File on FILE), one after the other, and check after every Append that the
// record is durable. Then the harness prints one JSON line:
//
//	{"clients":16,"records":20,"appended":320,"durable":320,"not_durable_at_ack":0,"duplicates":0,
//	 "order_errors":0,"foreign":0,"framing":"","syncs":40,"writes":40,"bytes":…,"elapsed_ns":…}
//
// A record is a payload drawn from the seed and the record's id (client << 32 | sequence
// number), which it starts with. disk.File reports every frame as it becomes durable;
// the harness counts records durable twice, records out of their client's order,
// and frames that are no record of this run (foreign). The verifier reads FILE too.
// A run that does not finish within -limit seconds ends with exit code 3.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"groupcommit/disk"
	"groupcommit/wal"
)

const (
	benchClients = 16
	benchRecords = 20
)

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func splitmix(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	return mix(*state)
}

// payload is record id's payload: the id (8 bytes, little-endian) and 8 to 248 bytes
// more drawn from the seed and the id.
func payload(seed, id uint64) []byte {
	state := seed ^ mix(id)
	n := 16 + int(splitmix(&state)%241)
	buf := make([]byte, n)
	binary.LittleEndian.PutUint64(buf, id)
	var word [8]byte
	for i := 8; i < n; i += 8 {
		binary.LittleEndian.PutUint64(word[:], splitmix(&state))
		copy(buf[i:], word[:])
	}
	return buf
}

type report struct {
	Clients         int    `json:"clients"`
	Records         int    `json:"records"`
	Appended        int64  `json:"appended"`
	Durable         int64  `json:"durable"`
	NotDurableAtAck int64  `json:"not_durable_at_ack"`
	Duplicates      int64  `json:"duplicates"`
	OrderErrors     int64  `json:"order_errors"`
	Foreign         int64  `json:"foreign"`
	AppendErrors    int64  `json:"append_errors"`
	Framing         string `json:"framing"`
	Syncs           int64  `json:"syncs"`
	Writes          int64  `json:"writes"`
	Bytes           int64  `json:"bytes"`
	ElapsedNs       int64  `json:"elapsed_ns"`
}

func main() {
	path := flag.String("log", "", "the log file (created or truncated)")
	seed := flag.Uint64("seed", 0, "seed of the records' payloads")
	bench := flag.Bool("bench", false, "the benchmark: 16 clients, 20 records each")
	clients := flag.Int("clients", 0, "client goroutines")
	records := flag.Int("records", 0, "records per client")
	limit := flag.Float64("limit", 60, "seconds the run may take before it counts as hung")
	flag.Parse()
	if *bench {
		*clients, *records = benchClients, benchRecords
	}
	if *path == "" || *clients < 1 || *clients > 256 || *records < 1 || *records > 100000 {
		fmt.Fprintln(os.Stderr, "usage: bench -log FILE [-seed S] (-bench | -clients 1..256 -records 1..100000)")
		os.Exit(2)
	}
	c, m := *clients, *records
	f, err := os.OpenFile(*path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rep := report{Clients: c, Records: m}

	durable := make([]uint32, c*m)
	last := make([]int64, c)
	for i := range last {
		last[i] = -1
	}
	// Called by disk.File under its lock, in file order.
	onDurable := func(p []byte) {
		if len(p) < 8 {
			rep.Foreign++
			return
		}
		id := binary.LittleEndian.Uint64(p)
		client, seq := id>>32, id&0xFFFFFFFF
		if client >= uint64(c) || seq >= uint64(m) || string(p) != string(payload(*seed, id)) {
			rep.Foreign++
			return
		}
		if atomic.SwapUint32(&durable[client*uint64(m)+seq], 1) == 1 {
			rep.Duplicates++
			return
		}
		rep.Durable++
		if int64(seq) <= last[client] {
			rep.OrderErrors++
		}
		last[client] = int64(seq)
	}
	file := disk.New(f, onDurable)
	log := wal.Open(file)

	var done int64
	watchdog := time.AfterFunc(time.Duration(*limit*float64(time.Second)), func() {
		fmt.Fprintf(os.Stderr, "the run did not finish within %gs: %d of %d clients returned "+
			"(an Append never returned)\n", *limit, atomic.LoadInt64(&done), c)
		os.Exit(3)
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	var appended, notDurable, appendErrors int64
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func(client uint64) {
			defer wg.Done()
			<-start
			for s := uint64(0); s < uint64(m); s++ {
				id := client<<32 | s
				if err := log.Append(payload(*seed, id)); err != nil {
					atomic.AddInt64(&appendErrors, 1)
					break
				}
				atomic.AddInt64(&appended, 1)
				if atomic.LoadUint32(&durable[client*uint64(m)+s]) == 0 {
					atomic.AddInt64(&notDurable, 1)
				}
			}
			atomic.AddInt64(&done, 1)
		}(uint64(i))
	}
	began := time.Now()
	close(start)
	wg.Wait()
	if err := log.Close(); err != nil {
		atomic.AddInt64(&appendErrors, 1)
	}
	rep.ElapsedNs = time.Since(began).Nanoseconds()
	watchdog.Stop()

	var bad error
	rep.Syncs, rep.Writes, rep.Bytes, _, bad = file.Stats()
	if bad != nil {
		rep.Framing = bad.Error()
	}
	rep.Appended, rep.NotDurableAtAck, rep.AppendErrors = appended, notDurable, appendErrors
	if err := f.Close(); err != nil {
		rep.AppendErrors++
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		os.Exit(1)
	}
}
