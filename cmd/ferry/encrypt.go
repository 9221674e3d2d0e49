package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (c *cli) encrypt(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry encrypt", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var recips stringList
	fs.Var(&recips, "r", "encrypt to `KEY`: an email, fingerprint or key ID in your keyring, or a key file (repeatable)")
	fs.Var(&recips, "recipient", "same as -r")
	symmetric := fs.Bool("passphrase", false, "encrypt with a passphrase instead of keys")
	sign := fs.Bool("sign", false, "sign with your key")
	var signer string
	fs.StringVar(&signer, "u", "", "sign with this `KEY` (when you have several)")
	fs.StringVar(&signer, "local-user", "", "same as -u")
	armored := fs.Bool("armor", false, "write ASCII armor (the default when -o ends in .asc)")
	fs.BoolVar(armored, "a", false, "same as --armor")
	out := fs.String("o", "", "write to `FILE` (default: FILE.gpg, or FILE.asc with --armor; \"-\" is stdout)")
	fs.StringVar(out, "output", "", "same as -o")
	force := fs.Bool("force", false, "replace an existing output file")
	passFile := fs.String("passphrase-file", "", "read the passphrase from `FILE` (else "+envPassphrase+" or a prompt)")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	keyPassFile := fs.String("key-passphrase-file", "", "read your key's passphrase from `FILE` (else "+envKeyPassphrase+" or a prompt)")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry encrypt [-r KEY]... [--passphrase] [--sign] [flags] FILE\n\nEncrypts FILE (\"-\" is stdin) for any OpenPGP tool (gpg, sq).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	switch {
	case len(pos) != 1:
		c.errorf("name one file to encrypt (\"-\" for stdin)")
		return exitUsage
	case len(recips) == 0 && !*symmetric:
		c.errorf("no recipient")
		c.hintf("use -r EMAIL (a key in your keyring or a key file), or --passphrase")
		return exitUsage
	case len(recips) > 0 && *symmetric:
		c.errorf("use either recipients (-r) or --passphrase, not both")
		return exitUsage
	}
	if signer != "" {
		*sign = true
	}
	in := pos[0]
	if *out == "" {
		if in == "-" {
			*out = "-"
		} else if *armored {
			*out = in + ".asc"
		} else {
			*out = in + ".gpg"
		}
	}
	if strings.HasSuffix(*out, ".asc") {
		*armored = true
	}
	if *out == "-" && !*armored && isTerminal(c.stdout) {
		c.errorf("not writing a binary message to the terminal")
		c.hintf("use --armor, or -o FILE")
		return exitUsage
	}
	if *out != "-" && in != "-" && sameFile(in, *out) {
		c.errorf("the output would overwrite the input")
		return exitUsage
	}
	_, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	opts := crypto.SealOptions{Armor: *armored}
	for _, r := range recips {
		keys, err := resolveRecipient(el, r)
		if err != nil {
			c.errorf("%v", err)
			if errors.Is(err, crypto.ErrKeyNotFound) {
				c.hintf("import their key with \"ferry key import FILE\", or give the key file to -r")
			}
			return exitFailure
		}
		opts.To = append(opts.To, keys...)
	}
	if *sign {
		e, err := c.signingKey(el, signer, *keyPassFile, in == "-")
		if err != nil {
			c.errorf("%v", err)
			return exitFailure
		}
		opts.Signer = e
	}
	if *symmetric {
		pw, err := c.readSecret(secretSource{what: "passphrase", flagName: "passphrase-file", file: *passFile, env: envPassphrase, noPrompt: in == "-"},
			"Passphrase to encrypt with: ", true)
		if err != nil {
			c.errorf("%v", err)
			return exitFailure
		}
		opts.Passphrase = pw
	}
	var src io.Reader = c.stdin.r
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			c.errorf("encrypt: %v", err)
			return exitFailure
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() && fi.IsDir() {
			c.errorf("%s is a folder", escape.String(in))
			c.hintf("encrypt one file; put a folder into an archive first")
			return exitUsage
		}
		if fi, err := f.Stat(); err == nil {
			opts.ModTime = fi.ModTime()
		}
		opts.FileName = filepath.Base(in)
		src = f
	}
	var dst io.Writer = c.stdout
	var pending *crypto.PendingFile
	if *out != "-" {
		pending, err = crypto.CreatePending(*out, 0o644, *force)
		if err != nil {
			c.errorf("encrypt: %v", err)
			if errors.Is(err, crypto.ErrFileExists) {
				c.hintf("use --force to replace it, or -o another name")
			}
			return exitFailure
		}
		defer pending.Abort()
		dst = pending
	}
	log := c.logger(*verbose)
	for _, e := range opts.To {
		if k, ok := e.EncryptionKey(time.Now()); ok {
			log.Debug("recipient", "key", describeKey(e), "subkey", fmt.Sprintf("%016X", k.PublicKey.KeyId))
		}
	}
	log.Debug("writing", "output", *out, "armor", *armored, "signed", opts.Signer != nil, "passphrase", *symmetric)
	w, err := crypto.Seal(dst, opts)
	if err != nil {
		c.errorf("encrypt: %v", err)
		return exitFailure
	}
	n, err := io.Copy(w, ctxReader{ctx, src})
	if err == nil {
		err = w.Close()
	}
	if err == nil && pending != nil {
		err = pending.Commit()
	}
	if err != nil {
		if ctx.Err() != nil {
			c.errorf("interrupted")
		} else {
			c.errorf("encrypt: %v", err)
		}
		return exitFailure
	}
	var who []string
	for _, e := range opts.To {
		who = append(who, describeKey(e))
	}
	if *symmetric {
		who = []string{"a passphrase"}
	}
	where := "stdout"
	if *out != "-" {
		where = escape.String(*out)
	}
	fmt.Fprintf(c.stderr, "Encrypted %s to %s for %s.\n", receive.Bytes(n), where, strings.Join(who, ", "))
	if opts.Signer != nil {
		fmt.Fprintf(c.stderr, "Signed by %s.\n", describeKey(opts.Signer))
	}
	return exitOK
}

