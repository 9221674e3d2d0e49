package receive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/keyring"
	"github.com/ferrydrop/ferry/internal/transfer"
)

// ErrNoKeyring means a sealed transfer (ferry send --to/--sign) arrived
// but Options.Keys is nil.
var ErrNoKeyring = errors.New("the transfer is sealed with OpenPGP keys, and no keyring was given to open it")

// seal is what opening a sealed transfer needs.
type seal struct {
	offer transfer.Sealed
	ring  openpgp.EntityList
	key   *openpgp.Entity // ours, that the transfer is sealed to; nil if only signed
}

// prepareSeal checks a sealed offer against the keyring: the transfer must
// be sealed to one of our secret keys, if to any.
func prepareSeal(offer transfer.Sealed, opts Options) (*seal, error) {
	if len(offer.To) > transfer.MaxSealedTo {
		return nil, fmt.Errorf("the offer names %d recipients (at most %d)", len(offer.To), transfer.MaxSealedTo)
	}
	if len(offer.To) == 0 && !offer.Signed {
		return nil, errors.New("the offer says it is sealed, but neither to a key nor signed")
	}
	if (len(offer.To) == 0) != (len(offer.Manifest) == 0) {
		return nil, errors.New("the offer seals its list of names without sealing the files to a key, or the other way round")
	}
	if len(offer.Manifest) > transfer.MaxSealedManifest {
		return nil, fmt.Errorf("the offer's sealed list of names is %d bytes (at most %d)", len(offer.Manifest), transfer.MaxSealedManifest)
	}
	if opts.Keys == nil {
		return nil, ErrNoKeyring
	}
	ring, err := opts.Keys()
	if err != nil {
		return nil, fmt.Errorf("read the keyring: %w", err)
	}
	s := &seal{offer: offer, ring: ring}
	if len(offer.To) == 0 {
		return s, nil
	}
	for _, e := range ring {
		for _, fpr := range offer.To {
			if keyring.HasSecret(e) && keyring.Fingerprint(e) == fpr {
				s.key = e
				return s, nil
			}
		}
	}
	return nil, fmt.Errorf("the sender sealed this transfer to %s; your keyring has no secret key for it: %w",
		transfer.Escape(offer.To[0]), crypto.ErrNoKey)
}

// unlock unlocks our secret key, asking for its passphrase once.
func (s *seal) unlock(ask func(*openpgp.Entity) ([]byte, error)) error {
	if s.key == nil || !crypto.IsLocked(s.key) {
		return nil
	}
	if ask == nil {
		return fmt.Errorf("key %s is protected by a passphrase and nothing can ask for it", keyring.Fingerprint(s.key))
	}
	pw, err := ask(s.key)
	if err != nil {
		return err
	}
	if err := crypto.Unlock(s.key, pw); err != nil {
		return fmt.Errorf("unlock key %s: %w", keyring.Fingerprint(s.key), err)
	}
	return nil
}

// manifest opens the offer's sealed manifest, with the same checks as the
// stream: it must be encrypted to our key and, when the offer says so,
// signed by a key in the keyring. The offer's clear manifest must be
// empty: ferry shows only what the key holder could read.
// It returns the manifest and who signed it (nil if unsigned).
func (s *seal) manifest(clear transfer.Manifest) (transfer.Manifest, *crypto.Signer, error) {
	var man transfer.Manifest
	if clear.Files != 0 || clear.Bytes != 0 || len(clear.Entries) != 0 {
		return man, nil, errors.New("the offer lists names in the clear beside its sealed list")
	}
	msg, err := s.open(bytes.NewReader(s.offer.Manifest), "the sealed list of names")
	if err != nil {
		return man, nil, err
	}
	plain, err := io.ReadAll(io.LimitReader(msg, transfer.MaxSealedManifest+1))
	if err != nil {
		return man, nil, fmt.Errorf("open the sealed list of names: %w", err)
	}
	if len(plain) > transfer.MaxSealedManifest {
		return man, nil, fmt.Errorf("the sealed list of names holds more than %d bytes", transfer.MaxSealedManifest)
	}
	if err := json.Unmarshal(plain, &man); err != nil {
		return man, nil, fmt.Errorf("read the sealed list of names: %w", err)
	}
	return man, signerOf(msg), nil
}

// signerOf is who signed a message read to its end, checked against the
// keyring; nil if it is unsigned.
func signerOf(msg *crypto.Message) *crypto.Signer {
	if v := msg.Verification(); v != nil && v.Err == nil {
		return v.Signer
	}
	return nil
}

// open starts reading a sealed message (what names it in errors): the one
// inside the peer stream, or the sealed manifest. A signature by a key we
// do not know fails here, before any content.
func (s *seal) open(plain io.Reader, what string) (*crypto.Message, error) {
	msg, err := crypto.OpenFrom(plain, s.ring, nil, s.key != nil, s.offer.Signed)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	if signed, id, known := msg.SignedBy(); signed && !known {
		return nil, fmt.Errorf("open %s: %w %s (not in your keyring)", what, crypto.ErrUnknownSigner, id)
	} else if s.offer.Signed && !signed {
		return nil, fmt.Errorf("open %s: %w", what, crypto.ErrNotSigned)
	}
	return msg, nil
}

// drain reads r to its end, which authenticates what was read before it:
// only io.EOF means the whole stream was intact. More than maxTail bytes
// left over are refused.
func drain(r io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, maxTail))
	if err != nil {
		return fmt.Errorf("authenticate the transfer: %w", err)
	}
	if n == maxTail {
		return errors.New("the sender sent data after the archive")
	}
	return nil
}
