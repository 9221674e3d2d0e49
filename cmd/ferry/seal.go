package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
)

// sealFlags are ferry send's --to and --sign: the transfer is also
// sealed with OpenPGP keys from the keyring.
type sealFlags struct {
	to          stringList
	sign        *bool
	signer      *string
	keyPassFile *string
}

func addSealFlags(fs *flag.FlagSet) *sealFlags {
	f := &sealFlags{}
	fs.Var(&f.to, "to", "also encrypt to `KEY` (an email, fingerprint or key ID in your keyring, or a key file; repeatable): only its holder can open the files, even if the code leaks")
	f.sign = fs.Bool("sign", false, "sign the files with your key; the receiver checks it against its keyring")
	f.signer = fs.String("sign-with", "", "sign with this `KEY` (when you have several secret keys)")
	f.keyPassFile = fs.String("key-passphrase-file", "", "read your key's passphrase from `FILE` (else "+envKeyPassphrase+" or a prompt)")
	return f
}

func (f *sealFlags) used() bool { return len(f.to) > 0 || *f.sign || *f.signer != "" }

// keys resolves the recipients and unlocks the signing key, before anyone
// connects.
func (c *cli) sealKeys(f *sealFlags, stdinBusy bool) (to []*openpgp.Entity, signer *openpgp.Entity, err error) {
	_, el, ok := c.openRing()
	if !ok {
		return nil, nil, errors.New("cannot read the keyring")
	}
	for _, r := range f.to {
		keys, err := resolveRecipient(el, r)
		if err != nil {
			return nil, nil, fmt.Errorf("--to: %w", err)
		}
		to = append(to, keys...)
	}
	if *f.sign || *f.signer != "" {
		if signer, err = c.signingKey(el, *f.signer, *f.keyPassFile, stdinBusy); err != nil {
			return nil, nil, fmt.Errorf("--sign: %w", err)
		}
	}
	return to, signer, nil
}

// openSealed fills in what receive needs to open a sealed transfer.
func (c *cli) openSealed(opts *receive.Options, keyPassFile string) {
	opts.Keys = func() (openpgp.EntityList, error) {
		dir, err := keyringDir()
		if err != nil {
			return nil, err
		}
		return crypto.OpenKeyring(dir).Entities()
	}
	opts.KeyPassphrase = func(e *openpgp.Entity) ([]byte, error) {
		return c.readSecret(secretSource{what: "key passphrase", flagName: "key-passphrase-file", file: keyPassFile, env: envKeyPassphrase},
			fmt.Sprintf("Passphrase for %s: ", describeKey(e)), false)
	}
	opts.OnSealed = func(to *openpgp.Entity, signed bool) {
		if to != nil {
			fmt.Fprintf(c.stderr, "Sealed to your key %s.\n", describeKey(to))
		} else if signed { // only signed; for a transfer sealed to you, OnSigner names the signer
			fmt.Fprintln(c.stderr, "Signed by the sender: the signature is checked once everything arrived.")
		}
	}
	opts.OnSigner = func(s *crypto.Signer) {
		fmt.Fprintf(c.stderr, "Signed by %s (%s); the files' signature is checked once everything arrived.\n",
			escape.String(s.UserID), s.Fingerprint)
	}
}

// reportSealed tells how a sealed transfer was opened.
func (c *cli) reportSealed(res *receive.Result) {
	if res.Signer != nil {
		c.goodSignature(res.Signer)
	}
}

// goodSignature names the signer of a verified message or transfer.
func (c *cli) goodSignature(s *crypto.Signer) {
	fmt.Fprintf(c.stderr, "Good signature from %s\n  key fingerprint %s (signing key %s)\n",
		escape.String(s.UserID), s.Fingerprint, s.KeyID)
}
