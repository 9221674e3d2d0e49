package send

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// TestResumeAtChecksPrefix: a held beginning the receiver cannot vouch
// for (Held.Prefix) is resumed only when the file starts with it; else
// the file is sent from zero. A malformed one is refused.
func TestResumeAtChecksPrefix(t *testing.T) {
	dir := t.TempDir()
	data := []byte(strings.Repeat("the first run's bytes ", 5000))
	path := filepath.Join(dir, "big.iso")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := scan(nil, []string{path}, func(string, string) {})
	if err != nil {
		t.Fatal(err)
	}
	sums, err := src.hashFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	hashOf := func(b []byte) string {
		h := transfer.NewHash()
		h.Write(b)
		return hex.EncodeToString(h.Sum(nil))
	}
	half := int64(len(data) / 2)
	for _, c := range []struct {
		prefix string
		at     int64
		err    string
	}{
		{hashOf(data[:half]), half, ""},
		{hashOf([]byte("other bytes")), 0, ""},
		{"", half, ""}, // vouched for by the receiver
		{"zz", 0, "malformed"},
	} {
		at, err := src.resumeAt(sums, &transfer.Have{Files: []transfer.Held{{I: 0, At: half, Prefix: c.prefix}}})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("prefix %q: %v, want %q", c.prefix, err, c.err)
			}
			continue
		}
		if err != nil || at["big.iso"] != c.at {
			t.Errorf("prefix %q: at %v (%v), want big.iso at %d", c.prefix, at, err, c.at)
		}
	}
}
