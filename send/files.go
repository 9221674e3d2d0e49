package send

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/keyring"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// FileOptions add what a file transfer needs to Options.
type FileOptions struct {
	Options
	Transport string // auto, tcp, ice, relay or webrtc (transfer.Transport*)
	// TransitRelay is the transit relay (HOST:PORT) offered to classic
	// receivers; "" offers none.
	TransitRelay string
	// FromRelay says which of TransitRelay and NAT.STUN are defaults
	// (the user chose neither) that the mailbox relay's node may replace
	// with its own transit relay and STUN server, when its welcome names
	// them (ferry_transit, ferry_stun; see RelayDefaults). The zero value
	// replaces nothing.
	FromRelay RelayDefaults
	// FS, when set, holds what is sent: the paths are names in it
	// (slash-separated, as io/fs takes them) instead of paths on disk.
	// ferry's page sends the files a user picked through it.
	FS fs.FS
	// DialTransit connects to transit relays; nil dials TCP. A browser
	// has no TCP and reaches its relay over WebSocket.
	DialTransit func(ctx context.Context, addr string) (net.Conn, error)
	NAT         natconf.Config // STUN and TURN servers for ICE and WebRTC
	// ConnectTimeout bounds the search for a path to the other side, and
	// IdleTimeout how long a connection may carry nothing while bytes are
	// owed (30 s each when 0).
	ConnectTimeout, IdleTimeout time.Duration
	// OnConnecting, if set, is told the paths being tried when finding
	// one takes more than a few seconds.
	OnConnecting func(paths []string)
	// Stripes is how many direct TCP connections to carry the stream over
	// at once when direct TCP wins and the peer stripes too (on a lossy
	// link each loss-based connection backs off alone, so together they
	// move more). 0 is the default: the sender stripes over DefaultStripes
	// only where its kernel has no BBR congestion control (which keeps a
	// lossy link busy with one connection), the receiver takes what the
	// sender offers; 1 or less is one connection.
	Stripes int
	// ReconnectTimeout, when positive, lets a transfer whose data path
	// breaks (a network change, a NAT rebinding, a relay restart, the
	// idle timeout) find a new one through the mailbox for that long and
	// go on where the receiver is; 0 gives up at once, as before. Only
	// transfers that can resume (files with hashes, to a ferry receiver
	// that keeps partials) reconnect.
	ReconnectTimeout time.Duration
	// OnReconnecting, if set, is told each reconnect attempt (from 1) and
	// what ended the path before it.
	OnReconnecting func(attempt int, why error)
	OnSkip         func(path, why string)  // told of things inside folders that are not sent
	Progress       func(sent, total int64) // called as bytes go out; may be nil
	Stdin          io.Reader               // the content when a path is "-"
	StdinName      string                  // the name it arrives as

	// To seals the content to these keys (only their holders can read it,
	// even if the code leaks); Signer signs it (its secret key unlocked).
	// Only ferry receivers can take sealed transfers.
	To     []*openpgp.Entity
	Signer *openpgp.Entity

	// hashGate, when set (by a test), holds the hashing back until it
	// returns: how a test makes the hashes come late.
	hashGate func(context.Context) error
	// offerGate, when set (by a test), is called once the sides met,
	// just before the offer goes out; an error ends the send: how a test
	// holds a sender, or kills it, before its offer.
	offerGate func(context.Context) error
}

// sealed tells whether opts seal the transfer.
func (opts FileOptions) sealed() bool { return len(opts.To) > 0 || opts.Signer != nil }

// sealOffer seals the offer as opts say: it names the recipients and,
// when there are any, moves the manifest into a message only they open.
func (opts FileOptions) sealOffer(offer *transfer.FerryOffer) error {
	if !opts.sealed() {
		return nil
	}
	s := &transfer.Sealed{Signed: opts.Signer != nil}
	for _, e := range opts.To {
		s.To = append(s.To, keyring.Fingerprint(e))
	}
	offer.Sealed = s
	if len(opts.To) == 0 {
		return nil
	}
	plain, err := json.Marshal(offer.Manifest)
	if err != nil {
		return fmt.Errorf("encode the manifest: %w", err)
	}
	sealed, err := opts.seal(plain, "the manifest")
	if err != nil {
		return err
	}
	if len(sealed) > transfer.MaxSealedManifest {
		return fmt.Errorf("the list of names is too long to send sealed (%d bytes, at most %d)", len(sealed), transfer.MaxSealedManifest)
	}
	s.Manifest = sealed
	offer.Manifest = transfer.Manifest{}
	return nil
}

