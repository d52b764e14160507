package main

import (
	"fmt"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The load generator's proxies all receive the same resources, so what a
// resource says (its name, and the EDS or RDS names it refers to) is worked
// out once per distinct resource and shared: thousands of simulated proxies
// then cost the generator a map lookup per resource instead of a protobuf
// decode, and the server stays the bottleneck. Names are interned to small
// integers so that per-proxy state holds no pointers for the GC to scan.

// interner maps strings to dense ids and back; safe for concurrent use.
type interner struct {
	mu   sync.RWMutex
	ids  map[string]uint32
	strs []string
}

func newInterner() *interner {
	return &interner{ids: map[string]uint32{}}
}

func (in *interner) id(s string) uint32 {
	in.mu.RLock()
	id, ok := in.ids[s]
	in.mu.RUnlock()
	if ok {
		return id
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.ids[s]; ok {
		return id
	}
	id = uint32(len(in.strs))
	in.strs = append(in.strs, s)
	in.ids[s] = id
	return id
}

// idBytes is id for bytes that may be reused afterwards: a new string is copied out of them.
func (in *interner) idBytes(b []byte) uint32 {
	in.mu.RLock()
	id, ok := in.ids[string(b)]
	in.mu.RUnlock()
	if ok {
		return id
	}
	return in.id(string(b))
}

func (in *interner) str(id uint32) string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.strs[id]
}

func (in *interner) strings(ids []uint32) []string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = in.strs[id]
	}
	return out
}

// facts is what the generator needs from one resource.
type facts struct {
	name uint32
	// refs: for a cluster, the EDS resource it loads; for a listener, the
	// route configurations its HTTP connection managers load over RDS.
	refs []uint32
	// marks are the open expectations (expect.go) whose marker the resource holds.
	marks []uint32
}

// catalog remembers the facts of every distinct resource of one type, by its
// bytes (SotW responses carry no per-resource version) and by name and
// version (delta).
type catalog struct {
	typeURL   string
	names     *interner
	mu        sync.RWMutex
	byBytes   map[string]*facts
	byVersion map[uint64]*facts
	decodes   int
	expect    *expectations
}

func newCatalog(typeURL string, names *interner, expect *expectations) *catalog {
	return &catalog{typeURL: typeURL, names: names, byBytes: map[string]*facts{}, byVersion: map[uint64]*facts{}, expect: expect}
}

func (c *catalog) fromBytes(value []byte) (*facts, error) {
	c.mu.RLock()
	f, ok := c.byBytes[string(value)]
	c.mu.RUnlock()
	if ok {
		return f, nil
	}
	f, err := c.decode(value)
	if err != nil {
		return nil, err
	}
	f.marks = c.expect.marks(value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if seen, ok := c.byBytes[string(value)]; ok {
		return seen, nil
	}
	c.byBytes[string(value)] = f
	c.decodes++
	return f, nil
}

// fromVersion returns the facts of a resource known by name and version,
// decoding value only the first time that pair is seen.
func (c *catalog) fromVersion(name, version uint32, value []byte) (*facts, error) {
	key := uint64(name)<<32 | uint64(version)
	c.mu.RLock()
	f, ok := c.byVersion[key]
	c.mu.RUnlock()
	if ok {
		return f, nil
	}
	f, err := c.decode(value)
	if err != nil {
		return nil, err
	}
	f.marks = c.expect.marks(value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if seen, ok := c.byVersion[key]; ok {
		return seen, nil
	}
	c.byVersion[key] = f
	c.decodes++
	return f, nil
}

func (c *catalog) decode(value []byte) (*facts, error) {
	switch c.typeURL {
	case resourcev3.ClusterType:
		var cl clusterv3.Cluster
		if err := proto.Unmarshal(value, &cl); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		f := &facts{name: c.names.id(cl.GetName())}
		// As Envoy does: an EDS cluster loads eds_cluster_config.service_name, or its own name.
		if cl.GetType() == clusterv3.Cluster_EDS {
			eds := cl.GetEdsClusterConfig().GetServiceName()
			if eds == "" {
				eds = cl.GetName()
			}
			f.refs = []uint32{c.names.id(eds)}
		}
		return f, nil
	case resourcev3.ListenerType:
		var l listenerv3.Listener
		if err := proto.Unmarshal(value, &l); err != nil {
			return nil, fmt.Errorf("listener: %w", err)
		}
		f := &facts{name: c.names.id(l.GetName())}
		add := func(a *anypb.Any) error {
			if a.GetTypeUrl() != "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" {
				return nil
			}
			var hcm hcmv3.HttpConnectionManager
			if err := a.UnmarshalTo(&hcm); err != nil {
				return fmt.Errorf("listener %s: %w", l.GetName(), err)
			}
			if rds := hcm.GetRds(); rds != nil {
				f.refs = append(f.refs, c.names.id(rds.GetRouteConfigName()))
			}
			return nil
		}
		chains := append([]*listenerv3.FilterChain{}, l.GetFilterChains()...)
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(chains, d)
		}
		for _, chain := range chains {
			for _, filter := range chain.GetFilters() {
				if err := add(filter.GetTypedConfig()); err != nil {
					return nil, err
				}
			}
		}
		if api := l.GetApiListener().GetApiListener(); api != nil {
			if err := add(api); err != nil {
				return nil, err
			}
		}
		return f, nil
	case resourcev3.EndpointType:
		var cla endpointv3.ClusterLoadAssignment
		if err := proto.Unmarshal(value, &cla); err != nil {
			return nil, fmt.Errorf("cluster load assignment: %w", err)
		}
		return &facts{name: c.names.id(cla.GetClusterName())}, nil
	case resourcev3.RouteType:
		var rc routev3.RouteConfiguration
		if err := proto.Unmarshal(value, &rc); err != nil {
			return nil, fmt.Errorf("route configuration: %w", err)
		}
		return &facts{name: c.names.id(rc.GetName())}, nil
	}
	return nil, fmt.Errorf("no decoder for %s", c.typeURL)
}
