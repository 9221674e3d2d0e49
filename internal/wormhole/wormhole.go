// Package wormhole is the Magic Wormhole client protocol: a code, a SPAKE2
// exchange over a mailbox server, then encrypted numbered phases.
//
// It speaks to the Python, Rust and Go implementations of Magic Wormhole:
// appid lothar.com/wormhole/text-or-file-xfer, `pake` and `version`
// phases, HKDF phase keys and secretbox bodies.
package wormhole

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/internal/mailbox"
	"github.com/psanford/wormhole-william/wordlist"
	"salsa.debian.org/vasudev/gospake2"
)

// AppID is the application id every Magic Wormhole file-transfer client uses.
const AppID = "lothar.com/wormhole/text-or-file-xfer"

// DefaultRelay is the public Magic Wormhole mailbox server.
const DefaultRelay = "ws://relay.magic-wormhole.io:4000/v1"

// Limits on what the peer may send through the mailbox.
const (
	maxPending  = 64  // numbered phases buffered ahead of the one we want
	maxCodeLen  = 256 // bytes in a code
	closeWithin = 3 * time.Second
	// interruptedCloseWithin is the farewell's bound after a signal: the
	// user asked to stop, so ferry must end within a second or two.
	interruptedCloseWithin = 750 * time.Millisecond
)

// MOTDRecord is the message of the Info log record that carries the
// relay's message of the day, escaped and quoted (escape.Quote), in its
// "motd" attribute, with the relay's URL, quoted too, in "relay": a
// program shows the message by picking that record out of its log.
const MOTDRecord = "relay message of the day"

// ErrWrongCode means the two sides did not agree on a key: the code was
// mistyped, or someone else tried to use it.
var ErrWrongCode = errors.New("the code was wrong, or someone else tried to use it")

// Mood is what a side reports when it closes.
type Mood = mailbox.Mood

// The moods of the client protocol.
const (
	Happy  = mailbox.Happy
	Lonely = mailbox.Lonely
	Scary  = mailbox.Scary
	Errory = mailbox.Errory
)

// Config says where and as whom to connect. The zero value uses the public
// relay, the file-transfer appid and no app versions.
type Config struct {
	// RelayURL is the mailbox server, or a pool of them separated by
	// commas: the first that answers is used, and the next one that
	// answers when its connection drops (reconnect.go). DefaultRelay
	// when empty.
	RelayURL    string
	AppID       string         // AppID when empty
	AppVersions map[string]any // announced in the version phase
	Agent       [2]string      // client_version sent on bind
	Logger      *slog.Logger   // nil: silent
	Rand        io.Reader      // SPAKE2's entropy; nil: crypto/rand (tests fix it)
	// Reconnect is how long to keep trying to reconnect when the relay's
	// connection drops, at any time until Close: a restarted relay
	// (ferry relay --data keeps nameplates and mailboxes) must not end a
	// transfer, whether its other side has come yet or it needs the
	// mailbox to find a new path. 0 never reconnects (reconnect.go).
	Reconnect time.Duration
}

// Wormhole is one side of one wormhole: it lives from the code to Close.
type Wormhole struct {
	cfg    Config
	log    *slog.Logger
	relays []string // the pool (cfg.RelayURL)
	side   string
	page   string     // where the relay serves ferry's browser client, if it does
	you    netip.Addr // the address the relay saw us connect from, if it said

	// The relay connection, replaced by a redial (reconnect.go).
	connMu    sync.Mutex
	mb        *mailbox.Client
	relayAt   int    // index of mb's relay in relays
	gen       int    // incremented by every redial
	closed    bool   // Close has begun
	nameplate string // claimed and not yet released
	mailbox   string
	closing   chan struct{} // closed by Close: a redial stops
	closeOnce sync.Once
	redialing chan struct{} // holds a token while a redial runs
	// transit and stun are the own transit relay and STUN server
	// (checked HOST:PORT) that mb's relay node named in its welcome, if
	// it did; a redial to another relay replaces them (Services).
	transit, stun string
	servicesFrom  string // the URL of the relay that named them

	code string

	spake     *gospake2.SPAKE2
	key       []byte
	legacyKey []byte // the key a peer on the original gospake2 derives, when it differs
	peerSide  string
	peerVer   map[string]json.RawMessage

	// sent are our messages (pake, version, numbered phases), resent
	// after a redial unless the relay holds them.
	outMu sync.Mutex
	sent  []outMsg

	sendMu  sync.Mutex // Send may be called from several goroutines
	nextOut int
	nextIn  int
	pending map[int][]byte // numbered phases that arrived early, still encrypted
}

