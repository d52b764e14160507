// Command coredns is CoreDNS with only the plugins Skiff's local node uses.
//
// The upstream binary compiles in every plugin in plugin.cfg, cloud DNS
// providers included (route53, azure, clouddns), which means their SDKs and a
// much longer build. CoreDNS's documented way to pick plugins without forking
// is a custom main: import coremain and the wanted plugin packages, and set
// dnsserver.Directives to those plugins in CoreDNS's standard execution order.
//
// The set serves a stock Kubernetes Corefile (kubeadm's: errors, health,
// ready, kubernetes, prometheus, forward, cache, loop, reload, loadbalance)
// plus bind, log, hosts and whoami.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// directives is the subsequence of upstream's core/dnsserver/zdirectives.go
// (generated from plugin.cfg) for the plugins imported above. Order is the
// order a query passes through the plugins, so it must stay upstream's order;
// "prometheus" is the directive of the metrics package.
var directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"kubernetes",
	"loop",
	"forward",
	"whoami",
}

// init runs after coremain's init has registered the DNS server type, and
// before any Corefile is parsed.
func init() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		panic(err)
	}
}

func main() {
	coremain.Run()
}
