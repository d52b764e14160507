// Command xdsbench is the Go half of Skiff's xDS benchmark (test/bench/xds):
//
//	xdsbench peer --resources file.json [--address 127.0.0.1:0]
//	xdsbench load --target host:port --proxies N --mode sotw|delta [flags]
//
// peer is a plain go-control-plane server (the baseline Skiff is compared
// with) that serves one snapshot to every node. load simulates N Envoy
// sidecars on ADS from one process and reports, as JSON lines on stdout, how
// long each took to hold a complete, ACKed configuration. Run a subcommand
// with -h for its flags.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "peer":
		err = runPeer(os.Args[2:])
	case "load":
		err = runLoad(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xdsbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: xdsbench peer --resources FILE [--address ADDR]")
	fmt.Fprintln(os.Stderr, "       xdsbench load --target ADDR --proxies N --mode sotw|delta [--types cds,eds,lds,rds] [--node-prefix P] [--hold SECONDS] [--restart-wait]")
	os.Exit(2)
}
