package relay

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestTransitWebSocketTCPSplice pairs a TCP client with a WebSocket one
// and moves 16 MiB each way at once, byte-exactly, in constant memory;
// then each end's close reaches the other.
func TestTransitWebSocketTCPSplice(t *testing.T) {
	r := startWSTransit(t, TransitConfig{})
	token := newToken(t)
	a, b := dialTransit(t, r.addr), dialWS(t, r.url, "")
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
	a.SetDeadline(time.Time{})
	b.SetDeadline(time.Time{})
	if st := r.srv.Stats(); st.Pairs != 1 || st.Conns != 2 || st.WebSockets != 1 {
		t.Errorf("stats %+v, want one pair, one of them a websocket", st)
	}
	const size = 16 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stream := func(seed byte, w io.Writer, res *result) {
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{seed}), size), h)
		res.n, res.err = io.CopyBuffer(struct{ io.Writer }{w}, src, make([]byte, 32<<10))
		copy(res.sum[:], h.Sum(nil))
	}
	drain := func(rd io.Reader, res *result) {
		h := sha256.New()
		// exactly size: a websocket has no half-close to end the stream
		res.n, res.err = io.CopyBuffer(h, io.LimitReader(rd, size), make([]byte, 32<<10))
		copy(res.sum[:], h.Sum(nil))
	}
	var sentAB, sentBA, gotAB, gotBA result
	var wg sync.WaitGroup
	wg.Go(func() { stream(1, a, &sentAB) })
	wg.Go(func() { stream(2, b, &sentBA) })
	wg.Go(func() { drain(b, &gotAB) })
	wg.Go(func() { drain(a, &gotBA) })
	// a bound against a hang, not a speed test
	hang := time.AfterFunc(3*time.Minute, func() { a.Close(); b.Close() })
	wg.Wait()
	hang.Stop()
	runtime.ReadMemStats(&after)
	checkBothWays(t, size, [2]string{"tcp→ws", "ws→tcp"}, [2]result{sentAB, sentBA}, [2]result{gotAB, gotBA}, after.TotalAlloc-before.TotalAlloc)
	// The TCP end's half-close ends the websocket after the last bytes,
	// and the websocket's end is passed on to the TCP end.
	send(t, a, "last words")
	a.CloseWrite()
	if got := wsReadToEnd(t, b); got != "last words" {
		t.Errorf("websocket read %q after the TCP end's half-close, want %q", got, "last words")
	}
	if got := readToEnd(t, a); got != "" {
		t.Errorf("TCP end read %q after the websocket ended", got)
	}
	waitStats(t, r.srv, "the pair to be gone", idle)
}

