package nat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/pion/ice/v4"
)

// Signal is what an Agent tells its peer (natconf.Signal). Gather emits
// first a Signal holding the credentials, then one per local candidate as it
// is found (trickle ICE), then one with Done set. A caller that prefers a
// single message uses GatherAll, which returns all of it merged into one
// Signal. Hand each Signal the peer sent to Agent.Apply.
type Signal = natconf.Signal

// Errors from Agent.
var (
	ErrAgentClosed = errors.New("nat: agent closed")
	ErrICEFailed   = errors.New("nat: no working path to the peer")
	ErrUsedTwice   = errors.New("nat: called twice")
)

// Agent finds a path to the peer with ICE (RFC 8445) through NATs, using STUN
// and, as a last resort, TURN. All host candidates share one UDP socket,
// each server-reflexive one has its own; all are driven by quic.Transports
// (sharedSocket) so that QUIC over a pair using them runs on the socket
// directly. On the real network every socket the agent opens gets 8 MiB
// buffers.
//
// An Agent serves one connection: call Gather, Apply the peer's Signals as
// they arrive (concurrently with Connect if you like), then Connect once.
// Close releases everything, including the PacketConn Connect returned.
type Agent struct {
	log          *slog.Logger
	mdns         bool
	loopbackOnly bool
	ice          *ice.Agent
	mux          *ice.UDPMuxDefault
	shared       *sharedSocket // the host candidates' socket
	srflx        *srflxSockets // the server-reflexive candidates' sockets

	credsSet  chan struct{} // closed when the peer's credentials are known
	connected chan struct{} // closed when ICE selects a pair
	failed    chan struct{} // closed when ICE fails or the agent closes
	stateOnce struct{ connected, failed sync.Once }

	hint        netip.Addr // Config.PublicIPv4Hint, when usable
	mu          sync.Mutex
	gathering   bool
	connecting  bool
	remoteUfrag string
	remotePwd   string
	remoteKeys  map[string]struct{}
	remoteDone  bool

	closeOnce sync.Once
	closeErr  error
}

// NewAgent creates an agent and opens its socket. It does not block.
func NewAgent(cfg Config) (*Agent, error) { return newAgent(cfg) }

// newAgent is NewAgent with extra options for ice (tests shorten its
// timeouts with them).
func newAgent(cfg Config, extra ...ice.AgentOption) (*Agent, error) {
	log := orDiscard(cfg.Logger)
	uris, err := serverURIs(&cfg)
	if err != nil {
		return nil, err
	}
	n, sock, err := openSocket(&cfg, log)
	if err != nil {
		return nil, err
	}
	logs := pionLogs{l: log}
	shared, err := newSharedSocket(sock)
	if err != nil {
		return nil, err
	}
	// Host candidates on every interface share this one socket. Each
	// server-reflexive candidate gets a socket of its own from n (one per
	// STUN server; with ice's shared-socket mode for them, which pair
	// succeeded through the shared socket is labelled arbitrarily), driven
	// by a quic.Transport too (srflxNet), as does each relay candidate; on
	// the real network n gives them 8 MiB buffers.
	srflx := &srflxSockets{}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{
		Logger:  logs.NewLogger("udpmux"),
		UDPConn: muxConn{shared},
		Net:     n,
	})
	types := []ice.CandidateType{ice.CandidateTypeHost}
	if len(uris) > 0 {
		types = append(types, ice.CandidateTypeServerReflexive)
	}
	if len(cfg.TURN) > 0 {
		types = append(types, ice.CandidateTypeRelay)
	}
	if cfg.RelayOnly {
		if len(cfg.TURN) == 0 {
			_ = shared.close()
			return nil, errors.New("nat: relay-only needs a TURN server")
		}
		types = []ice.CandidateType{ice.CandidateTypeRelay}
	}
	mdnsMode := ice.MulticastDNSModeDisabled
	if cfg.MDNS {
		mdnsMode = ice.MulticastDNSModeQueryAndGather
	}
	opts := []ice.AgentOption{
		ice.WithNet(srflxNet{Net: n, sockets: srflx}),
		ice.WithUDPMux(mux),
		ice.WithUrls(uris),
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes(types),
		ice.WithMulticastDNSMode(mdnsMode),
		ice.WithLoggerFactory(logs),
		ice.WithRemoteIPFilter((&remoteBudget{loopbackOnly: cfg.LoopbackOnly}).allow),
	}
	if cfg.LoopbackOnly {
		opts = append(opts, ice.WithIncludeLoopback(),
			ice.WithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }))
	}
	ag, err := ice.NewAgentWithOptions(append(opts, extra...)...)
	if err != nil {
		_ = mux.Close()
		return nil, fmt.Errorf("nat: create ice agent: %w", err)
	}
	a := &Agent{
		log:          log,
		hint:         usableHint(cfg),
		mdns:         cfg.MDNS,
		loopbackOnly: cfg.LoopbackOnly,
		ice:          ag,
		mux:          mux,
		shared:       shared,
		srflx:        srflx,
		credsSet:     make(chan struct{}),
		connected:    make(chan struct{}),
		failed:       make(chan struct{}),
		remoteKeys:   make(map[string]struct{}),
	}
	if err := ag.OnConnectionStateChange(a.onState); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("nat: watch ice state: %w", err)
	}
	return a, nil
}