// Dial connects to the relay and binds.
func Dial(ctx context.Context, cfg Config) (*Wormhole, error) {
	if cfg.RelayURL == "" {
		cfg.RelayURL = DefaultRelay
	}
	if cfg.AppID == "" {
		cfg.AppID = AppID
	}
	if cfg.Agent[0] == "" {
		cfg.Agent = [2]string{"ferry", "dev"}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	relays, err := mailbox.ParsePool(cfg.RelayURL)
	if err != nil {
		return nil, err
	}
	if len(relays) == 0 {
		relays = []string{DefaultRelay}
	}
	mb, welcome, at, err := mailbox.DialPool(ctx, relays, 0, mailbox.PoolDialTimeout, log)
	if err != nil {
		return nil, err
	}
	if welcome.MOTD != "" {
		log.Info(MOTDRecord, "relay", escape.Quote(relays[at]), "motd", escape.Quote(welcome.MOTD))
	}
	side := make([]byte, 5)
	rand.Read(side)
	w := &Wormhole{cfg: cfg, log: log, relays: relays, mb: mb, relayAt: at, side: hex.EncodeToString(side), pending: map[int][]byte{},
		page: welcome.Page, you: welcome.YourAddress, transit: welcome.Transit, stun: welcome.STUN, servicesFrom: relays[at], closing: make(chan struct{}), redialing: make(chan struct{}, 1)}
	if err := mb.Bind(ctx, cfg.AppID, w.side, cfg.Agent); err != nil {
		mb.Close()
		return nil, err
	}
	return w, nil
}

// AllocateCode asks the relay for a nameplate and makes a code of it and
// `words` words from the PGP word list, then starts the key exchange.
func (w *Wormhole) AllocateCode(ctx context.Context, words int) (string, error) {
	if words < 1 || words > 16 {
		return "", fmt.Errorf("a code needs 1 to 16 words, not %d", words)
	}
	mb, _ := w.client()
	nameplate, err := mb.Allocate(ctx)
	if err != nil {
		return "", err
	}
	w.connMu.Lock()
	w.nameplate = nameplate
	w.connMu.Unlock()
	code := nameplate + "-" + wordlist.ChooseWords(words)
	return code, w.start(ctx, code, nameplate)
}

// NewCode makes a code of nameplate and `words` words from the PGP word
// list, for a nameplate this side chose itself (a mailbox of its own).
func NewCode(nameplate string, words int) (string, error) {
	if words < 1 || words > 16 {
		return "", fmt.Errorf("a code needs 1 to 16 words, not %d", words)
	}
	if !mailbox.ValidNameplate(nameplate) {
		return "", fmt.Errorf("nameplate %q is not a number", nameplate)
	}
	return nameplate + "-" + wordlist.ChooseWords(words), nil
}

// UseCode claims the nameplate of a code typed by the user and starts the
// key exchange.
func (w *Wormhole) UseCode(ctx context.Context, code string) error {
	nameplate, err := ParseCode(code)
	if err != nil {
		return err
	}
	return w.start(ctx, code, nameplate)
}

// ParseCode checks a code's shape and returns its nameplate.
func ParseCode(code string) (string, error) {
	if len(code) > maxCodeLen {
		return "", fmt.Errorf("code is longer than %d bytes", maxCodeLen)
	}
	for _, r := range code {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", errors.New("code must not contain spaces or control characters")
		}
	}
	nameplate, rest, ok := strings.Cut(code, "-")
	if ok && rest != "" && nameplate != "" && len(nameplate) <= 40 && !mailbox.ValidNameplate(nameplate) {
		return "", &NameplateError{Nameplate: nameplate}
	}
	if !ok || rest == "" || !mailbox.ValidNameplate(nameplate) {
		return "", fmt.Errorf("code %q is not of the form NUMBER-WORD-WORD", code)
	}
	return nameplate, nil
}

// NameplateError means a code's nameplate is not digits: mailbox servers
// (magic-wormhole-mailbox-server 0.7 and later, ferry relay) refuse it.
type NameplateError struct{ Nameplate string }

func (e *NameplateError) Error() string {
	return fmt.Sprintf("the nameplate %q (the code before its first dash) must be digits, as mailbox servers require", e.Nameplate)
}

