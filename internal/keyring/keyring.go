// Package keyring keeps ferry's OpenPGP keys in a folder: one file per
// key, named by fingerprint, under public/ and secret/. Files are written
// whole or not at all and are readable by their owner only.
package keyring

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/ferrydrop/ferry/internal/safefile"
)

// MaxKeyFile caps a key file read from disk or given to Import.
const MaxKeyFile = 4 << 20

// Ring is a keyring folder.
type Ring struct{ dir string }

// Open returns the keyring in dir (created when first written to).
func Open(dir string) *Ring { return &Ring{dir: dir} }

// Dir is the keyring's folder.
func (r *Ring) Dir() string { return r.dir }

// Fingerprint is the upper-case hex fingerprint of e's primary key.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// HasSecret reports whether e carries secret key material for any key.
func HasSecret(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && !s.PrivateKey.Dummy() {
			return true
		}
	}
	return false
}

// UserIDs lists e's user IDs, primary first.
func UserIDs(e *openpgp.Entity) []string {
	var ids []string
	primary := ""
	if id := e.PrimaryIdentity(); id != nil {
		primary = id.Name
	}
	for name := range e.Identities {
		if name != primary {
			ids = append(ids, name)
		}
	}
	sort.Strings(ids)
	if primary != "" {
		ids = append([]string{primary}, ids...)
	}
	return ids
}

// ReadKeys parses one or more keys, binary or armored, from r.
func ReadKeys(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeyFile {
		return nil, fmt.Errorf("key file is larger than %d bytes", MaxKeyFile)
	}
	var el openpgp.EntityList
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		// An armored file may hold several blocks (gpg --export a b).
		br := bufio.NewReader(bytes.NewReader(trimmed))
		for {
			block, err := armor.Decode(br)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if len(el) > 0 {
					break
				}
				return nil, fmt.Errorf("read armored keys: %w", err)
			}
			if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
				return nil, fmt.Errorf("armored block is a %q, not a key", block.Type)
			}
			part, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("read keys: %w", err)
			}
			el = append(el, part...)
		}
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
	}
	if len(el) == 0 {
		return nil, errors.New("no OpenPGP keys found")
	}
	return el, nil
}

func (r *Ring) path(secret bool, fpr string) string {
	sub := "public"
	if secret {
		sub = "secret"
	}
	return filepath.Join(r.dir, sub, fpr+".pgp")
}

// Add stores e (its secret part too, if it has one), replacing any stored
// copy of the same key.
func (r *Ring) Add(e *openpgp.Entity) error {
	fpr := Fingerprint(e)
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		return fmt.Errorf("serialize key %s: %w", fpr, err)
	}
	if HasSecret(e) {
		var sec bytes.Buffer
		if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
			return fmt.Errorf("serialize secret key %s: %w", fpr, err)
		}
		if err := r.write(r.path(true, fpr), sec.Bytes()); err != nil {
			return err
		}
	}
	return r.write(r.path(false, fpr), pub.Bytes())
}

func (r *Ring) write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create keyring folder: %w", err)
	}
	if err := safefile.WriteFile(path, data, 0o600, true); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	return nil
}

// Entities loads every key; a key with a secret part is loaded from it.
func (r *Ring) Entities() (openpgp.EntityList, error) {
	byFpr := map[string]*openpgp.Entity{}
	var order []string
	for _, secret := range []bool{false, true} {
		dir := filepath.Dir(r.path(secret, "x"))
		names, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read keyring: %w", err)
		}
		for _, de := range names {
			if !strings.HasSuffix(de.Name(), ".pgp") || !de.Type().IsRegular() {
				continue
			}
			el, err := readFile(filepath.Join(dir, de.Name()))
			if err != nil {
				return nil, err
			}
			for _, e := range el {
				fpr := Fingerprint(e)
				if _, ok := byFpr[fpr]; !ok {
					order = append(order, fpr)
				}
				if secret || byFpr[fpr] == nil {
					byFpr[fpr] = e
				}
			}
		}
	}
	sort.Strings(order)
	el := make(openpgp.EntityList, 0, len(order))
	for _, fpr := range order {
		el = append(el, byFpr[fpr])
	}
	return el, nil
}

func readFile(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	defer f.Close()
	el, err := openpgp.ReadKeyRing(io.LimitReader(f, MaxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read keyring file %s: %w", path, err)
	}
	return el, nil
}

// Delete removes the key with fingerprint fpr, public and secret parts.
func (r *Ring) Delete(fpr string) error {
	found := false
	for _, secret := range []bool{true, false} {
		err := os.Remove(r.path(secret, fpr))
		if err == nil {
			found = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete key %s: %w", fpr, err)
		}
	}
	if !found {
		return fmt.Errorf("delete key %s: %w", fpr, ErrNotFound)
	}
	return nil
}

// ErrNotFound means no key matched.
var ErrNotFound = errors.New("no such key")

// Find returns the keys that query names: a full fingerprint, a 16-digit
// key ID (of the primary key or a subkey), either with an optional "0x",
// or an email address (exact, any case, in any user ID).
func Find(el openpgp.EntityList, query string) openpgp.EntityList {
	q := strings.TrimSpace(query)
	hexq := strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(strings.ReplaceAll(q, " ", ""), "0x"), "0X"))
	var out openpgp.EntityList
	for _, e := range el {
		if matches(e, q, hexq) {
			out = append(out, e)
		}
	}
	return out
}

func matches(e *openpgp.Entity, q, hexq string) bool {
	keys := []*packet.PublicKey{e.PrimaryKey}
	for _, s := range e.Subkeys {
		keys = append(keys, s.PublicKey)
	}
	if isHex(hexq) {
		for _, k := range keys {
			fpr := strings.ToUpper(hex.EncodeToString(k.Fingerprint))
			if hexq == fpr || (len(hexq) == 16 && strings.HasSuffix(fpr, hexq)) ||
				(len(hexq) == 16 && fmt.Sprintf("%016X", k.KeyId) == hexq) {
				return true
			}
		}
	}
	email := strings.ToLower(strings.Trim(q, "<>"))
	if !strings.Contains(email, "@") {
		return false
	}
	for _, id := range e.Identities {
		if strings.ToLower(id.UserId.Email) == email {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	if len(s) != 16 && len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
