package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/protobuf/proto"
)

// The four types a sidecar uses, in the order Envoy subscribes to them.
const (
	tCDS = iota
	tEDS
	tLDS
	tRDS
	numTypes
)

var (
	typeURLs   = [numTypes]string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}
	shortNames = [numTypes]string{"cds", "eds", "lds", "rds"}
	// EDS names come from clusters, RDS names from listeners; CDS and LDS are wildcard.
	parentOf = [numTypes]int{-1, tCDS, -1, tLDS}
	childOf  = [numTypes]int{tEDS, -1, tRDS, -1}
)

// absent marks, in a delta proxy's known versions, a name it subscribed to
// that the server said does not exist.
const absent = ^uint32(0)

func kindOf(typeURL string) int {
	for k, u := range typeURLs {
		if u == typeURL {
			return k
		}
	}
	return -1
}

type loadConfig struct {
	target      string
	proxies     int
	mode        string
	nodePrefix  string
	types       [numTypes]bool
	perConn     int
	hold        time.Duration
	restartWait bool
	timeout     time.Duration
	settle      time.Duration
}

// typeState is one proxy's view of one type.
type typeState struct {
	enabled bool
	// named is the explicit subscription (EDS and RDS), sorted name ids.
	named []uint32
	// version is the last ACKed version_info (SotW), sent again on reconnect as Envoy does.
	version string
	// nonce is the last nonce received on the current stream.
	nonce string
	// known is what a delta proxy holds: name id to version id (or absent).
	known map[uint32]uint32

	// held is what a SotW proxy holds of a named type (EDS, RDS): responses
	// of these may carry only what changed, and Envoy keeps the rest.
	held map[uint32]struct{}

	// Per stream:
	requested bool // a request for the type was sent
	answered  bool // a response was received and ACKed
	satisfied bool // what the proxy holds covers every subscribed name
}

type proxy struct {
	g     *generator
	index int
	node  *corev3.Node
	conn  *grpc.ClientConn
	types [numTypes]typeState

	// Per phase (0: cold start, 1: after the server restarted).
	done      [2]bool
	opened    [2]time.Time
	completed [2]time.Time
	bytes     [2]atomic.Int64
	responses [2]atomic.Int64
	sent      [2]atomic.Int64 // bytes of the requests (subscriptions and ACKs) the proxy sent
	// disconnected is when the first stream ended after the proxy was complete.
	disconnected time.Time
}