// seal is plain as an OpenPGP message sealed as opts say (what names it
// in errors).
func (opts FileOptions) seal(plain []byte, what string) ([]byte, error) {
	var buf bytes.Buffer
	w, err := crypto.SealTo(&buf, opts.To, opts.Signer)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", what, err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("seal %s: %w", what, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal %s: %w", what, err)
	}
	return buf.Bytes(), nil
}

// Summary describes a finished transfer.
type Summary struct {
	Files    int64
	Bytes    int64
	Duration time.Duration
	Path     string // which connection carried it
}

// Files sends files and folders to a ferry receiver and returns once the
// receiver confirmed everything landed.
func Files(ctx context.Context, opts FileOptions, paths []string) (sum *Summary, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	src, stream, err := prepare(opts, paths)
	if err != nil {
		return nil, err
	}
	parent := ctx
	// fail ends the transfer from the background (the hashes could not be
	// made or sent): its cause is the error the transfer ends with.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	hctx, stopHashing := context.WithCancel(ctx)
	defer stopHashing()
	hashes := src.startHashing(hctx, opts.hashGate) // while the receiver comes
	w, stopLAN, err := open(ctx, opts.Options)
	if err != nil {
		return nil, err
	}
	defer func() { err = transfer.Finish(parent, w, err); stopLAN() }()
	defer func() {
		if cause := context.Cause(ctx); err != nil && parent.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}()
	if err := transfer.Establish(ctx, w, opts.Verify); err != nil {
		return nil, err
	}
	if !transfer.IsFerry(w.PeerVersions()) {
		opts.Logger.Debug("the receiver is a classic Magic Wormhole client", "protocol", "classic")
		stopHashing() // classic peers have no resume: the hashes are not needed
		return classicFiles(ctx, w, opts, src)
	}
	opts.Logger.Debug("the receiver is ferry", "protocol", "ferry")
	ch := transfer.NewChannel(ctx, w)
	link, tr, err := transfer.PrepareLink(ctx, opts.linkOptions(ctx, w, 0))
	if err != nil {
		return nil, err
	}
	defer link.Close()
	offer := transfer.FerryOffer{Manifest: src.man, Stream: stream, Transports: tr, PrefixCheck: true}
	var late *lateSums
	select {
	case <-hashes.done: // sums in the offer, as before hashing went late
		if hashes.err != nil {
			return nil, hashes.err
		}
		src.sums = hashes.sums
		offer.Manifest.Sums = src.sums
	default:
		offer.Manifest.SumsLater = src.hashable()
		opts.Logger.Debug("send: the hashes are not done; they follow the offer", "later", offer.Manifest.SumsLater)
	}
	if err := opts.sealOffer(&offer); err != nil {
		return nil, err
	}
	if opts.offerGate != nil {
		if err := opts.offerGate(ctx); err != nil {
			return nil, err
		}
	}
	if err := ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Offer: &offer}}); err != nil {
		return nil, err
	}
	if src.sums == nil && src.hashable() { // the offer said SumsLater (sealed, perhaps)
		late = opts.sendLate(hctx, ch, hashes, transfer.SumsBinding(w, src.man), fail)
		defer func() { stopHashing(); <-late.sent }() // nothing goes out after the transfer ended
	}
	var peer transfer.Transports
	var have *transfer.Have
	for {
		e, err := ch.Next(ctx)
		if err != nil {
			return nil, err
		}
		if e.Error != nil {
			return nil, transfer.PeerError("the receiver", *e.Error)
		}
		if e.Ferry != nil && e.Ferry.Have != nil {
			have = e.Ferry.Have
		}
		if e.Ferry != nil && e.Ferry.Accept != nil {
			peer = *e.Ferry.Accept
			break
		}
	}
	if have != nil && late != nil { // the receiver waited for the sums: they went out
		if src.sums, err = late.wait(ctx, ch); err != nil {
			return nil, err
		}
	}
	if src.at, err = src.resumeAt(src.sums, have); err != nil {
		return nil, err
	}
	r := &run{ctx: ctx, w: w, ch: ch, opts: opts, src: src, kind: stream, start: time.Now(), late: late}
	conn, err := link.Connect(ctx, w, ch, transit.Sender, peer)
	if err != nil {
		return nil, err
	}
	return r.loop(conn)
}

