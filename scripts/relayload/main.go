// Command relayload holds many mailbox clients on running ferry relays, the
// way waiting wormhole senders and receivers hold them: clients come in
// pairs; one of each pair binds, allocates a nameplate, claims it, opens
// its mailbox and adds a message (as a sender adds its PAKE message), the
// other binds, claims that nameplate (on the next relay of -relays, so
// that with several nodes every pair spans two), opens the mailbox and
// waits for the message. Then every client pings the relay every -ping
// (the protocol's ping, answered by a pong) until relayload is stopped
// (SIGINT or SIGTERM) or -hold ends. Clients come from many loopback
// addresses (every 127.0.0.0/8 address is this machine), -per-ip from
// each and 4 addresses to a /24, so that the relay's per-address and
// per-network limits (32 and 128 connections) let them in.
//
// It prints "relayload: held N of M clients" once all are set up (or
// failed), and what the clients saw at the end: pong round trips,
// dropped clients, errors. scripts/relay-load runs it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/ferrydrop/ferry/scripts/internal/counts"
)

const appID = "lothar.com/wormhole/text-or-file-xfer"

// load is one run's clients and what they saw.
type load struct {
	relays  []string
	perIP   int
	octet   int // second octet of the first source address
	ping    time.Duration
	timeout time.Duration // one set-up step

	errs     counts.Tally
	held     atomic.Int64
	dropped  atomic.Int64
	pings    atomic.Int64
	stopping atomic.Bool

	mu      sync.Mutex
	rtts    []time.Duration
	clients []*client
	hcs     map[string]*http.Client
}

// client is one held websocket.
type client struct {
	ws    *websocket.Conn
	timer *time.Timer
}

// source is the loopback address client i comes from.
func (l *load) source(i int) string {
	a := i / l.perIP // address number
	p := a / 4       // its /24
	return fmt.Sprintf("127.%d.%d.%d", l.octet+p/250, p%250, 1+a%4)
}

func (l *load) httpClient(from string) *http.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	if hc, ok := l.hcs[from]; ok {
		return hc
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: l.timeout}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	l.hcs[from] = hc
	return hc
}

type frame map[string]any

func write(ctx context.Context, ws *websocket.Conn, m frame) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

// await reads frames until one of type want (returned) or an error frame.
func await(ctx context.Context, ws *websocket.Conn, want string) (frame, error) {
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", want, err)
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("waiting for %s: undecodable frame", want)
		}
		switch f["type"] {
		case want:
			return f, nil
		case "error":
			return nil, fmt.Errorf("relay error: %v", f["error"])
		}
	}
}

// dial connects client i to relay r and binds it as side.
func (l *load) dial(ctx context.Context, i, r int, side string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, l.relays[r], &websocket.DialOptions{HTTPClient: l.httpClient(l.source(i))})
	if err != nil {
		return nil, fmt.Errorf("connect: %v", err)
	}
	if _, err := await(ctx, ws, "welcome"); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if err := write(ctx, ws, frame{"type": "bind", "appid": appID, "side": side}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	return ws, nil
}

// claimOpen claims nameplate for ws and opens its mailbox.
func claimOpen(ctx context.Context, ws *websocket.Conn, nameplate string) error {
	if err := write(ctx, ws, frame{"type": "claim", "nameplate": nameplate}); err != nil {
		return err
	}
	f, err := await(ctx, ws, "claimed")
	if err != nil {
		return err
	}
	return write(ctx, ws, frame{"type": "open", "mailbox": f["mailbox"]})
}

// pair sets up pair k: clients 2k (the sender, on relay k) and 2k+1 (the
// receiver, on the next relay).
func (l *load) pair(k int) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	ra, rb := k%len(l.relays), (k+1)%len(l.relays)
	sa, sb := fmt.Sprintf("s%07d", k), fmt.Sprintf("r%07d", k)
	a, err := l.dial(ctx, 2*k, ra, sa)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	fail := func(err error, who string, ws ...*websocket.Conn) error {
		for _, c := range ws {
			c.CloseNow()
		}
		return fmt.Errorf("%s: %w", who, err)
	}
	if err := write(ctx, a, frame{"type": "allocate"}); err != nil {
		return fail(err, "sender", a)
	}
	f, err := await(ctx, a, "allocated")
	if err != nil {
		return fail(err, "sender", a)
	}
	np, _ := f["nameplate"].(string)
	if err := claimOpen(ctx, a, np); err != nil {
		return fail(err, "sender", a)
	}
	body := make([]byte, 64) // about a PAKE message
	rand.Read(body)
	if err := write(ctx, a, frame{"type": "add", "phase": "pake", "body": hex.EncodeToString(body)}); err != nil {
		return fail(err, "sender", a)
	}
	if _, err := await(ctx, a, "message"); err != nil { // its own, echoed
		return fail(err, "sender", a)
	}
	b, err := l.dial(ctx, 2*k+1, rb, sb)
	if err != nil {
		return fail(err, "receiver", a)
	}
	if err := claimOpen(ctx, b, np); err != nil {
		return fail(err, "receiver", a, b)
	}
	if _, err := await(ctx, b, "message"); err != nil { // the sender's
		return fail(err, "receiver", a, b)
	}
	l.hold(a)
	l.hold(b)
	return nil
}

