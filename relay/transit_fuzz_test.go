package relay

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
)

// chunkReader hands out its bytes at most n at a time, as a network
// connection may, and counts what was read.
type chunkReader struct {
	b    []byte
	n    int
	read int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	r.read += k
	return k, nil
}

// relayLineRE is the transit relay handshake (transit.md, the reference
// transit relay's server_tcp.py): an old-style or a sided line.
var relayLineRE = regexp.MustCompile(`^please relay ([0-9a-fA-F]{64})(?: for side ([0-9a-fA-F]{16}))?\n$`)

// fitsRelayLine reports whether b could still become a handshake line: it
// agrees with one of the two forms ('h' is a hex digit) as far as it goes.
func fitsRelayLine(b []byte) bool {
	token := strings.Repeat("h", 64)
	for _, form := range []string{"please relay " + token + "\n", "please relay " + token + " for side " + strings.Repeat("h", 16) + "\n"} {
		if len(b) > len(form) {
			continue
		}
		ok := true
		for i, c := range b {
			if form[i] == 'h' && !isHexDigit(c) || form[i] != 'h' && c != form[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// FuzzRelayHandshake feeds a client's first bytes, in reads of a fuzzed
// size, to the transit relay's handshake reader and checks it against a
// regular expression of the line. Properties: OK exactly when the first
// line is a handshake and nothing followed it in the same read, with the
// token and side taken from the line and no byte read past it; a line
// followed by more bytes is impatient; bad as soon as the bytes can no
// longer become a line, so at most maxRelayLine bytes are read one at a
// time; failed only when the input ran out while it could still become one.
func FuzzRelayHandshake(f *testing.F) {
	token := "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	for _, s := range []string{
		"please relay " + token + " for side 0123456789abcdef\n",
		"please relay " + token + "\n",
		"please relay " + strings.ToUpper(token) + " for side 0123456789ABCDEF\n",
		"please relay " + token + " for side 0123456789abcdef\nGET / HTTP/1.1\r\n",
		"please relay " + token + " for side 0123456789abcde\n",
		"please relay " + token[:63] + "\n",
		"please relay " + token,
		"transit sender " + token + " ready\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), uint8(255))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		r := &chunkReader{b: data, n: max(int(chunk), 1)}
		buf := make([]byte, handshakeBufBytes)
		tok, side, res, err := readRelayHandshake(r, buf)
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		m := relayLineRE.FindSubmatch(line)
		switch res {
		case handshakeOK:
			if m == nil || r.read != len(line) || tok != string(m[1]) || side != string(m[2]) || err != nil {
				t.Fatalf("%q in reads of %d: OK with token %q side %q after %d bytes (%v)", data, r.n, tok, side, r.read, err)
			}
		case handshakeImpatient:
			if m == nil || r.read <= len(line) {
				t.Fatalf("%q in reads of %d: impatient after %d bytes", data, r.n, r.read)
			}
		case handshakeBad:
			if m != nil || fitsRelayLine(data[:r.read]) {
				t.Fatalf("%q in reads of %d: bad after %d bytes", data, r.n, r.read)
			}
		case handshakeFailed:
			if err == nil || r.read != len(data) || !fitsRelayLine(data) || bytes.IndexByte(data, '\n') >= 0 {
				t.Fatalf("%q in reads of %d: failed (%v) after %d bytes", data, r.n, err, r.read)
			}
		default:
			t.Fatalf("unknown result %d", res)
		}
		if r.n == 1 && (res == handshakeImpatient || r.read > maxRelayLine) {
			t.Fatalf("%q a byte at a time: result %d after %d bytes (line at most %d)", data, res, r.read, maxRelayLine)
		}
		if r.n == 1 && res == handshakeBad && !fitsRelayLine(data[:r.read-1]) {
			t.Fatalf("%q a byte at a time: read %d bytes, past the first that cannot start a line", data, r.read)
		}
		if m != nil && r.n == 1 && res != handshakeOK {
			t.Fatalf("%q a byte at a time: result %d, want OK", data, res)
		}
	})
}