type generator struct {
	cfg       loadConfig
	names     *interner
	versions  *interner
	catalogs  [numTypes]*catalog
	completed [2]atomic.Int64
	allDone   [2]chan struct{}
	proxies   []*proxy

	// lastResponse is when any proxy last received a response (Unix nanoseconds).
	lastResponse atomic.Int64
	// window serves the stdin commands of window.go (B3).
	window window
	// expect serves the stdin commands of expect.go (B2).
	expect *expectations

	failMu   sync.Mutex
	failures int
	firstErr error
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	cfg := loadConfig{}
	fs.StringVar(&cfg.target, "target", "", "ADS server address (host:port)")
	fs.IntVar(&cfg.proxies, "proxies", 100, "number of simulated Envoy proxies (one ADS stream each)")
	fs.StringVar(&cfg.mode, "mode", "sotw", "sotw (StreamAggregatedResources) or delta (DeltaAggregatedResources)")
	fs.StringVar(&cfg.nodePrefix, "node-prefix", "load", "node ids are sidecar~10.0.0.1~<prefix>-<i>.bench~bench.svc.cluster.local")
	types := fs.String("types", "cds,eds,lds,rds", "types to subscribe to (eds needs cds, rds needs lds)")
	fs.IntVar(&cfg.perConn, "streams-per-connection", 100, "ADS streams multiplexed on one gRPC connection")
	holdSeconds := fs.Float64("hold", 0, "seconds to keep the streams open after every proxy is complete (SIGTERM ends it early)")
	fs.BoolVar(&cfg.restartWait, "restart-wait", false, "after completion, wait for the server to go away, reconnect every proxy and measure until all have re-ACKed")
	timeoutSeconds := fs.Float64("timeout", 600, "give up (exit 1) when a phase takes longer than this many seconds")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own Go CPU profile to this file")
	settleSeconds := fs.Float64("settle", 0.5, "after the last proxy completes a phase, keep counting until no response has arrived for this many seconds, then report")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, `usage: xdsbench load --target ADDR --proxies N --mode sotw|delta [flags]

Simulates N Envoy sidecars over ADS: each subscribes to CDS and LDS
(wildcard), then EDS for the service names its EDS clusters name and RDS for
the route configurations its HTTP connection managers name, and ACKs every
response with its version and nonce. A proxy is complete when CDS, EDS, LDS
and RDS are all received and ACKed. Prints one JSON line per phase
("event":"complete", and with --restart-wait "event":"restart"). Commands
on stdin: window, final, await-final (window.go); expect, expect-status
(expect.go).`)
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	if cfg.target == "" || cfg.proxies < 1 || (cfg.mode != "sotw" && cfg.mode != "delta") || cfg.perConn < 1 {
		fs.Usage()
		os.Exit(2)
	}
	for _, t := range strings.Split(*types, ",") {
		k := slices.Index(shortNames[:], strings.TrimSpace(t))
		if k < 0 {
			return fmt.Errorf("unknown type %q in --types", t)
		}
		cfg.types[k] = true
	}
	for k := range numTypes {
		if p := parentOf[k]; p >= 0 && cfg.types[k] && !cfg.types[p] {
			return fmt.Errorf("--types: %s needs %s", shortNames[k], shortNames[p])
		}
	}
	cfg.hold = time.Duration(*holdSeconds * float64(time.Second))
	cfg.timeout = time.Duration(*timeoutSeconds * float64(time.Second))
	cfg.settle = time.Duration(*settleSeconds * float64(time.Second))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return newGenerator(cfg).run()
}

func newGenerator(cfg loadConfig) *generator {
	g := &generator{cfg: cfg, names: newInterner(), versions: newInterner(), expect: newExpectations(cfg.proxies)}
	for k := range numTypes {
		g.catalogs[k] = newCatalog(typeURLs[k], g.names, g.expect)
	}
	g.allDone[0] = make(chan struct{})
	g.allDone[1] = make(chan struct{})
	return g
}

func (g *generator) run() error {
	nconn := (g.cfg.proxies + g.cfg.perConn - 1) / g.cfg.perConn
	conns := make([]*grpc.ClientConn, nconn)
	for i := range conns {
		conn, err := grpc.NewClient("passthrough:///"+g.cfg.target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.ForceCodecV2(codec{})),
			experimental.WithBufferPool(bufferPool),
			// Large fixed windows: flow control must never hold a server back.
			grpc.WithInitialWindowSize(16<<20),
			grpc.WithInitialConnWindowSize(256<<20),
			// Reconnect quickly after a restart, so the time measured is the server's.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.5, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
				MinConnectTimeout: 5 * time.Second,
			}),
		)
		if err != nil {
			return err
		}
		conns[i] = conn
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	cpu0 := cpuSeconds()
	start := time.Now()
	var wg sync.WaitGroup
	g.proxies = make([]*proxy, g.cfg.proxies)
	for i := range g.proxies {
		p := &proxy{
			g:     g,
			index: i,
			conn:  conns[i/g.cfg.perConn],
			node: &corev3.Node{
				Id:            fmt.Sprintf("sidecar~10.0.0.1~%s-%d.bench~bench.svc.cluster.local", g.cfg.nodePrefix, i),
				Cluster:       "bench",
				UserAgentName: "envoy",
			},
		}
		for k := range numTypes {
			p.types[k].enabled = g.cfg.types[k]
		}
		g.proxies[i] = p
	}
	g.startCommands()
	for _, p := range g.proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx)
		}()
	}
	finish := func() error {
		cancel()
		wg.Wait()
		return nil
	}

	// Phase 0: cold start.
	if !g.await(0, signals) {
		g.report(0, "timeout", start, cpu0)
		finish()
		return errors.New("not every proxy completed")
	}
	g.quiesce()
	g.report(0, "complete", start, cpu0)

	if g.cfg.restartWait {
		cpu1 := cpuSeconds()
		if !g.await(1, signals) {
			g.report(1, "restart-timeout", start, cpu1)
			finish()
			return errors.New("not every proxy re-synced after the restart")
		}
		g.quiesce()
		g.report(1, "restart", start, cpu1)
		return finish()
	}
	if g.cfg.hold > 0 {
		select {
		case <-time.After(g.cfg.hold):
		case s := <-signals:
			fmt.Fprintf(os.Stderr, "xdsbench load: %v while holding the proxies, stopping\n", s)
		}
	}
	return finish()
}

