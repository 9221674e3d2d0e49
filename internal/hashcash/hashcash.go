// Package hashcash mints and checks Hashcash version 1 stamps, the proof
// of work of the Magic Wormhole mailbox protocol's permission extension
// (server-protocol.md, "Permission to Use the Server"): a server names the
// bits and a resource in its welcome, and a client answers with a stamp
//
//	1:BITS:YYMMDD:RESOURCE::SALT:COUNTER
//
// whose SHA-1 starts with at least BITS zero bits. Stamps are minted as
// Python's hashcash module mints them (a salt of letters and "+/=", the
// counter in lower-case hex), and any v1 stamp that meets the bits (the
// hashcash tool's too) is accepted.
package hashcash

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// MaxBits is the most work Mint does: 2^28 hashes on average, some
// seconds to a minute of one core. A server asking for more is refused
// rather than obeyed for hours.
const MaxBits = 28

// maxResource caps the resource a server may name.
const maxResource = 256

// saltChars are the characters of a salt, as Python's hashcash module
// draws them.
const saltChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/="

// CheckResource reports whether a server's resource can go into a stamp:
// 1 to 256 bytes of printable ASCII without ':'.
func CheckResource(resource string) error {
	if resource == "" || len(resource) > maxResource {
		return fmt.Errorf("hashcash resource must be 1 to %d bytes", maxResource)
	}
	for i := 0; i < len(resource); i++ {
		if c := resource[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return errors.New("hashcash resource must be printable ASCII without ':'")
		}
	}
	return nil
}

// Mint returns a stamp for resource with at least nbits leading zero bits,
// dated now (UTC). It stops when ctx ends.
func Mint(ctx context.Context, nbits int, resource string, now time.Time) (string, error) {
	if nbits < 0 || nbits > MaxBits {
		return "", fmt.Errorf("hashcash of %d bits asked for; ferry does at most %d", nbits, MaxBits)
	}
	if err := CheckResource(resource); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	for i, b := range salt {
		salt[i] = saltChars[int(b)%len(saltChars)]
	}
	prefix := fmt.Sprintf("1:%d:%s:%s::%s:", nbits, now.UTC().Format("060102"), resource, salt)
	buf := []byte(prefix)
	for counter := uint64(0); ; counter++ {
		if counter%(1<<16) == 0 && ctx.Err() != nil {
			return "", fmt.Errorf("mint hashcash: %w", ctx.Err())
		}
		buf = strconv.AppendUint(buf[:len(prefix)], counter, 16)
		if zeroBits(sha1.Sum(buf)) >= nbits {
			return string(buf), nil
		}
	}
}

// Check verifies a stamp: version 1, for resource, claiming and having at
// least nbits leading zero bits, and dated within two days of now.
func Check(stamp string, nbits int, resource string, now time.Time) error {
	if len(stamp) > 1024 {
		return errors.New("hashcash stamp is too long")
	}
	f := strings.Split(stamp, ":")
	if len(f) != 7 || f[0] != "1" {
		return errors.New("not a version 1 hashcash stamp")
	}
	claimed, err := strconv.Atoi(f[1])
	if err != nil || claimed < nbits {
		return fmt.Errorf("hashcash stamp claims %q bits, %d needed", f[1], nbits)
	}
	if f[3] != resource {
		return errors.New("hashcash stamp is for another resource")
	}
	if len(f[2]) < 6 {
		return errors.New("hashcash stamp has no date")
	}
	day, err := time.Parse("060102", f[2][:6])
	if err != nil {
		return errors.New("hashcash stamp has no date")
	}
	if d := now.Sub(day); d < -48*time.Hour || d > 72*time.Hour {
		return errors.New("hashcash stamp is out of date")
	}
	if zeroBits(sha1.Sum([]byte(stamp))) < nbits {
		return fmt.Errorf("hashcash stamp has fewer than %d zero bits", nbits)
	}
	return nil
}

// zeroBits counts the leading zero bits of a digest.
func zeroBits(d [sha1.Size]byte) int {
	n := 0
	for _, b := range d {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}
