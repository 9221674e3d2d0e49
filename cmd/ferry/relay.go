package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/web"

	"github.com/ferrydrop/ferry/relay"
)

func (c *cli) relay(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry relay", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	listen := fs.String("listen", ":4000", "serve the mailbox websocket on `ADDR` (at /v1)")
	data := fs.String("data", "", "keep nameplates and mailboxes in `DIR` so they survive a restart (default: in memory)")
	motd := fs.String("motd", "", "message of the day sent to clients")
	hashcashBits := fs.Int("hashcash-bits", 0, "make each client do about 2^`N` SHA-1 hashes (a hashcash stamp) before it may bind, a brake on floods; 0 for none, at most 28 (Python and Go Magic Wormhole clients cannot)")
	stunListen := fs.String("stun-listen", "", "also answer STUN on UDP `ADDR` (e.g. :3478)")
	turnListen := fs.String("turn-listen", "", "also run a TURN server on UDP `ADDR` (e.g. :3479); needs --turn-ip and credentials")
	turnIP := fs.String("turn-ip", "", "the public `IP` the TURN server advertises for relayed traffic")
	turnUser := fs.String("turn-user", envOr("FERRY_TURN_USER", ""), "static TURN user name (env FERRY_TURN_USER)")
	turnPass := fs.String("turn-pass", envOr("FERRY_TURN_PASS", ""), "static TURN password (env FERRY_TURN_PASS)")
	turnSecret := fs.String("turn-secret", envOr("FERRY_TURN_SECRET", ""), "shared `SECRET` for time-limited TURN credentials (env FERRY_TURN_SECRET)")
	transitListen := fs.String("transit-listen", "", "also run a transit relay for classic clients on TCP `ADDR` (e.g. :4001)")
	webURL := fs.String("web-url", "", "the `URL` where browsers reach the web page, when a proxy serves it elsewhere (default: this server, as each client reached it)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS and WSS with the certificate chain in `FILE` (PEM; needs --tls-key)")
	tlsKey := fs.String("tls-key", "", "the private key of --tls-cert in `FILE` (PEM)")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics (Prometheus) on a separate HTTP listener at `ADDR` instead of the mailbox's (e.g. 127.0.0.1:9100); \"off\" for none")
	publicHost := fs.String("public-host", "", "this node's own public `HOST` (name or IP), which its web page names for its transit relay, STUN and TURN, and TURN advertises when --turn-ip is not given (for several nodes behind one name)")
	nf := natsFlags(fs)
	lf := limitFlags(fs)
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry relay [flags]\n\nServes a Magic Wormhole mailbox at ws://ADDR/v1, and with --transit-listen\na transit relay (\"please relay\" over TCP) for classic clients.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		c.errorf("ferry relay takes no arguments (got %q)", pos[0])
		return exitUsage
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		c.errorf("--tls-cert and --tls-key go together")
		return exitUsage
	}
	if *webURL != "" && web.PageURL(*webURL) == "" {
		c.errorf("--web-url: want an http or https URL without query or fragment (got %q)", *webURL)
		return exitUsage
	}
	var tlsConfig *tls.Config
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			c.errorf("--tls-cert: %v", err)
			return exitFailure
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	page := &pageMux{}
	files := web.Files()
	pageAt := web.PageURL(*webURL)
	if pageAt == "" && web.Built(files) {
		pageAt = "/"
	}
	if *hashcashBits < 0 || *hashcashBits > 28 {
		c.errorf("--hashcash-bits must be between 0 and 28")
		return exitUsage
	}
	if bad := lf.check(); bad != "" {
		c.errorf("%s must not be negative (0 keeps the default)", bad)
		return exitUsage
	}
	if *publicHost != "" && !validPublicHost(*publicHost) {
		c.errorf("--public-host: want a host name or an IP address (got %q)", *publicHost)
		return exitUsage
	}
	if *turnIP == "" && net.ParseIP(*publicHost) != nil {
		*turnIP = *publicHost
	}
	natsCfg, stopNATS, rc := c.startNATS(ctx, nf, *data, c.logger(*verbose))
	defer stopNATS()
	if rc != exitOK || ctx.Err() != nil {
		return rc
	}
	metrics := newRelayMetrics()
	// The welcome names this node's own transit relay and STUN server,
	// at --public-host, else at the host each client asked for.
	var services relay.Config
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		c.errorf("listen on %s: %v", *listen, err)
		return exitFailure
	}
	scheme := "ws"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "wss"
	}
	fmt.Fprintf(c.stderr, "ferry: relay listening on %s://%s/v1\n", scheme, ln.Addr())
	wopts := web.Options{Host: *publicHost}
	if *stunListen != "" || *turnListen != "" {
		ice, err := relay.StartICE(ctx, relay.ICEConfig{
			STUNListen: *stunListen, TURNListen: *turnListen, RelayIP: *turnIP,
			User: *turnUser, Password: *turnPass, SharedSecret: *turnSecret,
			Logger: c.logger(*verbose),
		})
		if err != nil {
			ln.Close()
			c.errorf("start STUN/TURN: %v", err)
			return exitFailure
		}
		defer ice.Close()
		metrics.add(ice)
		if a := ice.STUNAddr(); a != nil {
			fmt.Fprintf(c.stderr, "ferry: STUN on stun:%s\n", a)
			wopts.STUNPort = portOf(a)
			services.STUN = net.JoinHostPort(*publicHost, strconv.Itoa(portOf(a)))
		}
		if a := ice.TURNAddr(); a != nil {
			fmt.Fprintf(c.stderr, "ferry: TURN on turn:%s?transport=udp\n", a)
			wopts.TURNPort = portOf(a)
			wopts.TURNCredentials = turnCredentials(*turnUser, *turnPass, *turnSecret)
		}
	}
	var waitTransit func() error
	var transitBudget int64
	if *transitListen != "" {
		tln, err := net.Listen("tcp", *transitListen)
		if err != nil {
			ln.Close()
			c.errorf("listen on %s: %v", *transitListen, err)
			return exitFailure
		}
		fmt.Fprintf(c.stderr, "ferry: transit relay on tcp:%s\n", tln.Addr())
		if *publicHost != "" {
			fmt.Fprintf(c.stderr, "ferry: transit relay hint tcp:%s\n", net.JoinHostPort(*publicHost, strconv.Itoa(portOf(tln.Addr()))))
		}
		transit := relay.NewTransit(relay.TransitConfig{Logger: c.logger(*verbose)})
		metrics.add(transit)
		wopts.TransitPort = portOf(tln.Addr())
		services.Transit = net.JoinHostPort(*publicHost, strconv.Itoa(portOf(tln.Addr())))
		transitBudget = transit.MemoryBudget()
		page.transit = transit.Handler() // browsers, which have no TCP, at /transit
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			err := transit.Serve(tctx, tln)
			cancel() // a transit relay that fails stops the mailbox too
			errc <- err
		}()
		waitTransit = func() error { cancel(); return <-errc }
		ctx = tctx
	}
	cfg := relay.Config{DataDir: *data, NATS: natsCfg, MOTD: *motd, Logger: c.logger(*verbose), HashcashBits: *hashcashBits,
		Other: page, Page: pageAt, Transit: services.Transit, STUN: services.STUN}
	lf.apply(&cfg)
	// A NATS cluster without its quorum may keep the start waiting (until
	// NATSConfig.StartTimeout): a signal ends that wait.
	srv, err := relay.NewContext(ctx, cfg)
	if err != nil {
		ln.Close()
		if ctx.Err() != nil { // a signal, or the transit relay failed
			c.logger(*verbose).Debug("stopped while starting: the mailbox store's set-up was abandoned", "err", err)
			return c.waitTransit(waitTransit, exitOK)
		}
		c.errorf("start relay: %v", err)
		if errors.Is(err, relay.ErrNATSUnavailable) && *nf.embedded && *nf.routes != "" {
			// A new JetStream cluster elects its first leader, and creates its
			// replicated buckets, only once every node is up; one formed once
			// goes on with a majority (deploy/README.md).
			c.hintf("a new NATS cluster starts only when all of its nodes (--nats-routes) are up; start the others, then this one again")
		}
		return exitFailure
	}
	defer srv.Close()
	metrics.add(srv)
	softMemoryLimit(c.logger(*verbose), srv.MemoryBudget()+transitBudget)
	switch *metricsListen {
	case "":
		page.metrics = metrics.handler()
	case "off":
	default:
		stop, err := c.serveMetrics(ctx, *metricsListen, metrics.handler())
		if err != nil {
			ln.Close()
			c.errorf("--metrics-listen: %v", err)
			return exitFailure
		}
		defer stop()
	}
	page.files = web.Handler(files, wopts)
	if web.Built(files) {
		fmt.Fprintf(c.stderr, "ferry: web page on %s\n", pageAddr(scheme, ln.Addr(), *webURL))
	} else {
		c.logger(*verbose).Debug("this ferry was built without the web page's program (scripts/build builds it)")
	}
	code := exitOK
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		c.errorf("relay: %v", err)
		code = exitFailure
	}
	return c.waitTransit(waitTransit, code)
}

