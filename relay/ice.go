package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// ICEConfig configures the STUN and TURN servers of a relay, which help
// ferry peers find a path to each other through NATs (see StartICE). Every
// zero field means its documented default.
type ICEConfig struct {
	// STUNListen is the UDP address (e.g. ":3478") of a server that answers
	// STUN binding requests only; every other request is refused. Empty
	// means no STUN-only server.
	STUNListen string

	// TURNListen is the UDP address (e.g. ":3479") of the TURN server, which
	// also answers STUN binding requests. Empty means no TURN server. TURN
	// needs RelayIP and credentials (User and Password, or SharedSecret).
	TURNListen string

	// RelayIP is the IP address TURN advertises in relayed addresses: the
	// relay's public address. Required with TURNListen. Relay ports are
	// picked by the system, one UDP socket per allocation, bound to
	// RelayBind. Peers on loopback addresses are only relayed to when
	// RelayIP is itself a loopback address, and peers on private addresses
	// (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only when RelayIP
	// is loopback or private (see StartICE).
	RelayIP string

	// RelayBind is the local IP address the relay sockets bind to. Empty
	// means RelayIP. Set it (to a local address, or "0.0.0.0") when RelayIP
	// is not an address of this host, as behind the 1:1 NAT of many cloud
	// servers.
	RelayBind string

	// Realm is the TURN realm. Default "ferry".
	Realm string

	// User and Password are a static long-term TURN credential. Both or
	// neither must be set.
	User, Password string

	// SharedSecret, if not empty, also admits time-limited credentials in
	// the "TURN REST API" convention coturn uses: the username is
	// "<unix-expiry>[:<name>]" and the password is
	// base64(HMAC-SHA1(SharedSecret, username)); see TURNCredentials.
	// Expired or malformed usernames are refused.
	SharedSecret string

	// MaxAllocationsPerIP bounds the live TURN allocations of one client
	// address (an IPv4 address or an IPv6 /64). Default 8; negative means
	// no per-address limit.
	MaxAllocationsPerIP int

	// MaxAllocationsPerPrefix bounds the live TURN allocations of the
	// clients of one network (an IPv4 /24 or an IPv6 /48). Default 32 (at
	// least MaxAllocationsPerIP); negative means no per-prefix limit.
	MaxAllocationsPerPrefix int

	// AllocationIdleTimeout closes an allocation that relayed no datagram,
	// in either direction, for that long, whatever lifetime its client
	// asked for (pion's default is 10 minutes, refreshable). ICE keeps a
	// path it uses busy with checks every few seconds, and ferry's QUIC
	// sends keep-alives every 10s. Default 60s; negative disables it.
	AllocationIdleTimeout time.Duration

	// MaxAllocations bounds the live TURN allocations overall (each holds a
	// UDP socket). Default 1024; negative means no limit.
	MaxAllocations int

	// Logger receives the servers' log (including pion's); nil means silent.
	Logger *slog.Logger
}

// Defaults of ICEConfig.
const (
	DefaultTURNRealm               = "ferry"
	DefaultMaxAllocationsPerIP     = 8
	DefaultMaxAllocationsPerPrefix = 32
	DefaultMaxAllocations          = 1024
	DefaultAllocationIdleTimeout   = 60 * time.Second
)

// Errors StartICE reports for a bad ICEConfig.
var (
	// ErrTURNNoCredentials: TURNListen is set but neither User and
	// Password nor SharedSecret are; the relay refuses to run an open TURN
	// server.
	ErrTURNNoCredentials = errors.New("relay: TURN needs credentials (user and password, or a shared secret); refusing to run an open relay")
	// ErrBadICEConfig: any other invalid ICEConfig.
	ErrBadICEConfig = errors.New("relay: bad STUN/TURN config")
)

