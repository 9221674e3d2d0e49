package relay

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// stuff opens mailbox id from c and adds body until the relay refuses; it
// returns the refusal and how many adds were taken.
func stuff(t *testing.T, c *wsClient, id, body string) (string, int) {
	t.Helper()
	c.command("open", "mailbox", id)
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("mailbox %s took 1000 adds", id)
		}
		c.command("add", "phase", fmt.Sprint(i), "body", body)
		m := c.read()
		switch m["type"] {
		case "message":
		case "error":
			return m["error"].(string), i
		default:
			t.Fatalf("add: %v", m)
		}
	}
}

// TestFloodStuffedMailboxes: clients from a handful of addresses fill as
// many mailboxes as they may create. What they store is bounded by the
// per-address and per-prefix byte limits (not by mailboxes × mailbox
// size), an honest transfer still works, and a flood from many networks
// is bounded by MaxStoredBytes, refused with a clear error.
func TestFloodStuffedMailboxes(t *testing.T) {
	cfg := Config{
		MaxFrameBytes:           16 << 10,
		MaxMailboxBytes:         32 << 10,
		MaxStoredBytesPerIP:     64 << 10,
		MaxStoredBytesPerPrefix: 128 << 10,
		MaxStoredBytes:          512 << 10,
	}
	s, url := startServer(t, cfg)
	body := strings.Repeat("7f", 7<<10) // 14 KiB
	refusals := map[string]int{}
	flood := func(ips []string, mailboxes int) {
		for _, ip := range ips {
			for j := range mailboxes {
				c := dialAs(t, url, ip)
				c.bind(testApp, "stuffer")
				why, _ := stuff(t, c, fmt.Sprintf("stuff-%s-%d", ip, j), body)
				refusals[why]++
				c.close()
			}
		}
	}
	// Five addresses of one /24, ten mailboxes each: 50 full mailboxes
	// (1.6 MiB) if only the mailbox limit held.
	flood(loopbackIPs(11, 5, true), 10)
	if got := s.storedInStore(); got > cfg.MaxStoredBytesPerPrefix {
		t.Errorf("one /24 stored %d bytes, over MaxStoredBytesPerPrefix %d", got, cfg.MaxStoredBytesPerPrefix)
	}
	if refusals["too much stored from your address, try again later"] == 0 {
		t.Errorf("refusals %v, want the per-address one", refusals)
	}
	honestTransfer(t, url, "127.0.1.1", "127.0.1.2")

	// Eight more /24s: the overall budget holds.
	flood(loopbackIPs(20, 8, false), 3)
	now, peak := s.storedUsage()
	if got := s.storedInStore(); got != now {
		t.Errorf("the server counts %d stored bytes, the store holds %d", now, got)
	}
	if peak > cfg.MaxStoredBytes {
		t.Errorf("stored bytes peaked at %d, over MaxStoredBytes %d", peak, cfg.MaxStoredBytes)
	}
	if refusals["relay is out of space for messages, try again later"] == 0 {
		t.Errorf("refusals %v, want the overall one", refusals)
	}
	t.Logf("refusals %v; stored %d bytes, peak %d", refusals, now, peak)
}

// TestFloodNameplates: 30 addresses of one /24 allocate all the
// nameplates their per-address limit allows, 120 in all; the per-prefix
// limit stops them well short of MaxNameplates, and an honest pair from
// another network still gets one.
func TestFloodNameplates(t *testing.T) {
	cfg := Config{MaxNameplates: 100, MaxNameplatesPerIP: 4, MaxNameplatesPerPrefix: 20}
	s, url := startServer(t, cfg)
	allocated := 0
	for _, ip := range loopbackIPs(10, 30, true) {
		for range 4 {
			c := dialAs(t, url, ip)
			c.bind(testApp, "grabber")
			c.command("allocate")
			switch m := c.read(); {
			case m["type"] == "allocated":
				allocated++
			case m["error"] != "too many nameplates from your network":
				t.Fatalf("allocate from %s: %v", ip, m)
			}
			c.close()
		}
	}
	if allocated != cfg.MaxNameplatesPerPrefix {
		t.Errorf("one /24 allocated %d nameplates, want MaxNameplatesPerPrefix %d", allocated, cfg.MaxNameplatesPerPrefix)
	}
	honestTransfer(t, url, "127.0.1.1", "127.0.2.1")
	// The grabbers' nameplates stay (until pruned): the refusals were not
	// for want of room.
	s.state.mu.Lock()
	nps, _ := s.state.store.counts()
	s.state.mu.Unlock()
	if nps != allocated {
		t.Errorf("%d nameplates exist, want the %d grabbed", nps, allocated)
	}
}

