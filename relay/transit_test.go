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
)

// The tests that run against both ferry's transit relay and the
// reference Python one pin down that the two behave alike on the wire.

func TestTransitPairAndSplice(t *testing.T) {
	bothTransits(t, func(t *testing.T, r *transitRelay) {
		a, b := pair(t, r.addr)
		send(t, a, "hello from a")
		expectRead(t, b, "hello from a")
		send(t, b, "hello from b")
		expectRead(t, a, "hello from b")
		send(t, a, "last words")
		a.CloseWrite()
		if got := readToEnd(t, b); got != "last words" {
			t.Errorf("b read %q after a's half-close, want %q", got, "last words")
		}
		if r.srv == nil {
			return // the reference relay closes both ends now
		}
		// ferry's relay passes the half-close on and keeps the other
		// direction open.
		send(t, b, "still here")
		b.CloseWrite()
		if got := readToEnd(t, a); got != "still here" {
			t.Errorf("a read %q after b's half-close, want %q", got, "still here")
		}
		waitStats(t, r.srv, "the pair to be gone", idle)
	})
}

func TestTransitOldHandshake(t *testing.T) {
	bothTransits(t, func(t *testing.T, r *transitRelay) {
		for _, sides := range [][2]string{{"", ""}, {"", "bbbbbbbbbbbbbbbb"}, {"aaaaaaaaaaaaaaaa", ""}} {
			token := newToken(t)
			a, b := dialTransit(t, r.addr), dialTransit(t, r.addr)
			send(t, a, handshake(token, sides[0]))
			send(t, b, handshake(token, sides[1]))
			expectRead(t, a, "ok\n")
			expectRead(t, b, "ok\n")
			send(t, b, "x")
			expectRead(t, a, "x")
			a.Close()
			if got := readToEnd(t, b); got != "" {
				t.Errorf("sides %q: b read %q after a closed", sides, got)
			}
		}
	})
}

// settle gives the relay time to register the connections it was sent
// handshakes on: ferry's is asked, the reference one is given a moment.
func settle(t *testing.T, r *transitRelay, pending int) {
	if r.srv != nil {
		waitStats(t, r.srv, "connections to wait", func(st TransitStats) bool { return st.Pending == pending })
		return
	}
	time.Sleep(300 * time.Millisecond)
}

func TestTransitSameSide(t *testing.T) {
	bothTransits(t, func(t *testing.T, r *transitRelay) {
		token, side := newToken(t), "aaaaaaaaaaaaaaaa"
		a1, a2 := dialTransit(t, r.addr), dialTransit(t, r.addr)
		send(t, a1, handshake(token, side))
		send(t, a2, handshake(token, side))
		settle(t, r, 2)
		// Same-side connections do not pair; the first other side does,
		// with one of them, and the spare is closed without a word.
		b := dialTransit(t, r.addr)
		send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
		expectRead(t, b, "ok\n")
		results := make([]string, 2)
		var wg sync.WaitGroup
		for i, c := range []net.Conn{a1, a2} {
			wg.Go(func() {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 3)
				n, _ := io.ReadFull(c, buf)
				results[i] = string(buf[:n])
			})
		}
		wg.Wait()
		winner := a1
		switch {
		case results[0] == "ok\n" && results[1] == "":
		case results[0] == "" && results[1] == "ok\n":
			winner = a2
		default:
			t.Fatalf("a1 and a2 read %q, want one \"ok\\n\" and one nothing", results)
		}
		send(t, winner, "ping")
		expectRead(t, b, "ping")
	})
}

func TestTransitBadHandshakes(t *testing.T) {
	token := strings.Repeat("0123456789abcdef", 4)
	type testCase struct{ name, input, reply string }
	var cases []testCase
	for _, tc := range []testCase{
		{"wrong word", "please DELAY " + token + "\n", "bad handshake\n"},
		{"wrong word sided", "please DELAY " + token + " for side 0123456789abcdef\n", "bad handshake\n"},
		{"short line", "please relay 0123\n", "bad handshake\n"},
		{"short side", "please relay " + token + " for side 0123\n", "bad handshake\n"},
		{"binary", strings.Repeat("\x00\xff", 100), "bad handshake\n"},
		{"too long", "please relay " + token + " for side 0123456789abcdef0123456789", "bad handshake\n"},
		{"empty line", "\n", "bad handshake\n"},
		{"impatient", "please relay " + token + "\nNOWNOWNOW", "impatient\n"},
		{"impatient sided", "please relay " + token + " for side 0123456789abcdef\nNOW", "impatient\n"},
	} {
		cases = append(cases, tc)
	}
	bothTransits(t, func(t *testing.T, r *transitRelay) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialTransit(t, r.addr)
				send(t, c, tc.input)
				if got := readToEnd(t, c); got != tc.reply {
					t.Errorf("reply %q, want %q", got, tc.reply)
				}
			})
		}
	})
}

func TestTransitImpatientWhileWaiting(t *testing.T) {
	bothTransits(t, func(t *testing.T, r *transitRelay) {
		c := dialTransit(t, r.addr)
		send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		settle(t, r, 1)
		send(t, c, "NOW")
		if got := readToEnd(t, c); got != "impatient\n" {
			t.Errorf("reply %q, want %q", got, "impatient\n")
		}
	})
}

