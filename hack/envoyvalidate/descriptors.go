package main

import (
	"fmt"
	"os"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The xDS transport itself: DiscoveryRequest/Response, their delta forms
	// and the ADS service, which the config packages do not pull in.
	_ "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	// Istio's certificate-signing service (IstioCertificateService), which
	// Skiff's xDS server offers to agents so that workload keys stay in Pods.
	_ "istio.io/api/security/v1alpha1"
)

// exportDescriptors writes a FileDescriptorSet holding the files that define
// the named messages and services, and every file they import, in dependency
// order. Skiff's TypeScript side encodes Envoy resources from it, so it never
// needs a copy of Envoy's .proto sources.
func exportDescriptors(out string, names []string) error {
	seen := map[string]bool{}
	var files []*descriptorpb.FileDescriptorProto
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			visit(imports.Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(fd))
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, name := range sorted {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return fmt.Errorf("unknown message or service %s: %w", name, err)
		}
		visit(d.ParentFile())
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
