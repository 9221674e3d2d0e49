package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ferrydrop/ferry/crypto"
)

// maxDone caps the receiver's acknowledgement.
const maxDone = 4 << 10

// doneKey is the key of the receiver's acknowledgement: its own purpose,
// so it never shares key and nonce with the stream.
func doneKey(pakeKey []byte) ([]byte, error) { return crypto.StreamKey(pakeKey, "done") }

// WriteDone sends the receiver's final acknowledgement on the data path,
// as a small OpenPGP message of its own, so that the sender learns the
// files landed even when the mailbox connection is gone by then (a
// relay restarted during a long transfer).
func WriteDone(w io.Writer, pakeKey []byte, d Done) error {
	key, err := doneKey(pakeKey)
	if err != nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	enc, err := crypto.Encrypt(w, key)
	if err != nil {
		return err
	}
	if _, err := enc.Write(b); err != nil {
		return fmt.Errorf("send the confirmation: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("send the confirmation: %w", err)
	}
	return nil
}

// ReadDone reads the receiver's acknowledgement from the data path.
func ReadDone(r io.Reader, pakeKey []byte) (Done, error) {
	var d Done
	key, err := doneKey(pakeKey)
	if err != nil {
		return d, err
	}
	plain, err := crypto.Decrypt(io.LimitReader(r, maxDone), key)
	if err != nil {
		return d, fmt.Errorf("wait for the receiver's confirmation: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(plain, maxDone))
	if err != nil {
		return d, fmt.Errorf("wait for the receiver's confirmation: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("read the receiver's confirmation: %w", err)
	}
	if d.Files < 0 || d.Bytes < 0 {
		return d, errors.New("read the receiver's confirmation: negative counts")
	}
	return d, nil
}
