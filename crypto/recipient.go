package crypto

import (
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ferry send --to KEY / --sign: the sender wraps the plaintext of the
// peer stream in a message for the recipient's key, signed with its own
// key, and the receiver opens it inside the peer stream:
//
//	sender:   outer, _ := Encrypt(conn, streamKey)   // PAKE-keyed SEIPDv2
//	          inner, _ := SealTo(outer, to, signer)  // recipient's key
//	          io.Copy(inner, file); inner.Close(); outer.Close()
//	receiver: outer, _ := ReadStream(conn, streamKey, StreamOptions{})
//	          msg, _ := OpenFrom(outer, keyring, askKeyPassphrase, true, true)
//	          io.Copy(tempFile, msg) // commit only on io.EOF
//	          msg.Verification().Signer // who sent it, from the keyring
//
// Only the holder of the recipient's secret key can read the file, even
// if the code leaks; and a signature by a key that is not in the
// receiver's keyring, or a bad one, fails the last Read.

// SealTo returns a writer that encrypts to the recipients' keys and, when
// signer is not nil, signs (its secret key unlocked). With no recipients
// the message is only signed: the peer stream encrypts around it. Close
// finishes the message without closing w.
func SealTo(w io.Writer, to []*openpgp.Entity, signer *openpgp.Entity) (io.WriteCloser, error) {
	return Seal(w, SealOptions{To: to, Signer: signer, SignOnly: len(to) == 0})
}

// OpenFrom opens a message from SealTo with the keyring's secret keys
// (keyPassphrase unlocks a protected one, asked once). With encrypted, the
// message must be encrypted to one of them; with signed, the last Read
// returns io.EOF only if the message is intact and signed by a key in the
// keyring, and then Verification tells who signed it. A signature by an
// unknown key, or a bad one, always fails.
func OpenFrom(r io.Reader, keyring openpgp.EntityList, keyPassphrase func(*openpgp.Entity) ([]byte, error), encrypted, signed bool) (*Message, error) {
	m, err := Open(r, OpenOptions{Keyring: keyring, KeyPassphrase: keyPassphrase, RequireSignature: signed, Unencrypted: !encrypted})
	if err != nil {
		return nil, err
	}
	if encrypted && m.DecryptedWith == nil {
		return nil, ErrNotEncryptedMsg
	}
	return m, nil
}
