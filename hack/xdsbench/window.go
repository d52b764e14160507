package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Windows: the churn benchmark (B3) measures a stretch of time while the
// proxies are held connected, and needs two things the phases do not give:
// what the proxies received and sent in that stretch, by type, and whether
// every proxy ended up holding, and having ACKed, the final content of what
// changed. Versions cannot tell that (Skiff's are content hashes, the peer's
// snapshot numbers), so the content itself is compared, decoded once per
// distinct resource. Commands, one per line on stdin:
//
//	window         prints what the proxies received and sent since the previous
//	               `window` (or since they started) and starts a new window
//	final FILE     tracks, from now on, which proxies hold exactly the file's
//	               resources (the peer's resource-file format); send it before
//	               the changes, since content received earlier is not seen
//	await-final S  waits up to S seconds until every proxy holds and has ACKed
//	               all of them, lets responses settle, and prints the result

// typeCounters count, for one type, the responses the proxies ACKed.
type typeCounters struct {
	responses atomic.Int64
	bytes     atomic.Int64
	resources atomic.Int64
}

type windowTotals struct {
	at                                   time.Time
	bytes, responses, sent               int64
	cpu                                  float64
	typeResponses, typeBytes, typeResMsg [numTypes]int64
}

type window struct {
	byType [numTypes]typeCounters
	target atomic.Pointer[finalTarget]
	// mark is only used by the command goroutine.
	mark windowTotals
}

// finalTarget is the content every proxy should end up with, and who has it.
type finalTarget struct {
	want      []proto.Message
	positions [numTypes]map[string]int // name to index in want
	verdictMu sync.RWMutex
	verdicts  [numTypes]map[string]verdict // by resource bytes
	proxies   []proxyFinal                 // by proxy index
	holding   atomic.Int64                 // proxies that hold all of want
}

// verdict: which wanted resource a distinct content is (-1: none), and whether it is the wanted content.
type verdict struct {
	position int
	final    bool
}

type proxyFinal struct {
	// held, count and next are written by the proxy's goroutine only.
	held  []bool // by index in want
	count int
	// next is scratch for a SotW response: what the proxy holds once it is applied.
	next []bool
	// since is when the proxy last came to hold all of want (Unix ns), 0 while it does not.
	since atomic.Int64
}

// startCommands reads load's stdin commands until stdin closes.
func (g *generator) startCommands() {
	g.window.mark = g.windowTotals()
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			g.command(strings.TrimSpace(scanner.Text()))
		}
	}()
}

func (g *generator) command(line string) {
	verb, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	var err error
	switch verb {
	case "":
	case "window":
		g.printWindow()
	case "final":
		err = g.armFinal(arg)
	case "await-final":
		var seconds float64
		if seconds, err = strconv.ParseFloat(arg, 64); err == nil {
			g.awaitFinal(time.Duration(seconds * float64(time.Second)))
		}
	case "expect", "expect-status":
		err = g.expect.command(verb, arg)
	default:
		err = fmt.Errorf("unknown command %q", line)
	}
	if err != nil {
		printJSON(map[string]any{"event": "error", "error": err.Error()})
	}
}

func printJSON(v map[string]any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}

func (g *generator) windowTotals() windowTotals {
	t := windowTotals{at: time.Now(), cpu: cpuSeconds()}
	for _, p := range g.proxies {
		for phase := range 2 {
			t.bytes += p.bytes[phase].Load()
			t.responses += p.responses[phase].Load()
			t.sent += p.sent[phase].Load()
		}
	}
	for k := range numTypes {
		c := &g.window.byType[k]
		t.typeResponses[k], t.typeBytes[k], t.typeResMsg[k] = c.responses.Load(), c.bytes.Load(), c.resources.Load()
	}
	return t
}

func (g *generator) printWindow() {
	now, was := g.windowTotals(), g.window.mark
	g.window.mark = now
	byType := map[string]any{}
	for k := range numTypes {
		byType[shortNames[k]] = map[string]int64{
			"responses": now.typeResponses[k] - was.typeResponses[k],
			"bytes":     now.typeBytes[k] - was.typeBytes[k],
			"resources": now.typeResMsg[k] - was.typeResMsg[k],
		}
	}
	printJSON(map[string]any{
		"event":            "window",
		"startUnixMs":      was.at.UnixMilli(),
		"endUnixMs":        now.at.UnixMilli(),
		"elapsedMs":        ms(now.at.Sub(was.at)),
		"bytesReceived":    now.bytes - was.bytes,
		"responses":        now.responses - was.responses,
		"requestBytes":     now.sent - was.sent,
		"clientCpuSeconds": float64(int64((now.cpu-was.cpu)*1000)) / 1000,
		"byType":           byType,
	})
}

// armFinal reads the wanted content; every proxy starts out not holding it.
func (g *generator) armFinal(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var file resourceFile
	if err := json.Unmarshal(data, &file); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t := &finalTarget{proxies: make([]proxyFinal, g.cfg.proxies)}
	for k, entries := range [numTypes][]json.RawMessage{file.Clusters, file.Endpoints, file.Listeners, file.Routes} {
		t.positions[k] = map[string]int{}
		t.verdicts[k] = map[string]verdict{}
		for i, raw := range entries {
			msg := newResourceMessage(k)
			if err := protojson.Unmarshal(raw, msg); err != nil {
				return fmt.Errorf("%s: %s[%d]: %w", path, shortNames[k], i, err)
			}
			t.positions[k][cachev3.GetResourceName(msg)] = len(t.want)
			t.want = append(t.want, msg)
		}
	}
	for i := range t.proxies {
		t.proxies[i].held = make([]bool, len(t.want))
	}
	g.window.target.Store(t)
	printJSON(map[string]any{"event": "final-armed", "resources": len(t.want)})
	return nil
}

