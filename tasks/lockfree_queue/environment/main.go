// Read-only: the benchmark harness. The verifier builds it exactly as it is.
//
// ./bench [-seed S] [-phases P:C:N:CAP,...] [-bench] [-limit SECONDS]
//
// Each phase makes a fresh queue.New(CAP), starts P producer goroutines that Put
// N items each and C consumer goroutines that Get until they receive a stop item
// (the harness puts C of them once every producer has finished), then checks what
// the consumers received and prints one JSON line:
//
//	{"phase":0,"p":4,"c":4,"n":500000,"cap":256,"received":2000000,"sum":"…","order_errors":0,"invalid":0,"elapsed_ns":…}
//
// Items are encrypted with a key derived from the seed, so a queue cannot make
// items up or tell a stop item from another one; each consumer checks that the
// items of every producer reach it in increasing order (per-producer FIFO), and
// "sum" is a keyed checksum of every item received, which the verifier compares
// with the sum of every item sent (each item exactly once). A phase that does
// not finish within -limit seconds (a deadlock) ends the program with exit code 3.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lockfree/queue"
)

// The phases of the benchmark (-bench): one producer and one consumer, balanced
// crowds, producer-heavy and consumer-heavy loads, small and large capacities.
const benchPhases = "1:1:600000:1024,4:4:500000:256,8:8:250000:64,16:16:120000:128,2:8:600000:1024,8:2:250000:64"

const seqBits = 40

type keys struct {
	round [4]uint64
	check uint64
}

func splitmix(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	return mix(*state)
}

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func newKeys(seed uint64) keys {
	var k keys
	state := seed
	for i := range k.round {
		k.round[i] = splitmix(&state)
	}
	k.check = splitmix(&state)
	return k
}

func feistel(r uint32, k uint64) uint32 {
	return uint32(((uint64(r) ^ k) * 0xD6E8FEB86659FD93) >> 32)
}

// encrypt is a four-round Feistel network over the two halves of x.
func (k *keys) encrypt(x uint64) uint64 {
	l, r := uint32(x>>32), uint32(x)
	for i := 0; i < 4; i++ {
		l, r = r, l^feistel(r, k.round[i])
	}
	return uint64(l)<<32 | uint64(r)
}

func (k *keys) decrypt(y uint64) uint64 {
	l, r := uint32(y>>32), uint32(y)
	for i := 3; i >= 0; i-- {
		l, r = r^feistel(l, k.round[i]), l
	}
	return uint64(l)<<32 | uint64(r)
}

const stopItem = ^uint64(0)

type phase struct {
	p, c     int
	n        uint64
	capacity int
}

type report struct {
	Phase       int    `json:"phase"`
	P           int    `json:"p"`
	C           int    `json:"c"`
	N           uint64 `json:"n"`
	Cap         int    `json:"cap"`
	Received    uint64 `json:"received"`
	Sum         string `json:"sum"`
	OrderErrors uint64 `json:"order_errors"`
	Invalid     uint64 `json:"invalid"`
	ElapsedNs   int64  `json:"elapsed_ns"`
}

// consumerResult is padded so that consumers finishing at once do not share a cache line.
type consumerResult struct {
	received, sum, orderErrors, invalid uint64
	_                                   [32]byte
}

