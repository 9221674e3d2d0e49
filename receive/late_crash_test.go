package receive

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// TestCrashBeforeSums: a receiver that dies while the sums of its offer
// have not come leaves a partial whose record names no hash. It is never
// resumed: the next receiver of the offer, with sums in it, starts the
// file over from zero and says why; with sums to follow, it does not
// wait for them on its account.
func TestCrashBeforeSums(t *testing.T) {
	out := t.TempDir()
	data := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{9}).Read(data)
	h := transfer.NewHash()
	h.Write(data)
	sums := []transfer.FileSum{{Path: "big.iso", Size: int64(len(data)), Hash: hex.EncodeToString(h.Sum(nil))}}
	late := transfer.Manifest{Files: 1, Bytes: int64(len(data)), Entries: []transfer.Entry{{Name: "big.iso", Size: int64(len(data))}}, SumsLater: true}

	// Run 1: half of the file arrives, the sums do not; then the
	// receiver dies (its dest is never closed).
	d, err := openDestResume(out, late, false, &destResume{})
	if err != nil {
		t.Fatal(err)
	}
	d.res.box = newSumsBox(nil)
	var stream bytes.Buffer
	tw := tar.NewWriter(&stream)
	tw.WriteHeader(&tar.Header{Name: "big.iso", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX})
	tw.Write(data[:len(data)/2])
	if err := d.extractTar(&stream); err == nil {
		t.Fatal("a stream cut short was taken")
	}
	d.res.lock.Close() // what the kernel does for a process that died
	d.root.Close()
	if !strings.Contains(string(mustRead(t, out, d.stage+recordSuffix)), `"have":1572864`) {
		t.Fatal("the record does not claim the half that arrived")
	}
	if couldResume(out, late) {
		t.Fatal("a partial without hash makes a receiver wait for the sums")
	}

	// Run 2: the sums are in the offer: the partial is not resumed.
	full := late
	full.SumsLater, full.Sums = false, sums
	var restarts []string
	d2, err := openDestResume(out, full, false, &destResume{Resume: Resume{OnRestart: func(name, why string) { restarts = append(restarts, name+": "+why) }}})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.abort()
	if d2.res.heldBytes() != 0 || len(restarts) != 1 || restarts[0] != "big.iso: "+unhashedPartial {
		t.Fatalf("holds %d bytes, restarts %q; want nothing held and big.iso started over", d2.res.heldBytes(), restarts)
	}
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b, err := readLimited(root, name, maxRecord)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