// waitTransit stops the transit relay, if wait (which stops it) is not
// nil, and returns code, or exitFailure when the transit relay failed.
func (c *cli) waitTransit(wait func() error, code int) int {
	if wait == nil {
		return code
	}
	if err := wait(); err != nil {
		c.errorf("transit relay: %v", err)
		return exitFailure
	}
	return code
}

// pageMux serves the paths beside the mailbox's /v1: the WebSocket transit
// relay at /transit, when there is one, the metrics at /metrics, and the
// web page everywhere else.
type pageMux struct {
	transit http.Handler
	metrics http.Handler // /metrics, unless --metrics-listen moved it
	files   http.Handler
}

func (m *pageMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/transit" && m.transit != nil {
		m.transit.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/metrics" && m.metrics != nil {
		m.metrics.ServeHTTP(w, r)
		return
	}
	if m.files == nil {
		http.NotFound(w, r)
		return
	}
	m.files.ServeHTTP(w, r)
}

func portOf(a net.Addr) int {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	}
	return 0
}

// pageAddr is where the relay says its page is, for its log line.
func pageAddr(scheme string, a net.Addr, webURL string) string {
	if webURL != "" {
		return webURL
	}
	if scheme == "wss" {
		return "https://" + a.String() + "/"
	}
	return "http://" + a.String() + "/"
}

