package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ferrydrop/ferry/receive"
)

// The code prompt: on a terminal, Tab completes the code as the Python
// client's prompt does: the nameplate from the relay's list of waiting
// nameplates, then each word from the PGP word list.
const (
	codePrompt = "Enter the code: "
	// listWithin bounds asking the relay for its nameplates.
	listWithin = 10 * time.Second
	// maxShown caps the completions listed under the prompt.
	maxShown = 64
)

// promptCode asks for the code. When stdin and stderr are a terminal the
// line is edited in raw mode, with Tab completion (nameplates from the
// relay at relayURL); else it is read as any answer.
func (c *cli) promptCode(ctx context.Context, relayURL string) (string, error) {
	f := c.stdin.f
	if f == nil || !term.IsTerminal(int(f.Fd())) || !isTerminal(c.stderr) || c.stdin.r.Buffered() > 0 {
		return c.prompt(ctx, codePrompt)
	}
	fd := int(f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return c.prompt(ctx, codePrompt)
	}
	defer term.Restore(fd, old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{f, c.stderr}, codePrompt)
	comp := &codeCompleter{ctx: ctx, out: t, np: receive.Nameplates{Relay: relayURL}}
	defer comp.close()
	t.AutoCompleteCallback = comp.complete
	type answer struct {
		s   string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		s, err := t.ReadLine()
		got <- answer{s, err}
	}()
	select {
	case a := <-got:
		if errors.Is(a.err, io.EOF) { // Ctrl-C or Ctrl-D: raw mode sends no signal
			fmt.Fprint(c.stderr, "\r\n")
			return "", context.Canceled
		}
		if a.err != nil {
			return "", fmt.Errorf("read answer: %w", a.err)
		}
		return strings.TrimSpace(a.s), nil
	case <-ctx.Done():
		fmt.Fprint(c.stderr, "\r\n")
		return "", ctx.Err()
	}
}

// codeCompleter is the prompt's Tab completion. It asks the relay for
// its nameplates when the nameplate is being typed, over one connection
// kept while the prompt is up.
type codeCompleter struct {
	ctx context.Context
	out io.Writer          // the terminal, for listing completions
	np  receive.Nameplates // the relay's, over one connection
}

// complete is the terminal's AutoCompleteCallback: Tab replaces the text
// before the cursor by the longest common prefix of its completions, and
// lists them when that adds nothing.
func (cc *codeCompleter) complete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' {
		return "", 0, false
	}
	prefix, rest := line[:pos], line[pos:]
	var options []string
	if !strings.Contains(prefix, "-") {
		options = cc.nameplates(prefix)
	} else {
		words := 2 // the usual code length; a longer code gets its hyphens typed
		if n := strings.Count(prefix, "-"); n > words {
			words = n
		}
		options = receive.CompleteCode(prefix, words, 0)
	}
	if len(options) == 0 {
		return line, pos, true
	}
	common := options[0]
	for _, o := range options[1:] {
		for !strings.HasPrefix(o, common) {
			common = common[:len(common)-1]
		}
	}
	if len(common) > len(prefix) {
		return common + rest, len(common), true
	}
	if len(options) > 1 {
		shown := options
		if len(shown) > maxShown {
			shown = shown[:maxShown]
		}
		list := strings.Join(shown, "  ")
		if len(options) > maxShown {
			list += fmt.Sprintf("  … (%d more)", len(options)-maxShown)
		}
		fmt.Fprintf(cc.out, "%s\n", list) // the terminal redraws the prompt under it
	}
	return line, pos, true
}

// nameplates returns the relay's waiting nameplates that start with
// prefix, each with its hyphen, in numeric order; none when the relay
// cannot be asked.
func (cc *codeCompleter) nameplates(prefix string) []string {
	if strings.ContainsFunc(prefix, func(r rune) bool { return r < '0' || r > '9' }) {
		return nil
	}
	ctx, cancel := context.WithTimeout(cc.ctx, listWithin)
	defer cancel()
	ids, err := cc.np.List(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id+"-")
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

func (cc *codeCompleter) close() { cc.np.Close() }