func newResourceMessage(k int) proto.Message {
	switch k {
	case tCDS:
		return &clusterv3.Cluster{}
	case tEDS:
		return &endpointv3.ClusterLoadAssignment{}
	case tLDS:
		return &listenerv3.Listener{}
	default:
		return &routev3.RouteConfiguration{}
	}
}

// awaitFinal waits until every proxy holds the wanted content (or the
// deadline, or proxies failing), then until responses settle, and reports.
func (g *generator) awaitFinal(timeout time.Duration) {
	t := g.window.target.Load()
	if t == nil {
		printJSON(map[string]any{"event": "error", "error": "await-final before final"})
		return
	}
	deadline := time.Now().Add(timeout)
	for t.holding.Load() < int64(g.cfg.proxies) && time.Now().Before(deadline) {
		g.failMu.Lock()
		failures := g.failures
		g.failMu.Unlock()
		if failures > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	holding := t.holding.Load()
	var last int64
	for i := range t.proxies {
		last = max(last, t.proxies[i].since.Load())
	}
	if holding == int64(g.cfg.proxies) {
		g.quiesce()
	}
	out := map[string]any{
		"event":                "final",
		"proxies":              g.cfg.proxies,
		"holding":              holding,
		"resources":            len(t.want),
		"lastHoldingUnixMs":    last / 1e6,
		"timedOut":             holding < int64(g.cfg.proxies),
		"distinctContentsSeen": t.distinctContents(),
	}
	g.failMu.Lock()
	out["failures"] = g.failures
	if g.firstErr != nil {
		out["firstError"] = g.firstErr.Error()
	}
	g.failMu.Unlock()
	printJSON(out)
}

func (t *finalTarget) distinctContents() int {
	t.verdictMu.RLock()
	defer t.verdictMu.RUnlock()
	n := 0
	for _, m := range t.verdicts {
		n += len(m)
	}
	return n
}

// acked is called by a proxy's goroutine after it ACKed a response of type
// k: it counts the response and updates what the proxy holds. A SotW
// response of CDS or LDS replaces everything the proxy had of the type; a
// SotW response of EDS or RDS, like a delta response, changes only the names
// it carries (Envoy keeps a ClusterLoadAssignment or RouteConfiguration that
// a response leaves out), and a delta response also removes names.
func (w *window) acked(p *proxy, k int, size int, resp *response, sotw bool) {
	sotw = sotw && stateOfTheWorld(k)
	c := &w.byType[k]
	c.responses.Add(1)
	c.bytes.Add(int64(size))
	c.resources.Add(int64(len(resp.resources)))
	t := w.target.Load()
	if t == nil || len(t.positions[k]) == 0 {
		return
	}
	pf := &t.proxies[p.index]
	if sotw && pf.next == nil {
		pf.next = make([]bool, len(t.want))
	}
	for _, r := range resp.resources {
		v, err := t.verdict(k, r.value)
		if err != nil {
			p.g.fail(p, err)
			return
		}
		switch {
		case v.position < 0:
		case sotw:
			pf.next[v.position] = v.final
		default:
			pf.set(t, v.position, v.final)
		}
	}
	if sotw {
		// Applied at once, so that a proxy that keeps holding everything never appears not to.
		for _, pos := range t.positions[k] {
			pf.set(t, pos, pf.next[pos])
			pf.next[pos] = false
		}
	}
	for _, name := range resp.removed {
		if pos, ok := t.positions[k][string(name)]; ok {
			pf.set(t, pos, false)
		}
	}
}

func (pf *proxyFinal) set(t *finalTarget, pos int, held bool) {
	if pf.held[pos] == held {
		return
	}
	pf.held[pos] = held
	before := pf.count == len(t.want)
	if held {
		pf.count++
	} else {
		pf.count--
	}
	switch after := pf.count == len(t.want); {
	case after && !before:
		pf.since.Store(time.Now().UnixNano())
		t.holding.Add(1)
	case before && !after:
		pf.since.Store(0)
		t.holding.Add(-1)
	}
}

// verdict decodes a distinct content once and compares it with the wanted one of its name.
func (t *finalTarget) verdict(k int, value []byte) (verdict, error) {
	t.verdictMu.RLock()
	v, ok := t.verdicts[k][string(value)]
	t.verdictMu.RUnlock()
	if ok {
		return v, nil
	}
	msg := newResourceMessage(k)
	if err := proto.Unmarshal(value, msg); err != nil {
		return verdict{}, fmt.Errorf("%s resource: %w", shortNames[k], err)
	}
	v = verdict{position: -1}
	if pos, ok := t.positions[k][cachev3.GetResourceName(msg)]; ok {
		v = verdict{position: pos, final: proto.Equal(msg, t.want[pos])}
	}
	t.verdictMu.Lock()
	t.verdicts[k][string(value)] = v
	t.verdictMu.Unlock()
	return v, nil
}
