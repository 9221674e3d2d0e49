package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/term"
)

// Environment variables that hold passphrases for scripts.
const (
	envPassphrase    = "FERRY_PASSPHRASE"     // a message's passphrase
	envKeyPassphrase = "FERRY_KEY_PASSPHRASE" // your secret key's passphrase
)

// maxPassphrase caps a passphrase read from a file.
const maxPassphrase = 4096

// secretSource says where a passphrase comes from: a file (its first
// line), an environment variable, or a prompt on the terminal.
type secretSource struct {
	what     string // "passphrase", "key passphrase"
	flagName string // the --*-file flag
	file     string
	env      string
	noPrompt bool // stdin carries data
}

// read returns the passphrase; with confirm, a prompt asks twice.
func (c *cli) readSecret(s secretSource, prompt string, confirm bool) ([]byte, error) {
	if s.file != "" {
		f, err := os.Open(s.file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.what, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxPassphrase+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.what, err)
		}
		if len(b) > maxPassphrase {
			return nil, fmt.Errorf("%s file %s is too long", s.what, s.file)
		}
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[:i]
		}
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s file %s is empty", s.what, s.file)
		}
		return b, nil
	}
	if v := os.Getenv(s.env); v != "" {
		return []byte(v), nil
	}
	if s.noPrompt || c.stdin.f == nil || !term.IsTerminal(int(c.stdin.f.Fd())) {
		return nil, fmt.Errorf("no %s: give --%s FILE or set %s (no terminal to ask on)", s.what, s.flagName, s.env)
	}
	ask := func(q string) ([]byte, error) {
		fmt.Fprint(c.stderr, q)
		b, err := readPassword(int(c.stdin.f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.what, err)
		}
		return b, nil
	}
	pw, err := ask(prompt)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, fmt.Errorf("empty %s", s.what)
	}
	if confirm {
		again, err := ask("Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return pw, nil
}

// keyringDir is where ferry keeps keys: $FERRY_HOME/keys, by default in
// the user's config folder (~/.config/ferry/keys on Linux).
func keyringDir() (string, error) {
	if h := os.Getenv("FERRY_HOME"); h != "" {
		return filepath.Join(h, "keys"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the keyring: %w (set FERRY_HOME)", err)
	}
	return filepath.Join(d, "ferry", "keys"), nil
}

// errInterrupted is a prompt ended by Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

// readPassword reads a passphrase without echo, as term.ReadPassword
// does, but gives up at Ctrl-C or SIGTERM: ferry catches those signals
// to end cleanly, so the read would otherwise go on with echo off. The
// terminal gets its echo back either way.
func readPassword(fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	type answer struct {
		b   []byte
		err error
	}
	got := make(chan answer, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		got <- answer{b, err}
	}()
	select {
	case a := <-got:
		return a.b, a.err
	case <-sig:
		_ = term.Restore(fd, state)
		return nil, errInterrupted
	}
}