// TestTransitWebSocketPair pairs two WebSocket clients, one sending its
// handshake in pieces, and relays between them; a client's close reaches
// the other as a normal close.
func TestTransitWebSocketPair(t *testing.T) {
	r := startWSTransit(t, TransitConfig{})
	token := newToken(t)
	a, b := dialWSRaw(t, r.url, ""), dialWSRaw(t, r.url, "")
	line := handshake(token, "aaaaaaaaaaaaaaaa")
	writeMsg(t, a, line[:5])
	writeMsg(t, a, line[5:40])
	writeMsg(t, a, line[40:])
	waitStats(t, r.srv, "a to wait", func(st TransitStats) bool { return st.Pending == 2 && st.Waiting == 1 })
	writeMsg(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectMsg(t, a, "ok\n")
	expectMsg(t, b, "ok\n")
	if st := r.srv.Stats(); st.Pairs != 1 || st.WebSockets != 2 {
		t.Errorf("stats %+v, want one pair of websockets", st)
	}
	writeMsg(t, a, "hello b")
	expectMsg(t, b, "hello b")
	writeMsg(t, b, "hello a")
	expectMsg(t, a, "hello a")
	// Message boundaries are not kept, bytes are: two messages may come
	// as one.
	bs := websocket.NetConn(t.Context(), b, websocket.MessageBinary)
	writeMsg(t, a, "one, ")
	writeMsg(t, a, "two")
	expectRead(t, bs, "one, two")
	a.Close(websocket.StatusNormalClosure, "")
	if got := wsReadToEnd(t, bs); got != "" {
		t.Errorf("b read %q after a closed", got)
	}
	waitStats(t, r.srv, "the pair to be gone", idle)
}

// TestTransitWebSocketBadHandshakes: the relay's refusals reach a
// WebSocket client as binary messages followed by a normal close.
func TestTransitWebSocketBadHandshakes(t *testing.T) {
	r := startWSTransit(t, TransitConfig{})
	token := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct{ name, input, reply string }{
		{"wrong word", "please DELAY " + token + "\n", "bad handshake\n"},
		{"binary", strings.Repeat("\x00\xff", 100), "bad handshake\n"},
		{"too long", "please relay " + token + " for side 0123456789abcdef0123456789", "bad handshake\n"},
		{"data with the handshake", handshake(token, "aaaaaaaaaaaaaaaa") + "hurry", "impatient\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialWSRaw(t, r.url, "")
			writeMsg(t, ws, tc.input)
			expectMsg(t, ws, tc.reply)
			if st := expectClose(t, ws); st != websocket.StatusNormalClosure {
				t.Errorf("closed with %v, want a normal close", st)
			}
		})
	}
	t.Run("data while waiting", func(t *testing.T) {
		ws := dialWSRaw(t, r.url, "")
		writeMsg(t, ws, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		waitStats(t, r.srv, "the connection to wait", func(st TransitStats) bool { return st.Waiting == 1 })
		writeMsg(t, ws, "hurry")
		expectMsg(t, ws, "impatient\n")
		expectClose(t, ws)
	})
	t.Run("text message", func(t *testing.T) {
		ws := dialWSRaw(t, r.url, "")
		if err := ws.Write(t.Context(), websocket.MessageText, []byte(handshake(newToken(t), ""))); err != nil {
			t.Fatal(err)
		}
		if st := expectClose(t, ws); st != websocket.StatusUnsupportedData {
			t.Errorf("closed with %v, want %v", st, websocket.StatusUnsupportedData)
		}
	})
	waitStats(t, r.srv, "every connection to be gone", idle)
}

// TestTransitWebSocketLimits: WebSocket clients count against the same
// per-address caps as TCP ones, by their HTTP client's address, and are
// refused with HTTP 503 before the upgrade.
func TestTransitWebSocketLimits(t *testing.T) {
	t.Run("connections", func(t *testing.T) {
		r := startWSTransit(t, TransitConfig{MaxConnsPerIP: 2})
		token := newToken(t)
		a, b := dialTransitFrom(t, r.addr, "127.0.0.1"), dialWS(t, r.url, "127.0.0.1")
		send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
		send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
		expectRead(t, a, "ok\n")
		expectRead(t, b, "ok\n")
		wsRefused(t, r.url, "127.0.0.1")
		refused(t, dialTransitFrom(t, r.addr, "127.0.0.1"))
		// another address is not held back
		c := dialWS(t, r.url, "127.0.0.2")
		send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		waitStats(t, r.srv, "c to wait", func(st TransitStats) bool { return st.Conns == 3 && st.Pending == 1 && st.WebSockets == 2 })
		send(t, b, "x")
		expectRead(t, a, "x")
		a.Close()
		if got := wsReadToEnd(t, b); got != "" {
			t.Errorf("b read %q after a closed", got)
		}
		waitStats(t, r.srv, "the pair to be gone", func(st TransitStats) bool { return st.Conns == 1 })
		d := dialWS(t, r.url, "127.0.0.1")
		send(t, d, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		waitStats(t, r.srv, "d to wait", func(st TransitStats) bool { return st.Pending == 2 })
	})
	t.Run("unpaired", func(t *testing.T) {
		r := startWSTransit(t, TransitConfig{MaxPendingPerIP: 1})
		c := dialWS(t, r.url, "127.0.0.3")
		send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		waitStats(t, r.srv, "c to wait", func(st TransitStats) bool { return st.Pending == 1 })
		wsRefused(t, r.url, "127.0.0.3")
		refused(t, dialTransitFrom(t, r.addr, "127.0.0.3"))
		dialWS(t, r.url, "127.0.0.4")
	})
}

// TestTransitWebSocketTimeouts: the handshake, pair and idle timeouts end
// WebSocket clients too.
func TestTransitWebSocketTimeouts(t *testing.T) {
	r := startWSTransit(t, TransitConfig{
		HandshakeTimeout: 200 * time.Millisecond,
		PairTimeout:      200 * time.Millisecond,
	})
	t.Run("handshake", func(t *testing.T) {
		ws := dialWSRaw(t, r.url, "")
		writeMsg(t, ws, "please re")
		expectClose(t, ws)
	})
	t.Run("pair", func(t *testing.T) {
		ws := dialWSRaw(t, r.url, "")
		writeMsg(t, ws, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		expectClose(t, ws)
	})
	waitStats(t, r.srv, "everything to be gone", idle)
	t.Run("idle", func(t *testing.T) {
		r := startWSTransit(t, TransitConfig{IdleTimeout: 200 * time.Millisecond})
		token := newToken(t)
		a, b := dialWSRaw(t, r.url, ""), dialWSRaw(t, r.url, "")
		writeMsg(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
		writeMsg(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
		expectMsg(t, a, "ok\n")
		expectMsg(t, b, "ok\n")
		expectClose(t, a)
		expectClose(t, b)
		waitStats(t, r.srv, "the idle pair to be gone", idle)
	})
}

// TestTransitWebSocketEvicted: a full relay evicts an idle pair of
// WebSocket clients for a newcomer, as it does TCP ones.
func TestTransitWebSocketEvicted(t *testing.T) {
	r := startWSTransit(t, TransitConfig{MaxConns: 2, EvictIdleAfter: 100 * time.Millisecond})
	token := newToken(t)
	a, b := dialWSRaw(t, r.url, ""), dialWSRaw(t, r.url, "")
	writeMsg(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	writeMsg(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectMsg(t, a, "ok\n")
	expectMsg(t, b, "ok\n")
	time.Sleep(300 * time.Millisecond)
	c := dialTransit(t, r.addr)
	send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
	expectClose(t, a)
	expectClose(t, b)
	waitStats(t, r.srv, "only the newcomer left", func(st TransitStats) bool {
		return st == TransitStats{Conns: 1, Pending: 1, Waiting: 1}
	})
}

// TestTransitWebSocketShutdown: when Serve returns, the WebSocket
// connections are closed and forgotten too, and Handler refuses new ones.
func TestTransitWebSocketShutdown(t *testing.T) {
	r := startWSTransit(t, TransitConfig{})
	token := newToken(t)
	a, b := dialWS(t, r.url, ""), dialWS(t, r.url, "")
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
	lonely := dialWS(t, r.url, "")
	send(t, lonely, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
	silent := dialWS(t, r.url, "")
	tcp := dialTransit(t, r.addr)
	waitStats(t, r.srv, "five connections", func(st TransitStats) bool {
		return st.Conns == 5 && st.WebSockets == 4 && st.Pending == 3
	})
	if err := r.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if st := r.srv.Stats(); !idle(st) {
		t.Errorf("after Serve returned: %+v", st)
	}
	for _, c := range []net.Conn{a, b, lonely, silent} {
		if got := wsReadToEnd(t, c); got != "" {
			t.Errorf("read %q after shutdown", got)
		}
	}
	if got := readToEnd(t, tcp); got != "" {
		t.Errorf("TCP client read %q after shutdown", got)
	}
	wsRefused(t, r.url, "")
}
