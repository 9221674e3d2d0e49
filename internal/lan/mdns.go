package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/pion/logging"
	"github.com/pion/mdns/v2"
	"golang.org/x/net/ipv4"
)

// mdnsGroup is the IPv4 multicast DNS group and port.
const mdnsGroup = "224.0.0.251:5353"

// maxFound bounds the distinct mailboxes one browse reports: each costs
// the receiver a connection, and each hostile one an attacker's guess.
const maxFound = 4

// Network is where LAN discovery runs. The zero value is this host's LAN
// interfaces and the multicast DNS socket; tests give their own.
type Network struct {
	// Interfaces lists the interfaces to advertise and browse on; nil
	// takes every interface that is up and multicast-capable, is neither
	// loopback nor point-to-point (a VPN tunnel) and has an IPv4 address.
	Interfaces func() ([]net.Interface, error)
	// ListenMDNS opens the socket that receives multicast DNS; nil
	// binds UDP 224.0.0.251:5353 (shared with other responders, such as
	// avahi).
	ListenMDNS func() (net.PacketConn, error)
	// Loopback also allows loopback interfaces (tests on one host).
	Loopback bool
	Logger   *slog.Logger // nil: silent
}

func (n Network) log() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}

// lanIface is an interface in use and its IPv4 networks.
type lanIface struct {
	net.Interface
	prefixes []netip.Prefix
}

// interfaces returns the interfaces in use, each with its IPv4 networks.
func (n Network) interfaces() ([]lanIface, error) {
	list := n.Interfaces
	if list == nil {
		list = net.Interfaces
	}
	ifs, err := list()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var out []lanIface
	for _, ifc := range ifs {
		loop := ifc.Flags&net.FlagLoopback != 0
		switch {
		case ifc.Flags&net.FlagUp == 0,
			loop && !n.Loopback,
			!loop && ifc.Flags&net.FlagMulticast == 0,
			ifc.Flags&net.FlagPointToPoint != 0:
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		li := lanIface{Interface: ifc}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			li.prefixes = append(li.prefixes, netip.PrefixFrom(ip.Unmap(), ones))
		}
		if len(li.prefixes) > 0 {
			out = append(out, li)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no local network interface with an IPv4 address")
	}
	return out, nil
}

// onLAN reports whether addr is on one of the networks of ifs: a mailbox
// advertised on the LAN must be on it, or a hostile advertiser could send
// the receiver anywhere.
func onLAN(ifs []lanIface, addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.Is4() || addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, li := range ifs {
		for _, p := range li.prefixes {
			if p.Contains(addr) && addr != p.Masked().Addr() {
				return true
			}
		}
	}
	return false
}

// open starts a multicast DNS responder and querier on ifs.
func (n Network) open(ifs []lanIface, opts ...mdns.ServerOption) (*mdns.Conn, error) {
	listen := n.ListenMDNS
	if listen == nil {
		listen = func() (net.PacketConn, error) {
			addr, err := net.ResolveUDPAddr("udp4", mdnsGroup)
			if err != nil {
				return nil, err
			}
			// Go sets SO_REUSEADDR on a socket bound to a multicast
			// address, so this shares the port with avahi.
			return net.ListenUDP("udp4", addr)
		}
	}
	pc, err := listen()
	if err != nil {
		return nil, fmt.Errorf("multicast DNS: %w", err)
	}
	var ifaces []net.Interface
	for _, li := range ifs {
		ifaces = append(ifaces, li.Interface)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	p4 := ipv4.NewPacketConn(pc)
	if n.Loopback {
		_ = p4.SetMulticastLoopback(true)
	}
	opts = append(opts, mdns.WithInterfaces(ifaces...), mdns.WithIncludeLoopback(n.Loopback), mdns.WithLoggerFactory(quiet))
	conn, err := mdns.NewServer(p4, nil, opts...)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("multicast DNS: %w", err)
	}
	return conn, nil
}

// Advertiser announces one LAN mailbox until it is closed.
type Advertiser struct {
	conn *mdns.Conn
	once sync.Once
}

// Advertise announces ad for a mailbox listening on port of this host's
// LAN addresses (each interface answers with its own).
func (n Network) Advertise(ad Advert, port uint16) (*Advertiser, error) {
	ifs, err := n.interfaces()
	if err != nil {
		return nil, err
	}
	host := ad.instance() + ".local"
	conn, err := n.open(ifs, mdns.WithLocalNames(host))
	if err != nil {
		return nil, err
	}
	svc := mdns.ServiceInstance{Instance: ad.instance(), Service: Service, Domain: "local", Port: port, Text: ad.TXT()}
	if err := conn.Register(svc); err != nil {
		conn.Close()
		return nil, fmt.Errorf("multicast DNS: register: %w", err)
	}
	n.log().Debug("lan: advertising", "service", Service, "instance", ad.instance(), "nameplate", ad.Nameplate, "port", port)
	return &Advertiser{conn: conn}, nil
}

// Close stops the announcement.
func (a *Advertiser) Close() error {
	var err error
	a.once.Do(func() { err = a.conn.Close() })
	return err
}

// Found is a mailbox advertised on the LAN for the nameplate browsed for.
type Found struct {
	URL string // ws://IP:PORT/v1
	ID  string // the advertiser's instance id
}

// Browse reports, through found, the mailboxes advertised on the LAN for
// nameplate, each once and at most maxFound of them, until ctx ends; it
// returns then. Adverts that do not parse, name another nameplate or
// point outside the LAN are ignored.
func (n Network) Browse(ctx context.Context, nameplate string, found func(Found)) error {
	ifs, err := n.interfaces()
	if err != nil {
		return err
	}
	conn, err := n.open(ifs)
	if err != nil {
		return err
	}
	defer conn.Close()
	log := n.log()
	var (
		mu     sync.Mutex
		seen   = map[string]bool{}
		events = make(chan Found, maxFound)
	)
	conn.OnServiceDiscovered(func(ev mdns.ServiceEvent) {
		ad, err := ParseTXT(ev.Instance.Text)
		if err != nil || ad.Nameplate != nameplate || ev.Instance.Port == 0 || !onLAN(ifs, ev.Addr) {
			log.Debug("lan: ignoring an advert", "instance", ev.Instance.Instance, "addr", ev.Addr, "err", err)
			return
		}
		f := Found{URL: "ws://" + net.JoinHostPort(ev.Addr.Unmap().String(), strconv.Itoa(int(ev.Instance.Port))) + "/v1", ID: ad.ID}
		mu.Lock()
		defer mu.Unlock()
		if seen[ad.ID] || seen[f.URL] || len(seen) >= 2*maxFound {
			return
		}
		seen[ad.ID], seen[f.URL] = true, true
		log.Debug("lan: found a mailbox", "url", f.URL, "id", ad.ID)
		events <- f // never blocks: at most maxFound are sent
	})
	if err := conn.Browse(ctx, Service); err != nil {
		return fmt.Errorf("multicast DNS: browse: %w", err)
	}
	for {
		select {
		case f := <-events:
			found(f)
		case <-ctx.Done():
			return nil
		}
	}
}
