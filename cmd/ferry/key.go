package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/escape"
)

const keyUsage = `Usage:
  ferry key generate --name NAME --email EMAIL   make a key pair (Ed25519 + Curve25519)
  ferry key list                                 list the keys in the keyring
  ferry key export [--secret] [--armor] [KEY...] write keys for gpg, sq or a friend
  ferry key import FILE...                       add keys exported by gpg, sq or ferry
  ferry key delete [--force] KEY                 remove a key

KEY is an email address, a fingerprint or a key ID. The keyring is in
$FERRY_HOME/keys (by default the user's config folder, ferry/keys).
`

func (c *cli) key(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, keyUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, keyUsage)
		return exitOK
	}
	if cmd, ok := findCommand(c.keyCommands(), args[0]); ok {
		return cmd.run(ctx, args[1:])
	}
	c.errorf("unknown key command %q", args[0])
	c.hintf("run \"ferry key help\" for the key commands")
	return exitUsage
}

// keyCommands are ferry key's subcommands.
func (c *cli) keyCommands() []command {
	noCtx := func(f func([]string) int) func(context.Context, []string) int {
		return func(_ context.Context, args []string) int { return f(args) }
	}
	return []command{
		{name: "generate", aliases: []string{"gen"}, summary: "make a key pair", run: noCtx(c.keyGenerate)},
		{name: "list", aliases: []string{"ls"}, summary: "list the keys in the keyring", run: noCtx(c.keyList)},
		{name: "export", summary: "write keys for gpg, sq or a friend", run: noCtx(c.keyExport)},
		{name: "import", summary: "add keys exported by gpg, sq or ferry", run: noCtx(c.keyImport)},
		{name: "delete", aliases: []string{"rm"}, summary: "remove a key", run: noCtx(c.keyDelete)},
	}
}

// openRing opens the keyring and loads its keys.
func (c *cli) openRing() (*crypto.Keyring, openpgp.EntityList, bool) {
	dir, err := keyringDir()
	if err != nil {
		c.errorf("%v", err)
		return nil, nil, false
	}
	r := crypto.OpenKeyring(dir)
	el, err := r.Entities()
	if err != nil {
		c.errorf("%v", err)
		return nil, nil, false
	}
	return r, el, true
}

func (c *cli) keyGenerate(args []string) int {
	fs := flag.NewFlagSet("ferry key generate", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	name := fs.String("name", "", "your `NAME`")
	email := fs.String("email", "", "your `EMAIL` address")
	noPass := fs.Bool("no-passphrase", false, "leave the secret key unprotected")
	passFile := fs.String("key-passphrase-file", "", "read the new key's passphrase from `FILE` (else "+envKeyPassphrase+" or a prompt)")
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		c.errorf("unexpected argument %q", pos[0])
		return exitUsage
	}
	if *name == "" || *email == "" || !strings.Contains(*email, "@") {
		c.errorf("a key needs --name and --email (an address with @)")
		return exitUsage
	}
	ring, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	var pass []byte
	if !*noPass {
		pass, err = c.readSecret(secretSource{what: "key passphrase", flagName: "key-passphrase-file", file: *passFile, env: envKeyPassphrase},
			"Passphrase to protect the new key: ", true)
		if err != nil {
			c.errorf("%v", err)
			c.hintf("or use --no-passphrase for a key without one")
			return exitFailure
		}
	}
	if n := len(crypto.FindKeys(el, *email)); n > 0 {
		fmt.Fprintf(c.stderr, "ferry: note: the keyring already has %d key(s) for %s\n", n, escape.String(*email))
	}
	e, err := crypto.GenerateKey(*name, *email, pass)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	if err := ring.Add(e); err != nil {
		c.errorf("%v", err)
		return exitFailure
	}
	fpr := crypto.Fingerprint(e)
	fmt.Fprintf(c.stderr, "Generated key %s for %s.\n", fpr, escape.String(crypto.UserIDs(e)[0]))
	fmt.Fprintf(c.stderr, "Give your public key to others: ferry key export --armor -o %s.asc\n", strings.SplitN(*email, "@", 2)[0])
	fmt.Fprintln(c.stdout, fpr)
	return exitOK
}

