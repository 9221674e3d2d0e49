package receive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// sink is where received content goes: a folder (through dest) or, for
// --out -, a writer that takes one file's bytes.
type sink interface {
	write(r io.Reader, kind string) error
	commit() error
	abort() error
	counts() (files, bytes int64)
}

func newSink(man transfer.Manifest, opts Options) (sink, error) {
	return newSinkChecked(man, opts, false)
}

// newSinkChecked is newSink for a sender that checks what the receiver
// holds and cannot vouch for (transfer.Held.Prefix) when checks.
func newSinkChecked(man transfer.Manifest, opts Options, checks bool) (sink, error) {
	if opts.Save != nil {
		return newSaveSink(man, opts)
	}
	if opts.Out == "-" {
		if len(man.Entries) != 1 || man.Entries[0].Dir || man.Files != 1 {
			return nil, errors.New("--out - takes a single file, and the sender offers more")
		}
		if opts.Stdout == nil {
			return nil, errors.New("--out - needs somewhere to write")
		}
		return &pipeSink{w: opts.Stdout, name: man.Entries[0].Name, size: man.Entries[0].Size}, nil
	}
	dir := opts.Out
	if dir == "" {
		dir = "."
	}
	return openDestResume(dir, man, opts.Overwrite, &destResume{NoResume: opts.NoResume, Resume: opts.Resume, Checks: checks})
}

func (d *dest) write(r io.Reader, kind string) error {
	if kind == transfer.StreamRaw {
		return d.writeRaw(r)
	}
	return d.extractTar(r)
}

func (d *dest) counts() (int64, int64) { return d.files, d.bytes }

// pipeSink streams one file to a writer. Each chunk it passes on was
// authenticated, but a truncated stream is only detected at the end: the
// command then exits non-zero.
type pipeSink struct {
	w    io.Writer
	name string // the file's name in the stream
	size int64
	n    int64
}

func (p *pipeSink) write(r io.Reader, kind string) error {
	if kind == transfer.StreamRaw {
		return p.copy(r, p.size)
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return fmt.Errorf("read transfer stream: %w", err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size != p.size || hdr.Name != p.name {
		return errors.New("the stream does not hold the single file the sender declared")
	}
	if err := p.copy(tr, hdr.Size); err != nil {
		return err
	}
	if _, err := tr.Next(); err != io.EOF {
		return errors.New("the stream holds more than the single file the sender declared")
	}
	return nil
}

func (p *pipeSink) copy(r io.Reader, size int64) error {
	limit := int64(1<<63 - 1)
	if size != transfer.UnknownSize {
		limit = size + 1
	}
	n, err := transfer.Copy(p.w, io.LimitReader(r, limit), nil)
	p.n = n
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if size != transfer.UnknownSize && n != size {
		return fmt.Errorf("the sender declared %d bytes but sent %d", size, n)
	}
	return nil
}

func (p *pipeSink) commit() error          { return nil }
func (p *pipeSink) abort() error           { return nil }
func (p *pipeSink) counts() (int64, int64) { return 1, p.n }
