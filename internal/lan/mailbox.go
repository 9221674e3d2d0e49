package lan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/relay"
)

// listenTries bounds the attempts to find one port free on every LAN
// address.
const listenTries = 8

// drainWithin bounds how long Close waits for the clients still
// connected to leave: a classic client closes its mailbox after the
// transfer, a little after the sender, and one whose server goes away
// first reconnects, for ever.
const drainWithin = 3 * time.Second

// Mailbox is a mailbox server (ferry relay's) on this host's LAN
// addresses, on one ephemeral port, which it can advertise.
type Mailbox struct {
	ctx   context.Context // Serve's: once it is done (Ctrl-C), Close does not wait
	net   Network
	srv   *relay.Server
	addrs []netip.Addr
	port  uint16
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu  sync.Mutex
	adv *Advertiser
}

// Serve starts a mailbox server on an ephemeral port of every LAN
// address of n (the same port on each). It serves until Close.
func (n Network) Serve(ctx context.Context) (*Mailbox, error) {
	ifs, err := n.interfaces()
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, li := range ifs {
		for _, p := range li.prefixes {
			addrs = append(addrs, p.Addr())
		}
	}
	lns, port, err := listenAll(ctx, addrs)
	if err != nil {
		return nil, err
	}
	srv, err := relay.New(relay.Config{Logger: n.log().With("lan", "mailbox")})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m := &Mailbox{ctx: ctx, net: n, srv: srv, addrs: addrs, port: port, stop: stop}
	for _, ln := range lns {
		m.wg.Go(func() {
			if err := srv.Serve(sctx, ln); err != nil {
				n.log().Debug("lan: mailbox stopped", "err", err)
			}
			ln.Close()
		})
	}
	return m, nil
}

// listenAll listens on the same ephemeral TCP port of every address.
func listenAll(ctx context.Context, addrs []netip.Addr) ([]net.Listener, uint16, error) {
	var lc net.ListenConfig
	var lastErr error
	for range listenTries {
		var lns []net.Listener
		port := "0"
		for _, a := range addrs {
			ln, err := lc.Listen(ctx, "tcp4", net.JoinHostPort(a.String(), port))
			if err != nil {
				lastErr = err
				break
			}
			lns = append(lns, ln)
			port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		}
		if len(lns) == len(addrs) {
			p, _ := strconv.Atoi(port)
			return lns, uint16(p), nil
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	return nil, 0, fmt.Errorf("listen on the local network: %w", lastErr)
}

// URLs are the mailbox's addresses, one per LAN address: what a classic
// client takes as --relay-url.
func (m *Mailbox) URLs() []string {
	var urls []string
	for _, a := range m.addrs {
		urls = append(urls, "ws://"+net.JoinHostPort(a.String(), strconv.Itoa(int(m.port)))+"/v1")
	}
	return urls
}

// URL is the mailbox's first address, where the sender itself connects.
func (m *Mailbox) URL() string { return m.URLs()[0] }

// Advertise announces the mailbox for nameplate with a fresh instance id,
// replacing an earlier announcement.
func (m *Mailbox) Advertise(nameplate string) error {
	if !validNameplate(nameplate) {
		return errors.New("advertise: the nameplate is not 1 to 40 digits")
	}
	adv, err := m.net.Advertise(Advert{Version: Version, Nameplate: nameplate, ID: NewID()}, m.port)
	if err != nil {
		return err
	}
	m.mu.Lock()
	old := m.adv
	m.adv = adv
	m.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Unadvertise stops announcing the mailbox; it keeps serving.
func (m *Mailbox) Unadvertise() {
	m.mu.Lock()
	adv := m.adv
	m.adv = nil
	m.mu.Unlock()
	if adv != nil {
		adv.Close()
	}
}

// Close stops announcing, waits a little for the clients still
// connected to say goodbye (unless Serve's context is done: the user
// interrupted), and stops serving.
func (m *Mailbox) Close() error {
	m.Unadvertise()
	deadline := time.Now().Add(drainWithin)
	for m.srv.Clients() > 0 && time.Now().Before(deadline) && m.ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	m.stop()
	m.wg.Wait()
	return m.srv.Close()
}
