package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// readStream reads the peer stream ct with ReadStream to the end.
func readStream(ct, k []byte, opts StreamOptions) ([]byte, error) {
	r, err := ReadStream(bytes.NewReader(ct), k, opts)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// readGoCrypto reads it with Decrypt (go-crypto) to the end.
func readGoCrypto(ct, k []byte) ([]byte, error) {
	r, err := Decrypt(bytes.NewReader(ct), k)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// both are the ways ReadStream runs: one chunk at a time, and pipelined.
var both = map[string]StreamOptions{"one at a time": {}, "4 ahead": {Ahead: 4}}

// TestReadStreamMatchesGoCrypto: what Encrypt (go-crypto) writes,
// ReadStream reads back exactly as Decrypt (go-crypto) does, whatever the
// size and however it was written.
func TestReadStreamMatchesGoCrypto(t *testing.T) {
	k := key(t, 1)
	for _, n := range []int{0, 1, 500, ChunkSize - 9, ChunkSize - 8, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5, 4 * ChunkSize} {
		plain := make([]byte, n)
		rand.Read(plain)
		for _, step := range []int{1 << 20, 4099} { // one write, or many odd ones
			var buf bytes.Buffer
			w, err := Encrypt(&buf, k)
			if err != nil {
				t.Fatal(err)
			}
			for p := plain; len(p) > 0; p = p[min(step, len(p)):] {
				w.Write(p[:min(step, len(p))])
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ct := buf.Bytes()
			want, err := readGoCrypto(ct, k)
			if err != nil || !bytes.Equal(want, plain) {
				t.Fatalf("%d bytes: go-crypto read %d bytes, %v", n, len(want), err)
			}
			for name, opts := range both {
				got, err := readStream(ct, k, opts)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes in writes of %d, %s: got %d bytes, %v", n, step, name, len(got), err)
				}
			}
		}
	}
}

// TestReadStreamReadsNoFurther: the reader stops at the end of the
// encrypted data; what follows on the connection is left for others.
func TestReadStreamReadsNoFurther(t *testing.T) {
	k := key(t, 1)
	src := bytes.NewReader(append(encrypt(t, k, []byte("payload")), "after"...))
	r, err := ReadStream(src, k, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "payload" {
		t.Fatalf("%q %v", got, err)
	}
	if rest, _ := io.ReadAll(src); string(rest) != "after" {
		t.Fatalf("left %q on the source", rest)
	}
}

// seipdBody returns the key packet of ct and the body of its encrypted
// data packet, unframed.
func seipdBody(t testing.TB, ct []byte) (skesk, body []byte) {
	t.Helper()
	if ct[skeskLen] != seipdTag {
		t.Fatalf("no SEIPD packet after the key packet: % x", ct[skeskLen:skeskLen+4])
	}
	body, err := io.ReadAll(&bodyReader{r: bytes.NewReader(ct[skeskLen+1:])})
	if err != nil {
		t.Fatal(err)
	}
	return ct[:skeskLen], body
}

// frame is a new-format packet: header byte tag, then body in partial
// lengths of the sizes in parts (powers of two), the rest in one definite
// length.
func frame(tag byte, body []byte, parts ...int) []byte {
	out := []byte{tag}
	for _, p := range parts {
		e := 0
		for 1<<e < p {
			e++
		}
		out = append(out, 224+byte(e))
		out = append(out, body[:p]...)
		body = body[p:]
	}
	switch n := len(body); {
	case n < 192:
		out = append(out, byte(n))
	case n < 8384:
		out = append(out, byte((n-192)>>8+192), byte(n-192))
	default:
		out = binary.BigEndian.AppendUint32(append(out, 255), uint32(n))
	}
	return append(out, body...)
}

// sealPlain is a peer stream like Encrypt's whose encrypted data holds
// plain as it is (any packets, or none), with go-crypto's own packet
// writers and ferry's configuration.
func sealPlain(t testing.TB, k, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	cfg := config()
	sk, err := packet.SerializeSymmetricKeyEncrypted(&buf, k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&buf, cfg.Cipher(), true,
		packet.CipherSuite{Cipher: cfg.Cipher(), Mode: cfg.AEAD().Mode()}, sk, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// literal is a literal packet with the header fields head and the data.
func literal(head string, data []byte, parts ...int) []byte {
	return frame(literalTag, append([]byte(head), data...), parts...)
}

// TestReadStreamFraming: any new-format length encoding of the packets
// reads (one definite length, partial lengths of any size after a first
// of at least 512 bytes); a first partial length under 512 does not.
func TestReadStreamFraming(t *testing.T) {
	k := key(t, 1)
	data := make([]byte, 2*ChunkSize+77)
	rand.Read(data)
	skesk, body := seipdBody(t, encrypt(t, k, data))
	cases := []struct {
		name      string
		ct        []byte
		wantError bool
	}{
		{"one length", append(bytes.Clone(skesk), frame(seipdTag, body)...), false},
		{"small parts", append(bytes.Clone(skesk), frame(seipdTag, body, 512, 1, 2, 1<<17, 1)...), false},
		{"literal in parts", sealPlain(t, k, literal(literalHead, data, 1024, 1, 1<<18)), false},
		{"first part 256", append(bytes.Clone(skesk), frame(seipdTag, body, 256, 1024)...), true},
		{"literal's first part 1", sealPlain(t, k, literal(literalHead, data, 1)), true},
	}
	for _, c := range cases {
		for name, opts := range both {
			got, err := readStream(c.ct, k, opts)
			switch {
			case c.wantError && !errors.Is(err, ErrStreamForm):
				t.Errorf("%s, %s: err = %v, want ErrStreamForm", c.name, name, err)
			case !c.wantError && (err != nil || !bytes.Equal(got, data)):
				t.Errorf("%s, %s: got %d bytes, %v", c.name, name, len(got), err)
			}
		}
		if want, err := readGoCrypto(c.ct, k); !c.wantError && (err != nil || !bytes.Equal(want, data)) {
			t.Errorf("%s: go-crypto reads %d bytes, %v", c.name, len(want), err)
		}
	}
}

// TestReadStreamOnlyEncryptsForm: streams go-crypto reads but Encrypt
// never writes are refused with ErrStreamForm (or ErrNotEncrypted).
func TestReadStreamOnlyEncryptsForm(t *testing.T) {
	k := key(t, 1)
	data := []byte("the payload")
	lit := literal(literalHead, data)
	other := func(mod func(*packet.Config), hints *openpgp.FileHints) []byte {
		var buf bytes.Buffer
		cfg := config()
		mod(cfg)
		w, err := openpgp.SymmetricallyEncrypt(&buf, k, hints, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		return buf.Bytes()
	}
	cases := map[string][]byte{
		"text literal":       sealPlain(t, k, literal("u\x00\x00\x00\x00\x00", data)),
		"named literal":      other(func(*packet.Config) {}, &openpgp.FileHints{IsBinary: true, FileName: "x"}),
		"dated literal":      other(func(*packet.Config) {}, &openpgp.FileHints{IsBinary: true, ModTime: time.Unix(1, 0)}),
		"compressed":         other(func(c *packet.Config) { c.DefaultCompressionAlgo = packet.CompressionZLIB }, &openpgp.FileHints{IsBinary: true}),
		"SEIPDv1":            other(func(c *packet.Config) { c.AEADConfig = nil }, &openpgp.FileHints{IsBinary: true}),
		"AES-256":            other(func(c *packet.Config) { c.DefaultCipher = packet.CipherAES256 }, &openpgp.FileHints{IsBinary: true}),
		"OCB":                other(func(c *packet.Config) { c.AEADConfig.DefaultMode = packet.AEADModeOCB }, &openpgp.FileHints{IsBinary: true}),
		"64 KiB chunks":      other(func(c *packet.Config) { c.AEADConfig.ChunkSize = 64 << 10 }, &openpgp.FileHints{IsBinary: true}),
		"data after literal": sealPlain(t, k, append(bytes.Clone(lit), 0xCA, 3, 'P', 'G', 'P')),
		"two literals":       sealPlain(t, k, append(bytes.Clone(lit), lit...)),
		"old-format literal": sealPlain(t, k, append([]byte{0xAC, byte(len(lit) - 2)}, lit[2:]...)),
		"no literal":         sealPlain(t, k, nil),
		"marker first":       append([]byte{0xCA, 3, 'P', 'G', 'P'}, encrypt(t, k, data)...),
	}
	for name, ct := range cases {
		for oname, opts := range both {
			got, err := readStream(ct, k, opts)
			if !errors.Is(err, ErrStreamForm) {
				t.Errorf("%s, %s: got %q, %v; want ErrStreamForm", name, oname, got, err)
			}
		}
	}
	// go-crypto's Decrypt takes some of them: ReadStream is stricter.
	if got, err := readGoCrypto(cases["named literal"], k); err != nil || !bytes.Equal(got, data) {
		t.Errorf("go-crypto: named literal: %q %v", got, err)
	}
	var plainMsg bytes.Buffer
	w, _ := packet.SerializeLiteral(nopCloser{&plainMsg}, true, "", 0)
	w.Write(data)
	w.Close()
	if _, err := ReadStream(&plainMsg, k, StreamOptions{}); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("a plain literal message: %v, want ErrNotEncrypted", err)
	}
}

// prefixOf fails unless got is a prefix of want no longer than max.
func prefixOf(t *testing.T, what string, got, want []byte, max int) {
	t.Helper()
	if len(got) > max || !bytes.Equal(got, want[:min(len(got), len(want))]) {
		t.Fatalf("%s: released %d bytes; want at most %d authentic ones", what, len(got), max)
	}
}

// framing walks the length octets of the new-format packet whose header
// byte is ct[start]: it returns where each length starts, and a function
// from an offset in the body to one in ct.
func framing(t testing.TB, ct []byte, start int) ([]int, func(int) int) {
	t.Helper()
	var lengths, partStart, partBody []int
	i, b := start+1, 0
	for {
		lengths = append(lengths, i)
		var n, hl int
		switch c := ct[i]; {
		case c < 192:
			n, hl = int(c), 1
		case c < 224:
			n, hl = int(c-192)<<8+int(ct[i+1])+192, 2
		case c == 255:
			n, hl = int(binary.BigEndian.Uint32(ct[i+1:])), 5
		default:
			n, hl = 1<<(c&0x1F), 1
		}
		partStart, partBody = append(partStart, i+hl), append(partBody, b)
		i, b = i+hl+n, b+n
		if ct[lengths[len(lengths)-1]] < 224 || ct[lengths[len(lengths)-1]] == 255 {
			break
		}
	}
	return lengths, func(off int) int {
		j := len(partBody) - 1
		for partBody[j] > off {
			j--
		}
		return partStart[j] + off - partBody[j]
	}
}

// TestReadStreamTampered: a changed byte anywhere fails the read, and
// nothing from the changed chunk on is released.
func TestReadStreamTampered(t *testing.T) {
	k := key(t, 1)
	data := make([]byte, 3*ChunkSize+1000)
	rand.Read(data)
	ct := encrypt(t, k, data)
	lengths, at := framing(t, ct, skeskLen)
	hdr := seipdHeadLen
	chunk := func(i int) int { return hdr + i*(ChunkSize+tagLen) }
	cases := map[string]struct{ at, max int }{
		"SKESK salt":       {10, 0},
		"SKESK IV":         {20, 0},
		"SKESK key":        {40, 0},
		"SEIPD version":    {at(0), 0},
		"SEIPD chunk size": {at(3), 0},
		"SEIPD salt":       {at(10), 0},
		"first chunk":      {at(chunk(0) + 100), 0},
		"first tag":        {at(chunk(0) + ChunkSize + 5), 0},
		"second chunk":     {at(chunk(1) + 100), ChunkSize},
		"fourth chunk":     {at(chunk(3) + 10), 3 * ChunkSize},
		"final tag":        {len(ct) - 1, len(data)},
		"first length":     {lengths[0], 0},
		"second length":    {lengths[1], ChunkSize},
		"last length":      {lengths[len(lengths)-1] + 4, len(data)},
	}
	for name, c := range cases {
		for oname, opts := range both {
			bad := bytes.Clone(ct)
			bad[c.at] ^= 0x20
			got, err := readStream(bad, k, opts)
			if err == nil {
				t.Fatalf("%s, %s: read to the end", name, oname)
			}
			prefixOf(t, name+", "+oname, got, data, c.max)
		}
	}
}

// TestReadStreamTruncated: a stream cut anywhere fails, the last read
// never says io.EOF.
func TestReadStreamTruncated(t *testing.T) {
	k := key(t, 1)
	data := make([]byte, 2*ChunkSize)
	rand.Read(data)
	ct := encrypt(t, k, data)
	cuts := []int{0, 1, 30, skeskLen, skeskLen + 1, skeskLen + 20, skeskLen + 2 + seipdHeadLen + 3, ChunkSize, ChunkSize + 120, 2 * ChunkSize}
	for i := 1; i <= 40; i++ {
		cuts = append(cuts, len(ct)-i)
	}
	for _, cut := range cuts {
		for name, opts := range both {
			got, err := readStream(ct[:cut], k, opts)
			if err == nil {
				t.Fatalf("cut at %d of %d, %s: read to the end", cut, len(ct), name)
			}
			prefixOf(t, "cut", got, data, len(data))
		}
	}
	// A cut at a chunk boundary, in a packet framed to end there: the
	// first chunk is released, the second (taken as the last, its tag as
	// the final one) fails.
	_, body := seipdBody(t, ct)
	r, err := ReadStream(bytes.NewReader(append(bytes.Clone(ct[:skeskLen]), frame(seipdTag, body[:seipdHeadLen+2*(ChunkSize+tagLen)])...)), k, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrStreamDamaged) {
		t.Fatalf("cut after the second chunk: %v, want ErrStreamDamaged", err)
	}
	prefixOf(t, "cut after the second chunk", got, data, ChunkSize)
}

// TestReadStreamReordered: swapped, repeated or dropped chunks fail at
// the first one out of place.
func TestReadStreamReordered(t *testing.T) {
	k := key(t, 1)
	data := make([]byte, 4*ChunkSize)
	rand.Read(data)
	skesk, body := seipdBody(t, encrypt(t, k, data))
	head, chunks := body[:seipdHeadLen], body[seipdHeadLen:len(body)-tagLen]
	final := body[len(body)-tagLen:]
	c := func(i int) []byte { return chunks[i*(ChunkSize+tagLen) : (i+1)*(ChunkSize+tagLen)] }
	cases := map[string]struct {
		order []int
		max   int
	}{
		"swapped":  {[]int{0, 2, 1, 3}, ChunkSize},
		"repeated": {[]int{0, 1, 1, 2, 3}, 2 * ChunkSize},
		"dropped":  {[]int{0, 1, 3}, 2 * ChunkSize},
		"last cut": {[]int{0, 1, 2}, 3 * ChunkSize},
	}
	for name, tc := range cases {
		b := bytes.Clone(head)
		for _, i := range tc.order {
			b = append(b, c(i)...)
		}
		ct := append(bytes.Clone(skesk), frame(seipdTag, append(b, final...))...)
		for oname, opts := range both {
			got, err := readStream(ct, k, opts)
			if !errors.Is(err, ErrStreamDamaged) {
				t.Fatalf("%s, %s: %v, want ErrStreamDamaged", name, oname, err)
			}
			prefixOf(t, name, got, data, tc.max)
		}
	}
}

func TestReadStreamWrongKey(t *testing.T) {
	ct := encrypt(t, key(t, 1), []byte("secret"))
	if _, err := ReadStream(bytes.NewReader(ct), key(t, 2), StreamOptions{}); !errors.Is(err, ErrStreamDamaged) {
		t.Fatalf("err = %v, want ErrStreamDamaged", err)
	}
}

// slowOpener is Go's GCM with a random delay per chunk (so opens finish
// out of order), failing the chunk with index failAt (-1: none), and
// counting how many run at once.
type slowOpener struct {
	g       Opener
	failAt  int64
	running atomic.Int32
	mu      sync.Mutex
	most    int32
}

func (s *slowOpener) Open(dst, nonce, ct, ad []byte) ([]byte, error) {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	s.mu.Lock()
	s.most = max(s.most, n)
	s.mu.Unlock()
	time.Sleep(time.Duration(mrand.IntN(3000)) * time.Microsecond)
	if int64(binary.BigEndian.Uint64(nonce[4:])) == s.failAt && len(ad) == len(seipdAD) {
		return nil, errors.New("no")
	}
	return s.g.Open(dst, nonce, ct, ad)
}

// TestReadStreamAhead: with chunks opened at once and finishing in any
// order, the plaintext comes out in order, no more opens run at once than
// allowed, and a chunk that fails stops the plaintext there, even though
// later ones opened.
func TestReadStreamAhead(t *testing.T) {
	k := key(t, 1)
	data := make([]byte, 12*ChunkSize+3)
	rand.Read(data)
	ct := encrypt(t, k, data)
	for _, failAt := range []int64{-1, 5} {
		var so *slowOpener
		opts := StreamOptions{Ahead: 4, NewOpener: func(key []byte) (Opener, error) {
			g, err := goGCM(key)
			so = &slowOpener{g: g, failAt: failAt}
			return so, err
		}}
		got, err := readStream(ct, k, opts)
		if failAt < 0 && (err != nil || !bytes.Equal(got, data)) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
		if failAt >= 0 {
			if !errors.Is(err, ErrStreamDamaged) {
				t.Fatalf("a failing chunk: %v", err)
			}
			prefixOf(t, "failing chunk", got, data, int(failAt)*ChunkSize)
		}
		so.mu.Lock() // opens past a failed chunk may still be running
		most := so.most
		so.mu.Unlock()
		if most > 4 || most < 2 {
			t.Fatalf("%d opens ran at once, want 2 to 4", most)
		}
	}
}

// TestReadStreamBoundedMemory: however long the packets say they are,
// reading allocates the chunk buffers and little else.
func TestReadStreamBoundedMemory(t *testing.T) {
	k := key(t, 1)
	ct := encrypt(t, k, make([]byte, 3*ChunkSize))
	skesk, body := seipdBody(t, ct)
	huge := binary.BigEndian.AppendUint32([]byte{seipdTag, 255}, 0xFFFFFFFF)
	for name, msg := range map[string][]byte{
		"a 4 GiB packet, cut": append(append(bytes.Clone(skesk), huge...), body[:len(body)-100]...),
		"the real thing":      ct,
	} {
		for _, ahead := range []int{1, MaxAhead, 1000} {
			n := allocated(func() { readStream(msg, k, StreamOptions{Ahead: ahead}) })
			if bound := uint64(MaxAhead+2)*chunkBuf + 1<<20; n > bound {
				t.Fatalf("%s, ahead %d: allocated %d KiB, over %d", name, ahead, n>>10, bound>>10)
			}
		}
	}
}

// FuzzReadStream checks ReadStream against go-crypto on arbitrary peer
// streams (wire), and on valid encryptions of arbitrary plaintext
// (inner: any packets, or none): one at a time or pipelined, it reads
// the same; whatever it reads to the end, Decrypt (go-crypto) reads to
// the same end; it never panics, and allocates its chunk buffers and
// little more. The seed corpus (testdata/fuzz/FuzzReadStream) holds real
// streams, framings and forms Encrypt never writes.
func FuzzReadStream(f *testing.F) {
	k := key(f, 1)
	f.Fuzz(func(t *testing.T, wire, inner []byte) {
		if len(wire) > fuzzMaxInput || len(inner) > fuzzMaxInput {
			return
		}
		for _, ct := range [][]byte{wire, sealPlain(t, k, inner)} {
			var one, ahead []byte
			var errOne, errAhead error
			n := allocated(func() {
				one, errOne = readStream(ct, k, StreamOptions{})
				ahead, errAhead = readStream(ct, k, StreamOptions{Ahead: 3})
			})
			if !bytes.Equal(one, ahead) || (errOne == nil) != (errAhead == nil) {
				t.Fatalf("one at a time: %d bytes, %v; ahead: %d bytes, %v", len(one), errOne, len(ahead), errAhead)
			}
			if bound := uint64(8)*chunkBuf + 4*uint64(len(ct)) + 1<<20; n > bound {
				t.Fatalf("reading %d bytes allocated %d KiB", len(ct), n>>10)
			}
			if errOne != nil {
				continue
			}
			if want, err := readGoCrypto(ct, k); err != nil || !bytes.Equal(want, one) {
				t.Fatalf("ReadStream read %d bytes to the end; go-crypto %d bytes, %v", len(one), len(want), err)
			}
		}
	})
}

// BenchmarkReadStream compares the two readers of a 64 MiB peer stream
// (go test -bench ReadStream ./crypto/): go-crypto's Decrypt, and
// ReadStream one chunk at a time and 4 ahead.
func BenchmarkReadStream(b *testing.B) {
	k := key(b, 1)
	data := make([]byte, 64<<20)
	ct := encrypt(b, k, data)
	buf := make([]byte, 1<<20)
	readers := map[string]func() (io.Reader, error){
		"go-crypto": func() (io.Reader, error) { return Decrypt(bytes.NewReader(ct), k) },
		"ReadStream": func() (io.Reader, error) {
			return ReadStream(bytes.NewReader(ct), k, StreamOptions{})
		},
		"ReadStream-ahead4": func() (io.Reader, error) {
			return ReadStream(bytes.NewReader(ct), k, StreamOptions{Ahead: 4})
		},
	}
	for name, open := range readers {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := open()
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.CopyBuffer(io.Discard, r, buf); err != nil || n != int64(len(data)) {
					b.Fatal(n, err)
				}
			}
		})
	}
}