// TestPruneUnpaired: nameplates and mailboxes that never got a second
// side are pruned after PruneUnpairedAge, not PruneAge, so that grabbing
// every nameplate blocks others for minutes, not hours; a sender waiting
// for its peer keeps its nameplate, and a mailbox both sides opened
// lives for PruneAge.
func TestPruneUnpaired(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{now: clock.Now, MaxNameplates: 20, MaxNameplatesPerIP: 4, PruneInterval: time.Hour}
	s, url := startServer(t, cfg)

	// A sender waits for its peer.
	sender := dialAs(t, url, "127.9.0.1")
	sender.bind(testApp, "sender")
	np := sender.request("allocated", "allocate")["nameplate"].(string)
	mbox := sender.request("claimed", "claim", "nameplate", np)["mailbox"].(string)
	sender.command("open", "mailbox", mbox)
	sender.command("add", "phase", "pake", "body", "s1")
	sender.expectMessage("sender", "pake", "s1")
	// A pair met, then both went away without releasing or closing.
	var paired string
	for i, side := range []string{"p1", "p2"} {
		c := dialAs(t, url, "127.9.0.2")
		c.bind(testApp, side)
		paired = c.request("claimed", "claim", "nameplate", "900")["mailbox"].(string)
		c.command("open", "mailbox", paired)
		for range i {
			c.expectMessage("p1", "pake", "p1")
		}
		c.command("add", "phase", "pake", "body", side)
		c.expectMessage(side, "pake", side)
		c.close()
	}
	// Grabbers from five /24s take every other nameplate: some allocate,
	// some claim and open, and all go away.
	for i, ip := range loopbackIPs(10, 5, false) {
		for j := range 4 {
			if i == 4 && j >= 2 {
				break // 18 + the two above = 20
			}
			c := dialAs(t, url, ip)
			c.bind(testApp, "grabber")
			if j%2 == 0 {
				c.request("allocated", "allocate")
			} else {
				id := c.request("claimed", "claim", "nameplate", fmt.Sprint(1000+4*i+j))["mailbox"]
				c.command("open", "mailbox", id)
			}
			c.close()
		}
	}
	waitFor(t, "grabbers to leave", func() bool { return s.connCount() == 1 })
	late := dialAs(t, url, "127.8.0.1")
	late.bind(testApp, "late")
	if got := late.refused("allocate"); got != "too many nameplates, try again later" {
		t.Fatalf("allocate with every nameplate taken: %q", got)
	}

	clock.Advance(defaultPruneUnpairedAge - time.Minute)
	if st, err := s.state.prune(clock.Now()); err != nil || st != (pruneStats{}) {
		t.Fatalf("prune before PruneUnpairedAge: %+v, %v; want nothing", st, err)
	}
	clock.Advance(2 * time.Minute)
	st, err := s.state.prune(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 18 grabbed nameplates and the pair's; 18 grabbed mailboxes.
	if st != (pruneStats{nameplates: 19, mailboxes: 18}) {
		t.Errorf("prune after PruneUnpairedAge: %+v, want 19 nameplates and 18 mailboxes", st)
	}
	if !s.hasNameplate(testApp, np) || !s.hasMailbox(testApp, mbox) {
		t.Fatal("the waiting sender's nameplate or mailbox was pruned")
	}
	if !s.hasMailbox(testApp, paired) {
		t.Error("a mailbox both sides opened was pruned before PruneAge")
	}
	late.request("allocated", "allocate")

	// The sender's peer comes, and the transfer goes on.
	rcv := dialAs(t, url, "127.9.0.3")
	rcv.bind(testApp, "receiver")
	if got := rcv.request("claimed", "claim", "nameplate", np)["mailbox"]; got != mbox {
		t.Fatalf("receiver claimed %v, want %v", got, mbox)
	}
	rcv.command("open", "mailbox", mbox)
	rcv.expectMessage("sender", "pake", "s1")

	// Once the sender goes, its (unpaired) state goes PruneUnpairedAge
	// later, counted from when it left.
	sender.close()
	rcv.close()
	waitFor(t, "sender to leave", func() bool { return s.connCount() == 1 })
	clock.Advance(defaultPruneUnpairedAge - time.Minute)
	if st, _ := s.state.prune(clock.Now()); st.mailboxes != 0 {
		t.Errorf("pruned %+v less than PruneUnpairedAge after the sender left", st)
	}
}

// TestFloodIdleWebsockets: 20 addresses of one /24, and 20 IPv6 /64s of
// one /56, open as many idle websockets as their per-address limit
// allows; the per-prefix limit keeps most of MaxConns free for others.
func TestFloodIdleWebsockets(t *testing.T) {
	cfg := Config{MaxConns: 60, MaxConnsPerIP: 3, MaxConnsPerPrefix: 12}
	s, url := startFakedServer(t, cfg)
	flood := func(ips []string) int {
		open := 0
		for _, ip := range ips {
			for range cfg.MaxConnsPerIP {
				_, status, err := tryDial(t, url, dialOpts{from: ip})
				switch {
				case err == nil:
					open++
				case status != http.StatusServiceUnavailable:
					t.Fatalf("dial from %s: %v", ip, err)
				}
			}
		}
		return open
	}
	if got := flood(loopbackIPs(10, 20, true)); got != cfg.MaxConnsPerPrefix {
		t.Errorf("one /24 holds %d connections, want MaxConnsPerPrefix %d", got, cfg.MaxConnsPerPrefix)
	}
	var v6 []string
	for i := range 20 {
		v6 = append(v6, fmt.Sprintf("2001:db8:0:ff%02x::1", i))
	}
	if got := flood(v6); got != cfg.MaxConnsPerPrefix {
		t.Errorf("one IPv6 /48 holds %d connections, want MaxConnsPerPrefix %d", got, cfg.MaxConnsPerPrefix)
	}
	if n := s.connCount(); n != 2*cfg.MaxConnsPerPrefix {
		t.Errorf("%d connections open, want the two prefixes' %d", n, 2*cfg.MaxConnsPerPrefix)
	}
	honestTransfer(t, url, "127.0.1.1", "2001:db8:1::1")
}

// TestSendQueueBoundedByOpened: a client that does not read may queue
// replies up to MaxSendQueueBytes, and no more, unless it opened a
// mailbox: then what the mailbox delivers fits too.
func TestSendQueueBoundedByOpened(t *testing.T) {
	cfg := Config{MaxFrameBytes: 16 << 10, MaxMailboxBytes: 64 << 10, WriteTimeout: time.Minute}
	s, url := startSmallBufServer(t, cfg)
	full := cfg.withDefaults()

	// A full mailbox, delivered at once to a client that reads only
	// afterwards, arrives whole, although its bodies are mostly escapes.
	stuffer := dialAs(t, url, "127.0.0.2")
	stuffer.bind(testApp, "stuffer")
	body := strings.Repeat("\x01", 2500) // six bytes each as JSON
	got, n := stuff(t, stuffer, "full", body)
	if got != "mailbox is full" || n == 0 {
		t.Fatalf("stuffing: %q after %d", got, n)
	}
	reader, _, err := tryDial(t, url, dialOpts{from: "127.0.0.3", rcvBuf: 4096})
	if err != nil {
		t.Fatal(err)
	}
	reader.bind(testApp, "stuffer")
	reader.command("open", "mailbox", "full")
	time.Sleep(200 * time.Millisecond) // let it queue
	for i := range n {
		reader.expectMessage("stuffer", fmt.Sprint(i), body)
	}
	reader.sync()

	// A client that opened nothing and reads nothing asks for big pongs:
	// it is dropped once its queue would pass MaxSendQueueBytes.
	slow, _, err := tryDial(t, url, dialOpts{from: "127.0.0.4", rcvBuf: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ping := []byte(fmt.Sprintf(`{"type":"ping","ping":"%s"}`, strings.Repeat("p", 15<<10)))
	for i := 0; i < 2000 && s.connCount() == 3; i++ {
		if err := slow.writeRaw(websocket.MessageText, ping); err != nil {
			break
		}
	}
	waitFor(t, "the slow client to be dropped", func() bool { return s.connCount() == 2 })
	_, _, qpeak := s.bufferUsage()
	if bound := full.MaxSendQueueBytes + full.mailboxQueueBytes(); qpeak > bound {
		t.Errorf("a queue held %d bytes, over the bound %d for a client that opened a mailbox", qpeak, bound)
	}
	stuffer.sync()
}

// TestSlowReplyQueueBound checks the reply part of the bound alone: a
// client that opened nothing never has more than MaxSendQueueBytes
// queued, by default the replies to two frames and some (not a big
// mailbox's worth: that is only for clients that opened one).
func TestSlowReplyQueueBound(t *testing.T) {
	cfg := Config{MaxFrameBytes: 16 << 10, MaxMailboxBytes: 512 << 10, WriteTimeout: time.Minute}
	s, url := startSmallBufServer(t, cfg)
	bound := 2*cfg.MaxFrameBytes + 64<<10
	slow, _, err := tryDial(t, url, dialOpts{from: "127.0.0.4", rcvBuf: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ping := []byte(fmt.Sprintf(`{"type":"ping","ping":"%s"}`, strings.Repeat("p", 15<<10)))
	for i := 0; i < 2000 && s.connCount() == 1; i++ {
		if err := slow.writeRaw(websocket.MessageText, ping); err != nil {
			break
		}
	}
	waitFor(t, "the slow client to be dropped", func() bool { return s.connCount() == 0 })
	if _, _, qpeak := s.bufferUsage(); qpeak > bound {
		t.Errorf("a client that opened nothing had %d bytes queued, over %d", qpeak, bound)
	}
	if got := cfg.withDefaults().MaxSendQueueBytes; got != bound {
		t.Errorf("MaxSendQueueBytes defaults to %d, want %d", got, bound)
	}
}

// TestFloodNonReadingClients: clients from many networks open a full
// mailbox and ask for big pongs, and never read. The connection buffers
// together stay within MaxBufferBytes (the clients holding the most are
// dropped), and an honest pair, whose queues stay short, completes.
func TestFloodNonReadingClients(t *testing.T) {
	cfg := Config{MaxFrameBytes: 16 << 10, MaxMailboxBytes: 32 << 10, MaxBufferBytes: 256 << 10, WriteTimeout: time.Minute}
	s, url := startSmallBufServer(t, cfg)
	stuffer := dialAs(t, url, "127.0.0.2")
	stuffer.bind(testApp, "stuffer")
	if got, _ := stuff(t, stuffer, "full", strings.Repeat("7f", 7<<10)); got != "mailbox is full" {
		t.Fatalf("stuffing: %q", got)
	}
	stuffer.close()

	const flooders = 16
	ping := []byte(fmt.Sprintf(`{"type":"ping","ping":"%s"}`, strings.Repeat("p", 15<<10)))
	var wg sync.WaitGroup
	for _, ip := range loopbackIPs(10, flooders, false) {
		c, _, err := tryDial(t, url, dialOpts{from: ip, rcvBuf: 4096})
		if err != nil {
			t.Fatal(err)
		}
		c.bind(testApp, "stuffer")
		c.command("open", "mailbox", "full")
		wg.Go(func() {
			for range 30 {
				if c.writeRaw(websocket.MessageText, ping) != nil {
					return
				}
			}
		})
	}
	honestTransfer(t, url, "127.200.0.1", "127.201.0.1")
	wg.Wait()
	honestTransfer(t, url, "127.200.0.1", "127.201.0.1")
	now, peak, _ := s.bufferUsage()
	if peak > cfg.MaxBufferBytes {
		t.Errorf("connection buffers peaked at %d bytes, over MaxBufferBytes %d", peak, cfg.MaxBufferBytes)
	}
	full := cfg.withDefaults()
	if per := full.MaxSendQueueBytes + full.mailboxQueueBytes(); flooders*per <= cfg.MaxBufferBytes {
		t.Fatalf("the flood (%d × %d) cannot exceed the budget; the test proves nothing", flooders, per)
	}
	if d := s.bufferDrops(); d == 0 {
		t.Errorf("no client was dropped for the budget's sake (%d connections left)", s.connCount())
	}
	t.Logf("buffers now %d, peak %d; %d dropped for the budget, %d connections left", now, peak, s.bufferDrops(), s.connCount())
}
