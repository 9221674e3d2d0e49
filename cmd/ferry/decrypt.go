package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
)

func (c *cli) decrypt(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry decrypt", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	out := fs.String("o", "", "write to `FILE` (default: FILE without .gpg/.pgp/.asc; \"-\" is stdout)")
	fs.StringVar(out, "output", "", "same as -o")
	force := fs.Bool("force", false, "replace an existing output file")
	noVerify := fs.Bool("no-verify", false, "decrypt even if the signature is bad or from an unknown key")
	passFile := fs.String("passphrase-file", "", "read the message's passphrase from `FILE` (else "+envPassphrase+" or a prompt)")
	keyPassFile := fs.String("key-passphrase-file", "", "read your key's passphrase from `FILE` (else "+envKeyPassphrase+" or a prompt)")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	maxRatio := fs.Int64("max-ratio", crypto.DefaultMaxRatio, "refuse data that decompresses more than `N` times its size (0: no limit)")
	maxArgon := fs.Int64("max-argon2-memory", crypto.DefaultMaxArgon2Memory>>20,
		"refuse a passphrase whose Argon2 stretching needs more than `MiB` of memory (0: the RFC 9580 maximum, 2 TiB)")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry decrypt [flags] FILE\n\nDecrypts an OpenPGP message (from ferry, gpg or sq; \"-\" is stdin)\nand checks its signature. Nothing is written unless all checks pass.\n\n"+
			"A passphrase's stretching is checked before it runs: an Argon2 one may\nuse at most --max-argon2-memory and %d passes, and a message has at most\n%d passphrase packets, whose Argon2 work together is no more than one at\nthose limits. (gpg and sq stretch with iterated S2K: cheap at any count.)\n\nFlags:\n",
			crypto.MaxArgon2Passes, crypto.MaxPassphrasePackets)
		fs.PrintDefaults()
	}
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		c.errorf("name one file to decrypt (\"-\" for stdin)")
		return exitUsage
	}
	in := pos[0]
	if *out == "" {
		if in == "-" {
			*out = "-"
		} else {
			*out = stripPGPExt(in)
			if *out == in {
				c.errorf("cannot tell the output name: %s does not end in .gpg, .pgp or .asc", escape.String(in))
				c.hintf("name the output with -o FILE (\"-\" for stdout)")
				return exitUsage
			}
		}
	}
	if *out != "-" && sameFile(in, *out) {
		c.errorf("the output would overwrite the input")
		return exitUsage
	}
	ratio := *maxRatio
	if ratio == 0 {
		ratio = -1
	}
	argonMem := *maxArgon << 20
	switch {
	case *maxArgon < 0:
		c.errorf("--max-argon2-memory must not be negative")
		return exitUsage
	case *maxArgon == 0 || *maxArgon > crypto.MaxArgon2Memory>>20:
		argonMem = -1 // the most RFC 9580 allows
	}
	_, el, ok := c.openRing()
	if !ok {
		return exitFailure
	}
	var src io.Reader = c.stdin.r
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			c.errorf("decrypt: %v", err)
			return exitFailure
		}
		defer f.Close()
		src = f
	}
	// Fail early on an existing output, before asking for passphrases.
	if *out != "-" && !*force {
		if _, err := os.Lstat(*out); err == nil {
			c.errorf("decrypt: %s already exists", escape.String(*out))
			c.hintf("use --force to replace it, or -o another name")
			return exitFailure
		}
	}
	opts := crypto.OpenOptions{
		Keyring:  el,
		NoVerify: *noVerify,
		MaxRatio: ratio,
		// Checked before a passphrase is asked for or anything derived.
		MaxArgon2Memory: argonMem,
		Passphrase: func() ([]byte, error) {
			return c.readSecret(secretSource{what: "passphrase", flagName: "passphrase-file", file: *passFile, env: envPassphrase, noPrompt: in == "-"},
				"Passphrase of the message: ", false)
		},
		KeyPassphrase: func(e *openpgp.Entity) ([]byte, error) {
			return c.readSecret(secretSource{what: "key passphrase", flagName: "key-passphrase-file", file: *keyPassFile, env: envKeyPassphrase, noPrompt: in == "-"},
				fmt.Sprintf("Passphrase for %s: ", describeKey(e)), false)
		},
	}
	log := c.logger(*verbose)
	msg, err := crypto.Open(src, opts)
	if err != nil {
		return c.decryptFail(err)
	}
	if msg.DecryptedWith != nil {
		log.Debug("decrypting", "with", describeKey(msg.DecryptedWith), "recipients", msg.EncryptedTo, "name", escape.String(msg.FileName))
	} else {
		log.Debug("decrypting with a passphrase", "recipients", msg.EncryptedTo, "name", escape.String(msg.FileName))
	}
	// The plaintext goes to a temporary file: in the output's folder, or
	// (for stdout) in the temp folder, copied out only once verified.
	var pending *crypto.PendingFile
	var spool *os.File
	if *out != "-" {
		pending, err = crypto.CreatePending(*out, 0o600, *force)
		if err != nil {
			c.errorf("decrypt: %v", err)
			return exitFailure
		}
		defer pending.Abort()
	} else {
		spool, err = os.CreateTemp("", "ferry-decrypt-*")
		if err != nil {
			c.errorf("decrypt: %v", err)
			return exitFailure
		}
		defer func() { spool.Close(); os.Remove(spool.Name()) }()
	}
	var file io.Writer = spool
	if pending != nil {
		file = pending
	}
	// Reads of armored messages come in line-sized pieces: buffer them.
	dst := bufio.NewWriterSize(file, 256<<10)
	// (Hide bufio's ReadFrom, which would hand the file each piece.)
	n, err := io.Copy(struct{ io.Writer }{dst}, ctxReader{ctx, msg})
	if err == nil {
		err = dst.Flush()
	}
	if err != nil {
		if ctx.Err() != nil {
			c.errorf("interrupted")
			return exitFailure
		}
		return c.decryptFail(err)
	}
	c.reportSignature(msg.Verification())
	if pending != nil {
		if err := pending.Commit(); err != nil {
			c.errorf("decrypt: %v", err)
			return exitFailure
		}
		fmt.Fprintf(c.stderr, "Decrypted %s to %s.\n", receive.Bytes(n), escape.String(*out))
		return exitOK
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		c.errorf("decrypt: %v", err)
		return exitFailure
	}
	if _, err := io.Copy(c.stdout, ctxReader{ctx, spool}); err != nil {
		c.errorf("write to stdout: %v", err)
		return exitFailure
	}
	return exitOK
}