func (a *Agent) onState(s ice.ConnectionState) {
	a.log.Debug("nat: ice state", "state", s.String())
	switch s {
	case ice.ConnectionStateConnected:
		a.stateOnce.connected.Do(func() { close(a.connected) })
	case ice.ConnectionStateFailed, ice.ConnectionStateClosed:
		a.stateOnce.failed.Do(func() { close(a.failed) })
	default:
	}
}

// Gather starts gathering local candidates and reports them through emit:
// first the local credentials, then each candidate, then Done (see Signal).
// The first call to emit happens before Gather returns, the others on
// another goroutine, one at a time; emit should not block for long.
func (a *Agent) Gather(emit func(Signal)) error {
	a.mu.Lock()
	if a.gathering {
		a.mu.Unlock()
		return fmt.Errorf("nat: gather: %w", ErrUsedTwice)
	}
	a.gathering = true
	a.mu.Unlock()

	ufrag, pwd, err := a.ice.GetLocalUserCredentials()
	if err != nil {
		return fmt.Errorf("nat: local credentials: %w", err)
	}
	emit(Signal{Ufrag: ufrag, Pwd: pwd})
	hint := hintGathering{hint: a.hint}
	err = a.ice.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			if h := hint.candidate(); h != nil {
				a.log.Debug("nat: local candidate from the relay's your-address", "candidate", h.String())
				emit(Signal{Candidates: []string{h.Marshal()}})
			}
			a.log.Debug("nat: gathering done")
			emit(Signal{Done: true})
			return
		}
		hint.saw(c)
		a.log.Debug("nat: local candidate", "candidate", c.String())
		emit(Signal{Candidates: []string{c.Marshal()}})
	})
	if err != nil {
		return fmt.Errorf("nat: gather: %w", err)
	}
	if err := a.ice.GatherCandidates(); err != nil {
		return fmt.Errorf("nat: gather: %w", err)
	}
	return nil
}

