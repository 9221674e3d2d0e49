// Package relay is a Magic Wormhole mailbox ("rendezvous") server, speaking
// the protocol of the reference wormhole-mailbox-server over a websocket at
// /v1. It is what `ferry relay` serves.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Config configures a Server. The zero value is a working in-memory server
// with safe limits; every zero (or negative) limit means its default.
type Config struct {
	// DataDir, if not empty, is a directory (created with mode 0700) where
	// nameplates, mailboxes and their messages are kept in relay.db, so
	// that clients can carry on after a restart. Empty keeps them in memory.
	DataDir string
	// NATS, if not nil, keeps them in NATS JetStream instead, shared with
	// every relay that uses the same NATS (see NATSConfig); DataDir is
	// then not used.
	NATS *NATSConfig
	// Logger receives the server's log; nil means silent.
	Logger *slog.Logger
	// MOTD, if not empty, is a message of the day every client shows.
	MOTD string
	// Other, if set, serves every path but /v1 (ferry relay puts its
	// browser client and WebSocket transit relay there).
	Other http.Handler
	// Page, if not empty, is where ferry's browser client is, which the
	// welcome tells ferry clients: an absolute http or https URL, or a
	// path ("/") on this server as the client reached it (http or https,
	// the Host it asked for).
	Page string
	// Transit and STUN, if not empty, are this node's own transit relay
	// and STUN server, which the welcome announces to ferry clients
	// (ferry_transit "tcp:HOST:PORT", ferry_stun "stun:HOST:PORT";
	// classic clients ignore the keys), so that the two sides of a
	// transfer meet on the node the sender used: "HOST:PORT" (HOST a name
	// or an IP address), or ":PORT" for the host the client reached this
	// server by (the Host it asked for). A value of another shape is
	// refused by New.
	Transit string
	STUN    string

	// HashcashBits, if positive, makes every client prove some work
	// before bind (the protocol's permission extension): a hashcash
	// stamp with this many leading zero bits, about 2^HashcashBits
	// SHA-1 hashes, for a resource new to each connection; a cheap brake
	// on floods of new clients. Clients that do not know the extension
	// (the Python client, wormhole-william) are then turned away
	// ("permission denied"). At most 28.
	HashcashBits int

	// MaxFrameBytes is the largest frame a client may send; a bigger one
	// closes its connection (status 1009). Default 1 MiB (ferry's text
	// messages of up to 256 KiB, encrypted and hex-encoded, fit).
	MaxFrameBytes int64
	// MaxMessagesPerMailbox and MaxMailboxBytes bound what a mailbox
	// holds (bytes count each message as JSON: side, phase, body, id and
	// timestamp); adding more is refused with "mailbox is full".
	// Defaults 256 and 2 MiB.
	MaxMessagesPerMailbox int
	MaxMailboxBytes       int64
	// MaxStoredBytes bounds the bytes of all stored messages together
	// (each counts its JSON size plus 128 bytes, what it costs in
	// memory); MaxStoredBytesPerIP and MaxStoredBytesPerPrefix bound those
	// added by connections from one client address and from one prefix
	// (see MaxConnsPerPrefix). An add over a bound is refused with an
	// error ("relay is out of space for messages, try again later", "too
	// much stored from your address (or network), try again later"). The
	// bytes come free when their mailbox is closed or pruned. Defaults
	// 128 MiB, 4 MiB and 8 MiB.
	MaxStoredBytes          int64
	MaxStoredBytesPerIP     int64
	MaxStoredBytesPerPrefix int64
	// MaxConns, MaxConnsPerIP and MaxConnsPerPrefix bound concurrent
	// websocket connections: overall, per remote address (an IPv4
	// address or an IPv6 /64) and per prefix (an IPv4 /24 or an IPv6
	// /48). Behind a reverse proxy every client shares the proxy's
	// address. Further connections get HTTP 503. Defaults 1024, 32 and 128.
	// On relays that share a NATS store, MaxConnsPerIP and
	// MaxConnsPerPrefix count a client's connections on every relay (a
	// moment late: see NATSConfig), MaxConns this relay's alone.
	MaxConns          int
	MaxConnsPerIP     int
	MaxConnsPerPrefix int
	// MaxNameplates and MaxMailboxes bound how many exist at once, over
	// all app ids. Defaults 10000 and 20000.
	MaxNameplates int
	MaxMailboxes  int
	// MaxNameplatesPerIP and MaxNameplatesPerPrefix bound the existing
	// nameplates, and mailboxes opened without a nameplate, that
	// connections from one remote address, and from one prefix, created.
	// (Per connection the protocol itself allows only one allocate and
	// one claim.) Defaults 32 and 128.
	MaxNameplatesPerIP     int
	MaxNameplatesPerPrefix int
	// MaxBufferBytes bounds the memory of all connections' buffers
	// together: the frames queued for clients or being written to them,
	// and the frames being read from them (four times over while one is
	// handled: its decoded fields and the replies that echo it). When a
	// client needs more than is left, the client holding the most (one
	// that does not read, say) is disconnected. Default 128 MiB.
	MaxBufferBytes int64
	// MaxSendQueueBytes bounds the replies queued for one client; a
	// client that falls further behind is disconnected. A client that
	// opened a mailbox may queue as much again as a full mailbox
	// delivers (MaxMailboxBytes plus 96 bytes a message). Default twice
	// MaxFrameBytes plus 64 KiB.
	MaxSendQueueBytes int64
	// WriteTimeout bounds writing one frame to a client. Default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often a client is pinged; one that does not
	// answer within the interval is disconnected. Default 60s; negative
	// disables pings.
	PingInterval time.Duration
	// PruneAge is how long a mailbox that nobody listens to survives
	// without being opened or added to; its nameplates go with it.
	// Default 2h.
	PruneAge time.Duration
	// PruneUnpairedAge is how long state that never got two sides
	// survives when nobody listens to it: a mailbox that fewer than two
	// sides opened or claimed, and a nameplate (allocated or claimed)
	// whose mailbox nobody listens to. A sender waiting for its peer
	// keeps its connection, and so its mailbox and nameplate. Default 10m
	// (at most PruneAge).
	PruneUnpairedAge time.Duration
	// PruneInterval is how often pruning runs. Default 1m.
	PruneInterval time.Duration

	now func() time.Time // clock; tests replace it
}