// turnCredentialTTL is how long the TURN credentials a page is given stay
// valid: long enough for one transfer to set up and run.
const turnCredentialTTL = 12 * time.Hour

// turnCredentials gives the page TURN credentials: time-limited ones from
// the shared secret, else the static ones (which every visitor then
// learns: use --turn-secret for a public relay).
func turnCredentials(user, pass, secret string) func() (string, string) {
	if secret != "" {
		return func() (string, string) {
			return relay.TURNCredentials(secret, "ferry-web", turnCredentialTTL, time.Now())
		}
	}
	if user != "" {
		return func() (string, string) { return user, pass }
	}
	return nil
}

// relayMemorySlack is what a relay needs besides the state its limits
// bound: code, goroutines, the page's files, TLS and the STUN/TURN server.
const relayMemorySlack = 64 << 20

// relayGCPercent is the garbage collector's GOGC for a relay: most of a
// big relay's heap is long-lived (its connections' buffers, goroutines
// and records) and it allocates little while its clients wait, so
// collecting when the heap has grown by half, not doubled, costs little
// CPU and keeps its memory near 1.5 times what it holds: 10,000 held
// clients on one node peak at about 430 MiB instead of 530 MiB
// (scripts/relay-load).
const relayGCPercent = 50

// softMemoryLimit makes the garbage collector keep the relay's memory
// within what its limits allow (budget) and a slack, rather than up to
// twice what it holds (scripts/bench-relay-flood measures it under a flood
// that fills every budget), and collect at relayGCPercent. GOMEMLIMIT and
// GOGC, when set, win.
func softMemoryLimit(log *slog.Logger, budget int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(relayGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Debug("memory limit from GOMEMLIMIT", "limit", os.Getenv("GOMEMLIMIT"))
		return
	}
	limit := budget + relayMemorySlack
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit", "MiB", limit>>20)
}
