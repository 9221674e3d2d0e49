package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
)

// progress draws a one-line bar with rate and ETA on a terminal.
type progress struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) update(done, total int64) {
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	line := fmt.Sprintf("%s  %s/s", receive.Bytes(done), receive.Bytes(int64(rate)))
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		const width = 24
		bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
		eta := "--"
		if rate > 0 {
			eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		line = fmt.Sprintf("[%s] %3.0f%%  %s of %s  %s/s  ETA %s", bar, frac*100, receive.Bytes(done), receive.Bytes(total), receive.Bytes(int64(rate)), eta)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	p.drawn = true
}

// clear removes the bar before the final line.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// describeManifest lists what an offer holds, names escaped. Past the
// first 20 names it still names every dotfile and every executable.
func describeManifest(m transfer.Manifest) string {
	var b strings.Builder
	size := "unknown size"
	if m.Bytes != transfer.UnknownSize {
		size = receive.Bytes(m.Bytes)
	}
	fmt.Fprintf(&b, "%s", plural(m.Files, "file", "files"))
	if m.Folders > 0 && m.Wire == 0 {
		fmt.Fprintf(&b, " in %s", plural(m.Folders, "folder", "folders"))
	}
	fmt.Fprintf(&b, ", %s", size)
	if m.Wire > 0 && m.Wire != m.Bytes {
		fmt.Fprintf(&b, " (a zip of %s crosses the wire)", receive.Bytes(m.Wire))
	}
	b.WriteString(":\n")
	const show = 20
	var more int
	for i, e := range m.Entries {
		if i >= show && !e.Dotfile() && !e.Exec {
			more++
			continue
		}
		name := transfer.Escape(e.Name)
		if e.Dir {
			name += "/"
		}
		sz := "unknown size"
		if e.Size != transfer.UnknownSize {
			sz = receive.Bytes(e.Size)
		}
		if e.Exec {
			sz += ", executable"
		}
		fmt.Fprintf(&b, "  %s (%s)\n", name, sz)
	}
	if more > 0 {
		fmt.Fprintf(&b, "  … and %d more\n", more)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
