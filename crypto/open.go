package crypto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
)

// DefaultMaxRatio caps decompression: a message may expand to at most this
// many times its own size (plus MinDecompressed). Deflate cannot exceed
// about 1032:1, so only bzip2 bombs and the like reach it.
const DefaultMaxRatio = 1100

// MinDecompressed is the output any message may have, whatever its size.
const MinDecompressed = 16 << 20

// Errors from Open and from reading a Message.
var (
	ErrNoKey              = errors.New("the message is not encrypted to any of your keys")
	ErrNeedPassphrase     = errors.New("the message needs a passphrase")
	ErrNotEncryptedMsg    = errors.New("the message is not encrypted")
	ErrDamaged            = errors.New("the message is damaged or was tampered with")
	ErrNotOpenPGP         = errors.New("not an OpenPGP message")
	ErrBadSignature       = errors.New("bad signature")
	ErrUnknownSigner      = errors.New("signed by an unknown key")
	ErrNotSigned          = errors.New("the message is not signed")
	ErrDecompressionLimit = errors.New("the message decompresses to too much data (a decompression bomb?)")
)

// OpenOptions are the keys and passphrases a message may need.
type OpenOptions struct {
	// Keyring holds secret keys to decrypt with and public keys to check
	// signatures with.
	Keyring openpgp.EntityList
	// Passphrase is asked (once) for a passphrase-encrypted message.
	Passphrase func() ([]byte, error)
	// KeyPassphrase is asked (once) to unlock the secret key e.
	KeyPassphrase func(e *openpgp.Entity) ([]byte, error)
	// NoVerify reads a signed message without failing on a bad or unknown
	// signature (Verification still tells).
	NoVerify bool
	// RequireSignature fails, at the end, on an unsigned message.
	RequireSignature bool
	// Unencrypted accepts a message that is not encrypted (only signed),
	// for use inside a stream that is.
	Unencrypted bool
	// MaxRatio caps decompression (see DefaultMaxRatio); 0 means the
	// default and a negative value no cap.
	MaxRatio int64
	// MaxArgon2Memory caps, in bytes, the memory an Argon2 passphrase
	// packet may ask for (see DefaultMaxArgon2Memory); 0 means the
	// default and a negative value the most RFC 9580 allows (2 TiB).
	// Larger ones are refused (ErrS2KLimit) before any key derivation.
	MaxArgon2Memory int64
}

func (o OpenOptions) maxArgon2Memory() int64 {
	switch m := o.MaxArgon2Memory; {
	case m == 0:
		return DefaultMaxArgon2Memory
	case m < 0 || m > MaxArgon2Memory:
		return MaxArgon2Memory
	default:
		return m
	}
}

// Signer identifies who signed a message.
type Signer struct {
	Fingerprint string // the primary key's, upper-case hex
	KeyID       string // the signing (sub)key's, upper-case hex
	UserID      string // the primary user ID; untrusted text, escape it before showing
	Entity      *openpgp.Entity
	Created     time.Time
}

// Verification is the signature check's outcome, known at the end.
type Verification struct {
	Signed bool
	KeyID  string  // the issuer's key ID, when signed
	Signer *Signer // set when the signing key is in the keyring
	Err    error   // nil for a good signature by a known key
}

// Message is an opened message: reading it yields the plaintext, and only
// io.EOF means it was complete, intact, and (unless NoVerify) signed
// correctly if it was signed at all. Data read before the end must not be
// trusted or committed.
type Message struct {
	md       *openpgp.MessageDetails
	opts     OpenOptions
	in       *countReader
	out      int64
	err      error
	verified *Verification
	// FileName is the name stored in the message (sender-chosen; do not
	// use it as a path).
	FileName string
	// Symmetric reports a message opened with a passphrase; otherwise
	// DecryptedWith is the key that opened it.
	Symmetric     bool
	DecryptedWith *openpgp.Entity
	// EncryptedTo are the key IDs the message names as recipients.
	EncryptedTo []string
}