// hold keeps ws: it pings every l.ping (the first time at a random point
// of the interval, so that pings spread evenly) and reads the pongs.
func (l *load) hold(ws *websocket.Conn) {
	c := &client{ws: ws}
	var first [2]byte
	rand.Read(first[:])
	offset := time.Duration(int64(first[0])<<8|int64(first[1])) * l.ping / 65536
	var ping func()
	ping = func() {
		if l.stopping.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ping)
		err := write(ctx, ws, frame{"type": "ping", "ping": time.Now().UnixNano()})
		cancel()
		if err != nil {
			return // the reader sees the connection end
		}
		l.pings.Add(1)
		c.timer.Reset(l.ping)
	}
	l.mu.Lock()
	c.timer = time.AfterFunc(time.Hour, ping)
	c.timer.Reset(offset)
	l.clients = append(l.clients, c)
	l.mu.Unlock()
	l.held.Add(1)
	go func() {
		defer c.timer.Stop()
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				if !l.stopping.Load() {
					l.held.Add(-1)
					l.dropped.Add(1)
					why := "connection ended"
					if st := websocket.CloseStatus(err); st != -1 {
						why = "closed by the relay: " + st.String()
					}
					l.errs.Add("held client dropped: " + why)
				}
				return
			}
			var f struct {
				Type  string `json:"type"`
				Pong  int64  `json:"pong"`
				Error string `json:"error"`
			}
			if json.Unmarshal(b, &f) != nil {
				l.errs.Add("undecodable frame while held")
				continue
			}
			switch f.Type {
			case "pong":
				rtt := time.Since(time.Unix(0, f.Pong))
				l.mu.Lock()
				l.rtts = append(l.rtts, rtt)
				l.mu.Unlock()
			case "error":
				l.errs.Add("relay error while held: " + f.Error)
			}
		}
	}()
}

// report prints what the held clients saw.
func (l *load) report(start time.Time) {
	l.mu.Lock()
	rtts := slices.Clone(l.rtts)
	l.mu.Unlock()
	slices.Sort(rtts)
	q := func(p float64) time.Duration {
		if len(rtts) == 0 {
			return 0
		}
		return rtts[min(len(rtts)-1, int(p*float64(len(rtts))))].Round(time.Microsecond)
	}
	fmt.Printf("relayload: after %s: %d clients held, %d dropped; %d pings sent, %d pongs (round trip p50 %s, p99 %s, max %s)\n",
		time.Since(start).Round(time.Second), l.held.Load(), l.dropped.Load(), l.pings.Load(), len(rtts), q(0.5), q(0.99), q(1))
	if s := l.errs.String(); s != "" {
		fmt.Printf("relayload: what went wrong:\n%s", s)
	}
}

func main() {
	relays := flag.String("relays", "ws://127.0.0.1:4000/v1", "the relays' mailbox `URLS`, comma-separated; pairs are spread over them")
	n := flag.Int("n", 10000, "clients to hold (pairs of two)")
	perIP := flag.Int("per-ip", 16, "clients from each source address (4 addresses to a /24)")
	octet := flag.Int("octet", 20, "second octet of the first source address (127.N.0.1)")
	ping := flag.Duration("ping", 5*time.Second, "how often each held client pings the relay")
	ramp := flag.Int("ramp", 32, "pairs set up at once")
	hold := flag.Duration("hold", 0, "stop this long after all are set up (0: when signalled)")
	limit := flag.Duration("timeout", 15*time.Minute, "hard limit on the whole run")
	flag.Parse()
	if *n < 2 || *perIP < 1 || *perIP > 32 || *ping <= 0 || *ramp < 1 {
		fmt.Fprintln(os.Stderr, "relayload: want -n ≥ 2, -per-ip 1 to 32, -ping > 0, -ramp ≥ 1")
		os.Exit(2)
	}
	l := &load{relays: strings.Split(*relays, ","), perIP: *perIP, octet: *octet, ping: *ping,
		timeout: time.Minute, errs: counts.Tally{}, hcs: map[string]*http.Client{}}
	time.AfterFunc(*limit, func() {
		fmt.Println("relayload: hard time limit reached")
		l.report(time.Now().Add(-*limit))
		os.Exit(1)
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	start := time.Now()
	pairs := *n / 2
	sem := make(chan struct{}, *ramp)
	var wg sync.WaitGroup
	for k := range pairs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := l.pair(k); err != nil {
				l.errs.Add("pair not set up: " + err.Error())
			}
		})
		if (k+1)%1000 == 0 {
			fmt.Printf("relayload: %d pairs started after %s, %d clients held\n", k+1, time.Since(start).Round(time.Millisecond), l.held.Load())
		}
	}
	wg.Wait()
	fmt.Printf("relayload: held %d of %d clients, set up in %s (each pinging every %s)\n",
		l.held.Load(), 2*pairs, time.Since(start).Round(time.Millisecond), *ping)
	if s := l.errs.String(); s != "" {
		fmt.Printf("relayload: what went wrong:\n%s", s)
	}
	os.Stdout.Sync()
	held := time.Now()
	var stop <-chan time.Time
	if *hold > 0 {
		stop = time.After(*hold)
	}
	select {
	case <-sig:
	case <-stop:
	}
	l.stopping.Store(true)
	l.report(held)
	l.mu.Lock()
	for _, c := range l.clients {
		c.timer.Stop()
		c.ws.CloseNow()
	}
	l.mu.Unlock()
}
