package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// lineReader reads answers to prompts, one line at a time, from stdin.
type lineReader struct {
	r *bufio.Reader
	f *os.File // stdin as a file, when it is one
}

func newLineReader(r io.Reader) *lineReader {
	f, _ := r.(*os.File)
	return &lineReader{r: bufio.NewReader(r), f: f}
}

// maxLine caps an answer typed at a prompt.
const maxLine = 4096

// line reads one line without its end of line.
func (l *lineReader) line() (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := l.r.ReadLine()
		b.Write(chunk)
		if b.Len() > maxLine {
			return "", errors.New("input line is too long")
		}
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				return b.String(), nil
			}
			if err == io.EOF {
				return "", errors.New("no input (end of file)")
			}
			return "", err
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// prompt writes a question to stderr and reads the answer from stdin.
func (c *cli) prompt(ctx context.Context, question string) (string, error) {
	fmt.Fprint(c.stderr, question)
	s, err := c.readLine(ctx)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(c.stderr)
		return "", err
	}
	if c.stdin.f == nil || !term.IsTerminal(int(c.stdin.f.Fd())) {
		fmt.Fprintln(c.stderr) // the answer was not echoed: end the line
	}
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(s), nil
}

// readLine reads one line from stdin. A signal (ctx) ends the wait at
// once; the read goes on in the background, which is harmless since the
// command then ends.
func (c *cli) readLine(ctx context.Context) (string, error) {
	type answer struct {
		s   string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		s, err := c.stdin.line()
		got <- answer{s, err}
	}()
	select {
	case a := <-got:
		return a.s, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// errNotVerified means the user said the verifiers differ.
var errNotVerified = errors.New("verification declined: the verifiers did not match")

// verifier returns the --verify callback: it shows the verifier and asks.
func (c *cli) verifier(ctx context.Context, enabled bool) func(string) error {
	if !enabled {
		return nil
	}
	return func(v string) error {
		fmt.Fprintf(c.stderr, "Verifier %s.\n", v)
		ans, err := c.prompt(ctx, "Does it match the other side's verifier? [y/N] ")
		if err != nil {
			return err
		}
		switch strings.ToLower(ans) {
		case "y", "yes":
			return nil
		}
		return errNotVerified
	}
}