// stripPGPExt drops a .gpg, .pgp or .asc extension.
func stripPGPExt(name string) string {
	for _, ext := range []string{".gpg", ".pgp", ".asc"} {
		if s, ok := strings.CutSuffix(name, ext); ok && s != "" && !strings.HasSuffix(s, "/") {
			return s
		}
	}
	return name
}

// reportSignature tells who signed (on stderr).
func (c *cli) reportSignature(v *crypto.Verification) {
	switch {
	case v == nil || !v.Signed:
		fmt.Fprintln(c.stderr, "The message is not signed.")
	case v.Err == nil:
		c.goodSignature(v.Signer)
	default: // only with --no-verify
		fmt.Fprintf(c.stderr, "ferry: warning: signature NOT verified: %v\n", v.Err)
	}
}

func (c *cli) decryptFail(err error) int {
	c.errorf("decrypt: %v", err)
	switch {
	case errors.Is(err, crypto.ErrNoKey):
		c.hintf("import your secret key (ferry key import), or ask the sender to encrypt to your key (ferry key export --armor)")
	case errors.Is(err, crypto.ErrUnknownSigner):
		c.hintf("import the sender's key (ferry key import FILE) to check it; --no-verify decrypts without checking")
	case errors.Is(err, crypto.ErrDecompressionLimit):
		c.hintf("if you trust the message, raise --max-ratio (0 for no limit)")
	}
	if le := (*crypto.S2KLimitError)(nil); errors.As(err, &le) && le.Memory {
		c.hintf("if you trust the message and have the memory, raise --max-argon2-memory (in MiB)")
	}
	if !errors.Is(err, crypto.ErrWrongPassphrase) && !errors.Is(err, crypto.ErrNoKey) && !errors.Is(err, crypto.ErrNeedPassphrase) {
		fmt.Fprintln(c.stderr, "Nothing was written.")
	}
	return exitFailure
}