type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// Open starts reading the OpenPGP message in src, binary or armored,
// compressed or not, encrypted to a key in opts.Keyring or with a
// passphrase. It reads only the headers and asks for passphrases at most
// once each; the body streams through Read.
func Open(src io.Reader, opts OpenOptions) (*Message, error) {
	cr := &countReader{r: src}
	br := bufio.NewReaderSize(cr, maxArmorStart)
	var body io.Reader = br
	head, _ := br.Peek(maxArmorStart)
	if len(head) > 0 && head[0]&0x80 == 0 { // not a packet tag: armor
		if err := checkArmorStart(head); err != nil {
			return nil, err
		}
		block, err := armor.Decode(br)
		if err != nil {
			return nil, fmt.Errorf("read armor: %w", readErr(cr, err))
		}
		if block.Type != openpgp.MessageType {
			return nil, fmt.Errorf("armored block is a %q, not a message", block.Type)
		}
		body = block.Body
	}
	// The passphrase packets' stretching is checked against the caps
	// before go-crypto runs it.
	limits := &s2kLimits{maxMemory: opts.maxArgon2Memory()}
	body, err := scanKeyPackets(body, limits.check)
	if err != nil {
		return nil, err
	}
	asked, symmetric := false, false
	prompt := func(keys []openpgp.Key, sym bool) ([]byte, error) {
		if asked {
			return nil, ErrWrongPassphrase
		}
		asked = true
		if len(keys) > 0 && opts.KeyPassphrase != nil {
			k := keys[0]
			pw, err := opts.KeyPassphrase(k.Entity)
			if err != nil {
				return nil, err
			}
			if err := k.PrivateKey.Decrypt(pw); err != nil {
				return nil, fmt.Errorf("unlock key %s: %w", fingerprint(k.Entity), ErrWrongPassphrase)
			}
			// Unlock the other subkeys of that key too, where the same
			// passphrase works; go-crypto then retries with them.
			_ = k.Entity.DecryptPrivateKeys(pw)
			return nil, nil
		}
		if sym && opts.Passphrase != nil {
			symmetric = true
			return opts.Passphrase()
		}
		if sym {
			return nil, ErrNeedPassphrase
		}
		return nil, ErrNoKey
	}
	md, err := openpgp.ReadMessage(body, opts.Keyring, prompt, emailConfig())
	if err != nil {
		switch {
		case cr.err != nil:
			return nil, fmt.Errorf("read message: %w", cr.err)
		case errors.Is(err, ErrWrongPassphrase), errors.Is(err, ErrNoKey), errors.Is(err, ErrNeedPassphrase):
			return nil, err
		case errors.Is(err, pgperrors.ErrKeyIncorrect) && symmetric:
			return nil, ErrWrongPassphrase
		case errors.As(err, new(pgperrors.DecryptWithSessionKeyError)) && symmetric:
			// A wrong passphrase yields a wrong session key, whose
			// "plaintext" does not parse (RFC 4880 has no key check).
			return nil, fmt.Errorf("%w (or the message is damaged)", ErrWrongPassphrase)
		case errors.Is(err, pgperrors.ErrKeyIncorrect):
			return nil, ErrNoKey
		}
		var se pgperrors.StructuralError
		var ue pgperrors.UnsupportedError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("unsupported message: %w", err)
		}
		if errors.As(err, &se) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w (%v)", ErrNotOpenPGP, err)
		}
		if errors.As(err, new(pgperrors.DecryptWithSessionKeyError)) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return nil, fmt.Errorf("open message: %w", err)
	}
	if !md.IsEncrypted && !opts.Unencrypted {
		return nil, ErrNotEncryptedMsg
	}
	m := &Message{md: md, opts: opts, in: cr, Symmetric: md.IsSymmetricallyEncrypted && md.DecryptedWith.Entity == nil}
	if md.LiteralData != nil {
		m.FileName = md.LiteralData.FileName
	}
	if !m.Symmetric {
		m.DecryptedWith = md.DecryptedWith.Entity
	}
	for _, id := range md.EncryptedToKeyIds {
		m.EncryptedTo = append(m.EncryptedTo, fmt.Sprintf("%016X", id))
	}
	return m, nil
}

