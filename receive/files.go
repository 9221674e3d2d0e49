package receive

import (
	"context"
	"errors"
	"fmt"
	"io"
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
func receiveFiles(ctx context.Context, w *wormhole.Wormhole, ch *transfer.Channel, offer transfer.FerryOffer, opts Options) (*Result, error) {
	man := offer.Manifest
	if err := man.Check(); err != nil {
		return nil, &transfer.Refusal{Reason: "the offer was malformed", Err: fmt.Errorf("refusing the offer: %w", err)}
	}
	if offer.Stream != transfer.StreamTar && offer.Stream != transfer.StreamRaw {
		return nil, &transfer.Refusal{Reason: "unknown stream kind", Err: fmt.Errorf("refusing the offer: unknown stream kind \"%s\"", transfer.Escape(offer.Stream))}
	}
	if opts.Accept == nil {
		return nil, &transfer.Refusal{Reason: "the receiver takes no files", Err: ErrDeclined}
	}
	if err := opts.Accept(man); err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver declined the transfer", Err: err}
	}
	sink, err := newSink(man, opts)
	if err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot store the transfer", Err: err}
	}
	defer sink.abort()
	link, tr, err := transfer.PrepareLink(ctx, transfer.LinkOptions{Transport: opts.Transport, NAT: opts.NAT, TransitRelay: opts.TransitRelay, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	if err := ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Accept: &tr}}); err != nil {
		return nil, err
	}
	conn, err := link.Connect(ctx, w, ch, transit.Receiver, offer.Transports)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })
	start := time.Now()
	key, err := crypto.StreamKey(w.Key("ferry/stream/v1", 32), "send")
	if err != nil {
		return nil, err
	}
	plain, err := crypto.Decrypt(conn, key)
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		plain = &progressReader{r: plain, total: man.Bytes, report: opts.Progress}
	}
	if err := sink.write(plain, offer.Stream); err != nil {
		return nil, err
	}
	// Only a clean EOF from the decrypter proves the stream was complete
	// and authentic; until then nothing has its final name.
	if n, err := io.Copy(io.Discard, io.LimitReader(plain, maxTail)); err != nil {
		return nil, fmt.Errorf("authenticate the transfer: %w", err)
	} else if n == maxTail {
		return nil, errors.New("the sender sent data after the archive")
	}
	if err := sink.commit(); err != nil {
		return nil, err
	}
	files, bytes := sink.counts()
	if err := ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Done: &transfer.Done{Files: files, Bytes: bytes}}}); err != nil {
		return nil, err
	}
	man.Bytes = bytes
	return &Result{Manifest: man, Duration: time.Since(start), Path: conn.Path}, nil
}

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
