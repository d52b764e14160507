package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// resourceFile is what the peer serves: one array per xDS type, each entry a
// message in the proto3 JSON mapping (as Skiff's translate emits it).
// A change file has the same shape plus "remove": names per type.
type resourceFile struct {
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Remove    struct {
		Clusters  []string `json:"clusters"`
		Endpoints []string `json:"endpoints"`
		Listeners []string `json:"listeners"`
		Routes    []string `json:"routes"`
	} `json:"remove"`
}

// oneNode makes the snapshot cache treat every proxy as the same node, so a
// single SetSnapshot serves all of them: go-control-plane's own way to share
// one configuration.
type oneNode struct{}

func (oneNode) ID(*core.Node) string { return "bench" }

// peerState is the served configuration, by type then name.
type peerState struct {
	mu        sync.Mutex
	version   int
	resources map[resourcev3.Type]map[string]types.Resource
	// typeVersions: the snapshot version in which each type last changed. A
	// SotW stream is answered again only for types whose version changed, so
	// an endpoint change is not followed by CDS, LDS and RDS resent whole
	// (what one version for every type, as NewSnapshot makes it, would do).
	typeVersions map[resourcev3.Type]int
	cache        cachev3.SnapshotCache
}

func runPeer(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	file := fs.String("resources", "", "JSON file of Envoy resources: {clusters, endpoints, listeners, routes}, each an array of proto3-JSON messages")
	address := fs.String("address", "127.0.0.1:0", "address to serve ADS on")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, `usage: xdsbench peer --resources FILE [--address ADDR]

A go-control-plane v0.14 ADS server (SotW and delta, snapshot cache in ADS
mode) serving the file's resources to every node. Prints "READY <address>"
once listening. Commands, one per line on stdin:
  apply FILE   upsert the file's resources (same format; "remove" lists names
               per type to delete) as a new snapshot version, in which only the
               types the file names get a new version; prints "APPLIED <version>"
  gc           run the Go garbage collector and return memory to the OS; prints "GC"
  stats        prints {"version":..,"resources":..} as one JSON line
The peer exits when stdin closes, and on SIGTERM or SIGINT.`)
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	if *file == "" {
		fs.Usage()
		os.Exit(2)
	}

	state := &peerState{
		resources: map[resourcev3.Type]map[string]types.Resource{
			resourcev3.ClusterType:  {},
			resourcev3.EndpointType: {},
			resourcev3.ListenerType: {},
			resourcev3.RouteType:    {},
		},
		typeVersions: map[resourcev3.Type]int{},
		cache:        cachev3.NewSnapshotCache(true, oneNode{}, nil),
	}
	if _, err := state.apply(*file); err != nil {
		return err
	}
	// What the JSON parse left behind is not the server's working set.
	runtime.GC()
	debug.FreeOSMemory()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := serverv3.NewServer(ctx, state.cache, nil)
	grpcServer := grpc.NewServer()
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(grpcServer, srv)
	lis, err := net.Listen("tcp", *address)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- grpcServer.Serve(lis) }()
	fmt.Printf("READY %s\n", lis.Addr().String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		defer close(stdinClosed)
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			state.command(strings.TrimSpace(scanner.Text()))
		}
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	case err := <-served:
		return err
	}
	grpcServer.Stop()
	return nil
}

func (s *peerState) command(line string) {
	switch {
	case line == "":
	case line == "gc":
		runtime.GC()
		debug.FreeOSMemory()
		fmt.Println("GC")
	case line == "stats":
		s.mu.Lock()
		n := 0
		for _, byName := range s.resources {
			n += len(byName)
		}
		fmt.Printf("{\"version\":%d,\"resources\":%d}\n", s.version, n)
		s.mu.Unlock()
	case strings.HasPrefix(line, "apply "):
		version, err := s.apply(strings.TrimSpace(strings.TrimPrefix(line, "apply ")))
		if err != nil {
			// One line, so that a reader of stdout sees where the answer ends.
			msg := strings.ReplaceAll(err.Error(), "\n", " ")
			if len(msg) > 500 {
				msg = msg[:500] + "..."
			}
			fmt.Printf("ERROR %s\n", msg)
			return
		}
		fmt.Printf("APPLIED %d\n", version)
	default:
		fmt.Printf("ERROR unknown command %q\n", line)
	}
}

// apply upserts (and removes) the file's resources and sets a new snapshot.
func (s *peerState) apply(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var file resourceFile
	if err := json.Unmarshal(data, &file); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Changed on a copy, so that a file that is rejected leaves the served state as it was.
	next := map[resourcev3.Type]map[string]types.Resource{}
	for typ, byName := range s.resources {
		next[typ] = maps.Clone(byName)
	}
	groups := []struct {
		typ     resourcev3.Type
		entries []json.RawMessage
		remove  []string
		newMsg  func() proto.Message
	}{
		{resourcev3.ClusterType, file.Clusters, file.Remove.Clusters, func() proto.Message { return &clusterv3.Cluster{} }},
		{resourcev3.EndpointType, file.Endpoints, file.Remove.Endpoints, func() proto.Message { return &endpointv3.ClusterLoadAssignment{} }},
		{resourcev3.ListenerType, file.Listeners, file.Remove.Listeners, func() proto.Message { return &listenerv3.Listener{} }},
		{resourcev3.RouteType, file.Routes, file.Remove.Routes, func() proto.Message { return &routev3.RouteConfiguration{} }},
	}
	for _, g := range groups {
		for i, raw := range g.entries {
			msg := g.newMsg()
			if err := protojson.Unmarshal(raw, msg); err != nil {
				return 0, fmt.Errorf("%s: %s[%d]: %w", path, g.typ, i, err)
			}
			name := cachev3.GetResourceName(msg)
			if name == "" {
				return 0, fmt.Errorf("%s: %s[%d] has no name", path, g.typ, i)
			}
			next[g.typ][name] = msg
		}
		for _, name := range g.remove {
			delete(next[g.typ], name)
		}
	}
	version := s.version + 1
	typeVersions := maps.Clone(s.typeVersions)
	for _, g := range groups {
		if s.version == 0 || len(g.entries) > 0 || len(g.remove) > 0 {
			typeVersions[g.typ] = version
		}
	}
	snapshot := &cachev3.Snapshot{}
	for typ, byName := range next {
		items := make([]types.Resource, 0, len(byName))
		for _, r := range byName {
			items = append(items, r)
		}
		snapshot.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(strconv.Itoa(typeVersions[typ]), items)
	}
	if err := snapshot.Consistent(); err != nil {
		return 0, fmt.Errorf("the snapshot is not consistent, go-control-plane in ADS mode would never answer: %w", err)
	}
	if err := s.cache.SetSnapshot(context.Background(), "bench", snapshot); err != nil {
		return 0, err
	}
	s.resources, s.version, s.typeVersions = next, version, typeVersions
	return s.version, nil
}
