package send

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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

// maxAck caps the receiver's final record.
const maxAck = 4 << 10

// classicFiles sends one file or folder (several as one folder, see
// severalName) to a classic Magic Wormhole client with the file-transfer
// v1 protocol over transit, and returns once the receiver acknowledged the
// content's SHA-256.
func classicFiles(ctx context.Context, w *wormhole.Wormhole, opts FileOptions, src *source) (*Summary, error) {
	log := opts.Logger
	refuse := func(err error) error {
		return &transfer.Refusal{Reason: "the sender cannot send this to a classic Magic Wormhole client", Err: err}
	}
	if opts.sealed() {
		return nil, refuse(errors.New("the receiver is a classic Magic Wormhole client, which cannot open a transfer sealed to a key or signed (--to, --sign); nothing was sent"))
	}
	if src.stdin != nil {
		return nil, refuse(errors.New("a classic Magic Wormhole client needs the size up front; stdin cannot be sent to it (save it to a file first)"))
	}
	mode, err := classic.ModeFor(opts.Transport)
	if err != nil {
		return nil, refuse(err)
	}
	entry := src.man.Entries[0]
	var offer transfer.Offer
	var content io.Reader
	var size int64
	if entry.Dir || len(src.items) > 1 {
		// A classic client takes one file or one folder: several go as
		// one folder, severalName, holding each under its name.
		z, dirname, err := classicZip(src)
		if err != nil {
			return nil, refuse(err)
		}
		d := classic.DirectoryOffer{Mode: classic.ZipMode, Dirname: dirname, Zipsize: z.size, Numbytes: z.numbytes, Numfiles: z.numfiles}
		offer.Directory, _ = json.Marshal(d)
		zr := z.Open(ctx)
		defer zr.Close()
		content, size = zr, z.size
		log.Debug("classic: zipped folder", "files", z.numfiles, "bytes", z.numbytes, "zipsize", z.size)
	} else {
		f, err := src.items[0].fsys.Open(src.items[0].name)
		if err != nil {
			return nil, refuse(fmt.Errorf("open %s: %w", src.paths[0], err))
		}
		defer f.Close()
		offer.File, _ = json.Marshal(classic.FileOffer{Filename: entry.Name, Filesize: entry.Size})
		content, size = f, entry.Size
	}
	link, ours, err := classic.Prepare(ctx, classic.LinkOptions{Mode: mode, Relay: opts.FromRelay.ClassicRelay(ctx, w, opts.TransitRelay), Logger: log, Dial: opts.DialTransit,
		ConnectTimeout: opts.ConnectTimeout, IdleTimeout: opts.IdleTimeout, OnConnecting: opts.OnConnecting})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	ch := transfer.NewChannel(ctx, w)
	if err := ch.Send(ctx, transfer.Envelope{Transit: ours}); err != nil {
		return nil, err
	}
	if err := ch.Send(ctx, transfer.Envelope{Offer: &offer}); err != nil {
		return nil, err
	}
	var peer json.RawMessage
	for {
		e, err := ch.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("wait for the receiver's answer: %w", err)
		}
		if e.Error != nil {
			return nil, transfer.PeerError("the receiver", *e.Error)
		}
		if e.Transit != nil {
			peer = e.Transit
			continue
		}
		if e.Answer != nil {
			if e.Answer.FileAck != "ok" {
				return nil, &transfer.Refusal{Reason: "unexpected answer to a file offer", Err: fmt.Errorf("%w: unexpected answer to a file offer", ErrRejected)}
			}
			break
		}
	}
	key := w.Key(classic.TransitKeyPurpose, 32)
	conn, path, err := link.Connect(ctx, key, transit.Sender, peer)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	start := time.Now()
	mine, theirs := classic.RecordKeys(key, true)
	h := sha256.New()
	// A receiver that went away, told from a bad answer on a sound path:
	// the first failed read or write on the path.
	pc := &transfer.PathNoter{ReadWriter: conn}
	lost := func(err error) error { return transfer.ConnectionLost(ctx, ErrConnectionLost, pc.Err(), err) }
	var out io.Writer = classic.NewRecordWriter(pc, mine)
	if opts.Progress != nil {
		out = &counter{w: out, total: size, report: opts.Progress}
	}
	buf := make([]byte, classic.ChunkSize)
	n, err := io.CopyBuffer(io.MultiWriter(out, h), struct{ io.Reader }{io.LimitReader(content, size)}, buf)
	if err != nil {
		return nil, lost(fmt.Errorf("send: %w", err))
	}
	if n != size {
		return nil, fmt.Errorf("send: %s shrank while it was being sent", src.paths[0])
	}
	if err := readAck(pc, theirs, h.Sum(nil)); err != nil {
		return nil, lost(err)
	}
	files := src.man.Files
	return &Summary{Files: files, Bytes: src.man.Bytes, Duration: time.Since(start), Path: "classic transit (" + path + ")"}, nil
}

// severalName is the folder a classic receiver gets when several files or
// folders are sent to it (it takes one file or one folder), named as
// ferry's own receivers name the zip of several ("ferry-files.zip").
const severalName = "ferry-files"

// classicZip is src as the zip of a classic directory offer, and the
// offer's folder name: a folder's own name, or severalName for several.
func classicZip(src *source) (*zipped, string, error) {
	if len(src.items) == 1 {
		z, err := zipFolder(src.items[0])
		return z, src.man.Entries[0].Name, err
	}
	names, dirs := make([]string, len(src.items)), make([]bool, len(src.items))
	for i, e := range src.man.Entries {
		names[i], dirs[i] = e.Name, e.Dir
	}
	z, err := zipItems(src.items, names, dirs)
	return z, severalName, err
}

// readAck reads the receiver's final record, {"ack":"ok","sha256":HEX},
// and checks the hash against what was sent.
func readAck(conn io.Reader, key *[32]byte, sum []byte) error {
	rr := classic.NewRecordReader(conn, key)
	rr.Limit(maxAck)
	rec, err := rr.ReadRecord()
	if err != nil {
		return fmt.Errorf("wait for the receiver's confirmation: %w", err)
	}
	var ack classic.Ack
	if err := json.Unmarshal(rec, &ack); err != nil {
		return fmt.Errorf("read the receiver's confirmation: %w", err)
	}
	if ack.Ack != "ok" {
		return fmt.Errorf("the receiver did not confirm the transfer (%s)", transfer.Escape(ack.Ack))
	}
	got, err := hex.DecodeString(ack.SHA256)
	if ack.SHA256 != "" && (err != nil || subtle.ConstantTimeCompare(got, sum) != 1) {
		return errors.New("the receiver got different content than was sent (SHA-256 mismatch)")
	}
	return nil
}
