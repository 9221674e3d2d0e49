package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSServerConfig configures a NATS server with JetStream run inside the
// relay (StartNATS), so that a few relays need nothing but themselves to
// share their state: each runs one, and the servers form a cluster.
type NATSServerConfig struct {
	// Dir is where JetStream keeps its files (Dir/jetstream); required.
	Dir string
	// Name names this server in its cluster, where it must be unique
	// and stay the same across restarts. Default: from ClusterListen.
	Name string
	// ClusterName is the cluster's name, the same on every server.
	// Default "ferry".
	ClusterName string
	// ClusterListen is the HOST:PORT the server listens on for the
	// others' routes. Empty runs a server of its own, without a cluster.
	ClusterListen string
	// Routes are the other servers' cluster listeners
	// (nats://HOST:PORT); listing this server's own is harmless, so
	// every server may be given the same list.
	Routes []string
	// ClientListen, if not empty, is a HOST:PORT where NATS clients
	// (other relays, with NATSConfig.URLs) may connect, without
	// authentication: keep it, like ClusterListen, on a private network.
	// Without it the server is reached only in process
	// (NATSConfig.Server); a clustered one then listens on a loopback
	// port, which it needs, behind a random token.
	ClientListen string
	// ReadyTimeout bounds start-up. Default 10s.
	ReadyTimeout time.Duration
}

// NATSServer is a NATS server running in this process.
type NATSServer struct {
	ns    *server.Server
	token string // what in-process clients present, when the server has one
}

// StartNATS starts a NATS server with JetStream and returns once it
// accepts connections (its cluster may still be electing a leader:
// NATSConfig.StartTimeout covers that).
func StartNATS(ctx context.Context, cfg NATSServerConfig) (*NATSServer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("relay: NATS server needs a directory for JetStream (Dir)")
	}
	opts := &server.Options{
		JetStream: true,
		StoreDir:  filepath.Join(cfg.Dir, "jetstream"),
		NoLog:     true,
		NoSigs:    true,
		// The HTTP monitoring port stays off.
	}
	token := ""
	if cfg.ClientListen == "" && cfg.ClusterListen != "" {
		// The server routes only once its client listener is up, so a
		// clustered one gets one on loopback with a random token,
		// which only this process knows.
		token = rand.Text()
		opts.Host, opts.Port, opts.Authorization = "127.0.0.1", -1, token
	} else if cfg.ClientListen != "" {
		host, port, err := splitListen(cfg.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("relay: NATS client listener: %w", err)
		}
		opts.Host, opts.Port = host, port
	} else {
		opts.DontListen = true
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitListen(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("relay: NATS cluster listener: %w", err)
		}
		opts.Cluster.Host, opts.Cluster.Port = host, port
		opts.Cluster.Name = cfg.ClusterName
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "ferry"
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Scheme != "nats" || u.Host == "" {
				return nil, fmt.Errorf("relay: NATS route %q: want nats://HOST:PORT", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
		opts.ServerName = cfg.Name
		if opts.ServerName == "" {
			opts.ServerName = "ferry-" + strings.NewReplacer(":", "-", "[", "", "]", "").Replace(cfg.ClusterListen)
		}
		if len(cfg.Routes) == 0 {
			// JetStream refuses to start a cluster of one.
			return nil, errors.New("relay: a NATS cluster listener needs routes (the other servers' cluster listeners)")
		}
	} else if len(cfg.Routes) > 0 {
		return nil, errors.New("relay: NATS routes need a cluster listener (ClusterListen)")
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("relay: NATS server: %w", err)
	}
	ns.Start()
	wait := cfg.ReadyTimeout
	orDefault(&wait, 10*time.Second)
	if err := waitReady(ctx, ns, wait); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	return &NATSServer{ns: ns, token: token}, nil
}

// waitReady waits until ns accepts connections, for at most wait and
// until ctx ends.
func waitReady(ctx context.Context, ns *server.Server, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		// ReadyForConnections takes no context: ask in short steps.
		if ns.ReadyForConnections(min(100*time.Millisecond, max(time.Until(deadline), time.Millisecond))) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("relay: NATS server start: %w", err)
		}
		if time.Now().After(deadline) {
			return errors.New("relay: NATS server did not start in time")
		}
	}
}

// splitListen reads HOST:PORT, where port 0 means any free port.
func splitListen(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	if port == 0 {
		port = -1 // the server's "pick one"
	}
	return host, port, nil
}

// ClusterAddr is where the server listens for routes, or nil without a cluster.
func (n *NATSServer) ClusterAddr() net.Addr {
	if a := n.ns.ClusterAddr(); a != nil {
		return a
	}
	return nil
}

// ClientURL is where NATS clients reach the server (nats://HOST:PORT),
// or "" when it has none for them (ClientListen was not set).
func (n *NATSServer) ClientURL() string {
	if n.ns.Addr() == nil || n.token != "" {
		return ""
	}
	return n.ns.ClientURL()
}

// Routes is how many other servers this one is connected to.
func (n *NATSServer) Routes() int { return n.ns.NumRoutes() }

// Close stops the server and waits until it has.
func (n *NATSServer) Close() {
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
}