// run is a ferry transfer once the receiver accepted: its attempts at
// a data path (more than one when the path breaks and reconnecting is on).
type run struct {
	ctx     context.Context
	w       *wormhole.Wormhole
	ch      *transfer.Channel
	opts    FileOptions
	src     *source
	kind    string
	start   time.Time
	attempt int
	links   []*transfer.Link // of the reconnects
	late    *lateSums        // the hashes, when the offer said they follow
}

// loop streams on conn and, each time the path breaks, on a new one.
func (r *run) loop(conn *transfer.Conn) (*Summary, error) {
	defer func() {
		for _, l := range r.links {
			l.Close()
		}
	}()
	for {
		sum, err := r.once(conn)
		if err == nil || !conn.Broken() || r.opts.ReconnectTimeout <= 0 || r.ctx.Err() != nil {
			return sum, err
		}
		if !r.src.hashable() {
			return nil, noResume(err, r.src.noResumeReason())
		}
		r.opts.Logger.Debug("send: the data path broke", "attempt", r.attempt, "err", err)
		if conn, err = r.reconnect(err); err != nil {
			return nil, err
		}
	}
}

// once streams the content on conn (attempt r.attempt) and waits for the
// receiver's confirmation.
func (r *run) once(conn *transfer.Conn) (sum *Summary, err error) {
	defer func() { conn.End(err) }()
	stop := context.AfterFunc(r.ctx, conn.Abort) // unblocks a write stuck on a dead peer
	defer stop()
	base := transfer.StreamBase(r.w, r.attempt)
	if err := r.src.stream(conn, base, r.kind, r.opts); err != nil {
		return nil, r.pathError(conn, conn.Why(err))
	}
	// The receiver gives nothing its final name before it has the file
	// hashes: they go out before the wait for its confirmation (whose
	// idle timeout would otherwise run while the hashing ends).
	if r.late != nil {
		if _, err := r.late.wait(r.ctx, r.ch); err != nil {
			return nil, r.lateError(err)
		}
	}
	// The receiver confirms on the data path: the mailbox may be gone by
	// now (a relay restart during a long transfer), and its farewell is
	// best effort.
	d, err := transfer.ReadDone(conn, base)
	if err != nil {
		return nil, r.pathError(conn, conn.Why(err))
	}
	man := r.src.man
	if d.Files != man.Files || (man.Bytes != transfer.UnknownSize && d.Bytes != man.Bytes) {
		return nil, fmt.Errorf("the receiver confirmed %d files and %d bytes, not what was sent", d.Files, d.Bytes)
	}
	return &Summary{Files: d.Files, Bytes: d.Bytes, Duration: time.Since(r.start), Path: conn.Describe()}, nil
}

// pathError is dataPathError, except when the path broke and a reconnect
// will follow: the receiver's reason, if it stopped, arrives in the wait
// for its answer.
func (r *run) pathError(conn *transfer.Conn, err error) error {
	if conn.Broken() && r.opts.ReconnectTimeout > 0 && r.src.hashable() {
		return err
	}
	return dataPathError(r.ctx, r.ch, conn.PathError(), err)
}

// lateError is the error of a wait for the late hashes: the receiver's
// reason when it stopped.
func (r *run) lateError(err error) error {
	if errors.Is(err, errPeerStopped) {
		return dataPathError(r.ctx, r.ch, nil, err) // the path did not fail: the receiver stopped
	}
	return err
}

