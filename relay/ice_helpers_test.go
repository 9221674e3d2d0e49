package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// iceTestLogger logs to stderr when FERRY_TEST_LOG is set (pion goroutines
// may log after a test ends, so not through t.Log).
func iceTestLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: iceLevelTrace}))
}

func startICETest(t *testing.T, cfg ICEConfig) *ICEServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = iceTestLogger()
	}
	s, err := StartICE(context.Background(), cfg)
	if err != nil {
		t.Fatalf("StartICE: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// turnTestConfig is a loopback TURN server with a static credential.
func turnTestConfig() ICEConfig {
	return ICEConfig{
		TURNListen: "127.0.0.1:0",
		RelayIP:    "127.0.0.1",
		User:       "alice",
		Password:   "wonderland",
	}
}

func listenUDP(t *testing.T, ip string) net.PacketConn {
	t.Helper()
	var lc net.ListenConfig
	c, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newTURNClient returns a started TURN client on a fresh socket on fromIP.
func newTURNClient(t *testing.T, server net.Addr, fromIP, user, pass string) *turn.Client {
	t.Helper()
	c, _ := newTURNClientConn(t, server, fromIP, user, pass)
	return c
}

// newTURNClientConn is newTURNClient, also returning the client's socket.
func newTURNClientConn(t *testing.T, server net.Addr, fromIP, user, pass string) (*turn.Client, net.PacketConn) {
	t.Helper()
	conn := listenUDP(t, fromIP)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		LoggerFactory:  iceLogFactory{orICEDiscard(iceTestLogger())},
	})
	if err != nil {
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("turn client Listen: %v", err)
	}
	t.Cleanup(c.Close)
	return c, conn
}

func orICEDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// allocate allocates a relay with a fresh client and returns its relay
// socket (closed at cleanup), or the error.
func allocate(t *testing.T, server net.Addr, fromIP, user, pass string) (net.PacketConn, error) {
	t.Helper()
	c := newTURNClient(t, server, fromIP, user, pass)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := c.AllocateWithContext(ctx)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay, nil
}

// turnErrorCode is the STUN error code of a refused TURN request, or 0.
func turnErrorCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func readWithin(t *testing.T, c net.PacketConn, d time.Duration) ([]byte, net.Addr) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read on %v: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

func sameUDPAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	return ok1 && ok2 && ua.IP.Equal(ub.IP) && ua.Port == ub.Port
}
