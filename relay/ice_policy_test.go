package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

func TestICEPeerPolicy(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	always := []string{
		"0.0.0.0", "::", "0.1.2.3", // unspecified, "this network"
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1", // multicast
		"255.255.255.255", "240.0.0.1", // broadcast, reserved
		"169.254.169.254", "fe80::1", // link-local (cloud metadata)
	}
	for _, tc := range []struct {
		relayIP       string
		allow, refuse []string
	}{
		{
			relayIP: "127.0.0.1",
			allow:   []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "10.1.2.3", "192.168.1.20", "203.0.113.9", "2001:db8::1"},
			refuse:  always,
		},
		{
			relayIP: "203.0.113.7",
			// The relay itself is allowed: what goes there reaches its
			// allocations only (TestTURNRelayToRelay).
			allow: []string{"198.51.100.1", "2001:db8::1", "203.0.113.7"},
			refuse: append([]string{
				"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1",
				"10.1.2.3", "172.16.0.1", "192.168.1.20", "100.64.0.1", "fd00::1", "::ffff:192.168.1.1",
			}, always...),
		},
		{
			relayIP: "192.168.1.2",
			allow:   []string{"192.168.1.20", "10.1.2.3", "fd00::1", "203.0.113.9", "192.168.1.2"},
			refuse:  append([]string{"127.0.0.1", "::1"}, always...),
		},
	} {
		p := newICEPeerPolicy(netip.MustParseAddr(tc.relayIP), nil, discard)
		for _, ip := range tc.allow {
			if !p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
				t.Errorf("relay IP %s: peer %s refused", tc.relayIP, ip)
			}
		}
		for _, ip := range tc.refuse {
			if p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
				t.Errorf("relay IP %s: peer %s allowed", tc.relayIP, ip)
			}
		}
	}
	p := newICEPeerPolicy(netip.MustParseAddr("127.0.0.1"), nil, discard)
	_, broadcasts := iceHostAddrs()
	for _, b := range broadcasts {
		if p.allowed(net.IP(b.AsSlice())) {
			t.Errorf("interface broadcast address %s allowed", b)
		}
	}
	if p.allowed(nil) {
		t.Error("nil peer allowed")
	}
}

// The permission policy is wired into the server: CreatePermission for a
// forbidden peer is refused. (No data is sent, so nothing leaves loopback.)
func TestICETURNRefusesPeers(t *testing.T) {
	s := startICETest(t, turnTestConfig())
	c := newTURNClient(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	for _, ip := range []string{"0.0.0.0", "224.0.0.1", "255.255.255.255", "169.254.169.254"} {
		err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9})
		if err == nil {
			t.Errorf("permission for %s granted", ip)
		}
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Errorf("permission for loopback refused with a loopback relay IP: %v", err)
	}

	// A relay with a public RelayIP (bound to loopback here) refuses
	// loopback and private peers, and advertises RelayIP.
	cfg := turnTestConfig()
	cfg.RelayIP = "203.0.113.7"
	cfg.RelayBind = "127.0.0.1"
	s2 := startICETest(t, cfg)
	c2 := newTURNClient(t, s2.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	relay2, err := c2.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay2.Close()
	if ip := relay2.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.ParseIP("203.0.113.7")) {
		t.Errorf("relayed address %v, want RelayIP 203.0.113.7", relay2.LocalAddr())
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1"} {
		if err := c2.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}); err == nil {
			t.Errorf("public relay granted a permission for %s", ip)
		}
	}
	if err := c2.CreatePermission(&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 9}); err != nil {
		t.Errorf("public relay refused a public peer: %v", err)
	}
}

func TestICETCPRelayRefused(t *testing.T) {
	r := newICERelays(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"))
	if _, _, err := r.AllocateListener(turn.AllocateListenerConfig{Network: "tcp4"}); err == nil {
		t.Error("TCP relay listener allocated")
	}
	if _, err := r.AllocateConn(turn.AllocateConnConfig{Network: "tcp4"}); err == nil {
		t.Error("TCP relay connection allowed")
	}
	if _, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp6"}); err == nil {
		t.Error("IPv6 relay allocated for an IPv4 relay IP")
	}
}

func TestStartICEConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ICEConfig
		want error
		msg  string
	}{
		{"TURN without credentials", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1"}, ErrTURNNoCredentials, "credentials"},
		{"user without password", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", User: "alice"}, ErrBadICEConfig, "password"},
		{"password without user", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", Password: "x", SharedSecret: "s"}, ErrBadICEConfig, "password"},
		{"no relay IP", ICEConfig{TURNListen: "127.0.0.1:0", SharedSecret: "s"}, ErrBadICEConfig, "RelayIP"},
		{"bad relay IP", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "relay.example", SharedSecret: "s"}, ErrBadICEConfig, "relay.example"},
		{"unspecified relay IP", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "0.0.0.0", SharedSecret: "s"}, ErrBadICEConfig, "0.0.0.0"},
		{"bind family", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", RelayBind: "::1", SharedSecret: "s"}, ErrBadICEConfig, "family"},
		{"nothing to serve", ICEConfig{}, ErrBadICEConfig, "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := StartICE(context.Background(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("StartICE succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}

	// A port in use is reported, and nothing is left running.
	busy := listenUDP(t, "127.0.0.1")
	cfg := turnTestConfig()
	cfg.STUNListen = "127.0.0.1:0"
	cfg.TURNListen = busy.LocalAddr().String()
	if s, err := StartICE(context.Background(), cfg); err == nil {
		s.Close()
		t.Error("StartICE on a busy port succeeded")
	}
}

func TestICEContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := turnTestConfig()
	cfg.STUNListen = "127.0.0.1:0"
	cfg.Logger = iceTestLogger()
	s, err := StartICE(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	cancel()
	var lc net.ListenConfig
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range []net.Addr{s.STUNAddr(), s.TURNAddr()} {
		for {
			pc, err := lc.ListenPacket(context.Background(), "udp4", a.String())
			if err == nil {
				pc.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v still bound after the context ended", a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for s.relays.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d relay sockets left after the context ended", s.relays.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two ICE agents that may use only relay candidates connect through the
// TURN server.
func TestICEAgentsRelayOnly(t *testing.T) {
	const secret = "agents"
	cfg := turnTestConfig()
	cfg.SharedSecret = secret
	s := startICETest(t, cfg)
	port := s.TURNAddr().(*net.UDPAddr).Port

	newAgent := func(name string) *ice.Agent {
		user, pass := TURNCredentials(secret, name, time.Hour, time.Now())
		ag, err := ice.NewAgentWithOptions(
			ice.WithUrls([]*stun.URI{{
				Scheme:   stun.SchemeTypeTURN,
				Host:     "127.0.0.1",
				Port:     port,
				Proto:    stun.ProtoTypeUDP,
				Username: user,
				Password: pass,
			}}),
			ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
			ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeRelay}),
			ice.WithIncludeLoopback(),
			ice.WithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }),
			ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
			ice.WithRelayAcceptanceMinWait(0),
			ice.WithLoggerFactory(iceLogFactory{orICEDiscard(iceTestLogger()).With("agent", name)}),
		)
		if err != nil {
			t.Fatalf("NewAgent %s: %v", name, err)
		}
		t.Cleanup(func() { _ = ag.Close() })
		return ag
	}
	a, b := newAgent("a"), newAgent("b")

	var mu sync.Mutex
	var gathered []ice.Candidate
	trickle := func(from, to *ice.Agent) {
		err := from.OnCandidate(func(c ice.Candidate) {
			if c == nil {
				return
			}
			mu.Lock()
			gathered = append(gathered, c)
			mu.Unlock()
			rc, err := ice.UnmarshalCandidate(c.Marshal())
			if err != nil {
				t.Errorf("unmarshal candidate %s: %v", c, err)
				return
			}
			if err := to.AddRemoteCandidate(rc); err != nil {
				t.Errorf("AddRemoteCandidate %s: %v", c, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	trickle(a, b)
	trickle(b, a)
	if err := a.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	if err := b.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	aUfrag, aPwd, err := a.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	bUfrag, bPwd, err := b.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	type result struct {
		conn *ice.Conn
		err  error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := b.Accept(ctx, aUfrag, aPwd)
		accepted <- result{c, err}
	}()
	ca, err := a.Dial(ctx, bUfrag, bPwd)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-accepted
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	cb := r.conn

	if _, err := ca.Write([]byte("ferry ahoy")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := cb.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := cb.Read(buf)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := string(buf[:n]); got != "ferry ahoy" {
		t.Errorf("got %q", got)
	}

	for name, ag := range map[string]*ice.Agent{"a": a, "b": b} {
		pair, err := ag.GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("agent %s: no selected pair (%v)", name, err)
		}
		if pair.Local.Type() != ice.CandidateTypeRelay || pair.Remote.Type() != ice.CandidateTypeRelay {
			t.Errorf("agent %s selected %s", name, pair)
		}
		if pair.Local.Address() != "127.0.0.1" {
			t.Errorf("agent %s: local relay candidate at %s, want 127.0.0.1", name, pair.Local.Address())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gathered) == 0 {
		t.Error("no candidates gathered")
	}
	for _, c := range gathered {
		if c.Type() != ice.CandidateTypeRelay {
			t.Errorf("gathered a %s candidate %s", c.Type(), c)
		}
	}
	if n := s.quota.used("127.0.0.1:1"); n != 2 {
		t.Errorf("%d allocations counted for 127.0.0.1, want the agents' 2", n)
	}
}
