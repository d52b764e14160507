// Command envoyvalidate checks Envoy configuration that Skiff generates
// against Envoy's own proto constraints (protoc-gen-validate), as no Envoy
// binary is available to run it.
//
//	envoyvalidate -type envoy.config.bootstrap.v3.Bootstrap file.json...
//	envoyvalidate -export-descriptors out.binpb full.type.Name...
//
// Each file holds one message in protojson. Unknown fields are errors, and
// every google.protobuf.Any inside (typed_config and friends) is unpacked and
// validated too, since PGV never looks inside an Any. Exit status 1 lists
// every violation.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

type allValidator interface{ ValidateAll() error }

func validate(msg proto.Message, path string) []string {
	var problems []string
	if v, ok := msg.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
		}
	}
	problems = append(problems, validateAnys(msg.ProtoReflect(), path)...)
	return problems
}

// validateAnys walks a message and validates the contents of every Any.
func validateAnys(m protoreflect.Message, path string) []string {
	var problems []string
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		a := m.Interface().(*anypb.Any)
		inner, err := a.UnmarshalNew()
		if err != nil {
			return []string{fmt.Sprintf("%s: cannot unpack %s: %v", path, a.GetTypeUrl(), err)}
		}
		return validate(inner, path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				problems = append(problems, validateAnys(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i))...)
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					problems = append(problems, validateAnys(mv.Message(), fmt.Sprintf("%s[%v]", name, k.Interface()))...)
					return true
				})
			}
		default:
			problems = append(problems, validateAnys(v.Message(), name)...)
		}
		return true
	})
	return problems
}

func run() error {
	typeName := flag.String("type", "envoy.config.bootstrap.v3.Bootstrap", "the full name of the message in each file")
	exportTo := flag.String("export-descriptors", "", "write a FileDescriptorSet for the named types to this file instead of validating")
	flag.Parse()
	if *exportTo != "" {
		return exportDescriptors(*exportTo, flag.Args())
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(*typeName))
	if err != nil {
		return fmt.Errorf("unknown message type %s: %w", *typeName, err)
	}
	failed := false
	for _, file := range flag.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		msg := mt.New().Interface()
		if err := (protojson.UnmarshalOptions{}).Unmarshal(data, msg); err != nil {
			fmt.Printf("%s: %v\n", file, err)
			failed = true
			continue
		}
		for _, p := range validate(msg, string(mt.Descriptor().Name())) {
			fmt.Printf("%s: %s\n", file, p)
			failed = true
		}
	}
	if failed {
		return errors.New("invalid Envoy configuration")
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "envoyvalidate:", err)
		os.Exit(1)
	}
}
