package receive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// ErrDeclined means the user (or Accept) said no to the offer.
var ErrDeclined = errors.New("transfer declined")

// maxTail caps what may follow the archive inside the authenticated stream.
const maxTail = 1 << 20

// receiveFiles takes a ferry peer's file offer.
func receiveFiles(ctx context.Context, w *wormhole.Wormhole, ch *transfer.Channel, offer transfer.FerryOffer, opts Options) (_ *Result, err error) {
	if offer.Stream != transfer.StreamTar && offer.Stream != transfer.StreamRaw {
		return nil, &transfer.Refusal{Reason: "unknown stream kind", Err: fmt.Errorf("refusing the offer: unknown stream kind \"%s\"", transfer.Escape(offer.Stream))}
	}
	if opts.Accept == nil {
		return nil, &transfer.Refusal{Reason: "the receiver takes no files", Err: ErrDeclined}
	}
	man := offer.Manifest
	var sl *seal
	var namesSigner *crypto.Signer // who signed the sealed list of names
	if offer.Sealed != nil {
		var err error
		if sl, err = prepareSeal(*offer.Sealed, opts); err != nil {
			return nil, &transfer.Refusal{Reason: "the receiver cannot open a transfer sealed to its keys", Err: err}
		}
		if opts.OnSealed != nil {
			opts.OnSealed(sl.key, offer.Sealed.Signed)
		}
		if sl.key != nil { // the names and sizes are sealed too
			if err := sl.unlock(opts.KeyPassphrase); err != nil {
				return nil, &transfer.Refusal{Reason: "the receiver cannot unlock its key", Err: err}
			}
			if man, namesSigner, err = sl.manifest(offer.Manifest); err != nil {
				return nil, &transfer.Refusal{Reason: "the sealed list of names did not open", Err: err}
			}
			if namesSigner != nil && opts.OnSigner != nil {
				opts.OnSigner(namesSigner)
			}
		}
	}
	if err := man.Check(); err != nil {
		return nil, &transfer.Refusal{Reason: "the offer was malformed", Err: fmt.Errorf("refusing the offer: %w", err)}
	}
	if err := vetOffer(man, man.Bytes, opts); err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot take this transfer", Err: err}
	}
	if err := opts.Accept(man); err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver declined the transfer", Err: err}
	}
	r := &run{ctx: ctx, w: w, ch: ch, opts: opts, man: man, offerMan: man, kind: offer.Stream, sl: sl, namesSigner: namesSigner, checks: offer.PrefixCheck}
	if man.SumsLater {
		opts.Logger.Debug("receive: the sender's hashes follow its offer")
		r.box, r.binding = newSumsBox(opts.Resume.OnSums), transfer.SumsBinding(w, man)
		if opts.Save == nil && opts.Out != "-" && !opts.NoResume && couldResume(opts.Out, man, offer.PrefixCheck) {
			// what it holds is known only once the partials are checked
			// against the sums
			if err := r.waitSums(ctx, "the offer"); err != nil {
				return nil, err
			}
			r.adoptSums()
		}
	}
	sink, err := r.newSink()
	if err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot store the transfer", Err: err}
	}
	defer func() { sink.abort() }() // the sink a reconnect made, too
	link, tr, err := transfer.PrepareLink(ctx, opts.linkOptions(ctx, w, 0, offer.Transports))
	if err != nil {
		return nil, err
	}
	defer link.Close()
	if have := haveOf(sink); have != nil {
		if err := ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Have: have}}); err != nil {
			return nil, err
		}
	}
	if err := ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Accept: &tr}}); err != nil {
		return nil, err
	}
	conn, err := link.Connect(ctx, w, ch, transit.Receiver, offer.Transports)
	if err != nil {
		return nil, err
	}
	r.start = time.Now()
	defer func() {
		for _, l := range r.links {
			l.Close()
		}
	}()
	for {
		res, err := r.once(conn, sink)
		if err == nil || !r.canReconnect(conn, sink) {
			return res, r.noResume(conn, sink, r.lost(conn, err))
		}
		opts.Logger.Debug("receive: the data path broke", "attempt", r.attempt, "err", err)
		if conn, sink, err = r.reconnect(sink, err); err != nil {
			return nil, err
		}
	}
}

// run is a ferry transfer once accepted: its attempts at a data path.
type run struct {
	ctx         context.Context
	w           *wormhole.Wormhole
	ch          *transfer.Channel
	opts        Options
	man         transfer.Manifest // the offer's, with the sums once they came (adoptSums)
	offerMan    transfer.Manifest // the offer's, as it came
	kind        string
	sl          *seal
	namesSigner *crypto.Signer
	start       time.Time
	attempt     int
	retry       *transfer.Retry  // the sender's request for a new path, seen during the stream
	peerErr     error            // the sender's error, seen during the stream
	links       []*transfer.Link // of the reconnects
	// box receives the sums an offer with SumsLater promised (late.go),
	// binding names the offer they must be for.
	box     *sumsBox
	binding string
	checks  bool // the sender checks partials the receiver cannot vouch for
}

