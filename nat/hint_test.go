package nat

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5/vnet"
)

// oneToOne is a NAT that maps a public address to one host, keeping ports.
func oneToOne() *vnet.NATType { return &vnet.NATType{Mode: vnet.NATModeNAT1To1} }

// TestVNetPublicHint: no STUN server anywhere, A behind a 1:1 NAT (ports
// kept) and B behind a full-cone NAT. Without a hint they cannot connect
// (TestVNetFullConeNoSTUN); with the address the mailbox relay saw A come
// from (your-address), A offers a server-reflexive candidate of it, which
// B reaches, and the transfer goes through.
func TestVNetPublicHint(t *testing.T) {
	w := newWorld(t)
	netA := w.lan("27.1.1.1/192.168.0.10", "192.168.0.0/24", oneToOne(), "192.168.0.10")[0]
	netB := w.lan("28.1.1.1", "10.2.0.0/24", fullCone(), "10.2.0.10")[0]
	w.start()
	hint := netip.MustParseAddr("27.1.1.1")
	a := newTestAgent(t, Config{Net: netA, PublicIPv4Hint: hint})
	b := newTestAgent(t, Config{Net: netB})
	ctx := testContext(t, 40*time.Second)
	pcA, pcB := connectAgents(t, ctx, a, b)
	if l, r := b.SelectedPair(); r != ServerReflexive {
		t.Errorf("B selected %s/%s, want the hint's server-reflexive candidate remote", l, r)
	}
	sA, sB := quicPair(t, ctx, pcA, pcB)
	transfer(t, sA, sB, 1<<20)
}

// TestHintCandidate: the hint becomes one server-reflexive candidate at
// the host port, unless STUN gave one, and only a public IPv4 address
// counts.
func TestHintCandidate(t *testing.T) {
	host, err := ice.NewCandidateHost(&ice.CandidateHostConfig{Network: "udp", Address: "192.168.0.10", Port: 40123, Component: 1})
	if err != nil {
		t.Fatal(err)
	}
	srflx, err := ice.NewCandidateServerReflexive(&ice.CandidateServerReflexiveConfig{Network: "udp", Address: "27.1.1.1", Port: 5, Component: 1, RelAddr: "192.168.0.10", RelPort: 40123})
	if err != nil {
		t.Fatal(err)
	}
	pub := netip.MustParseAddr("203.0.113.7")
	h := hintGathering{hint: pub}
	h.saw(host)
	c := h.candidate()
	if c == nil || c.Type() != ice.CandidateTypeServerReflexive || c.Address() != "203.0.113.7" || c.Port() != 40123 {
		t.Fatalf("hint candidate = %v, want srflx 203.0.113.7:40123", c)
	}
	if m := c.Marshal(); strings.Contains(m, "192.168.") {
		t.Errorf("hint candidate %q names the local address", m)
	}
	h.saw(srflx)
	if c := h.candidate(); c != nil {
		t.Errorf("with a STUN candidate the hint still gave %v", c)
	}
	if c := (&hintGathering{hint: pub}).candidate(); c != nil {
		t.Errorf("without a host candidate the hint gave %v", c)
	}
	for _, a := range []string{"10.1.2.3", "192.168.1.1", "127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1", "2001:db8::1", "::ffff:10.0.0.1"} {
		if got := usableHint(Config{PublicIPv4Hint: netip.MustParseAddr(a)}); got.IsValid() {
			t.Errorf("usableHint(%s) = %s", a, got)
		}
	}
	if got := usableHint(Config{PublicIPv4Hint: netip.MustParseAddr("::ffff:203.0.113.7")}); got != pub {
		t.Errorf("a v4-mapped public address: %v", got)
	}
	if got := usableHint(Config{PublicIPv4Hint: pub, RelayOnly: true}); got.IsValid() {
		t.Error("a hint with RelayOnly")
	}
}