// Server is a mailbox server. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	state *state

	base      context.Context // cancelled by Close
	stop      context.CancelFunc
	pruneDone chan struct{}
	closeOnce sync.Once
	closeErr  error

	bufs    *buffers
	metrics serverMetrics

	connMu  sync.Mutex
	closed  bool
	nConns  int
	perConn tally // connections per client address and prefix
	conns   sync.WaitGroup
	// share, on relays that share a NATS store, has the other relays'
	// connection counts and publishes this one's; nil otherwise.
	share *connShare
}

// New is NewContext with a context that never ends.
func New(cfg Config) (*Server, error) { return NewContext(context.Background(), cfg) }

// NewContext returns a server configured by cfg, opening cfg.DataDir's
// database or connecting to cfg.NATS if set, and starts its pruning. ctx
// bounds the start: a NATS store stops connecting and setting up when it
// ends (a cluster without its quorum answers nothing until
// NATSConfig.StartTimeout).
func NewContext(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.HashcashBits > maxHashcashBits {
		return nil, fmt.Errorf("relay: HashcashBits %d is more than %d", cfg.HashcashBits, maxHashcashBits)
	}
	for _, a := range []string{cfg.Transit, cfg.STUN} {
		if a != "" && !validService(a) {
			return nil, fmt.Errorf("relay: %q is not HOST:PORT or :PORT", a)
		}
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		st  store
		err error
	)
	switch {
	case cfg.NATS != nil:
		ns, err := openNATSStore(ctx, *cfg.NATS, cfg.PruneAge, cfg.MaxFrameBytes, log)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		st = ns
	case cfg.DataDir != "":
		bs, err := openBoltStore(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		st = bs
	default:
		st = newMemStore()
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       log,
		base:      base,
		stop:      stop,
		pruneDone: make(chan struct{}),
		bufs:      newBuffers(cfg.MaxBufferBytes),
		perConn:   newTally(),
		metrics:   serverMetrics{refused: newServerRefusals()},
	}
	s.state, err = newState(st, &s.cfg, log)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	if ns, ok := st.(*natsStore); ok {
		wait := cfg.NATS.StartTimeout
		orDefault(&wait, 30*time.Second)
		sctx, cancel := context.WithTimeout(ctx, wait)
		s.share, err = startConnShare(sctx, ns.conns, connShareConfig{
			ttl: ns.connsTTL, life: ns.life, perAddr: int64(cfg.MaxConnsPerIP), perPrefix: int64(cfg.MaxConnsPerPrefix),
			local: s.withConns, log: log,
		})
		cancel()
		if err != nil {
			stop()
			st.close()
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
	go s.pruneLoop(base)
	return s, nil
}

// ServeHTTP serves the mailbox websocket at /v1 and 404 elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1" && r.URL.Path != "/v1/" {
		if s.cfg.Other != nil {
			s.cfg.Other.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	addr := clientKeyOf(r.RemoteAddr)
	if err := s.admit(addr); err != nil {
		s.metrics.refused.add(admitReason(err))
		w.Header().Set("Retry-After", "60")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer s.leave(addr)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Browser clients (web wormholes) connect from other origins, and
		// nothing here relies on cookies or ambient authority.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("websocket handshake failed", "remote", addr.addr, "err", err)
		return
	}
	ws.SetReadLimit(s.cfg.MaxFrameBytes)
	s.metrics.conns.Add(1)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()
	c := newConn(s, ws, addr)
	c.page = s.pageURL(r)
	c.transit = serviceURL("tcp:", s.cfg.Transit, r.Host)
	c.stun = serviceURL("stun:", s.cfg.STUN, r.Host)
	c.you = yourAddressOf(r.RemoteAddr)
	c.serve(ctx)
}

// admit reserves a connection slot for a client at addr.
func (s *Server) admit(addr clientKey) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return errors.New("server is shutting down")
	}
	if s.nConns >= s.cfg.MaxConns {
		return errors.New("too many connections")
	}
	byAddr, byPrefix := s.perConn.addr[addr.addr], s.perConn.prefix[addr.prefix]
	if s.share != nil {
		a, p := s.share.others(addr)
		byAddr, byPrefix = byAddr+a, byPrefix+p
	}
	if ok, which := fits(byAddr, byPrefix, 1, int64(s.cfg.MaxConnsPerIP), int64(s.cfg.MaxConnsPerPrefix)); !ok {
		return fmt.Errorf("too many connections from your %s", which)
	}
	s.nConns++
	s.perConn.add(addr, 1)
	s.conns.Add(1)
	if s.share != nil {
		s.share.changed()
	}
	return nil
}

func (s *Server) leave(addr clientKey) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.nConns--
	s.perConn.add(addr, -1)
	s.conns.Done()
	if s.share != nil {
		s.share.changed()
	}
}

