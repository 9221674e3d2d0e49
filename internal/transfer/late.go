package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Late sums. Hashing every file before the offer costs a big transfer its
// start (a 20 GB file takes 10 to 20 s to hash), so a ferry sender that
// has not finished hashing when its offer is ready says so
// (Manifest.SumsLater) and sends the sums in a message of their own
// (Ferry.Sums) as soon as it has them, while the stream runs. A receiver
// with no partial that could match accepts at once, hashes what it
// writes, and checks every file against the sums before anything gets its
// final name (waiting for them, at most its sums timeout, when the stream
// ends first). A receiver with a partial that could match (same offer
// identity, a file of the right name and size) waits for the sums before
// it answers with what it holds, as with sums in the offer. Files the
// sender streams before it knows their hashes carry no PAXHash record;
// with sums they do.
//
// With --to the sums are sealed like the manifest (encrypted to the
// recipients, and signed with --sign); with --sign alone they are signed.
// Either way what is signed names the offer (SumsBinding): the session's
// key and the offer's top-level names, so signed sums from another
// transfer are refused.

// LateSums is the sender's file hashes after an offer with SumsLater.
// Unsealed, Offer and Sums are set; sealed, only Sealed is: an OpenPGP
// message (sealed like the stream) of the JSON of a LateSums with Offer
// and Sums.
type LateSums struct {
	Offer  string    `json:"offer,omitempty"` // SumsBinding of the offer they belong to
	Sums   []FileSum `json:"sums,omitempty"`
	Sealed []byte    `json:"sealed,omitempty"`
}

// MaxSealedSums caps a sealed LateSums, and its plaintext.
const MaxSealedSums = MaxSealedManifest

// DefaultSumsTimeout is how long a receiver waits for the sums an offer
// said would follow, when it needs them (before it answers with what it
// holds, or before the final names once the stream has ended).
const DefaultSumsTimeout = 10 * time.Minute

// SumsBinding names the offer man of the session w for its late sums:
// a hash of a key of the session's own and of the offer's counts and
// top-level names.
func SumsBinding(w Keyer, man Manifest) string {
	h := sha256.New()
	io.WriteString(h, "ferry late sums v1\x00")
	h.Write(w.Key("ferry/sums/v1", 32))
	fmt.Fprintf(h, "\x00%d\x00%d\x00%d", man.Files, man.Folders, man.Bytes)
	for _, e := range man.Entries {
		fmt.Fprintf(h, "\x00%s\x00%t\x00%d\x00%t", e.Name, e.Dir, e.Size, e.Exec)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WithSums is the offer man (with SumsLater) completed by the sums that
// followed it, checked as if the offer had carried them.
func (m Manifest) WithSums(sums []FileSum) (Manifest, error) {
	if !m.SumsLater {
		return m, errors.New("the offer did not say that file hashes would follow")
	}
	if len(sums) == 0 {
		return m, errors.New("the sender's file hashes list no file")
	}
	m.SumsLater, m.Sums = false, sums
	if err := m.checkSums(); err != nil {
		return m, err
	}
	return m, nil
}

// checkSumsLater validates an offer that says its sums follow.
func (m *Manifest) checkSumsLater() error {
	switch {
	case len(m.Sums) > 0:
		return errors.New("manifest lists file hashes and says they follow")
	case m.Bytes == UnknownSize:
		return errors.New("manifest promises file hashes for a stream of unknown size")
	case m.Files == 0:
		return errors.New("manifest promises file hashes for no file")
	case m.Files > MaxSums:
		return fmt.Errorf("manifest promises hashes for %d files; ferry accepts at most %d", m.Files, MaxSums)
	}
	return nil
}
