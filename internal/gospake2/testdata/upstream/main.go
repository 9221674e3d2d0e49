//go:build ignore

// Exchanges between this package and the original gospake2 (Debian's
// golang-debian-vasudev-gospake2-dev 0.2.1, the SPAKE2 wormhole-william
// links), for upstream_vectors.json and live_test.go. Run through
// gen_upstream_vectors.sh, which builds it against Debian's copy.
//
// Our side draws fixed entropy (SHA-512 of a seed and a counter); the
// original side draws its own, and the vector keeps its message and key.
// Usage: main N [all]: N exchanges; without "all", only those where the
// original sent a short element or derived the legacy key, plus three.
package main

import (
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	ours "salsa.debian.org/vasudev/gospake2"
	orig "upstream.invalid/gospake2"
)

type vector struct {
	Password    string `json:"password"`
	Identity    string `json:"identity"`
	Entropy     string `json:"entropy"`
	OrigMsg     string `json:"orig_msg"`
	OrigKey     string `json:"orig_key"`
	ShortMsg    bool   `json:"short_msg"`
	LegacyKeyed bool   `json:"legacy_key"`
}

func entropy(i int) []byte {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(i))
	sum := sha512.Sum512(append([]byte("ferry gospake2 upstream "), seed[:]...))
	return sum[:]
}

func main() {
	n, err := strconv.Atoi(os.Args[1])
	if err != nil {
		panic(err)
	}
	all := len(os.Args) > 2 && os.Args[2] == "all"
	const id = "lothar.com/wormhole/text-or-file-xfer"
	var out []vector
	normal := 0
	for i := range n {
		pw := fmt.Sprintf("%d-guitarist-revenge", i)
		e := entropy(i)
		a := ours.SPAKE2Symmetric(ours.NewPassword(pw), ours.NewIdentityS(id))
		msgA, err := a.StartWithEntropy(bytesReader(e))
		if err != nil {
			panic(err)
		}
		b := orig.SPAKE2Symmetric(orig.NewPassword(pw), orig.NewIdentityS(id))
		msgB := b.Start()
		keyB, err := b.Finish(msgA)
		if err != nil {
			panic(err)
		}
		keyA, err := a.Finish(msgB)
		if err != nil {
			panic(err)
		}
		v := vector{
			Password: pw, Identity: id, Entropy: hex.EncodeToString(e),
			OrigMsg: hex.EncodeToString(msgB), OrigKey: hex.EncodeToString(keyB),
			ShortMsg:    len(msgB) < 33,
			LegacyKeyed: hex.EncodeToString(keyA) != hex.EncodeToString(keyB),
		}
		if all || v.ShortMsg || v.LegacyKeyed || normal < 3 {
			if !v.ShortMsg && !v.LegacyKeyed {
				normal++
			}
			out = append(out, v)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"exchanges": n, "vectors": out}); err != nil {
		panic(err)
	}
}

type reader struct{ b []byte }

func bytesReader(b []byte) *reader { return &reader{b} }

func (r *reader) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
