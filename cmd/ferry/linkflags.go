package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/nat"
	"github.com/ferrydrop/ferry/send"
)

// defaultSTUN are public STUN servers used when neither --stun nor
// FERRY_STUN says otherwise.
const defaultSTUN = "stun:stun.l.google.com:19302,stun:stun.cloudflare.com:3478"

// linkFlags are how send and receive may connect: --transport, --transit
// and the ICE settings.
type linkFlags struct {
	fs                             *flag.FlagSet // to tell which the user set
	transport, transit             *string
	stun, turn, turnUser, turnPass *string
	mdns                           *bool
	connectTimeout, idleTimeout    *string
	reconnectTimeout               *string
	stripes                        *string
}

// link is what linkFlags describe, checked.
type link struct {
	transport    string
	transitRelay string // HOST:PORT, or "" for none
	nat          nat.Config
	// connectTimeout bounds the search for a path, idleTimeout a
	// connection on which nothing moves.
	connectTimeout, idleTimeout time.Duration
	// reconnectTimeout bounds the search for a new path after the one in
	// use broke mid-transfer; 0 gives up at once.
	reconnectTimeout time.Duration
	// stripes is how many direct TCP connections to stripe over; 0 for auto.
	stripes int
	// fromRelay says which of transitRelay and nat.STUN the user left at
	// their defaults: the mailbox relay's node may then name its own.
	fromRelay send.RelayDefaults
}

// relayUsage is --relay's help, for send and receive.
const relayUsage = "mailbox server `URL`, or several separated by commas: a pool, of which the first that answers is used, and the next one when its connection drops (env FERRY_RELAY)"

// defaultReconnectTimeout is --reconnect-timeout when neither the flag nor
// FERRY_RECONNECT_TIMEOUT says otherwise.
const defaultReconnectTimeout = 2 * time.Minute

func addLinkFlags(fs *flag.FlagSet) linkFlags {
	return linkFlags{
		fs:        fs,
		transport: fs.String("transport", send.TransportAuto, transportUsage),
		transit:   fs.String("transit", envOr("FERRY_TRANSIT", send.DefaultTransitRelay), transitUsage),
		stun:      fs.String("stun", envOr("FERRY_STUN", defaultSTUN), "STUN server `URLs`, comma-separated, or \"none\"; when unset, the relay node's own if its welcome names one (env FERRY_STUN)"),
		turn:      fs.String("turn", envOr("FERRY_TURN", ""), "TURN server `URL` such as turn:relay.example:3479 (env FERRY_TURN)"),
		turnUser:  fs.String("turn-user", envOr("FERRY_TURN_USER", ""), "TURN user name (env FERRY_TURN_USER)"),
		turnPass:  fs.String("turn-pass", envOr("FERRY_TURN_PASS", ""), "TURN password (env FERRY_TURN_PASS)"),
		mdns:      fs.Bool("mdns", false, "hide local addresses behind mDNS .local names in ICE candidates"),
		connectTimeout: fs.String("connect-timeout", envOr("FERRY_CONNECT_TIMEOUT", send.DefaultConnectTimeout.String()),
			"give up when no path to the other side works within `DURATION` (env FERRY_CONNECT_TIMEOUT)"),
		idleTimeout: fs.String("idle-timeout", envOr("FERRY_IDLE_TIMEOUT", send.DefaultIdleTimeout.String()),
			"give up when nothing moves on the connection for `DURATION` (env FERRY_IDLE_TIMEOUT)"),
		reconnectTimeout: fs.String("reconnect-timeout", envOr("FERRY_RECONNECT_TIMEOUT", defaultReconnectTimeout.String()),
			"when the connection breaks mid-transfer between ferry peers, look for a new path for up to `DURATION` and go on where it stopped; 0 gives up at once (env FERRY_RECONNECT_TIMEOUT)"),
		stripes: fs.String("stripes", envOr("FERRY_STRIPES", "auto"),
			fmt.Sprintf("between ferry peers over direct TCP, carry the stream over `N` connections at once (faster on lossy links without BBR); auto: %d where the sender's kernel has no BBR, else 1; at most %d (env FERRY_STRIPES)", send.DefaultStripes, send.MaxStripes)),
	}
}