// ICEServer is a running STUN server and/or TURN server; see StartICE.
type ICEServer struct {
	log *slog.Logger

	stunConn net.PacketConn
	stun     *turn.Server
	turnConn net.PacketConn
	turn     *turn.Server
	relays   *iceRelays
	quota    *iceQuota
	metrics  iceMetrics

	done      chan struct{}
	reaper    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// iceSetup is a validated ICEConfig.
type iceSetup struct {
	cfg     ICEConfig
	relayIP netip.Addr
	bindIP  netip.Addr
}

func (cfg ICEConfig) validate() (iceSetup, error) {
	if cfg.Realm == "" {
		cfg.Realm = DefaultTURNRealm
	}
	if cfg.MaxAllocationsPerIP == 0 {
		cfg.MaxAllocationsPerIP = DefaultMaxAllocationsPerIP
	}
	if cfg.MaxAllocationsPerPrefix == 0 {
		cfg.MaxAllocationsPerPrefix = max(DefaultMaxAllocationsPerPrefix, cfg.MaxAllocationsPerIP)
	}
	if cfg.MaxAllocations == 0 {
		cfg.MaxAllocations = DefaultMaxAllocations
	}
	if cfg.AllocationIdleTimeout == 0 {
		cfg.AllocationIdleTimeout = DefaultAllocationIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := iceSetup{cfg: cfg}
	if cfg.STUNListen == "" && cfg.TURNListen == "" {
		return s, fmt.Errorf("%w: neither a STUN nor a TURN listen address", ErrBadICEConfig)
	}
	if cfg.TURNListen == "" {
		return s, nil
	}

	if (cfg.User == "") != (cfg.Password == "") {
		return s, fmt.Errorf("%w: TURN user and password must be set together", ErrBadICEConfig)
	}
	if cfg.User == "" && cfg.SharedSecret == "" {
		return s, ErrTURNNoCredentials
	}
	if cfg.RelayIP == "" {
		return s, fmt.Errorf("%w: TURN needs the relay's public IP address (RelayIP)", ErrBadICEConfig)
	}
	ip, err := netip.ParseAddr(cfg.RelayIP)
	if err != nil || ip.Zone() != "" {
		return s, fmt.Errorf("%w: relay IP %q is not an IP address", ErrBadICEConfig, cfg.RelayIP)
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() || ip.IsMulticast() {
		return s, fmt.Errorf("%w: relay IP %s cannot be advertised", ErrBadICEConfig, ip)
	}
	s.relayIP = ip
	s.bindIP = ip
	if cfg.RelayBind != "" {
		b, err := netip.ParseAddr(cfg.RelayBind)
		if err != nil || b.Zone() != "" {
			return s, fmt.Errorf("%w: relay bind address %q is not an IP address", ErrBadICEConfig, cfg.RelayBind)
		}
		b = b.Unmap()
		if b.Is4() != ip.Is4() {
			return s, fmt.Errorf("%w: relay bind address %s and relay IP %s differ in family", ErrBadICEConfig, b, ip)
		}
		s.bindIP = b
	}
	return s, nil
}

// StartICE binds the sockets of the STUN and TURN servers cfg asks for and
// serves them until Close is called or ctx is done.
//
// The TURN server relays UDP only (RFC 6062 TCP relaying is refused) and
// requires long-term credentials; StartICE fails with ErrTURNNoCredentials
// rather than run an open relay. It will not relay to (or accept data
// from) peers at unspecified, multicast, broadcast (255.255.255.255 and
// the directed broadcast addresses of this host's IPv4 networks), 0/8,
// 240/4, 192.0.0/24 or link-local addresses, nor at IPv6 addresses that
// embed an IPv4 address or lead into a tunnel (IPv4-compatible ::/96,
// NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo
// 2001::/32, discard-only 100::/64; an IPv4-mapped ::ffff:a.b.c.d is
// judged as a.b.c.d); loopback peers
// only when RelayIP is loopback; private ones only when RelayIP is
// loopback or private; and, unless RelayIP is loopback, not at the
// relay's own addresses (RelayIP, RelayBind, the listening addresses and
// this host's interface addresses at start-up). So it is not a proxy into
// the relay host or its network. Allocations are bounded per client
// address, per client prefix and overall, and closed when idle.
func StartICE(ctx context.Context, cfg ICEConfig) (*ICEServer, error) {
	setup, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	cfg = setup.cfg
	s := &ICEServer{log: cfg.Logger, done: make(chan struct{}), metrics: newICEMetrics()}
	fail := func(err error) (*ICEServer, error) {
		_ = s.Close()
		return nil, err
	}

	var lc net.ListenConfig
	if cfg.STUNListen != "" {
		s.stunConn, err = lc.ListenPacket(ctx, "udp", cfg.STUNListen)
		if err != nil {
			return fail(fmt.Errorf("relay: STUN listen: %w", err))
		}
		s.stun, err = turn.NewServer(turn.ServerConfig{
			// No AuthHandler: pion answers binding requests and refuses
			// everything that needs authentication (allocations) with 400.
			PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: s.stunConn}},
			LoggerFactory:     iceLogFactory{cfg.Logger.With("server", "stun")},
		})
		if err != nil {
			_ = s.stunConn.Close()
			s.stunConn = nil
			return fail(fmt.Errorf("relay: STUN server: %w", err))
		}
		s.log.Info("STUN server listening", "addr", s.stunConn.LocalAddr().String())
	}

	if cfg.TURNListen != "" {
		tlog := cfg.Logger.With("server", "turn")
		s.relays = newICERelays(setup.relayIP, setup.bindIP)
		s.quota = &iceQuota{
			perIP:     cfg.MaxAllocationsPerIP,
			perPrefix: cfg.MaxAllocationsPerPrefix,
			total:     cfg.MaxAllocations,
			n:         newTally(),
			log:       tlog,
			refused:   s.metrics.refused,
		}
		auth := &iceAuth{
			realm:   cfg.Realm,
			user:    cfg.User,
			secret:  cfg.SharedSecret,
			log:     tlog,
			refused: s.metrics.refused,
		}
		if cfg.User != "" {
			auth.userKey = turn.GenerateAuthKey(cfg.User, cfg.Realm, cfg.Password)
		}

		s.turnConn, err = lc.ListenPacket(ctx, "udp", cfg.TURNListen)
		if err != nil {
			return fail(fmt.Errorf("relay: TURN listen: %w", err))
		}
		own := []netip.Addr{setup.bindIP, iceAddrIP(s.turnConn.LocalAddr())}
		if s.stunConn != nil {
			own = append(own, iceAddrIP(s.stunConn.LocalAddr()))
		}
		peers := newICEPeerPolicy(setup.relayIP, own, tlog)
		s.turn, err = turn.NewServer(turn.ServerConfig{
			Realm:        cfg.Realm,
			AuthHandler:  auth.handle,
			QuotaHandler: s.quota.allow,
			EventHandler: turn.EventHandler{
				OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, relayAddr net.Addr, _ int) {
					s.quota.created(src)
					s.metrics.allocations.Add(1)
					tlog.Debug("TURN allocation created", "client", src.String(), "user", user, "relay", relayAddr.String())
				},
				OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) {
					s.quota.deleted(src)
					tlog.Debug("TURN allocation deleted", "client", src.String(), "user", user)
				},
			},
			PacketConnConfigs: []turn.PacketConnConfig{{
				PacketConn:            s.turnConn,
				RelayAddressGenerator: s.relays,
				PermissionHandler: func(client net.Addr, peer net.IP) bool {
					if !peers.allow(client, peer) {
						s.metrics.refused.add(turnRefusedPeer)
						return false
					}
					return true
				},
			}},
			LoggerFactory: iceLogFactory{tlog},
		})
		if err != nil {
			_ = s.turnConn.Close()
			s.turnConn = nil
			return fail(fmt.Errorf("relay: TURN server: %w", err))
		}
		s.log.Info("TURN server listening", "addr", s.turnConn.LocalAddr().String(),
			"relay_ip", setup.relayIP.String(), "realm", cfg.Realm)
		if cfg.AllocationIdleTimeout > 0 {
			s.reaper.Go(func() { reapIdle(s.relays, cfg.AllocationIdleTimeout, tlog, s.done) })
		}
	}

	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// iceAddrIP is the IP of a bound UDP address (invalid if it is none).
func iceAddrIP(a net.Addr) netip.Addr {
	if ua, ok := a.(*net.UDPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ua.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// STUNAddr is the bound address of the STUN-only server, or nil if there is
// none.
func (s *ICEServer) STUNAddr() net.Addr {
	if s.stunConn == nil {
		return nil
	}
	return s.stunConn.LocalAddr()
}

// TURNAddr is the bound address of the TURN server, or nil if there is none.
func (s *ICEServer) TURNAddr() net.Addr {
	if s.turnConn == nil {
		return nil
	}
	return s.turnConn.LocalAddr()
}

// Close stops the servers and closes every socket they hold, relay sockets
// included. It is safe to call more than once.
func (s *ICEServer) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.reaper.Wait()
		var errs []error
		if s.stun != nil {
			errs = append(errs, s.stun.Close())
		}
		if s.turn != nil {
			errs = append(errs, s.turn.Close())
		}
		if s.relays != nil {
			s.relays.closeAll()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