// await waits for every proxy to complete a phase; false on timeout, on a
// signal, or once failed proxies make completion impossible.
func (g *generator) await(phase int, signals chan os.Signal) bool {
	deadline := time.After(g.cfg.timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.allDone[phase]:
			return true
		case <-deadline:
			return false
		case <-signals:
			return false
		case <-tick.C:
			g.failMu.Lock()
			failures := g.failures
			g.failMu.Unlock()
			if failures > 0 && g.completed[phase].Load()+int64(failures) >= int64(g.cfg.proxies) {
				return false
			}
		}
	}
}

// quiesce waits until no response has arrived for the settle time (at most
// a minute), so that responses a server sends after the last proxy was
// complete (such as empty answers) are counted too.
func (g *generator) quiesce() {
	limit := time.Now().Add(time.Minute)
	for time.Now().Before(limit) {
		idle := time.Since(time.Unix(0, g.lastResponse.Load()))
		if idle >= g.cfg.settle {
			return
		}
		time.Sleep(g.cfg.settle - idle)
	}
}

func (g *generator) fail(p *proxy, err error) {
	g.failMu.Lock()
	defer g.failMu.Unlock()
	g.failures++
	if g.firstErr == nil {
		g.firstErr = fmt.Errorf("proxy %d: %w", p.index, err)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return ms(sorted[max(0, min(len(sorted)-1, i))])
}

func (g *generator) report(phase int, event string, start time.Time, cpu0 float64) {
	var durations []time.Duration
	var firstOpen, lastOpen, lastDone, firstDisc time.Time
	var bytes, responses, sent int64
	for _, p := range g.proxies {
		bytes += p.bytes[phase].Load()
		responses += p.responses[phase].Load()
		sent += p.sent[phase].Load()
	}
	// The proxies' goroutines are idle once complete; reading their times now is ordered by allDone.
	for _, p := range g.proxies {
		if o := p.opened[phase]; !o.IsZero() {
			if firstOpen.IsZero() || o.Before(firstOpen) {
				firstOpen = o
			}
			if o.After(lastOpen) {
				lastOpen = o
			}
		}
		if d := p.disconnected; phase == 1 && !d.IsZero() && (firstDisc.IsZero() || d.Before(firstDisc)) {
			firstDisc = d
		}
		if p.done[phase] {
			durations = append(durations, p.completed[phase].Sub(p.opened[phase]))
			if p.completed[phase].After(lastDone) {
				lastDone = p.completed[phase]
			}
		}
	}
	slices.Sort(durations)
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	out := map[string]any{
		"event":              event,
		"proxies":            g.cfg.proxies,
		"mode":               g.cfg.mode,
		"connections":        (g.cfg.proxies + g.cfg.perConn - 1) / g.cfg.perConn,
		"complete":           len(durations),
		"p50Ms":              percentile(durations, 0.50),
		"p99Ms":              percentile(durations, 0.99),
		"maxMs":              percentile(durations, 1),
		"clientCpuSeconds":   math.Round((cpuSeconds()-cpu0)*1000) / 1000,
		"requestBytes":       sent,
		"firstOpenUnixMs":    unix(firstOpen),
		"lastOpenUnixMs":     unix(lastOpen),
		"lastCompleteUnixMs": unix(lastDone),
	}
	if phase == 0 {
		out["connectMs"] = ms(lastOpen.Sub(firstOpen))
		out["startUnixMs"] = start.UnixMilli()
		if !lastDone.IsZero() {
			out["totalMs"] = ms(lastDone.Sub(start))
		}
		out["bytesReceived"] = bytes
		out["responses"] = responses
		decodes := 0
		for _, c := range g.catalogs {
			c.mu.RLock()
			decodes += c.decodes
			c.mu.RUnlock()
		}
		out["distinctResourcesDecoded"] = decodes
	} else {
		out["firstDisconnectUnixMs"] = unix(firstDisc)
		out["bytesResent"] = bytes
		out["responsesResent"] = responses
		if !firstOpen.IsZero() && !lastDone.IsZero() {
			out["reopenToLastCompleteMs"] = ms(lastDone.Sub(firstOpen))
		}
	}
	g.failMu.Lock()
	out["failures"] = g.failures
	if g.firstErr != nil {
		out["firstError"] = g.firstErr.Error()
	}
	g.failMu.Unlock()
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

// run drives the proxy's stream; with --restart-wait, a stream that the
// server ends after every proxy was complete is reopened once, as Envoy
// would, and the second phase is measured.
func (p *proxy) run(ctx context.Context) {
	err := p.stream(ctx, 0)
	if ctx.Err() != nil {
		return
	}
	if !p.g.cfg.restartWait {
		p.g.fail(p, fmt.Errorf("stream ended: %w", err))
		return
	}
	select {
	case <-p.g.allDone[0]:
	default:
		p.g.fail(p, fmt.Errorf("stream ended before every proxy was complete: %w", err))
		return
	}
	p.disconnected = time.Now()
	err = p.stream(ctx, 1)
	if ctx.Err() == nil {
		p.g.fail(p, fmt.Errorf("stream ended after the restart: %w", err))
	}
}

func (p *proxy) stream(ctx context.Context, phase int) error {
	for k := range numTypes {
		ts := &p.types[k]
		ts.requested, ts.answered, ts.satisfied, ts.nonce = false, false, false, ""
		ts.held = nil // a new stream must bring everything again
	}
	if p.g.cfg.mode == "delta" {
		return p.deltaStream(ctx, phase)
	}
	return p.sotwStream(ctx, phase)
}

// complete: every wildcard type answered, and every named type holds all
// its names (or has none to hold once its parent answered).
func (p *proxy) complete() bool {
	for k := range numTypes {
		ts := &p.types[k]
		if !ts.enabled {
			continue
		}
		parent := parentOf[k]
		switch {
		case parent < 0:
			if !ts.answered {
				return false
			}
		case len(ts.named) == 0:
			if !p.types[parent].answered {
				return false
			}
		case !ts.satisfied:
			return false
		}
	}
	return true
}

func (p *proxy) check(phase int) {
	if p.done[phase] || !p.complete() {
		return
	}
	p.done[phase] = true
	p.completed[phase] = time.Now()
	if p.g.completed[phase].Add(1) == int64(p.g.cfg.proxies) {
		close(p.g.allDone[phase])
	}
}

func sortedUnique(ids []uint32) []uint32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// containsAll: every id of want is in have (both may be unsorted for have).
func containsAll(have []uint32, want []uint32) bool {
	if len(want) == 0 {
		return true
	}
	set := make(map[uint32]struct{}, len(have))
	for _, id := range have {
		set[id] = struct{}{}
	}
	for _, id := range want {
		if _, ok := set[id]; !ok {
			return false
		}
	}
	return true
}

func (p *proxy) sotwStream(ctx context.Context, phase int) error {
	stream, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, adsSotwMethod, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	first := true
	send := func(k int, version, nonce string, named bool) error {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURLs[k], VersionInfo: version, ResponseNonce: nonce}
		if named {
			req.ResourceNames = p.g.names.strings(p.types[k].named)
		}
		if first {
			req.Node = p.node
			first = false
		}
		p.sent[phase].Add(int64(proto.Size(req)))
		return stream.SendMsg(req)
	}
	// A new stream asks for every type it has a subscription for, with the
	// version it holds (Envoy sends version_info again after a reconnect).
	for k := range numTypes {
		ts := &p.types[k]
		if !ts.enabled || (parentOf[k] >= 0 && len(ts.named) == 0) {
			continue
		}
		if err := send(k, ts.version, "", parentOf[k] >= 0); err != nil {
			return err
		}
		ts.requested = true
	}
	p.opened[phase] = time.Now()

	var raw rawMessage
	var resp response
	for {
		if err := stream.RecvMsg(&raw); err != nil {
			return err
		}
		err := p.sotwResponse(phase, &raw, &resp, send)
		raw.release()
		if err != nil {
			return err
		}
	}
}

func (p *proxy) sotwResponse(phase int, raw *rawMessage, resp *response, send func(k int, version, nonce string, named bool) error) error {
	p.bytes[phase].Add(int64(len(raw.bytes())))
	p.responses[phase].Add(1)
	p.g.lastResponse.Store(time.Now().UnixNano())
	if err := parseSotw(raw.bytes(), resp); err != nil {
		return err
	}
	k := kindOf(resp.typeURL)
	if k < 0 || !p.types[k].enabled {
		return nil
	}
	ts := &p.types[k]
	ts.nonce = resp.nonce
	got := make([]uint32, 0, len(resp.resources))
	var refs, marks []uint32
	for _, r := range resp.resources {
		f, err := p.g.catalogs[k].fromBytes(r.value)
		if err != nil {
			return err
		}
		got = append(got, f.name)
		refs = append(refs, f.refs...)
		marks = append(marks, f.marks...)
	}
	// As Envoy does, subscribe to what the new clusters or listeners
	// name before ACKing them.
	if c := childOf[k]; c >= 0 && p.types[c].enabled {
		child := &p.types[c]
		sub := sortedUnique(refs)
		if !slices.Equal(sub, child.named) {
			child.named = sub
			child.satisfied = false
			if len(sub) > 0 || child.requested {
				if err := send(c, child.version, child.nonce, true); err != nil {
					return err
				}
				child.requested = true
			}
		}
	}
	if err := send(k, resp.version, resp.nonce, parentOf[k] >= 0); err != nil {
		return err
	}
	p.g.window.acked(p, k, len(raw.bytes()), resp, true)
	p.g.expect.acked(p, marks)
	ts.version = resp.version
	ts.answered = true
	if stateOfTheWorld(k) {
		ts.satisfied = containsAll(got, ts.named)
	} else {
		if ts.held == nil {
			ts.held = make(map[uint32]struct{}, len(got))
		}
		for _, n := range got {
			ts.held[n] = struct{}{}
		}
		ts.satisfied = holdsAll(ts.held, ts.named)
	}
	p.check(phase)
	return nil
}

// stateOfTheWorld tells whether a SotW response of type k carries the whole
// state: only for Listeners and Clusters, as the xDS protocol says.
func stateOfTheWorld(k int) bool { return parentOf[k] < 0 }

func holdsAll(held map[uint32]struct{}, want []uint32) bool {
	for _, n := range want {
		if _, ok := held[n]; !ok {
			return false
		}
	}
	return true
}

func (p *proxy) allKnown(ts *typeState) bool {
	for _, n := range ts.named {
		if _, ok := ts.known[n]; !ok {
			return false
		}
	}
	return true
}

func (p *proxy) deltaStream(ctx context.Context, phase int) error {
	stream, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, adsDeltaMethod, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	first := true
	send := func(req *discoveryv3.DeltaDiscoveryRequest) error {
		if first {
			req.Node = p.node
			first = false
		}
		p.sent[phase].Add(int64(proto.Size(req)))
		return stream.SendMsg(req)
	}
	// A new stream subscribes again and says which versions it holds, so
	// that the server can skip what has not changed.
	for k := range numTypes {
		ts := &p.types[k]
		named := parentOf[k] >= 0
		if !ts.enabled || (named && len(ts.named) == 0) {
			continue
		}
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURLs[k]}
		if named {
			req.ResourceNamesSubscribe = p.g.names.strings(ts.named)
		}
		if len(ts.known) > 0 {
			req.InitialResourceVersions = make(map[string]string, len(ts.known))
			for n, v := range ts.known {
				if v != absent {
					req.InitialResourceVersions[p.g.names.str(n)] = p.g.versions.str(v)
				}
			}
		}
		if err := send(req); err != nil {
			return err
		}
		ts.requested = true
		ts.satisfied = named && p.allKnown(ts)
	}
	p.opened[phase] = time.Now()

	var raw rawMessage
	var resp response
	for {
		if err := stream.RecvMsg(&raw); err != nil {
			return err
		}
		err := p.deltaResponse(phase, &raw, &resp, send)
		raw.release()
		if err != nil {
			return err
		}
	}
}

