package receive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// classicManifest turns a classic file or folder offer into the manifest
// the user is shown, and says how many bytes will cross the wire.
func classicManifest(offer *transfer.Offer) (man transfer.Manifest, wire int64, err error) {
	switch {
	case offer.File != nil:
		var f classic.FileOffer
		if err := json.Unmarshal(offer.File, &f); err != nil {
			return man, 0, fmt.Errorf("read the file offer: %w", err)
		}
		if f.Filesize < 0 {
			return man, 0, errors.New("the file offer declares a negative size")
		}
		man = transfer.Manifest{Files: 1, Bytes: f.Filesize, Entries: []transfer.Entry{{Name: f.Filename, Size: f.Filesize}}}
		return man, f.Filesize, man.Check()
	case offer.Directory != nil:
		var d classic.DirectoryOffer
		if err := json.Unmarshal(offer.Directory, &d); err != nil {
			return man, 0, fmt.Errorf("read the folder offer: %w", err)
		}
		if err := d.Check(); err != nil {
			return man, 0, err
		}
		man = transfer.Manifest{Files: d.Numfiles, Folders: 1, Bytes: d.Numbytes, Wire: d.Zipsize,
			Entries: []transfer.Entry{{Name: d.Dirname, Dir: true, Size: d.Numbytes}}}
		return man, d.Zipsize, man.Check()
	}
	return man, 0, ErrUnsupported
}

// receiveClassic takes a classic sender's file or folder offer: the user
// accepts, then we answer file_ack, connect over transit (direct or
// through the relay), read exactly the offered bytes as records, land
// them, and confirm with the SHA-256 of what arrived.
func receiveClassic(ctx context.Context, w *wormhole.Wormhole, ch *transfer.Channel, offer *transfer.Offer, peer json.RawMessage, opts Options) (*Result, error) {
	man, wire, err := classicManifest(offer)
	if errors.Is(err, ErrUnsupported) {
		return nil, &transfer.Refusal{Reason: ErrUnsupported.Error(), Err: ErrUnsupported}
	}
	if err != nil {
		return nil, &transfer.Refusal{Reason: "the offer was malformed", Err: fmt.Errorf("refusing the offer: %w", err)}
	}
	mode, err := classic.ModeFor(opts.Transport)
	if err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot take this transfer", Err: err}
	}
	if opts.Accept == nil {
		return nil, &transfer.Refusal{Reason: "the receiver takes no files", Err: ErrDeclined}
	}
	need := wire
	if man.Entries[0].Dir {
		need += man.Bytes // the zip waits on disk while its files are extracted
	}
	if err := vetOffer(man, need, opts); err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot take this transfer", Err: err}
	}
	if err := opts.Accept(man); err != nil {
		return nil, &transfer.Refusal{Reason: "transfer declined", Err: err}
	}
	sink, err := newSink(man, opts)
	if err != nil {
		return nil, &transfer.Refusal{Reason: "the receiver cannot store the transfer", Err: err}
	}
	defer sink.abort()
	link, ours, err := classic.Prepare(ctx, classic.LinkOptions{Mode: mode, Relay: opts.FromRelay.ClassicRelay(ctx, w, opts.TransitRelay), Logger: opts.Logger, Dial: opts.DialTransit,
		ConnectTimeout: opts.ConnectTimeout, IdleTimeout: opts.IdleTimeout, OnConnecting: opts.OnConnecting})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	if err := ch.Send(ctx, transfer.Envelope{Transit: ours}); err != nil {
		return nil, err
	}
	if err := ch.Send(ctx, transfer.Envelope{Answer: &transfer.Answer{FileAck: "ok"}}); err != nil {
		return nil, err
	}
	key := w.Key(classic.TransitKeyPurpose, 32)
	conn, path, err := link.Connect(ctx, key, transit.Receiver, peer)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	start := time.Now()
	mine, theirs := classic.RecordKeys(key, false)
	h := sha256.New()
	pr := &transfer.PathNoter{ReadWriter: conn} // a dead sender, told from a bad stream
	var content io.Reader = io.TeeReader(classic.NewReader(classic.NewRecordReader(pr, theirs), wire), h)
	if opts.Progress != nil {
		content = &progressReader{r: content, total: wire, report: opts.Progress}
	}
	switch s := sink.(type) {
	case *saveSink:
		// An Output takes a classic folder as the sender's zip, exactly
		// the bytes offered, each record authenticated.
		p := &pipeSink{w: s.out, size: wire}
		err = p.copy(content, wire)
		s.files, s.bytes = man.Files, man.Bytes
	case *dest:
		if man.Entries[0].Dir {
			s.maxFolders = classic.MaxZipFolders(man.Files)
			err = s.writeZip(content, wire)
		} else {
			err = sink.write(content, transfer.StreamRaw)
		}
	default: // newSink refuses a folder for --out -
		err = sink.write(content, transfer.StreamRaw)
	}
	if err != nil {
		return nil, connectionLost(ctx, pr.Err(), err)
	}
	// Every record was authenticated and exactly the offered size arrived:
	// only now do the names appear, and only then is the sender told.
	if err := sink.commit(); err != nil {
		return nil, err
	}
	ack, _ := json.Marshal(classic.Ack{Ack: "ok", SHA256: hex.EncodeToString(h.Sum(nil))})
	if err := classic.NewRecordWriter(conn, mine).WriteRecord(ack); err != nil {
		return nil, fmt.Errorf("confirm the transfer to the sender: %w", err)
	}
	_, bytes := sink.counts()
	if !man.Entries[0].Dir {
		man.Bytes = bytes
	}
	return &Result{Manifest: man, Duration: time.Since(start), Path: "classic transit (" + path + ")"}, nil
}