// newSink is the sink for r.man, which checks the sums that follow the
// offer, if they do, once they come.
func (r *run) newSink() (sink, error) {
	s, err := newSinkChecked(r.man, r.opts, r.checks)
	if d, ok := s.(*dest); ok && err == nil && d.res != nil && r.box != nil {
		d.res.box = r.box
	}
	return s, err
}

// once receives the stream on conn (attempt r.attempt) into sink.
func (r *run) once(conn *transfer.Conn, sink sink) (_ *Result, err error) {
	defer func() { conn.End(err) }()
	stop := context.AfterFunc(r.ctx, conn.Abort) // unblocks a read from a dead peer
	defer stop()
	stopWatch := func() {}
	if r.opts.ReconnectTimeout > 0 || r.box != nil {
		stopWatch = sync.OnceFunc(r.watch(conn))
		defer stopWatch()
	}
	defer func() { // the sums refused stopped the stream: that is why
		if rerr := r.box.refused(); err != nil && rerr != nil {
			err = rerr
		}
	}()
	opts, man, sl := r.opts, r.man, r.sl
	base := transfer.StreamBase(r.w, r.attempt)
	key, err := crypto.StreamKey(base, "send")
	if err != nil {
		return nil, err
	}
	plain, err := crypto.ReadStream(conn, key, opts.Stream)
	if err != nil {
		return nil, err
	}
	content := plain
	var msg *crypto.Message
	if sl != nil {
		if msg, err = sl.open(plain, "the sealed transfer"); err != nil {
			return nil, err
		}
		content = msg
	}
	if opts.Progress != nil {
		var held int64
		if d, ok := sink.(*dest); ok && d.res != nil && d.res.persist {
			held = d.res.heldBytes()
		}
		content = &progressReader{r: content, n: held, total: man.Bytes, report: opts.Progress}
	}
	if err := sink.write(content, r.kind); err != nil {
		return nil, conn.Why(err)
	}
	// Only a clean EOF from the decrypter proves the stream was complete
	// and authentic (and, for a sealed transfer, the inner message's
	// integrity and signature); until then nothing has its final name.
	if err := drain(content); err != nil {
		return nil, conn.Why(err)
	}
	var signer *crypto.Signer // who signed the files, checked against the keyring
	if msg != nil {
		if err := drain(plain); err != nil {
			return nil, conn.Why(err)
		}
		signer = signerOf(msg)
		// the signer named before the prompt must be the files' signer
		if r.namesSigner != nil && (signer == nil || signer.Fingerprint != r.namesSigner.Fingerprint) {
			return nil, errors.New("the files are not signed by the key that signed their list of names")
		}
	}
	if pending(sink) { // the stream ended before the sums came
		stopWatch()
		if r.peerErr != nil {
			return nil, r.peerErr
		}
		if err := r.waitSums(r.ctx, "the end of the stream"); err != nil {
			return nil, err
		}
		if err := sink.(*dest).res.catchUp(sink.(*dest)); err != nil {
			return nil, err
		}
	}
	if err := r.box.checkSigner(signer); err != nil {
		return nil, err
	}
	if err := sink.commit(); err != nil {
		return nil, err
	}
	files, bytes := sink.counts()
	// Everything has its final name: the transfer succeeded, whatever
	// happens to the confirmation. It travels on the data path, which
	// does not depend on the mailbox connection still being up.
	if err := transfer.WriteDone(conn, base, transfer.Done{Files: files, Bytes: bytes}); err != nil {
		opts.Logger.Debug("receive: the confirmation did not go out", "err", err)
	} else {
		_ = conn.CloseAfterPeer(confirmLinger)
	}
	man.Bytes = bytes
	res := &Result{Manifest: man, Duration: time.Since(r.start), Path: conn.Describe()}
	if msg != nil {
		res.SealedTo, res.Signer = sl.key, signer
	}
	return res, nil
}

// confirmLinger is how long the receiver waits, after its confirmation,
// for the sender to close the connection.
const confirmLinger = 5 * time.Second

type progressReader struct {
	r      io.Reader
	n      int64
	total  int64
	report func(int64, int64)
	last   time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || err != nil {
		p.last = now
		p.report(p.n, p.total)
	}
	return n, err
}

// linkOptions is how the paths to the other side are set up, for the
// first path (attempt 0, which tells OnConnecting when it takes a while)
// and for each reconnect (attempt n, with keys of its own).
func (opts Options) linkOptions(ctx context.Context, w *wormhole.Wormhole, attempt int, peer transfer.Transports) transfer.LinkOptions {
	lo := transfer.LinkOptions{Transport: opts.Transport, NAT: transfer.WithAddressHint(opts.NAT, w), TransitRelay: opts.TransitRelay,
		Logger: opts.Logger, DialRelay: opts.DialTransit, ConnectTimeout: opts.ConnectTimeout, IdleTimeout: opts.IdleTimeout, Attempt: attempt,
		Stripes: opts.Stripes}
	if attempt == 0 {
		lo.OnConnecting = opts.OnConnecting
	}
	return transfer.RelayLink(ctx, lo, w, opts.FromRelay, &peer)
}