func (c *cli) keyList(args []string) int {
	fs := flag.NewFlagSet("ferry key list", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	secret := fs.Bool("secret", false, "list only keys with a secret part")
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	_, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	if len(pos) > 0 {
		el = findAll(el, pos)
	}
	for _, e := range el {
		kind := "pub"
		if crypto.HasSecret(e) {
			kind = "sec"
		} else if *secret {
			continue
		}
		fmt.Fprintf(c.stdout, "%s  %s  %s\n", kind, crypto.Fingerprint(e), e.PrimaryKey.CreationTime.UTC().Format("2006-01-02"))
		for _, id := range crypto.UserIDs(e) {
			fmt.Fprintf(c.stdout, "     %s\n", escape.String(id))
		}
	}
	return exitOK
}

// findAll returns the keys any query names, each once.
func findAll(el openpgp.EntityList, queries []string) openpgp.EntityList {
	seen := map[string]bool{}
	var out openpgp.EntityList
	for _, q := range queries {
		for _, e := range crypto.FindKeys(el, q) {
			if fpr := crypto.Fingerprint(e); !seen[fpr] {
				seen[fpr] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func (c *cli) keyExport(args []string) int {
	fs := flag.NewFlagSet("ferry key export", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	secret := fs.Bool("secret", false, "export the secret keys (still protected by their passphrase)")
	armorFlag := fs.Bool("armor", false, "write ASCII armor (the default when -o ends in .asc)")
	fs.BoolVar(armorFlag, "a", false, "same as --armor")
	out := fs.String("o", "", "write to `FILE` instead of stdout")
	fs.StringVar(out, "output", "", "same as -o")
	force := fs.Bool("force", false, "replace an existing output file")
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	_, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	if len(pos) > 0 {
		el = findAll(el, pos)
		if len(el) == 0 {
			c.errorf("no key matches %s", escape.String(strings.Join(pos, ", ")))
			return exitFailure
		}
	}
	if *secret {
		var sec openpgp.EntityList
		for _, e := range el {
			if crypto.HasSecret(e) {
				sec = append(sec, e)
			}
		}
		el = sec
	}
	if len(el) == 0 {
		c.errorf("no keys to export")
		c.hintf("make one with: ferry key generate --name NAME --email EMAIL")
		return exitFailure
	}
	armored := *armorFlag || strings.HasSuffix(*out, ".asc")
	if (*out == "" || *out == "-") && !armored && isTerminal(c.stdout) {
		c.errorf("not writing binary keys to the terminal")
		c.hintf("use --armor, or -o FILE")
		return exitUsage
	}
	var buf bytes.Buffer
	var w io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		typ := openpgp.PublicKeyType
		if *secret {
			typ = openpgp.PrivateKeyType
		}
		if aw, err = armor.Encode(&buf, typ, nil); err != nil {
			c.errorf("export: %v", err)
			return exitFailure
		}
		w = aw
	}
	for _, e := range el {
		if *secret {
			err = e.SerializePrivateWithoutSigning(w, nil)
		} else {
			err = e.Serialize(w)
		}
		if err != nil {
			c.errorf("export key %s: %v", crypto.Fingerprint(e), err)
			return exitFailure
		}
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			c.errorf("export: %v", err)
			return exitFailure
		}
		buf.WriteByte('\n')
	}
	if *out == "" || *out == "-" {
		if _, err := c.stdout.Write(buf.Bytes()); err != nil {
			c.errorf("export: %v", err)
			return exitFailure
		}
		return exitOK
	}
	perm := os.FileMode(0o644)
	if *secret {
		perm = 0o600
	}
	if err := crypto.WriteFileAtomic(*out, buf.Bytes(), perm, *force); err != nil {
		c.errorf("export: %v", err)
		if errors.Is(err, crypto.ErrFileExists) {
			c.hintf("use --force to replace it")
		}
		return exitFailure
	}
	fmt.Fprintf(c.stderr, "Exported %d key(s) to %s.\n", len(el), escape.String(*out))
	return exitOK
}

func (c *cli) keyImport(args []string) int {
	fs := flag.NewFlagSet("ferry key import", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 {
		c.errorf("nothing to import")
		c.hintf("ferry key import FILE... (\"-\" reads stdin)")
		return exitUsage
	}
	ring, _, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	for _, p := range pos {
		var r io.Reader = c.stdin.r
		if p != "-" {
			f, err := os.Open(p)
			if err != nil {
				c.errorf("import: %v", err)
				return exitFailure
			}
			defer f.Close()
			r = f
		}
		el, err := crypto.ReadKeys(r)
		if err != nil {
			c.errorf("import %s: %v", escape.String(p), err)
			return exitFailure
		}
		for _, e := range el {
			if err := ring.Add(e); err != nil {
				c.errorf("import: %v", err)
				return exitFailure
			}
			kind := "public"
			if crypto.HasSecret(e) {
				kind = "secret"
			}
			ids := crypto.UserIDs(e)
			who := "(no user ID)"
			if len(ids) > 0 {
				who = escape.String(ids[0])
			}
			fmt.Fprintf(c.stderr, "Imported %s key %s %s.\n", kind, crypto.Fingerprint(e), who)
		}
	}
	return exitOK
}

func (c *cli) keyDelete(args []string) int {
	fs := flag.NewFlagSet("ferry key delete", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	force := fs.Bool("force", false, "also delete a key that has a secret part")
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		c.errorf("name one key to delete")
		return exitUsage
	}
	ring, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	found := crypto.FindKeys(el, pos[0])
	switch {
	case len(found) == 0:
		c.errorf("no key matches %s", escape.String(pos[0]))
		return exitFailure
	case len(found) > 1:
		c.errorf("%d keys match %s", len(found), escape.String(pos[0]))
		c.hintf("name the key by its fingerprint (ferry key list)")
		return exitFailure
	}
	e := found[0]
	if crypto.HasSecret(e) && !*force {
		c.errorf("key %s has a secret part; deleting it cannot be undone", crypto.Fingerprint(e))
		c.hintf("export it first (ferry key export --secret), then delete with --force")
		return exitFailure
	}
	if err := ring.Delete(crypto.Fingerprint(e)); err != nil {
		c.errorf("%v", err)
		return exitFailure
	}
	fmt.Fprintf(c.stderr, "Deleted key %s.\n", crypto.Fingerprint(e))
	return exitOK
}
