package crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func key(t testing.TB, b byte) []byte {
	k, err := StreamKey(bytes.Repeat([]byte{b}, 32), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func encrypt(t testing.TB, k, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(&buf, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	k := key(t, 1)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5} {
		plain := make([]byte, n)
		rand.Read(plain)
		r, err := Decrypt(bytes.NewReader(encrypt(t, k, plain)), k)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
}

// TestFormat checks the wire form the design fixes: a v6 SKESK and a
// SEIPDv2 packet with AES-128, GCM and 256 KiB chunks.
func TestFormat(t *testing.T) {
	ct := encrypt(t, key(t, 1), []byte("x"))
	pr := packet.NewReader(bytes.NewReader(ct))
	p, err := pr.Next()
	if err != nil {
		t.Fatal(err)
	}
	ske, ok := p.(*packet.SymmetricKeyEncrypted)
	if !ok || ske.Version != 6 {
		t.Fatalf("first packet %T %+v, want a v6 SKESK", p, p)
	}
	p, err = pr.Next()
	if err != nil {
		t.Fatal(err)
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || se.Version != 2 || se.Cipher != packet.CipherAES128 || se.Mode != packet.AEADModeGCM {
		t.Fatalf("second packet %T %+v, want SEIPDv2 AES-128 GCM", p, p)
	}
	if size := 1 << (se.ChunkSizeByte + 6); size != ChunkSize {
		t.Fatalf("chunk size %d, want %d", size, ChunkSize)
	}
}

func TestWrongKey(t *testing.T) {
	ct := encrypt(t, key(t, 1), []byte("secret"))
	if r, err := Decrypt(bytes.NewReader(ct), key(t, 2)); err == nil {
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("decrypted with the wrong key")
		}
	}
}

// TestTamperedChunk flips one byte in the second chunk: the first chunk's
// plaintext may be released, nothing from the second chunk on.
func TestTamperedChunk(t *testing.T) {
	k := key(t, 1)
	plain := make([]byte, 3*ChunkSize)
	rand.Read(plain)
	ct := encrypt(t, k, plain)
	ct[len(ct)/2] ^= 0x40
	r, err := Decrypt(bytes.NewReader(ct), k)
	if err != nil {
		return // refused up front: fine
	}
	got, err := io.ReadAll(r)
	if err == nil {
		t.Fatal("tampered stream read to the end without error")
	}
	if len(got) > ChunkSize || !bytes.Equal(got, plain[:len(got)]) {
		t.Fatalf("released %d bytes, more than the authentic first chunk", len(got))
	}
}

func TestTruncated(t *testing.T) {
	k := key(t, 1)
	plain := make([]byte, 2*ChunkSize+100)
	ct := encrypt(t, k, plain)
	for _, cut := range []int{1, 16, 17, 100, ChunkSize} {
		r, err := Decrypt(bytes.NewReader(ct[:len(ct)-cut]), k)
		if err != nil {
			continue
		}
		if _, err := io.ReadAll(r); err == nil {
			t.Fatalf("stream cut by %d bytes read to the end without error", cut)
		}
	}
}

func TestRefusesPlaintextMessage(t *testing.T) {
	var buf bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&buf}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("not encrypted"))
	w.Close()
	if _, err := Decrypt(&buf, key(t, 1)); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("Decrypt = %v, want ErrNotEncrypted", err)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// BenchmarkStream measures encrypt+decrypt throughput (report with -benchmem).
func BenchmarkStream(b *testing.B) {
	k := key(b, 1)
	buf := make([]byte, 64<<10)
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() {
			w, _ := Encrypt(pw, k)
			for n := 0; n < size; n += len(buf) {
				w.Write(buf)
			}
			w.Close()
			pw.Close()
		}()
		r, err := Decrypt(pr, k)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
