package transit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func loopListener(t *testing.T) *Listener {
	t.Helper()
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func connectPair(t *testing.T, ctx context.Context, skey, rkey []byte) (net.Conn, net.Conn, error, error) {
	ls, lr := loopListener(t), loopListener(t)
	type res struct {
		c   net.Conn
		err error
	}
	sc, rc := make(chan res, 1), make(chan res, 1)
	go func() {
		c, err := Connect(ctx, Config{Key: skey, Role: Sender, Listener: ls, Peer: lr.Hints()})
		sc <- res{c, err}
	}()
	go func() {
		c, err := Connect(ctx, Config{Key: rkey, Role: Receiver, Listener: lr, Peer: ls.Hints()})
		rc <- res{c, err}
	}()
	s, r := <-sc, <-rc
	return s.c, r.c, s.err, r.err
}

func TestConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	s, r, serr, rerr := connectPair(t, ctx, key, key)
	if serr != nil || rerr != nil {
		t.Fatal(serr, rerr)
	}
	defer s.Close()
	defer r.Close()
	go func() { s.Write([]byte("payload")); s.Close() }()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "payload" {
		t.Fatalf("got %q %v", got, err)
	}
}

func TestWrongKeyNeverConnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, serr, rerr := connectPair(t, ctx, []byte("key-one"), []byte("key-two"))
	if serr == nil || rerr == nil {
		t.Fatalf("connected with different keys: %v %v", serr, rerr)
	}
}

// TestJunkPeer: something that is not a transit peer (an HTTP client, a
// port scanner) gets nothing and does not win.
func TestJunkPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l := loopListener(t)
	go func() {
		c, err := net.Dial("tcp", l.ln.Addr().String())
		if err != nil {
			return
		}
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		io.Copy(io.Discard, c)
	}()
	if _, err := Connect(ctx, Config{Key: []byte("k"), Role: Receiver, Listener: l}); err == nil {
		t.Fatal("junk peer won")
	}
}

func TestFilterHints(t *testing.T) {
	hints := []Hint{
		{Hostname: "10.0.0.1", Port: 4001},
		{Hostname: "10.0.0.1", Port: 4001}, // duplicate
		{Hostname: "example.com", Port: 80},
		{Hostname: "0.0.0.0", Port: 1},
		{Hostname: "224.0.0.1", Port: 1},
		{Hostname: "255.255.255.255", Port: 1},
		{Hostname: "::", Port: 1},
		{Hostname: "fe80::1%eth0", Port: 1},
		{Hostname: "10.0.0.2", Port: 0},
		{Hostname: "10.0.0.2", Port: 70000},
		{Hostname: "::ffff:10.0.0.3", Port: 5},
	}
	got := FilterHints(hints)
	if len(got) != 2 || got[0].String() != "10.0.0.1:4001" || got[1].String() != "10.0.0.3:5" {
		t.Fatalf("FilterHints = %v", got)
	}
	var many []Hint
	for i := range 100 {
		many = append(many, Hint{Hostname: "10.1.0.1", Port: 1000 + i})
	}
	if n := len(FilterHints(many)); n != MaxHints {
		t.Fatalf("kept %d hints, cap is %d", n, MaxHints)
	}
}

// TestReceiverAnswers: the receiver sends its line only after the
// sender's (so wormhole-william's racy relay path finds nothing waiting),
// and still speaks first, after answerWait, to a sender that waits for it.
func TestReceiverAnswers(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	mine, theirs := handshakes(key, Sender)
	for _, senderWaits := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			got := make([]byte, len(theirs))
			if !senderWaits {
				// nothing may arrive before our line
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if n, _ := c.Read(got); n != 0 {
					done <- errors.New("the receiver spoke first")
					return
				}
				c.SetReadDeadline(time.Time{})
				c.Write(mine)
			}
			start := time.Now()
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, theirs) {
				done <- fmt.Errorf("receiver line %q, %v", got, err)
				return
			}
			if senderWaits && time.Since(start) < 100*time.Millisecond {
				done <- errors.New("the receiver did not wait for the sender")
				return
			}
			if senderWaits {
				c.Write(mine)
			}
			_, err = c.Write([]byte("go\n"))
			done <- err
		}()
		c, err := Connect(ctx, Config{Key: key, Role: Receiver, Peer: []Hint{{Hostname: "127.0.0.1", Port: port}}})
		if err != nil {
			t.Fatalf("senderWaits=%v: %v", senderWaits, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("senderWaits=%v: %v", senderWaits, err)
		}
		c.Close()
		ln.Close()
		cancel()
	}
}
