package crypto

import (
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/internal/keyring"
)

// Keyring is a folder of OpenPGP keys (ferry key's keyring): one file per
// key, written atomically, mode 0600; secret keys stay protected by their
// passphrase. Its methods add, list and delete keys.
type Keyring = keyring.Ring

// OpenKeyring returns the keyring in dir (created when a key is added).
func OpenKeyring(dir string) *Keyring { return keyring.Open(dir) }

// ErrKeyNotFound means no key in the keyring matches what was asked for.
var ErrKeyNotFound = keyring.ErrNotFound

// Fingerprint is the upper-case hex fingerprint of e's primary key.
func Fingerprint(e *openpgp.Entity) string { return keyring.Fingerprint(e) }

// HasSecret reports whether e carries secret key material for any key.
func HasSecret(e *openpgp.Entity) bool { return keyring.HasSecret(e) }

// UserIDs are a key's user ids, primary first.
func UserIDs(e *openpgp.Entity) []string { return keyring.UserIDs(e) }

// ReadKeys parses one or more keys, binary or armored, from r.
func ReadKeys(r io.Reader) (openpgp.EntityList, error) { return keyring.ReadKeys(r) }

// FindKeys returns the keys of el that query names: a full fingerprint, a
// 16-digit key ID (of the primary key or a subkey), either with an
// optional "0x", or an email address (exact, any case, in any user ID).
func FindKeys(el openpgp.EntityList, query string) openpgp.EntityList {
	return keyring.Find(el, query)
}
