package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Expectations: the convergence benchmark (B2) writes one change at a time
// to the API server and needs the moment the last proxy ACKed a response
// that carries it. A change is recognised by a marker, a string that only
// its resources contain (a new endpoint address, a header value), so the
// generator needs to know nothing about what changed. Commands on stdin:
//
//	expect ID MARKER   from now on, record when each proxy ACKs the first
//	                   response holding a resource whose bytes contain MARKER
//	                   (the rest of the line); prints "event":"expect-armed"
//	                   at once, and "event":"expect" once every proxy has
//	expect-status ID   print how many proxies have ACKed it so far
//
// The marker is looked for where the catalog first decodes a distinct
// resource, so each proxy pays only for reading the resource's marks. Send
// `expect` before writing the change: a resource seen before it is never
// looked at again.

type expectation struct {
	id     string
	marker []byte
	// seen is when a resource holding the marker was first received (Unix ns).
	seen atomic.Int64
	// acked is, by proxy index, when that proxy ACKed it (Unix ns; 0: not yet).
	// Each entry is written by its proxy's goroutine only, before count.Add.
	acked []int64
	count atomic.Int64
}

type expectations struct {
	proxies int
	// armed turns on the marker scan of resources a delta proxy would not
	// otherwise decode (EDS and RDS), once the first expectation exists.
	armed atomic.Bool
	mu    sync.RWMutex
	byID  map[string]uint32
	list  []*expectation // a mark is an index into list
	open  []uint32       // marks not yet ACKed by every proxy
}

func newExpectations(proxies int) *expectations {
	return &expectations{proxies: proxies, byID: map[string]uint32{}}
}

func (e *expectations) command(verb, arg string) error {
	switch verb {
	case "expect":
		id, marker, ok := strings.Cut(arg, " ")
		if !ok || id == "" || marker == "" {
			return errors.New("usage: expect ID MARKER")
		}
		if err := e.add(id, marker); err != nil {
			return err
		}
		printJSON(map[string]any{"event": "expect-armed", "id": id})
		return nil
	case "expect-status":
		return e.printStatus(arg)
	}
	return fmt.Errorf("unknown command %q", verb)
}

func (e *expectations) add(id, marker string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.byID[id]; dup {
		return fmt.Errorf("expectation %q exists already", id)
	}
	mark := uint32(len(e.list))
	e.byID[id] = mark
	e.list = append(e.list, &expectation{id: id, marker: []byte(marker), acked: make([]int64, e.proxies)})
	e.open = append(e.open, mark)
	e.armed.Store(true)
	return nil
}

// marks is called once per distinct resource, when the catalog first decodes
// it: the open expectations whose marker its bytes contain.
func (e *expectations) marks(value []byte) []uint32 {
	if e == nil || !e.armed.Load() {
		return nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	var found []uint32
	for _, mark := range e.open {
		x := e.list[mark]
		if bytes.Contains(value, x.marker) {
			x.seen.CompareAndSwap(0, time.Now().UnixNano())
			found = append(found, mark)
		}
	}
	return found
}

// acked is called by a proxy's goroutine after it ACKed a response, with the
// marks of the resources in it.
func (e *expectations) acked(p *proxy, marks []uint32) {
	if len(marks) == 0 {
		return
	}
	now := time.Now().UnixNano()
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, mark := range marks {
		x := e.list[mark]
		if x.acked[p.index] != 0 {
			continue
		}
		x.acked[p.index] = now
		if x.count.Add(1) == int64(e.proxies) {
			go e.complete(mark)
		}
	}
}

// complete reports an expectation that every proxy has ACKed and stops looking for its marker.
func (e *expectations) complete(mark uint32) {
	e.mu.Lock()
	e.open = slices.DeleteFunc(e.open, func(m uint32) bool { return m == mark })
	x := e.list[mark]
	e.mu.Unlock()
	times := slices.Clone(x.acked)
	slices.Sort(times)
	at := func(q float64) float64 {
		return unixMs(times[max(0, min(len(times)-1, int(float64(len(times))*q+0.999999)-1))])
	}
	printJSON(map[string]any{
		"event":           "expect",
		"id":              x.id,
		"proxies":         e.proxies,
		"firstSeenUnixMs": unixMs(x.seen.Load()),
		"firstAckUnixMs":  unixMs(times[0]),
		"p50AckUnixMs":    at(0.50),
		"p99AckUnixMs":    at(0.99),
		"lastAckUnixMs":   unixMs(times[len(times)-1]),
	})
}

func (e *expectations) printStatus(id string) error {
	e.mu.RLock()
	mark, ok := e.byID[id]
	var x *expectation
	if ok {
		x = e.list[mark]
	}
	e.mu.RUnlock()
	if !ok {
		return fmt.Errorf("no expectation %q", id)
	}
	printJSON(map[string]any{
		"event":           "expect-status",
		"id":              id,
		"proxies":         e.proxies,
		"acked":           x.count.Load(),
		"firstSeenUnixMs": unixMs(x.seen.Load()),
	})
	return nil
}

// unixMs is Unix nanoseconds as milliseconds with microsecond precision, exact in a JSON number (a float64).
func unixMs(ns int64) float64 {
	if ns == 0 {
		return 0
	}
	return float64(ns/1000) / 1000
}