// withConns calls f with the relay's connection counts, under its lock.
func (s *Server) withConns(f func(own *tally)) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	f(&s.perConn)
}

// Serve serves HTTP on ln until ctx is done, then stops accepting,
// tells connected clients the server is going away, waits for their
// connections to end, and returns nil. It returns an error if serving
// fails before that. It does not close s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var (
		mu       sync.Mutex
		stopping bool
		active   sync.WaitGroup
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if stopping {
			mu.Unlock()
			s.metrics.refused.add(refusedShutdown)
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
		active.Add(1)
		mu.Unlock()
		defer active.Done()
		s.ServeHTTP(w, r)
	})
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests (and so websockets) end when ctx does.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("relay: serve: %w", err)
	case <-ctx.Done():
	}
	mu.Lock()
	stopping = true
	mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	s.waitOrAbandon("connections", active.Wait)
	return nil
}

// shutdownGrace is how long, at shutdown, the requests to a shared store
// that connections and pruning are waiting for may take before they are
// abandoned.
const shutdownGrace = 2 * time.Second

// abandoner is a store whose requests may be abandoned at shutdown.
type abandoner interface{ abandonRequests() }

// waitOrAbandon waits until wait returns. When that takes more than
// shutdownGrace, something waits for the store (a NATS cluster that lost
// its quorum answers each request only at its Timeout, and the state's
// lock queues them): its requests, running and to come, are abandoned
// (they fail at once), and the wait goes on.
func (s *Server) waitOrAbandon(what string, wait func()) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	if a, ok := s.state.store.(abandoner); ok {
		s.log.Debug("shutting down: abandoning the store's requests", "waiting_for", what, "after", shutdownGrace, "clients", s.Clients())
		a.abandonRequests()
	}
	<-done
}

// Clients is how many websocket clients are connected now.
func (s *Server) Clients() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.nConns
}

// Close disconnects every client, stops pruning and closes the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.connMu.Lock()
		s.closed = true
		s.connMu.Unlock()
		s.stop()
		s.waitOrAbandon("pruning and connections", func() {
			<-s.pruneDone
			s.conns.Wait()
		})
		if s.share != nil {
			s.share.close()
		}
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		s.closeErr = s.state.store.close()
	})
	return s.closeErr
}

// pageURL is the address of the page the welcome announces to a client
// that connected with r: Config.Page, on this server as the client
// reached it when it is a path.
func (s *Server) pageURL(r *http.Request) string {
	if !strings.HasPrefix(s.cfg.Page, "/") {
		return s.cfg.Page
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(scheme + "://" + r.Host + s.cfg.Page)
	if err != nil || u.Host != r.Host || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	return u.String()
}
