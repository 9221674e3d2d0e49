package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/ferrydrop/ferry/relay"
)

// relayNATSFlags are ferry relay's flags for keeping the mailbox in NATS
// JetStream, shared by several relays.
type relayNATSFlags struct {
	urls     *string
	embedded *bool
	cluster  *string
	routes   *string
	listen   *string
	name     *string
	replicas *int
}

func natsFlags(fs *flag.FlagSet) relayNATSFlags {
	return relayNATSFlags{
		urls:     fs.String("nats", "", "keep the mailbox in NATS JetStream at `URLS` (nats://HOST:4222, comma-separated), shared with every relay using it"),
		embedded: fs.Bool("nats-embedded", false, "run a NATS JetStream server inside the relay (files under --data) and keep the mailbox in it"),
		cluster:  fs.String("nats-cluster", "", "with --nats-embedded: listen for the other nodes' NATS routes on `HOST:PORT`"),
		routes:   fs.String("nats-routes", "", "with --nats-embedded: the other nodes' --nats-cluster addresses, as `URLS` (nats://HOST:PORT, comma-separated; this node's own may be listed)"),
		listen:   fs.String("nats-listen", "", "with --nats-embedded: also accept NATS clients (relays started with --nats) on `HOST:PORT`"),
		name:     fs.String("nats-name", "", "with --nats-embedded: this node's `NAME` in the cluster, unique and stable (default: from --nats-cluster)"),
		replicas: fs.Int("nats-replicas", 0, "copies JetStream keeps of the state, 1 to 5 (default: with --nats-embedded, the nodes in --nats-routes and this one, at most 3; else 1)"),
	}
}

// startNATS reads the NATS flags: with --nats-embedded it starts the
// server. It returns the relay's NATS configuration (nil for none) and
// what stops the server; when ctx ends during the start, nil and exitOK
// (the caller checks ctx).
func (c *cli) startNATS(ctx context.Context, f relayNATSFlags, data string, log *slog.Logger) (*relay.NATSConfig, func(), int) {
	none := func() {}
	urls := splitList(*f.urls)
	routes := splitList(*f.routes)
	switch {
	case len(urls) > 0 && *f.embedded:
		c.errorf("--nats and --nats-embedded: choose one")
		return nil, none, exitUsage
	case !*f.embedded && (*f.cluster != "" || len(routes) > 0 || *f.listen != "" || *f.name != ""):
		c.errorf("--nats-cluster, --nats-routes, --nats-listen and --nats-name go with --nats-embedded")
		return nil, none, exitUsage
	case *f.embedded && data == "":
		c.errorf("--nats-embedded needs --data DIR for its JetStream files")
		return nil, none, exitUsage
	case (len(routes) > 0) != (*f.cluster != ""):
		c.errorf("--nats-cluster HOST:PORT and --nats-routes URLS go together")
		return nil, none, exitUsage
	case *f.replicas < 0 || *f.replicas > 5:
		c.errorf("--nats-replicas must be between 1 and 5")
		return nil, none, exitUsage
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			c.errorf("--nats: want nats://HOST:PORT URLs (got %q)", u)
			return nil, none, exitUsage
		}
	}
	if len(urls) > 0 {
		return &relay.NATSConfig{URLs: urls, Replicas: *f.replicas}, none, exitOK
	}
	if !*f.embedded {
		return nil, none, exitOK
	}
	ns, err := relay.StartNATS(ctx, relay.NATSServerConfig{
		Dir: filepath.Join(data, "nats"), Name: *f.name, ClusterListen: *f.cluster, Routes: routes, ClientListen: *f.listen,
	})
	if err != nil {
		if ctx.Err() != nil {
			log.Debug("stopped while starting: the NATS server's start was abandoned", "err", err)
			return nil, none, exitOK
		}
		c.errorf("start NATS: %v", err)
		return nil, none, exitFailure
	}
	if a := ns.ClusterAddr(); a != nil {
		fmt.Fprintf(c.stderr, "ferry: NATS cluster routes on nats://%s\n", a)
	}
	if u := ns.ClientURL(); u != "" {
		fmt.Fprintf(c.stderr, "ferry: NATS clients on %s\n", u)
	}
	replicas := *f.replicas
	if replicas == 0 {
		replicas = min(3, 1+otherRoutes(routes, ns.ClusterAddr()))
	}
	return &relay.NATSConfig{Server: ns, Replicas: replicas}, ns.Close, exitOK
}

// otherRoutes counts the routes that are not this node's own listener.
func otherRoutes(routes []string, self net.Addr) int {
	n := 0
	for _, r := range routes {
		if self == nil || strings.TrimPrefix(r, "nats://") != self.String() {
			n++
		}
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validPublicHost accepts a DNS name or an IP address.
func validPublicHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
