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
	// Logger receives the server's log; nil means silent.
	Logger *slog.Logger
	// MOTD, if not empty, is a message of the day every client shows.
	MOTD string

	// MaxFrameBytes is the largest frame a client may send; a bigger one
	// closes its connection (status 1009). Default 64 KiB.
	MaxFrameBytes int64
	// MaxMessagesPerMailbox and MaxMailboxBytes bound what a mailbox
	// holds (bytes count sides, phases, bodies and ids); adding more is
	// refused with "mailbox is full". Defaults 256 and 512 KiB.
	MaxMessagesPerMailbox int
	MaxMailboxBytes       int64
	// MaxConns and MaxConnsPerIP bound concurrent websocket connections,
	// overall and per remote address (an IPv4 address or an IPv6 /64;
	// behind a reverse proxy every client shares the proxy's address).
	// Further connections get HTTP 503. Defaults 1024 and 64.
	MaxConns      int
	MaxConnsPerIP int
	// MaxNameplates and MaxMailboxes bound how many exist at once, over
	// all app ids. Defaults 10000 and 20000.
	MaxNameplates int
	MaxMailboxes  int
	// MaxNameplatesPerIP bounds the existing nameplates, and mailboxes
	// opened without a nameplate, that connections from one remote
	// address created. (Per connection the protocol itself allows only one
	// allocate and one claim.) Default 100.
	MaxNameplatesPerIP int
	// MaxSendQueueBytes bounds the frames queued for one client; a client
	// that falls further behind is disconnected. Opening a mailbox queues
	// all its messages at once, so keep it above MaxMailboxBytes. Default
	// twice MaxMailboxBytes plus four times MaxFrameBytes.
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
	// PruneInterval is how often pruning runs. Default 10m.
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

	connMu sync.Mutex
	closed bool
	nConns int
	perIP  map[string]int
	conns  sync.WaitGroup
}

// New returns a server configured by cfg, opening cfg.DataDir's database
// if set, and starts its pruning.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var st store
	if cfg.DataDir != "" {
		bs, err := openBoltStore(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		st = bs
	} else {
		st = newMemStore()
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       log,
		base:      base,
		stop:      stop,
		pruneDone: make(chan struct{}),
		perIP:     map[string]int{},
	}
	s.state = newState(st, &s.cfg, log)
	go s.pruneLoop(base)
	return s, nil
}

// ServeHTTP serves the mailbox websocket at /v1 and 404 elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1" && r.URL.Path != "/v1/" {
		http.NotFound(w, r)
		return
	}
	addr := addrKey(r.RemoteAddr)
	if err := s.admit(addr); err != nil {
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
		s.log.Debug("websocket handshake failed", "remote", addr, "err", err)
		return
	}
	ws.SetReadLimit(s.cfg.MaxFrameBytes)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()
	newConn(s, ws, addr).serve(ctx)
}

// admit reserves a connection slot for a client at addr.
func (s *Server) admit(addr string) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch {
	case s.closed:
		return errors.New("server is shutting down")
	case s.nConns >= s.cfg.MaxConns:
		return errors.New("too many connections")
	case s.perIP[addr] >= s.cfg.MaxConnsPerIP:
		return errors.New("too many connections from your address")
	}
	s.nConns++
	s.perIP[addr]++
	s.conns.Add(1)
	return nil
}

func (s *Server) leave(addr string) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.nConns--
	if s.perIP[addr]--; s.perIP[addr] <= 0 {
		delete(s.perIP, addr)
	}
	s.conns.Done()
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
	active.Wait()
	return nil
}

// Close disconnects every client, stops pruning and closes the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.connMu.Lock()
		s.closed = true
		s.connMu.Unlock()
		s.stop()
		<-s.pruneDone
		s.conns.Wait()
		s.state.mu.Lock()
		defer s.state.mu.Unlock()
		s.closeErr = s.state.store.close()
	})
	return s.closeErr
}
