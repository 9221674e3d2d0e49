package relay

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A relay's entry in the shared connection-count bucket (connShare) is
// binary, so that thousands of addresses stay small:
//
//	'c' 1                          magic and version
//	uvarint N, N × (uvarint len, key, uvarint count)   per address
//	uvarint M, M × (uvarint len, key, uvarint count)   per network
//
// keys sorted and unique within their list, counts positive.
const (
	connsEntryMagic   = 'c'
	connsEntryVersion = 1
	// maxConnsEntryBytes caps an entry, written and read (NATS refuses
	// bigger values too: the bucket's MaxValueSize): some 15,000 IPv4
	// addresses.
	maxConnsEntryBytes = 256 << 10
	// maxConnsKeyBytes caps one key: an IPv6 /64 or /48 in text is at
	// most 24 bytes; anything longer is no key this relay writes.
	maxConnsKeyBytes = 64
	// maxConnsCount caps one count (a relay has far fewer sockets).
	maxConnsCount = 1 << 31
)

// connCounts is one relay's connections per client address and per
// network, as its entry carries them (only those the others need).
type connCounts struct {
	addr, prefix map[string]int64
}

// encodeConnCounts encodes c as an entry, at most maxBytes long: when
// everything does not fit, the smallest counts are left out (they matter
// least to a limit), and dropped says how many were.
func encodeConnCounts(c connCounts, maxBytes int) (entry []byte, dropped int) {
	type kv struct {
		key string
		n   int64
	}
	lists := [2][]kv{}
	size := 2 + 2*binary.MaxVarintLen64
	for i, m := range []map[string]int64{c.addr, c.prefix} {
		for k, n := range m {
			if n <= 0 || n > maxConnsCount || k == "" || len(k) > maxConnsKeyBytes {
				continue
			}
			lists[i] = append(lists[i], kv{k, n})
			size += len(k) + 1 + uvarintLen(uint64(n))
		}
	}
	if size > maxBytes {
		// Keep the biggest counts: sort both lists by count, biggest
		// first, and cut each where the budget runs out (taking turns,
		// so that neither list starves the other).
		for i := range lists {
			slices.SortFunc(lists[i], func(a, b kv) int { return cmp.Compare(b.n, a.n) })
		}
		budget := maxBytes - (2 + 2*binary.MaxVarintLen64)
		keep := [2]int{}
		for progress := true; progress; {
			progress = false
			for i := range lists {
				if keep[i] < len(lists[i]) {
					e := lists[i][keep[i]]
					if cost := len(e.key) + 1 + uvarintLen(uint64(e.n)); cost <= budget {
						budget -= cost
						keep[i]++
						progress = true
					}
				}
			}
		}
		for i := range lists {
			dropped += len(lists[i]) - keep[i]
			lists[i] = lists[i][:keep[i]]
		}
	}
	out := []byte{connsEntryMagic, connsEntryVersion}
	for _, l := range lists {
		slices.SortFunc(l, func(a, b kv) int { return cmp.Compare(a.key, b.key) })
		out = binary.AppendUvarint(out, uint64(len(l)))
		for _, e := range l {
			out = binary.AppendUvarint(out, uint64(len(e.key)))
			out = append(out, e.key...)
			out = binary.AppendUvarint(out, uint64(e.n))
		}
	}
	return out, dropped
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

var errConnsEntry = errors.New("malformed connection counts")

// decodeConnCounts reads an entry another relay wrote: it is input from
// the network, so every length and count is checked before it is used.
func decodeConnCounts(b []byte) (connCounts, error) {
	if len(b) > maxConnsEntryBytes {
		return connCounts{}, fmt.Errorf("%w: %d bytes, more than %d", errConnsEntry, len(b), maxConnsEntryBytes)
	}
	if len(b) < 2 || b[0] != connsEntryMagic {
		return connCounts{}, fmt.Errorf("%w: no header", errConnsEntry)
	}
	if b[1] != connsEntryVersion {
		return connCounts{}, fmt.Errorf("%w: version %d", errConnsEntry, b[1])
	}
	b = b[2:]
	var lists [2]map[string]int64
	for i := range lists {
		n, w := binary.Uvarint(b)
		// Each key takes at least 3 bytes (a length, a byte, a count).
		if w <= 0 || n > uint64(len(b)-w)/3 {
			return connCounts{}, fmt.Errorf("%w: bad key count", errConnsEntry)
		}
		b = b[w:]
		m := make(map[string]int64, n)
		prev := ""
		for j := range n {
			l, w := binary.Uvarint(b)
			if w <= 0 || l == 0 || l > maxConnsKeyBytes || l > uint64(len(b)-w) {
				return connCounts{}, fmt.Errorf("%w: bad key length", errConnsEntry)
			}
			key := string(b[w : w+int(l)])
			b = b[w+int(l):]
			if j > 0 && key <= prev {
				return connCounts{}, fmt.Errorf("%w: keys out of order", errConnsEntry)
			}
			prev = key
			c, w := binary.Uvarint(b)
			if w <= 0 || c == 0 || c > maxConnsCount {
				return connCounts{}, fmt.Errorf("%w: bad count", errConnsEntry)
			}
			b = b[w:]
			m[key] = int64(c)
		}
		lists[i] = m
	}
	if len(b) != 0 {
		return connCounts{}, fmt.Errorf("%w: %d trailing bytes", errConnsEntry, len(b))
	}
	return connCounts{addr: lists[0], prefix: lists[1]}, nil
}
