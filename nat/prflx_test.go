package nat

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// TestPeerReflexiveFlood plays a peer that knows the credentials and sends
// connectivity checks from many source addresses (as a peer spoofing source
// addresses could). Each check from a new address would become a
// peer-reflexive candidate that the agent answers and then checks itself;
// the agent must answer at most MaxRemoteAddresses of them.
func TestPeerReflexiveFlood(t *testing.T) {
	const sources = MaxRemoteAddresses + 72
	victim := newTestAgent(t, Config{LoopbackOnly: true})
	local, err := victim.GatherAll(testContext(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const peerUfrag, peerPwd = "attackerUfrag", "attackerPasswordIsLongEnough"
	if err := victim.Apply(Signal{Ufrag: peerUfrag, Pwd: peerPwd}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 20*time.Second)
	go func() { _, _ = victim.Connect(ctx, false) }()

	c, err := ice.UnmarshalCandidate(local.Candidates[0])
	if err != nil {
		t.Fatal(err)
	}
	target := &net.UDPAddr{IP: net.ParseIP(c.Address()), Port: c.Port()}

	conns := make([]*net.UDPConn, sources)
	for i := range conns {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		conns[i] = conn
	}
	time.Sleep(100 * time.Millisecond) // let Connect start the checks
	for i, conn := range conns {
		msg, err := stun.Build(stun.BindingRequest, stun.TransactionID,
			stun.NewUsername(local.Ufrag+":"+peerUfrag),
			ice.AttrControlling(uint64(i)+1),
			ice.PriorityAttr(1853824767),
			stun.NewShortTermIntegrity(local.Pwd),
			stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.WriteToUDP(msg.Raw, target); err != nil {
			t.Fatal(err)
		}
	}
	answered := 0
	buf := make([]byte, 1500)
	deadline := time.Now().Add(time.Second)
	for _, conn := range conns {
		_ = conn.SetReadDeadline(deadline)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() == nil && m.Type == stun.BindingSuccess {
				answered++
				break
			}
		}
	}
	t.Logf("%d of %d sources answered", answered, sources)
	if answered == 0 {
		t.Fatal("no check was answered: the test does not reach the agent")
	}
	if answered > MaxRemoteAddresses {
		t.Fatalf("%d sources answered, limit %d", answered, MaxRemoteAddresses)
	}
}
