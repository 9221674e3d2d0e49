package receive_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// The race of mailboxes, in process: real mailbox servers (the relay
// package's) on loopback, found through an in-memory directory instead
// of multicast DNS (which internal/lan and the netns tests cover).

// directory is a LAN whose adverts live in memory (transfer.LAN).
type directory struct {
	t  *testing.T
	mu sync.Mutex
	ad map[string][]string // nameplate → mailbox URLs
}

func newDirectory(t *testing.T) *directory { return &directory{t: t, ad: map[string][]string{}} }

func (d *directory) add(nameplate, url string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ad[nameplate] = append(d.ad[nameplate], url)
}

func (d *directory) remove(url string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, urls := range d.ad {
		var keep []string
		for _, u := range urls {
			if u != url {
				keep = append(keep, u)
			}
		}
		d.ad[n] = keep
	}
}

func (d *directory) Serve(ctx context.Context) (transfer.LANMailbox, error) {
	url, srv, stop := serveMailboxServer(d.t)
	return &dirMailbox{d: d, url: url, srv: srv, stop: stop}, nil
}

func (d *directory) Browse(ctx context.Context, nameplate string, found func(string)) error {
	seen := map[string]bool{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		d.mu.Lock()
		urls := append([]string(nil), d.ad[nameplate]...)
		d.mu.Unlock()
		for _, u := range urls {
			if !seen[u] {
				seen[u] = true
				found(u)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

type dirMailbox struct {
	d    *directory
	url  string
	srv  *relay.Server
	stop func()
	once sync.Once
}

func (m *dirMailbox) URL() string                      { return m.url }
func (m *dirMailbox) URLs() []string                   { return []string{m.url} }
func (m *dirMailbox) Advertise(nameplate string) error { m.d.add(nameplate, m.url); return nil }
func (m *dirMailbox) Unadvertise()                     { m.d.remove(m.url) }

// Close is internal/lan's Mailbox.Close: the clients still connected (the
// receiver, whose last message the sender has already read, awaiting the
// relay's ack of it) get a moment to leave before the server stops. A
// server stopped at once failed the receiver's add now and then ("server
// shutting down") after its message had been delivered.
func (m *dirMailbox) Close() error {
	m.Unadvertise()
	for deadline := time.Now().Add(3 * time.Second); m.srv.Clients() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	m.once.Do(m.stop)
	return nil
}

// serveMailbox runs a mailbox server on loopback until the test ends
// (or stop).
func serveMailbox(t *testing.T) (url string, stop func()) {
	t.Helper()
	url, _, stop = serveMailboxServer(t)
	return url, stop
}

// serveMailboxServer is serveMailbox, also returning the server.
func serveMailboxServer(t *testing.T) (url string, srv *relay.Server, stop func()) {
	t.Helper()
	srv, err := relay.New(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			ln.Close()
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return "ws://" + ln.Addr().String() + "/v1", srv, stop
}

// noRelay is a relay URL where nothing listens.
const noRelay = "ws://127.0.0.1:1/v1"

// guess claims the nameplate of code in the mailbox at url and runs the
// key exchange with code, a wrong guess: what a hostile device on the
// network does. It returns the exchange's outcome.
func guess(ctx context.Context, url, code string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		w, err := transfer.Dial(ctx, url, nil)
		if err != nil {
			errc <- err
			return
		}
		defer w.Close(ctx, wormhole.Scary)
		if err := w.UseCode(ctx, code); err != nil {
			errc <- err
			return
		}
		errc <- w.Establish(ctx)
	}()
	return errc
}

// lanCtx bounds a test: the receiver browses for up to 5 s.
func lanCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLANNoRelay: with no relay anywhere, the sender allocates the
// nameplate in its own mailbox, says only receivers on this network can
// use the code, and the text arrives through the LAN.
func TestLANNoRelay(t *testing.T) {
	ctx := lanCtx(t)
	lan := newDirectory(t)
	codes, errc := make(chan string, 1), make(chan error, 1)
	var told error
	go func() {
		errc <- send.Text(ctx, send.Options{Relay: noRelay, LAN: lan, OnCode: func(c string) { codes <- c },
			OnNoRelay: func(err error) { told = err }}, "over the LAN")
	}()
	code := <-codes
	if told == nil {
		t.Errorf("the sender did not tell OnNoRelay that no relay is reachable")
	}
	res, err := receive.Run(ctx, code, receive.Options{Relay: noRelay, LAN: lan})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if res.Text != "over the LAN" {
		t.Fatalf("text = %q", res.Text)
	}
	if err := <-errc; err != nil {
		t.Fatalf("send: %v", err)
	}
}

// TestLANAndRelayBoth: both sides reach the relay and the LAN mailbox, so
// both exchanges succeed in both mailboxes; each side must still end up
// with one peer, the same one (several runs, for the timings).
func TestLANAndRelayBoth(t *testing.T) {
	ctx := lanCtx(t)
	relayURL, _ := serveMailbox(t)
	for i := range 4 {
		lan := newDirectory(t)
		codes, errc := make(chan string, 1), make(chan error, 1)
		go func() {
			errc <- send.Text(ctx, send.Options{Relay: relayURL, LAN: lan, OnCode: func(c string) { codes <- c }}, "both")
		}()
		res, err := receive.Run(ctx, <-codes, receive.Options{Relay: relayURL, LAN: lan})
		if err != nil {
			t.Fatalf("run %d: receive: %v", i, err)
		}
		if res.Text != "both" {
			t.Fatalf("run %d: text = %q", i, res.Text)
		}
		if err := <-errc; err != nil {
			t.Fatalf("run %d: send: %v", i, err)
		}
	}
}

// TestLANHostileAdvertiser: with no relay, a device on the network
// advertises the same nameplate from a mailbox of its own, where it
// claimed it with a wrong guess. The receiver tries both; the PAKE
// decides, and the text comes from the sender, never the advertiser.
func TestLANHostileAdvertiser(t *testing.T) {
	ctx := lanCtx(t)
	lan := newDirectory(t)
	code := "7-guitarist-revenge"
	evil, _ := serveMailbox(t)
	lan.add("7", evil) // advertised first: the receiver finds it first
	evilDone := guess(ctx, evil, "7-wrong-guess")
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		errc <- send.Text(ctx, send.Options{Relay: noRelay, Code: code, LAN: lan, OnCode: func(string) { close(started) }}, "genuine")
	}()
	<-started
	var log lockedBuffer
	res, err := receive.Run(ctx, code, receive.Options{Relay: noRelay, LAN: lan,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if res.Text != "genuine" {
		t.Fatalf("text = %q, want the sender's", res.Text)
	}
	if err := <-errc; err != nil {
		t.Fatalf("send: %v", err)
	}
	// The receiver tried the advertiser's mailbox and dropped it: with a
	// wrong code when its version message reached the advertiser first,
	// else cancelled once the sender's first message came.
	if !strings.Contains(log.String(), `msg="mailbox failed" mailbox="lan `+evil+`"`) {
		t.Errorf("the receiver's log does not show it tried and dropped %s:\n%s", evil, log.String())
	}
	select {
	case err := <-evilDone:
		if !errors.Is(err, wormhole.ErrWrongCode) {
			t.Errorf("the advertiser's exchange ended with %v, want a wrong code", err)
		}
	case <-time.After(2 * time.Second): // the receiver left before its version message
	}
}

// lockedBuffer is a log that goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLANWrongGuessKeepsRelay: someone on the network claims the
// nameplate in the sender's LAN mailbox with a wrong guess. That ends the
// LAN mailbox's part only: the receiver on the relay still gets the text.
func TestLANWrongGuessKeepsRelay(t *testing.T) {
	ctx := lanCtx(t)
	relayURL, _ := serveMailbox(t)
	lan := newDirectory(t)
	codes, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		errc <- send.Text(ctx, send.Options{Relay: relayURL, LAN: lan, OnCode: func(c string) { codes <- c }}, "still works")
	}()
	code := <-codes
	nameplate, _, _ := strings.Cut(code, "-")
	var lanURL string
	lan.mu.Lock()
	if urls := lan.ad[nameplate]; len(urls) == 1 {
		lanURL = urls[0]
	}
	lan.mu.Unlock()
	if lanURL == "" {
		t.Fatalf("the sender advertised no LAN mailbox for nameplate %s", nameplate)
	}
	if err := <-guess(ctx, lanURL, nameplate+"-wrong-guess"); !errors.Is(err, wormhole.ErrWrongCode) {
		t.Fatalf("the wrong guess in the LAN mailbox ended with %v, want a wrong code", err)
	}
	// The failed mailbox is no longer advertised.
	deadline := time.Now().Add(5 * time.Second)
	for {
		lan.mu.Lock()
		n := len(lan.ad[nameplate])
		lan.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the LAN mailbox is still advertised after a wrong PAKE in it")
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := receive.Run(ctx, code, receive.Options{Relay: relayURL})
	if err != nil {
		t.Fatalf("receive through the relay: %v", err)
	}
	if res.Text != "still works" {
		t.Fatalf("text = %q", res.Text)
	}
	if err := <-errc; err != nil {
		t.Fatalf("send: %v", err)
	}
}
