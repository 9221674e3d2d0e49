package receive

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// crashBeforeSums is a first run into out of an offer of data whose sums
// follow: half of the file arrives, the sums do not, and the receiver
// dies (its dest is never closed). It returns the offer with its sums.
func crashBeforeSums(t *testing.T, out string, data []byte) transfer.Manifest {
	t.Helper()
	h := transfer.NewHash()
	h.Write(data)
	late := transfer.Manifest{Files: 1, Bytes: int64(len(data)), Entries: []transfer.Entry{{Name: "big.iso", Size: int64(len(data))}}, SumsLater: true}
	d, err := openDestResume(out, late, false, &destResume{Checks: true})
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
	if couldResume(out, late, false) || !couldResume(out, late, true) {
		t.Fatal("a partial without hash makes a receiver wait for the sums of a sender that cannot check it, or not for one that can")
	}
	full := late
	full.SumsLater, full.Sums = false, []transfer.FileSum{{Path: "big.iso", Size: int64(len(data)), Hash: hex.EncodeToString(h.Sum(nil))}}
	return full
}

// resumeStreamAt is the rest of data from offset on, as a ferry sender
// streams it.
func resumeStreamAt(data []byte, sum string, offset int64) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	pax := map[string]string{transfer.PAXHash: sum}
	if offset > 0 {
		pax[transfer.PAXOffset] = strconv.FormatInt(offset, 10)
	}
	tw.WriteHeader(&tar.Header{Name: "big.iso", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)) - offset, Format: tar.FormatPAX, PAXRecords: pax})
	tw.Write(data[offset:])
	tw.Close()
	return &b
}

// TestCrashBeforeSums: a receiver that dies while the sums of its offer
// have not come leaves a partial whose record names no hash. The next
// receiver of the offer never resumes it on its own account: it offers
// it, with the hash of what it holds, to a sender that checks such
// partials (and goes on if the sender resumes it, starts over if the
// sender sends the file from zero); to one that does not, it starts the
// file over from zero and says why.
func TestCrashBeforeSums(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{9}).Read(data)
	half := int64(len(data) / 2)
	ph := transfer.NewHash()
	ph.Write(data[:half])
	prefix := hex.EncodeToString(ph.Sum(nil))

	for _, c := range []struct {
		name     string
		checks   bool
		offset   int64 // where the sender starts
		held     transfer.Held
		restarts int
	}{
		{"the sender vouches", true, half, transfer.Held{I: 0, At: half, Prefix: prefix}, 0},
		{"the sender's file differs", true, 0, transfer.Held{I: 0, At: half, Prefix: prefix}, 1},
		{"the sender cannot check", false, 0, transfer.Held{}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			full := crashBeforeSums(t, out, data)
			var restarts []string
			d, err := openDestResume(out, full, false, &destResume{Checks: c.checks,
				Resume: Resume{OnRestart: func(name, why string) { restarts = append(restarts, name+": "+why) }}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.abort()
			have := d.res.have()
			if c.held.At == 0 && len(have.Files) != 0 || c.held.At > 0 && (len(have.Files) != 1 || have.Files[0] != c.held) {
				t.Fatalf("holds %+v, want %+v", have.Files, c.held)
			}
			if c.checks {
				if err := d.extractTar(resumeStreamAt(data, full.Sums[0].Hash, c.offset)); err != nil {
					t.Fatal(err)
				}
				if err := d.commit(); err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(filepath.Join(out, "big.iso")); !bytes.Equal(got, data) {
					t.Fatal("big.iso landed with other bytes")
				}
			}
			if len(restarts) != c.restarts {
				t.Fatalf("restarts %q, want %d", restarts, c.restarts)
			}
			if !c.checks && restarts[0] != "big.iso: "+unhashedPartial {
				t.Fatalf("restart %q, want big.iso: %s", restarts[0], unhashedPartial)
			}
		})
	}
}