// config checks the flags; its errors are usage errors. --transport relay
// with no relay to use is refused here, before anyone waits for a peer.
func (f linkFlags) config() (link, error) {
	l := link{transport: *f.transport}
	if err := send.CheckTransport(l.transport); err != nil {
		return l, fmt.Errorf("--transport: %w", err)
	}
	cfg, err := f.natConfig()
	if err != nil {
		return l, err
	}
	l.nat = cfg
	if l.connectTimeout, err = parseTimeout(*f.connectTimeout); err != nil {
		return l, fmt.Errorf("--connect-timeout: %w", err)
	}
	if l.idleTimeout, err = parseTimeout(*f.idleTimeout); err != nil {
		return l, fmt.Errorf("--idle-timeout: %w", err)
	}
	if *f.stripes != "auto" {
		if l.stripes, err = strconv.Atoi(*f.stripes); err != nil || l.stripes < 1 || l.stripes > send.MaxStripes {
			return l, fmt.Errorf("--stripes: want auto or a number from 1 to %d (got %q)", send.MaxStripes, *f.stripes)
		}
	}
	if l.reconnectTimeout, err = parseTimeoutOrZero(*f.reconnectTimeout); err != nil {
		return l, fmt.Errorf("--reconnect-timeout: %w", err)
	}
	if l.transitRelay, err = send.ParseTransitRelay(*f.transit); err != nil {
		return l, fmt.Errorf("--transit: %w", err)
	}
	l.fromRelay = send.RelayDefaults{Transit: !f.userSet("transit", "FERRY_TRANSIT"), STUN: !f.userSet("stun", "FERRY_STUN")}
	if l.transport == send.TransportRelay && len(cfg.TURN) == 0 && l.transitRelay == "" {
		return l, errors.New("--transport relay needs a relay: a TURN server (--turn) or a transit relay (--transit)")
	}
	return l, nil
}

// userSet reports whether the user set the flag name, or the variable env
// (not empty) that gives its default.
func (f linkFlags) userSet(name, env string) bool {
	set := os.Getenv(env) != ""
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// parseTimeout reads a positive duration such as 30s or 2m.
func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s or 2m", s)
	}
	return d, nil
}

// parseTimeoutOrZero reads a duration such as 2m, or 0 for none.
func parseTimeoutOrZero(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 2m, or 0", s)
	}
	return d, nil
}

// natConfig builds the nat.Config the ICE flags describe.
func (f linkFlags) natConfig() (nat.Config, error) {
	var cfg nat.Config
	if s := strings.TrimSpace(*f.stun); s != "" && s != "none" {
		for _, u := range strings.Split(s, ",") {
			cfg.STUN = append(cfg.STUN, strings.TrimSpace(u))
		}
	}
	if *f.turn != "" {
		if *f.turnUser == "" || *f.turnPass == "" {
			return cfg, fmt.Errorf("--turn needs --turn-user and --turn-pass")
		}
		cfg.TURN = []nat.TURNServer{{URL: *f.turn, Username: *f.turnUser, Password: *f.turnPass}}
	}
	cfg.MDNS = *f.mdns
	// Two peers on one machine (tests, demos) connect over loopback only.
	cfg.LoopbackOnly = os.Getenv("FERRY_ICE_LOOPBACK") == "1"
	return cfg, nil
}

// Usage of --transport and --transit, shared by send and receive.
const (
	transportUsage = "connection to use: auto, tcp (direct only), ice, webrtc (a WebRTC data channel only, " +
		"as a browser peer uses), or relay (only through a relay: " +
		"TURN or the transit relay between ferry peers, the transit relay with classic Magic Wormhole peers)"
	transitUsage = "transit relay `HOST:PORT` (also tcp:HOST:PORT), for classic Magic Wormhole peers and as " +
		"the last resort between ferry peers, or \"none\"; when unset, the relay node's own if its welcome names one " +
		"(a receiver takes the sender's) (env FERRY_TRANSIT)"
)