func (p *proxy) deltaResponse(phase int, raw *rawMessage, resp *response, send func(*discoveryv3.DeltaDiscoveryRequest) error) error {
	p.bytes[phase].Add(int64(len(raw.bytes())))
	p.responses[phase].Add(1)
	p.g.lastResponse.Store(time.Now().UnixNano())
	if err := parseDelta(raw.bytes(), resp); err != nil {
		return err
	}
	k := kindOf(resp.typeURL)
	if k < 0 || !p.types[k].enabled {
		return nil
	}
	ts := &p.types[k]
	ts.nonce = resp.nonce
	if ts.known == nil {
		ts.known = make(map[uint32]uint32, len(resp.resources))
	}
	named := parentOf[k] >= 0
	var marks []uint32
	for _, r := range resp.resources {
		n, v := p.g.names.idBytes(r.name), p.g.versions.idBytes(r.version)
		// EDS and RDS resources name nothing to follow: decoded only once expect.go looks for markers.
		if childOf[k] >= 0 || p.g.expect.armed.Load() {
			f, err := p.g.catalogs[k].fromVersion(n, v, r.value)
			if err != nil {
				return err
			}
			marks = append(marks, f.marks...)
		}
		ts.known[n] = v
	}
	for _, name := range resp.removed {
		n := p.g.names.idBytes(name)
		if _, subscribed := slices.BinarySearch(ts.named, n); named && subscribed {
			ts.known[n] = absent
		} else {
			delete(ts.known, n)
		}
	}
	if c := childOf[k]; c >= 0 && p.types[c].enabled {
		if err := p.deltaFollow(k, c, send); err != nil {
			return err
		}
	}
	if err := send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURLs[k], ResponseNonce: resp.nonce}); err != nil {
		return err
	}
	p.g.window.acked(p, k, len(raw.bytes()), resp, false)
	p.g.expect.acked(p, marks)
	ts.answered = true
	if named {
		ts.satisfied = p.allKnown(ts)
	}
	p.check(phase)
	return nil
}