// ferry's relay checks hex strictly (the reference accepts any word
// characters; real clients send lower-case hex).
func TestTransitNonHexToken(t *testing.T) {
	r := startTransit(t, TransitConfig{})
	c := dialTransit(t, r.addr)
	send(t, c, "please relay "+strings.Repeat("z", 64)+"\n")
	if got := readToEnd(t, c); got != "bad handshake\n" {
		t.Errorf("reply %q, want %q", got, "bad handshake\n")
	}
	// Junk is refused as soon as it cannot become a handshake.
	c = dialTransit(t, r.addr)
	send(t, c, "GET / HTTP/1.1")
	if got := readToEnd(t, c); got != "bad handshake\n" {
		t.Errorf("reply %q, want %q", got, "bad handshake\n")
	}
	waitStats(t, r.srv, "the connections to be gone", idle)
}

func TestTransitThirdConnectionRefused(t *testing.T) {
	r := startTransit(t, TransitConfig{})
	token := newToken(t)
	a, b := dialTransit(t, r.addr), dialTransit(t, r.addr)
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
	for _, side := range []string{"cccccccccccccccc", "aaaaaaaaaaaaaaaa", ""} {
		c := dialTransit(t, r.addr)
		send(t, c, handshake(token, side))
		if got := readToEnd(t, c); got != "" {
			t.Errorf("side %q: third connection read %q", side, got)
		}
	}
	send(t, a, "still paired")
	expectRead(t, b, "still paired")
	a.Close()
	b.Close()
	waitStats(t, r.srv, "the pair to be gone", idle)
	// Once the pair is gone, its token may be used again.
	a, b = dialTransit(t, r.addr), dialTransit(t, r.addr)
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
}

// TestTransitLarge moves 64 MiB each way at once through the relay and
// checks that they arrive intact, and that the relay's memory does not
// grow with the amount relayed.
func TestTransitLarge(t *testing.T) {
	r := startTransit(t, TransitConfig{})
	a, b := pair(t, r.addr)
	const size = 64 << 20
	// a bound against a hang, not a speed test
	for _, c := range []*net.TCPConn{a, b} {
		c.SetDeadline(time.Now().Add(3 * time.Minute))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stream := func(seed byte, w *net.TCPConn, res *result, wg *sync.WaitGroup) {
		defer wg.Done()
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{seed}), size), h)
		res.n, res.err = io.CopyBuffer(struct{ io.Writer }{w}, src, make([]byte, 32<<10))
		w.CloseWrite()
		copy(res.sum[:], h.Sum(nil))
	}
	drain := func(rd *net.TCPConn, res *result, wg *sync.WaitGroup) {
		defer wg.Done()
		h := sha256.New()
		res.n, res.err = io.CopyBuffer(h, struct{ io.Reader }{rd}, make([]byte, 32<<10))
		copy(res.sum[:], h.Sum(nil))
	}
	var sentAB, sentBA, gotAB, gotBA result
	var wg sync.WaitGroup
	wg.Add(4)
	go stream(1, a, &sentAB, &wg)
	go stream(2, b, &sentBA, &wg)
	go drain(b, &gotAB, &wg)
	go drain(a, &gotBA, &wg)
	wg.Wait()
	runtime.ReadMemStats(&after)
	checkBothWays(t, size, [2]string{"a→b", "b→a"}, [2]result{sentAB, sentBA}, [2]result{gotAB, gotBA}, after.TotalAlloc-before.TotalAlloc)
	waitStats(t, r.srv, "the pair to be gone", idle)
}

func BenchmarkTransitRelay(b *testing.B) {
	r := startTransit(b, TransitConfig{})
	x, y := pair(b, r.addr)
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	done := make(chan int64)
	go func() {
		n, _ := io.CopyBuffer(io.Discard, struct{ io.Reader }{y}, make([]byte, 64<<10))
		done <- n
	}()
	b.ResetTimer()
	for b.Loop() {
		if _, err := x.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	x.CloseWrite()
	if n := <-done; n != int64(b.N)*int64(len(chunk)) {
		b.Fatalf("received %d bytes, sent %d", n, b.N*len(chunk))
	}
}

// result is what one direction of a splice test sent or received.
type result struct {
	sum [32]byte
	n   int64
	err error
}

// checkBothWays checks a splice that carried size bytes each way: what
// arrived is what was sent, and what this process allocated meanwhile
// (the test's own streams included) stays far below what was relayed.
func checkBothWays(t *testing.T, size int64, names [2]string, sent, got [2]result, grew uint64) {
	t.Helper()
	for i, name := range names {
		if sent[i].err != nil || got[i].err != nil {
			t.Fatalf("%s: send %v, receive %v", name, sent[i].err, got[i].err)
		}
		if got[i].n != size || got[i].sum != sent[i].sum {
			t.Errorf("%s: received %d bytes, sha256 %x; sent %d, %x", name, got[i].n, got[i].sum, sent[i].n, sent[i].sum)
		}
	}
	t.Logf("allocated %d bytes while relaying %d", grew, 2*size)
	if grew > 8<<20 {
		t.Errorf("allocated %d bytes while relaying %d", grew, 2*size)
	}
}
