package main

import (
	"errors"
	"math/bits"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The load generator reads responses without building them as Go messages:
// it walks the wire format and keeps sub-slices of the received bytes, so a
// response of thousands of resources costs no allocation per resource. With
// thousands of simulated proxies on the same cores as the server under test,
// that keeps the generator's share of the CPU small.

const (
	adsSotwMethod  = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	adsDeltaMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
)

// rawMessage receives a response's bytes untouched; release returns them to the pool.
type rawMessage struct {
	buf mem.Buffer
}

func (m *rawMessage) bytes() []byte { return m.buf.ReadOnlyData() }

func (m *rawMessage) release() {
	if m.buf != nil {
		m.buf.Free()
		m.buf = nil
	}
}

// codec marshals requests as protobuf and hands responses over as raw bytes.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return errors.New("the load generator only receives raw messages")
	}
	m.buf = data.MaterializeToBuffer(bufferPool)
	return nil
}

var _ encoding.CodecV2 = codec{}

// pool hands out buffers in power-of-two tiers without zeroing them: gRPC
// overwrites every byte it asks for, and clearing megabyte buffers for each
// message would be most of the generator's CPU time.
type pool struct {
	tiers [48]sync.Pool
}

var bufferPool = &pool{}

func (p *pool) Get(length int) *[]byte {
	k := max(8, bits.Len(uint(max(length, 1)-1)))
	if b, ok := p.tiers[k].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<k)
	return &b
}

func (p *pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 256 || c&(c-1) != 0 {
		return
	}
	p.tiers[bits.Len(uint(c))-1].Put(b)
}

// response is a SotW DiscoveryResponse or a DeltaDiscoveryResponse, with
// byte fields pointing into the received message.
type response struct {
	typeURL   string
	version   string // version_info, or system_version_info for delta
	nonce     string
	resources []wireResource
	removed   [][]byte // delta removed_resources
}

type wireResource struct {
	name    []byte // delta only
	version []byte // delta only
	value   []byte // the resource message (the Any's value)
}

func (r *response) reset() {
	r.typeURL, r.version, r.nonce = "", "", ""
	r.resources = r.resources[:0]
	r.removed = r.removed[:0]
}

// fields calls fn for each field of a message; bytes fields get their contents.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// anyValue is the value field of a google.protobuf.Any.
func anyValue(b []byte) ([]byte, error) {
	var value []byte
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 2 && typ == protowire.BytesType {
			value = v
		}
		return nil
	})
	return value, err
}

// parseSotw reads envoy.service.discovery.v3.DiscoveryResponse.
func parseSotw(b []byte, r *response) error {
	r.reset()
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			r.version = string(v)
		case 2:
			value, err := anyValue(v)
			if err != nil {
				return err
			}
			r.resources = append(r.resources, wireResource{value: value})
		case 4:
			r.typeURL = string(v)
		case 5:
			r.nonce = string(v)
		}
		return nil
	})
}

// parseDelta reads envoy.service.discovery.v3.DeltaDiscoveryResponse.
func parseDelta(b []byte, r *response) error {
	r.reset()
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			r.version = string(v)
		case 2:
			var res wireResource
			err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case 1:
					res.version = v
				case 2:
					value, err := anyValue(v)
					res.value = value
					return err
				case 3:
					res.name = v
				}
				return nil
			})
			if err != nil {
				return err
			}
			r.resources = append(r.resources, res)
		case 4:
			r.typeURL = string(v)
		case 5:
			r.nonce = string(v)
		case 6:
			r.removed = append(r.removed, v)
		}
		return nil
	})
}