// GatherAll gathers like Gather but waits until gathering is complete and
// returns the credentials and all candidates in one Signal with Done set.
// Gathering takes up to a few seconds when a STUN or TURN server is slow.
func (a *Agent) GatherAll(ctx context.Context) (Signal, error) {
	var (
		mu   sync.Mutex
		all  Signal
		done = make(chan struct{})
	)
	err := a.Gather(func(s Signal) {
		mu.Lock()
		defer mu.Unlock()
		if s.Ufrag != "" {
			all.Ufrag, all.Pwd = s.Ufrag, s.Pwd
		}
		all.Candidates = append(all.Candidates, s.Candidates...)
		if s.Done && !all.Done {
			all.Done = true
			close(done)
		}
	})
	if err != nil {
		return Signal{}, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return Signal{}, fmt.Errorf("nat: gather: %w", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	all.Candidates = append([]string(nil), all.Candidates...)
	return all, nil
}

// Apply takes a Signal from the peer: its credentials (which must not change
// once set) and candidates. Input is vetted: a refused candidate or bad
// credentials yield an error wrapping ErrBadCandidate, ErrBadCredentials or
// ErrTooManyCandidates, and the caller should give up on the peer.
// Well-formed candidates this agent cannot use (TCP, IPv6) are ignored.
func (a *Agent) Apply(s Signal) error {
	if s.Ufrag != "" || s.Pwd != "" {
		if err := a.setRemoteCredentials(s.Ufrag, s.Pwd); err != nil {
			return err
		}
	}
	if len(s.Candidates) > MaxRemoteCandidates {
		return fmt.Errorf("%w: %d in one signal", ErrTooManyCandidates, len(s.Candidates))
	}
	for _, raw := range s.Candidates {
		if err := a.addRemoteCandidate(raw); err != nil {
			return err
		}
	}
	if s.Done {
		a.mu.Lock()
		a.remoteDone = true
		a.mu.Unlock()
	}
	return nil
}

func (a *Agent) setRemoteCredentials(ufrag, pwd string) error {
	if err := checkCredentials(ufrag, pwd); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.remoteUfrag != "" {
		if a.remoteUfrag != ufrag || a.remotePwd != pwd {
			return fmt.Errorf("%w: changed", ErrBadCredentials)
		}
		return nil
	}
	a.remoteUfrag, a.remotePwd = ufrag, pwd
	close(a.credsSet)
	return nil
}

func (a *Agent) addRemoteCandidate(raw string) error {
	c, key, err := parseRemoteCandidate(raw, a.mdns, a.loopbackOnly)
	if err != nil {
		return err
	}
	if c == nil {
		a.log.Debug("nat: ignoring unusable remote candidate", "candidate", raw)
		return nil
	}
	a.mu.Lock()
	switch _, dup := a.remoteKeys[key]; {
	case a.remoteDone:
		a.mu.Unlock()
		return fmt.Errorf("%w: after end of candidates", ErrBadCandidate)
	case dup:
		a.mu.Unlock()
		return nil
	case len(a.remoteKeys) >= MaxRemoteCandidates:
		a.mu.Unlock()
		return fmt.Errorf("%w: limit %d", ErrTooManyCandidates, MaxRemoteCandidates)
	}
	a.remoteKeys[key] = struct{}{}
	a.mu.Unlock()
	a.log.Debug("nat: remote candidate", "candidate", c.String())
	if err := a.ice.AddRemoteCandidate(c); err != nil {
		return fmt.Errorf("nat: add remote candidate: %w", err)
	}
	return nil
}

// Connect runs ICE connectivity checks until a candidate pair works and
// returns the datagram path over it. Exactly one of the two peers must be
// controlling (say, the sender). Connect first waits for the peer's
// credentials (Apply); remote candidates may keep arriving while it runs.
// It fails with ErrICEFailed when no pair works (after about 30 s) and with
// the context's error when ctx ends first; in both cases Close the agent.
func (a *Agent) Connect(ctx context.Context, controlling bool) (PacketConn, error) {
	a.mu.Lock()
	if a.connecting {
		a.mu.Unlock()
		return nil, fmt.Errorf("nat: connect: %w", ErrUsedTwice)
	}
	a.connecting = true
	a.mu.Unlock()

	select {
	case <-a.credsSet:
	case <-a.failed:
		return nil, fmt.Errorf("nat: connect: %w", ErrAgentClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("nat: waiting for peer credentials: %w", ctx.Err())
	}
	a.mu.Lock()
	ufrag, pwd := a.remoteUfrag, a.remotePwd
	a.mu.Unlock()

	var (
		conn *ice.Conn
		err  error
	)
	if controlling {
		conn, err = a.ice.StartDial(ufrag, pwd)
	} else {
		conn, err = a.ice.StartAccept(ufrag, pwd)
	}
	if err != nil {
		return nil, fmt.Errorf("nat: start ice: %w", err)
	}
	select {
	case <-a.connected:
	case <-a.failed:
		return nil, ErrICEFailed
	case <-ctx.Done():
		return nil, fmt.Errorf("nat: ice: %w", ctx.Err())
	}
	localAddr, remoteAddr := conn.LocalAddr(), conn.RemoteAddr()
	if localAddr == nil || remoteAddr == nil { // the pair went away again at once
		return nil, ErrICEFailed
	}
	local, remote := a.SelectedPair()
	a.log.Debug("nat: ice connected", "local", local, "remote", remote,
		"local_addr", localAddr, "remote_addr", remoteAddr)
	if s := a.socketOf(local); s != nil {
		a.log.Debug("nat: quic on the pair's socket")
		return &socketPacketConn{shared: s, agent: a, local: localAddr, remote: remoteAddr}, nil
	}
	return newPacketConn(conn, a), nil
}

// socketOf returns the shared socket under the selected pair's local
// candidate, of type local: the host socket, or a server-reflexive
// candidate's (found by the port of its base); nil for a relay candidate.
func (a *Agent) socketOf(local CandidateType) *sharedSocket {
	switch local {
	case Host:
		return a.shared
	case ServerReflexive:
		p, err := a.ice.GetSelectedCandidatePair()
		if err != nil || p == nil || p.Local.RelatedAddress() == nil {
			return nil
		}
		return a.srflx.lookup(p.Local.RelatedAddress().Port)
	default:
		return nil
	}
}

// SelectedPair reports the types of the local and remote candidates of the
// pair ICE selected, or two empty strings before there is one.
func (a *Agent) SelectedPair() (local, remote CandidateType) {
	p, err := a.ice.GetSelectedCandidatePair()
	if err != nil || p == nil {
		return "", ""
	}
	return candidateType(p.Local.Type()), candidateType(p.Remote.Type())
}

// Close stops the agent and closes its sockets, and with them the
// PacketConn from Connect. It is safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.stateOnce.failed.Do(func() { close(a.failed) })
		err := a.ice.GracefulClose()
		if merr := a.mux.Close(); merr != nil && err == nil {
			err = merr
		}
		if err != nil {
			a.closeErr = fmt.Errorf("nat: close agent: %w", err)
		}
	})
	return a.closeErr
}