func (w *Wormhole) start(ctx context.Context, code, nameplate string) error {
	mb, _ := w.client()
	mbox, err := mb.Claim(ctx, nameplate)
	if err != nil {
		if errors.Is(err, mailbox.ErrCrowded) {
			return fmt.Errorf("%w (the relay says the code is already in use by two others)", ErrWrongCode)
		}
		return err
	}
	w.connMu.Lock()
	w.code, w.nameplate, w.mailbox = code, nameplate, mbox
	w.connMu.Unlock()
	if err := mb.Open(ctx, mbox); err != nil {
		return err
	}
	sp := gospake2.SPAKE2Symmetric(gospake2.NewPassword(code), gospake2.NewIdentityS(w.cfg.AppID))
	w.spake = &sp
	var msg []byte
	if w.cfg.Rand != nil {
		if msg, err = w.spake.StartWithEntropy(w.cfg.Rand); err != nil {
			return fmt.Errorf("start the key exchange: %w", err)
		}
	} else {
		msg = w.spake.Start()
	}
	body, err := json.Marshal(map[string]string{"pake_v1": hex.EncodeToString(msg)})
	if err != nil {
		return fmt.Errorf("encode pake message: %w", err)
	}
	return w.post(ctx, "pake", body)
}

// Code returns the code in use.
func (w *Wormhole) Code() string { return w.code }

// Establish waits for the other side, derives the shared key, exchanges
// version messages and returns once both sides proved they hold the key.
// A wrong code returns an error wrapping ErrWrongCode. Once it has
// succeeded it returns nil at once.
func (w *Wormhole) Establish(ctx context.Context) error {
	if w.spake == nil {
		return errors.New("establish: no code yet")
	}
	if w.peerVer != nil {
		return nil
	}
	for w.key == nil {
		m, err := w.next(ctx)
		if err != nil {
			return fmt.Errorf("wait for the other side: %w", err)
		}
		if m.Phase != "pake" {
			w.stash(m)
			continue
		}
		if err := w.finishPake(m); err != nil {
			return err
		}
	}
	w.connMu.Lock()
	mb, nameplate := w.mb, w.nameplate
	w.nameplate = ""
	w.connMu.Unlock()
	if nameplate != "" {
		if err := mb.Release(ctx, nameplate); err != nil {
			w.log.Debug("release nameplate", "err", err)
		}
	}
	return w.exchangeVersions(ctx)
}

func (w *Wormhole) finishPake(m mailbox.Message) error {
	var p struct {
		PakeV1 string `json:"pake_v1"`
	}
	if err := json.Unmarshal(m.Body, &p); err != nil || p.PakeV1 == "" {
		return fmt.Errorf("%w: the other side's pake message is malformed", ErrWrongCode)
	}
	msg, err := hex.DecodeString(p.PakeV1)
	if err != nil {
		return fmt.Errorf("%w: the other side's pake message is not hex", ErrWrongCode)
	}
	key, err := w.spake.Finish(msg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrongCode, err)
	}
	w.key = key
	w.legacyKey = w.spake.LegacyKey()
	w.peerSide = m.Side
	w.log.Debug("wormhole: key established", "peer", m.Side)
	return nil
}

// next returns the next mailbox message from the other side, skipping our
// own echoes and, once the peer is known, any third side.
func (w *Wormhole) next(ctx context.Context) (mailbox.Message, error) {
	for {
		mb, gen := w.client()
		m, err := mb.Next(ctx)
		if err != nil {
			if w.mayRedial(ctx, mb, err) {
				if err := w.reconnect(ctx, gen, err); err != nil {
					return m, err
				}
				continue
			}
			return m, err
		}
		if m.Side == w.side {
			continue // our own, echoed
		}
		if w.peerSide != "" && m.Side != w.peerSide {
			continue
		}
		return m, nil
	}
}

// stash keeps a numbered phase that arrived before we asked for it; other
// phases (dilation, unknown ones) are ignored, as the Python client does.
func (w *Wormhole) stash(m mailbox.Message) {
	n, err := strconv.Atoi(m.Phase)
	if err != nil || n < w.nextIn || strconv.Itoa(n) != m.Phase {
		w.log.Debug("wormhole: ignoring message", "phase", m.Phase)
		return
	}
	if _, dup := w.pending[n]; dup || len(w.pending) >= maxPending {
		w.log.Debug("wormhole: dropping duplicate or excess phase", "phase", m.Phase)
		return
	}
	w.pending[n] = m.Body
}

// Verifier is a hash of the shared key both sides can compare.
func (w *Wormhole) Verifier() []byte {
	if w.key == nil {
		return nil
	}
	return DeriveKey(w.key, "wormhole:verifier", keySize)
}

// Key derives a purpose-specific key from the shared key.
func (w *Wormhole) Key(purpose string, length int) []byte {
	return DeriveKey(w.key, purpose, length)
}

// PeerVersions returns the app_versions the other side announced.
func (w *Wormhole) PeerVersions() map[string]json.RawMessage { return w.peerVer }

