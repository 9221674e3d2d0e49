package nat

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/quic-go/quic-go"
)

// Short ICE timeouts: without an answer to its checks for disconnected,
// an agent reports Disconnected, and after failed more, Failed (consent
// lost, RFC 7675). Keepalive checks go out every keepalive. On a loaded
// machine an agent may miss answers for a few hundred milliseconds and
// report Disconnected for a moment; consent is lost only at Failed.
const (
	testKeepalive    = 50 * time.Millisecond
	testDisconnected = 500 * time.Millisecond
	testFailed       = 1500 * time.Millisecond
)

// stateLog records an agent's ICE states from the moment it is installed.
type stateLog struct {
	mu     sync.Mutex
	states []ice.ConnectionState
}

func (l *stateLog) seen() []ice.ConnectionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ice.ConnectionState(nil), l.states...)
}

// consentPair connects two loopback agents with the short timeouts, runs
// QUIC between them and checks that it drives the sockets directly. The
// logs record each agent's ICE states from then on.
func consentPair(t *testing.T) (a, b *Agent, sA, sB *Stream, logA, logB *stateLog) {
	t.Helper()
	opts := []ice.AgentOption{
		ice.WithKeepaliveInterval(testKeepalive),
		ice.WithDisconnectedTimeout(testDisconnected),
		ice.WithFailedTimeout(testFailed),
	}
	agent := func() *Agent {
		ag, err := newAgent(Config{LoopbackOnly: true, Logger: testLogger()}, opts...)
		if err != nil {
			t.Fatalf("newAgent: %v", err)
		}
		t.Cleanup(func() { _ = ag.Close() })
		return ag
	}
	a, b = agent(), agent()
	ctx := testContext(t, 20*time.Second)
	pcA, pcB := connectAgents(t, ctx, a, b)
	sA, sB = quicPair(t, ctx, pcA, pcB)
	if !sA.OnSocket() || !sB.OnSocket() {
		t.Fatalf("on the socket: dialer %v, acceptor %v; want both", sA.OnSocket(), sB.OnSocket())
	}
	logA, logB = watchStates(t, a), watchStates(t, b)
	return a, b, sA, sB, logA, logB
}

func watchStates(t *testing.T, a *Agent) *stateLog {
	t.Helper()
	l := &stateLog{}
	err := a.ice.OnConnectionStateChange(func(s ice.ConnectionState) {
		l.mu.Lock()
		l.states = append(l.states, s)
		l.mu.Unlock()
		a.onState(s)
	})
	if err != nil {
		t.Fatalf("OnConnectionStateChange: %v", err)
	}
	return l
}

// TestConsentOnSocket: with QUIC driving the socket, ICE's keepalive checks
// and their answers still pass through it (Transport.ReadNonQUICPacket and
// WriteTo), so neither agent loses consent over twice the time it takes to
// lose it without answers, and the stream still works afterwards. (Without
// the answers, both agents would be Disconnected after testDisconnected and
// Failed testFailed later.)
func TestConsentOnSocket(t *testing.T) {
	a, b, sA, sB, logA, logB := consentPair(t)
	deadline := time.NewTimer(2 * (testDisconnected + testFailed)) // the span observed
	defer deadline.Stop()
	select {
	case <-a.failed:
		t.Fatalf("controlling agent lost consent; states %v", logA.seen())
	case <-b.failed:
		t.Fatalf("controlled agent lost consent; states %v", logB.seen())
	case <-deadline.C:
	}
	for name, l := range map[string]*stateLog{"controlling": logA, "controlled": logB} {
		s := l.seen()
		if len(s) > 0 && s[len(s)-1] != ice.ConnectionStateConnected {
			t.Errorf("%s agent not connected at the end: states %v", name, s)
		}
		if len(s) > 0 {
			t.Logf("%s agent's states (answers late under load): %v", name, s)
		}
	}
	transfer(t, sA, sB, 1<<20)
}

// TestConsentLostOnSocket: when the peer stops answering ICE's checks, the
// agent loses consent and the QUIC session on the socket ends at once,
// rather than at QUIC's idle timeout.
func TestConsentLostOnSocket(t *testing.T) {
	a, b, sA, _, logA, _ := consentPair(t)
	ufrag, _, err := b.ice.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.mux.RemoveConnByUfrag(ufrag) // b's mux now drops a's checks
	readErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, sA)
		readErr <- err
	}()
	select {
	case err := <-readErr:
		// Each agent loses consent (neither hears answers now); the
		// first to notice ends the session.
		var appErr *quic.ApplicationError
		if !errors.As(err, &appErr) || appErr.ErrorCode != codeAborted || appErr.ErrorMessage != consentLost {
			t.Fatalf("read ended with %v, want an abort on consent loss", err)
		}
	case <-time.After(15 * time.Second): // QUIC's idle timeout is 30 s
		t.Fatalf("session still up 15 s after the peer stopped answering; states %v", logA.seen())
	}
	select {
	case <-a.failed:
	case <-b.failed:
	default:
		t.Fatalf("session ended but neither agent failed; states %v", logA.seen())
	}
}
