// A minimal OTLP/gRPC trace receiver for tests: it serves the official
// opentelemetry-proto TraceService (go.opentelemetry.io/proto/otlp) and
// prints every span it receives as one JSON line on stdout, so a test can
// check what real Envoys export. The first line is "listening <host:port>".
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

type span struct {
	Service      string `json:"service"`
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
}

type receiver struct {
	collector.UnimplementedTraceServiceServer
	mu  sync.Mutex
	out *json.Encoder
}

func (r *receiver) Export(_ context.Context, req *collector.ExportTraceServiceRequest) (*collector.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				_ = r.out.Encode(span{
					Service:      service,
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(),
					Kind:         s.GetKind().String(),
				})
			}
		}
	}
	return &collector.ExportTraceServiceResponse{}, nil
}

func main() {
	address := flag.String("address", "127.0.0.1:0", "where to listen")
	flag.Parse()
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := grpc.NewServer()
	collector.RegisterTraceServiceServer(server, &receiver{out: json.NewEncoder(os.Stdout)})
	fmt.Printf("listening %s\n", listener.Addr())
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