func run(index int, ph phase, k *keys, limit time.Duration) report {
	q := queue.New(ph.capacity)
	var producersDone, consumersDone int64
	watchdog := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "phase %d (P=%d C=%d N=%d cap=%d) did not finish within %v: "+
			"%d of %d producers and %d of %d consumers returned (a Put or a Get never returned: deadlock or lost items)\n",
			index, ph.p, ph.c, ph.n, ph.capacity, limit,
			atomic.LoadInt64(&producersDone), ph.p, atomic.LoadInt64(&consumersDone), ph.c)
		os.Exit(3)
	})
	defer watchdog.Stop()

	results := make([]consumerResult, ph.c)
	start := make(chan struct{})
	var producers, consumers sync.WaitGroup
	for p := 0; p < ph.p; p++ {
		producers.Add(1)
		go func(p uint64) {
			defer producers.Done()
			<-start
			for s := uint64(0); s < ph.n; s++ {
				q.Put(k.encrypt(p<<seqBits | s))
			}
			atomic.AddInt64(&producersDone, 1)
		}(uint64(p))
	}
	for c := 0; c < ph.c; c++ {
		consumers.Add(1)
		go func(res *consumerResult) {
			defer consumers.Done()
			last := make([]int64, ph.p)
			for i := range last {
				last[i] = -1
			}
			var received, sum, orderErrors, invalid uint64
			<-start
			for {
				x := k.decrypt(q.Get())
				if x == stopItem {
					break
				}
				p, s := x>>seqBits, x&(1<<seqBits-1)
				if p >= uint64(ph.p) || s >= ph.n {
					invalid++
					continue
				}
				if int64(s) <= last[p] {
					orderErrors++
				}
				last[p] = int64(s)
				sum += mix(x ^ k.check)
				received++
			}
			*res = consumerResult{received: received, sum: sum, orderErrors: orderErrors, invalid: invalid}
			atomic.AddInt64(&consumersDone, 1)
		}(&results[c])
	}
	began := time.Now()
	close(start)
	producers.Wait()
	stop := k.encrypt(stopItem)
	for c := 0; c < ph.c; c++ {
		q.Put(stop)
	}
	consumers.Wait()
	elapsed := time.Since(began)

	rep := report{Phase: index, P: ph.p, C: ph.c, N: ph.n, Cap: ph.capacity, ElapsedNs: elapsed.Nanoseconds()}
	var sum uint64
	for _, res := range results {
		rep.Received += res.received
		sum += res.sum
		rep.OrderErrors += res.orderErrors
		rep.Invalid += res.invalid
	}
	rep.Sum = strconv.FormatUint(sum, 16)
	return rep
}

func parsePhases(spec string) ([]phase, error) {
	var phases []phase
	for _, part := range strings.Split(spec, ",") {
		fields := strings.Split(part, ":")
		if len(fields) != 4 {
			return nil, fmt.Errorf("phase %q: expected P:C:N:CAP", part)
		}
		var v [4]uint64
		for i, f := range fields {
			x, err := strconv.ParseUint(f, 10, 64)
			if err != nil || x == 0 {
				return nil, fmt.Errorf("phase %q: %q is not a positive integer", part, f)
			}
			v[i] = x
		}
		if v[0] > 64 || v[1] > 64 || v[2] >= 1<<seqBits || v[3] > 1<<24 {
			return nil, fmt.Errorf("phase %q: out of range (P, C <= 64, CAP <= %d)", part, 1<<24)
		}
		phases = append(phases, phase{p: int(v[0]), c: int(v[1]), n: v[2], capacity: int(v[3])})
	}
	return phases, nil
}

func main() {
	seed := flag.Uint64("seed", 0, "seed of the item encryption key")
	spec := flag.String("phases", "", "phases P:C:N:CAP separated by commas")
	bench := flag.Bool("bench", false, "run the benchmark's phases")
	limit := flag.Float64("limit", 20, "seconds a phase may take before it counts as a deadlock")
	procs := flag.Int("procs", 2, "GOMAXPROCS")
	flag.Parse()
	if *bench == (*spec != "") {
		fmt.Fprintln(os.Stderr, "give exactly one of -bench and -phases")
		os.Exit(2)
	}
	if *bench {
		*spec = benchPhases
	}
	phases, err := parsePhases(*spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	k := newKeys(*seed)
	out := json.NewEncoder(os.Stdout)
	for i, ph := range phases {
		if err := out.Encode(run(i, ph, &k, time.Duration(*limit*float64(time.Second)))); err != nil {
			os.Exit(1)
		}
	}
}
