package transfer

import (
	"bytes"
	"testing"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// pake stands for a wormhole's PAKE key.
type pake []byte

func (p pake) Key(purpose string, n int) []byte { return wormhole.DeriveKey(p, purpose, n) }

// TestAttemptKeys: every reconnect attempt has a stream key, confirmation
// key and transit handshake key of its own, all from the PAKE key; the
// first attempt keeps the keys a transfer without reconnects uses.
func TestAttemptKeys(t *testing.T) {
	k := pake(bytes.Repeat([]byte{7}, 32))
	if !bytes.Equal(StreamBase(k, 0), k.Key("ferry/stream/v1", 32)) || !bytes.Equal(AttemptKey(k, "ferry/transit/v1", 0), k.Key("ferry/transit/v1", 32)) {
		t.Fatal("attempt 0 does not use the keys of a transfer without reconnects")
	}
	seen := map[string]string{}
	for n := range 5 {
		stream, err := crypto.StreamKey(StreamBase(k, n), "send")
		if err != nil {
			t.Fatal(err)
		}
		done, err := doneKey(StreamBase(k, n))
		if err != nil {
			t.Fatal(err)
		}
		for what, key := range map[string][]byte{"stream": stream, "done": done, "transit": AttemptKey(k, "ferry/transit/v1", n)} {
			name := what + " key of attempt " + string(rune('0'+n))
			if prev, dup := seen[string(key)]; dup {
				t.Fatalf("the %s is the %s", name, prev)
			}
			seen[string(key)] = name
		}
	}
	other := pake(bytes.Repeat([]byte{8}, 32))
	if bytes.Equal(StreamBase(k, 1), StreamBase(other, 1)) {
		t.Fatal("attempt 1's key does not depend on the PAKE key")
	}
}