// reconnect finds a new path after the last one broke (why), within
// opts.ReconnectTimeout: it asks the receiver through the mailbox, which
// answers with what it holds, and races for a connection; the stream goes
// on from where the receiver is.
func (r *run) reconnect(why error) (*transfer.Conn, error) {
	limit := r.opts.ReconnectTimeout
	ctx, cancel := context.WithTimeout(r.ctx, limit)
	defer cancel()
	if r.src.sums == nil && r.late != nil {
		// The receiver answers with what it holds once it has the hashes;
		// they go out before the request for a new path.
		sums, err := r.late.wait(ctx, r.ch)
		if err != nil {
			if r.ctx.Err() == nil && ctx.Err() != nil {
				return nil, &transfer.ReconnectError{Timeout: limit, Err: why}
			}
			return nil, r.lateError(err)
		}
		r.src.sums = sums
	}
	for {
		r.attempt++
		if r.opts.OnReconnecting != nil {
			r.opts.OnReconnecting(r.attempt, why)
		}
		conn, err := r.tryPath(ctx)
		if err == nil {
			return conn, nil
		}
		var refusal *transfer.Refusal
		if r.ctx.Err() != nil || errors.As(err, &refusal) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, &transfer.ReconnectError{Timeout: limit, Err: why}
		}
		r.opts.Logger.Debug("send: reconnect attempt failed", "attempt", r.attempt, "err", err)
		why = err
		select { // a path that fails at once is not retried in a busy loop
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, &transfer.ReconnectError{Timeout: limit, Err: why}
		}
	}
}

// tryPath is one reconnect attempt (r.attempt).
func (r *run) tryPath(ctx context.Context) (*transfer.Conn, error) {
	o := r.opts
	link, tr, err := transfer.PrepareLink(ctx, o.linkOptions(ctx, r.w, r.attempt))
	if err != nil {
		return nil, err
	}
	if err := r.ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Retry: &transfer.Retry{Attempt: r.attempt, Transports: tr}}}); err != nil {
		link.Close()
		return nil, err
	}
	ans, err := r.ch.WaitRetry(ctx, r.attempt, 0)
	if err != nil {
		link.Close()
		return nil, err
	}
	if ans.Have == nil {
		link.Close()
		return nil, errors.New("the receiver answered a reconnect without saying what it holds")
	}
	if r.src.at, err = r.src.resumeAt(r.src.sums, ans.Have); err != nil {
		link.Close()
		return nil, err
	}
	conn, err := link.Connect(ctx, r.w, r.ch, transit.Sender, ans.Transports)
	if err != nil {
		link.Close()
		return nil, err
	}
	r.links = append(r.links, link) // closed when the run ends: an ICE path needs its agent
	return conn, nil
}

// noResume is err, the failure of a data path that broke, as a
// NoResumeError saying why the transfer cannot go on over a new one;
// unless the peer stopped and said why (a Refusal): its words stand.
func noResume(err error, reason string) error {
	var refusal *transfer.Refusal
	if errors.As(err, &refusal) {
		return err
	}
	return &transfer.NoResumeError{Reason: reason, Err: err}
}

// noResumeReason says why s cannot resume (it carries no hashes).
func (s *source) noResumeReason() string {
	if s.stdin != nil {
		return transfer.NoResumeStdin
	}
	if len(s.files) > transfer.MaxSums {
		return fmt.Sprintf("%s (a transfer of more than %d files has none)", transfer.NoResumeNoHashes, transfer.MaxSums)
	}
	return transfer.NoResumeNoHashes
}