// describeKey is "User ID (FINGERPRINT)", escaped for the terminal.
func describeKey(e *openpgp.Entity) string {
	ids := crypto.UserIDs(e)
	if len(ids) == 0 {
		return crypto.Fingerprint(e)
	}
	return fmt.Sprintf("%s (%s)", escape.String(ids[0]), crypto.Fingerprint(e))
}

// resolveRecipient finds the keys r names: a key file, or one key in the
// keyring.
func resolveRecipient(el openpgp.EntityList, r string) (openpgp.EntityList, error) {
	if fi, err := os.Stat(r); err == nil && fi.Mode().IsRegular() {
		f, err := os.Open(r)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		defer f.Close()
		keys, err := crypto.ReadKeys(f)
		if err != nil {
			return nil, fmt.Errorf("read key file %s: %w", escape.String(r), err)
		}
		return keys, nil
	}
	found := crypto.FindKeys(el, r)
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no key for %s in the keyring: %w", escape.String(r), crypto.ErrKeyNotFound)
	case 1:
		return found, nil
	}
	return nil, fmt.Errorf("%d keys match %s; name one by its fingerprint", len(found), escape.String(r))
}

// signingKey picks your secret key (the only one, or the one query
// names) and unlocks it.
func (c *cli) signingKey(el openpgp.EntityList, query, passFile string, stdinBusy bool) (*openpgp.Entity, error) {
	var cands openpgp.EntityList
	pool := el
	if query != "" {
		pool = crypto.FindKeys(el, query)
	}
	for _, e := range pool {
		if crypto.HasSecret(e) {
			cands = append(cands, e)
		}
	}
	switch {
	case len(cands) == 0 && query != "":
		return nil, fmt.Errorf("no secret key for %s in the keyring", escape.String(query))
	case len(cands) == 0:
		return nil, errors.New("no secret key to sign with: make one with \"ferry key generate\" or import yours")
	case len(cands) > 1:
		return nil, fmt.Errorf("%d secret keys: choose one with -u FINGERPRINT", len(cands))
	}
	e := cands[0]
	if crypto.IsLocked(e) {
		pw, err := c.readSecret(secretSource{what: "key passphrase", flagName: "key-passphrase-file", file: passFile, env: envKeyPassphrase, noPrompt: stdinBusy},
			fmt.Sprintf("Passphrase for %s: ", describeKey(e)), false)
		if err != nil {
			return nil, err
		}
		if err := crypto.Unlock(e, pw); err != nil {
			return nil, fmt.Errorf("%w for key %s", err, crypto.Fingerprint(e))
		}
	}
	return e, nil
}

// sameFile reports whether a and b are the same existing file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// ctxReader stops a copy when ctx ends (Ctrl-C), so that temporary
// files are cleaned up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
