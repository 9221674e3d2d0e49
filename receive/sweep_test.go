package receive

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepKeepsResumable: a staging folder with a resume record lives
// for staleResumable after the record last changed; one without (or a
// record older than that) goes after stalePartial, as before.
func TestSweepKeepsResumable(t *testing.T) {
	out := t.TempDir()
	now := time.Now()
	mk := func(name string, age time.Duration, record bool) {
		t.Helper()
		stage := filepath.Join(out, name)
		if err := os.MkdirAll(stage, 0o700); err != nil {
			t.Fatal(err)
		}
		old := now.Add(-age)
		os.Chtimes(stage, old, old)
		if record {
			rec := stage + recordSuffix
			if err := os.WriteFile(rec, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(rec, old, old)
		}
	}
	mk(partialPrefix+"aaaaaaaaaaaa", 3*24*time.Hour, true)  // resumable, 3 days: kept
	mk(partialPrefix+"bbbbbbbbbbbb", 3*24*time.Hour, false) // plain, 3 days: swept
	mk(partialPrefix+"cccccccccccc", 8*24*time.Hour, true)  // resumable, 8 days: swept
	mk(partialPrefix+"dddddddddddd", 2*time.Hour, false)    // plain, young: kept
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sweepPartials(root, now)
	var got []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{partialPrefix + "aaaaaaaaaaaa", partialPrefix + "aaaaaaaaaaaa" + recordSuffix, partialPrefix + "dddddddddddd"}
	if len(got) != len(want) {
		t.Fatalf("after the sweep %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after the sweep %q, want %q", got, want)
		}
	}
}