// deltaFollow changes the child type's subscription to what the parent's
// resources now name: subscribe the new names, unsubscribe the dropped ones.
func (p *proxy) deltaFollow(k, c int, send func(*discoveryv3.DeltaDiscoveryRequest) error) error {
	parent, child := &p.types[k], &p.types[c]
	var refs []uint32
	cat := p.g.catalogs[k]
	cat.mu.RLock()
	for n, v := range parent.known {
		if f := cat.byVersion[uint64(n)<<32|uint64(v)]; f != nil {
			refs = append(refs, f.refs...)
		}
	}
	cat.mu.RUnlock()
	sub := sortedUnique(refs)
	if slices.Equal(sub, child.named) {
		return nil
	}
	var added, removed []uint32
	for _, n := range sub {
		if _, ok := slices.BinarySearch(child.named, n); !ok {
			added = append(added, n)
		}
	}
	for _, n := range child.named {
		if _, ok := slices.BinarySearch(sub, n); !ok {
			removed = append(removed, n)
			delete(child.known, n)
		}
	}
	child.named = sub
	if child.known == nil {
		child.known = make(map[uint32]uint32, len(sub))
	}
	child.satisfied = p.allKnown(child)
	if !child.requested && len(added) == 0 {
		return nil
	}
	child.requested = true
	return send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl:                  typeURLs[c],
		ResourceNamesSubscribe:   p.g.names.strings(added),
		ResourceNamesUnsubscribe: p.g.names.strings(removed),
	})
}