// maxArmorStart bounds where an armored message's header must end.
const maxArmorStart = 64 << 10

var armorBegin = []byte("-----BEGIN PGP MESSAGE-----")

// checkArmorStart makes sure the armor header line and the armor headers
// (which go-crypto would collect without limit) end within head.
func checkArmorStart(head []byte) error {
	i := bytes.Index(head, armorBegin)
	if i < 0 {
		if bytes.Contains(head, []byte("-----BEGIN PGP ")) {
			return fmt.Errorf("%w: the armored block is not a message", ErrNotOpenPGP)
		}
		return fmt.Errorf("%w: no binary packets and no armored message in the first %d KiB", ErrNotOpenPGP, maxArmorStart>>10)
	}
	lines := bytes.Split(head[i:], []byte("\n"))
	for j := 1; j < len(lines)-1; j++ { // the last one may be cut off
		if len(bytes.TrimSpace(lines[j])) == 0 {
			return nil
		}
	}
	if len(head) < maxArmorStart { // the whole input
		return fmt.Errorf("%w: the armored message ends in its header", ErrNotOpenPGP)
	}
	return fmt.Errorf("%w: armor headers longer than %d KiB", ErrNotOpenPGP, maxArmorStart>>10)
}

func readErr(cr *countReader, err error) error {
	if cr.err != nil {
		return cr.err
	}
	return err
}

// Read reads plaintext. At the end it returns io.EOF only if the integrity
// check (MDC) and, unless NoVerify, the signature check passed.
func (m *Message) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.md.UnverifiedBody.Read(p)
	m.out += int64(n)
	ratio := m.opts.MaxRatio
	if ratio == 0 {
		ratio = DefaultMaxRatio
	}
	if ratio > 0 && m.out > MinDecompressed && m.out/ratio > m.in.n {
		m.err = ErrDecompressionLimit
		return 0, m.err
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		m.err = m.finish()
		if m.err == nil {
			m.err = io.EOF
		}
		return n, m.err
	case m.in.err != nil:
		m.err = fmt.Errorf("read message: %w", m.in.err)
	default:
		m.err = fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return n, m.err
}

// finish runs at the end of the plaintext: the MDC passed; now the
// signature.
func (m *Message) finish() error {
	md := m.md
	v := &Verification{Signed: md.IsSigned}
	m.verified = v
	if !md.IsSigned {
		if m.opts.RequireSignature && !m.opts.NoVerify {
			return ErrNotSigned
		}
		return nil
	}
	v.KeyID = fmt.Sprintf("%016X", md.SignedByKeyId)
	switch {
	case md.SignedBy == nil:
		v.Err = fmt.Errorf("%w %s", ErrUnknownSigner, v.KeyID)
	case md.SignatureError != nil:
		v.Err = fmt.Errorf("%w: %v", ErrBadSignature, md.SignatureError)
	case md.Signature == nil:
		v.Err = fmt.Errorf("%w: no signature packet", ErrBadSignature)
	}
	if md.SignedBy != nil {
		e := md.SignedBy.Entity
		s := &Signer{Fingerprint: fingerprint(e), KeyID: fmt.Sprintf("%016X", md.SignedBy.PublicKey.KeyId), Entity: e}
		if id := e.PrimaryIdentity(); id != nil {
			s.UserID = id.Name
		}
		if md.Signature != nil {
			s.Created = md.Signature.CreationTime
		}
		v.Signer = s
	}
	if v.Err != nil && !m.opts.NoVerify {
		return v.Err
	}
	return nil
}

// SignedBy tells, from the start of the message, whether it says it is
// signed, by which key ID, and whether that key is in the keyring. The
// signature itself is checked at the end.
func (m *Message) SignedBy() (signed bool, keyID string, known bool) {
	if !m.md.IsSigned {
		return false, "", false
	}
	return true, fmt.Sprintf("%016X", m.md.SignedByKeyId), m.md.SignedBy != nil
}

// Verification is the signature's outcome; nil until Read returned EOF.
func (m *Message) Verification() *Verification { return m.verified }

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}