// dataPathError is err, the failure of the data path, or what the
// receiver said through the mailbox when it stopped first (it says why
// before it closes the connection). When it said nothing and perr, the
// first failed read or write on the path, is why the transfer failed,
// the receiver went away or the connection broke: ErrConnectionLost.
func dataPathError(ctx context.Context, ch *transfer.Channel, perr, err error) error {
	if ctx.Err() != nil {
		return err
	}
	select {
	case <-ch.PeerFailed():
	case <-time.After(peerReasonWait):
		return transfer.ConnectionLost(ctx, ErrConnectionLost, perr, err)
	}
	for {
		e, nerr := ch.Next(ctx)
		if nerr != nil {
			return transfer.ConnectionLost(ctx, ErrConnectionLost, perr, err)
		}
		if e.Error != nil {
			return transfer.PeerError("the receiver", *e.Error)
		}
	}
}

// peerReasonWait is how long a failed data path waits for the peer's
// reason to arrive through the mailbox.
const peerReasonWait = time.Second

// prepare checks the paths before anyone connects.
func prepare(opts FileOptions, paths []string) (*source, string, error) {
	if len(paths) == 1 && paths[0] == "-" {
		if opts.StdinName == "" {
			return nil, "", errors.New("sending stdin needs a name for it (--name)")
		}
		if err := transfer.CheckName(opts.StdinName); err != nil {
			return nil, "", fmt.Errorf("--name: %w", err)
		}
		src := &source{stdin: opts.Stdin, man: transfer.Manifest{Files: 1, Bytes: transfer.UnknownSize,
			Entries: []transfer.Entry{{Name: opts.StdinName, Size: transfer.UnknownSize}}}}
		return src, transfer.StreamRaw, nil
	}
	for _, p := range paths {
		if p == "-" {
			return nil, "", errors.New(`"-" (stdin) cannot be sent together with other paths`)
		}
	}
	skip := opts.OnSkip
	if skip == nil {
		skip = func(string, string) {}
	}
	src, err := scan(opts.FS, paths, skip)
	return src, transfer.StreamTar, err
}

// stream encrypts the content onto conn.
func (s *source) stream(conn io.Writer, pakeKey []byte, kind string, opts FileOptions) error {
	key, err := crypto.StreamKey(pakeKey, "send")
	if err != nil {
		return err
	}
	enc, err := crypto.Encrypt(conn, key)
	if err != nil {
		return err
	}
	var sealed io.WriteCloser
	out := io.Writer(enc)
	if opts.sealed() {
		if sealed, err = crypto.SealTo(enc, opts.To, opts.Signer); err != nil {
			return err
		}
		out = sealed
	}
	if opts.Progress != nil {
		var resumed int64 // what the receiver already holds counts as sent
		for _, n := range s.at {
			resumed += n
		}
		out = &counter{w: out, n: resumed, total: s.man.Bytes, report: opts.Progress}
	}
	if kind == transfer.StreamRaw {
		_, err = transfer.Copy(out, s.stdin, nil)
	} else {
		err = s.writeTar(out)
	}
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if sealed != nil {
		if err := sealed.Close(); err != nil {
			return fmt.Errorf("finish the sealed message: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finish the encrypted stream: %w", err)
	}
	return nil
}

// counter reports progress; tar headers count too, so it is approximate.
type counter struct {
	w      io.Writer
	n      int64
	total  int64
	report func(int64, int64)
	last   time.Time
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) > 100*time.Millisecond {
		c.last = now
		c.report(c.n, c.total)
	}
	return n, err
}

// linkOptions is how the paths to the other side are set up, for the
// first path (attempt 0, which tells OnConnecting when it takes a while)
// and for each reconnect (attempt n, with keys of its own).
func (opts FileOptions) linkOptions(ctx context.Context, w *wormhole.Wormhole, attempt int) transfer.LinkOptions {
	lo := transfer.LinkOptions{Transport: opts.Transport, NAT: transfer.WithAddressHint(opts.NAT, w), TransitRelay: opts.TransitRelay,
		Logger: opts.Logger, DialRelay: opts.DialTransit, ConnectTimeout: opts.ConnectTimeout, IdleTimeout: opts.IdleTimeout, Attempt: attempt,
		Stripes: opts.Stripes, Sender: true}
	if attempt == 0 {
		lo.OnConnecting = opts.OnConnecting
	}
	return transfer.RelayLink(ctx, lo, w, opts.FromRelay, nil)
}