// Send encrypts and posts the next numbered phase.
func (w *Wormhole) Send(ctx context.Context, plaintext []byte) error {
	if w.key == nil {
		return errors.New("send: no shared key yet")
	}
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	phase := strconv.Itoa(w.nextOut)
	if err := w.post(ctx, phase, seal(phaseKey(w.key, w.side, phase), plaintext)); err != nil {
		return err
	}
	w.nextOut++
	return nil
}

// SendJSON marshals v and sends it as the next phase.
func (w *Wormhole) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	return w.Send(ctx, b)
}

// Receive returns the next numbered phase from the other side, in order.
func (w *Wormhole) Receive(ctx context.Context) ([]byte, error) {
	if w.key == nil {
		return nil, errors.New("receive: no shared key yet")
	}
	for {
		if body, ok := w.pending[w.nextIn]; ok {
			delete(w.pending, w.nextIn)
			phase := strconv.Itoa(w.nextIn)
			plain, err := open(phaseKey(w.key, w.peerSide, phase), body)
			if err != nil {
				return nil, fmt.Errorf("%w: phase %s: %w", ErrWrongCode, phase, err)
			}
			w.nextIn++
			return plain, nil
		}
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("wait for the other side: %w", err)
		}
		w.stash(m)
	}
}

// Await waits until the other side's next numbered phase has arrived
// and checks that it opens with the shared key; Receive then returns it.
// It tells which of several mailboxes the other side chose to carry on
// in (transfer.Race).
func (w *Wormhole) Await(ctx context.Context) error {
	if w.key == nil {
		return errors.New("await: no shared key yet")
	}
	for {
		if body, ok := w.pending[w.nextIn]; ok {
			phase := strconv.Itoa(w.nextIn)
			if _, err := open(phaseKey(w.key, w.peerSide, phase), body); err != nil {
				return fmt.Errorf("%w: phase %s: %w", ErrWrongCode, phase, err)
			}
			return nil
		}
		m, err := w.next(ctx)
		if err != nil {
			return fmt.Errorf("wait for the other side: %w", err)
		}
		w.stash(m)
	}
}

// Nameplate is the nameplate of the code in use.
func (w *Wormhole) Nameplate() string {
	n, _, _ := strings.Cut(w.code, "-")
	return n
}

// Close releases what is still claimed, closes the mailbox with a mood and
// hangs up. It uses its own short deadline so it works after ctx is
// cancelled (Ctrl-C).
func (w *Wormhole) Close(ctx context.Context, mood Mood) error {
	within := closeWithin
	if ctx.Err() != nil { // interrupted: say goodbye, but quickly
		within = interruptedCloseWithin
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), within)
	defer cancel()
	w.connMu.Lock()
	w.closed = true
	w.closeOnce.Do(func() { close(w.closing) })
	mb, nameplate, mbox := w.mb, w.nameplate, w.mailbox
	w.nameplate, w.mailbox = "", ""
	w.connMu.Unlock()
	var errs []error
	if nameplate != "" {
		errs = append(errs, mb.Release(ctx, nameplate))
	}
	if mbox != "" {
		errs = append(errs, mb.CloseMailbox(ctx, mbox, mood))
	}
	mb.Close()
	return errors.Join(errs...)
}

// Ready reports whether the key exchange finished, so Send works.
func (w *Wormhole) Ready() bool { return w.peerVer != nil }

// PeerSeen reports whether the other side has shown up (sent its pake).
func (w *Wormhole) PeerSeen() bool { return w.peerSide != "" }

// Page is where the relay said it serves ferry's browser client (a checked
// http or https URL), or "".
func (w *Wormhole) Page() string { return w.page }

// YourAddress is the address the relay said it saw us connect from (its
// welcome's your-address), or the zero Addr: a hint of our public
// address, which the relay could lie about.
func (w *Wormhole) YourAddress() netip.Addr { return w.you }

// Services are the transit relay and STUN server (HOST:PORT, the host a
// name or an IP address) that the relay in use said its node runs (its
// welcome's ferry_transit and ferry_stun), or "", and that relay's URL:
// checked in shape only, for its users to use when they chose none
// (package transfer, welcome.go).
//
// After a redial they are those of the relay the redial reached, also
// when it names none: the node first dialled may be the one that went
// away (a pool's node killed), and a path set up after the move (a
// reconnect's, internal/transfer/reconnect.go) should use the node the
// client is on, as the first path used the node it was on then. This
// does not move the receiver off the sender's node: a receiver whose
// transit relay is a default takes the relay the sender offered in that
// attempt's transports (transfer.RelayLink), which is the sender's
// node's at the time, and uses its own node's only when the sender
// offered none it would dial.
func (w *Wormhole) Services() (transit, stun, relayURL string) {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	return w.transit, w.stun, w.servicesFrom
}
