package transfer

import (
	"strings"
	"testing"
)

// TestManifestSums: the hashes of an offer are held to its manifest.
func TestManifestSums(t *testing.T) {
	h := strings.Repeat("0f", HashSize)
	folder := func(files int64, sums ...FileSum) Manifest {
		return Manifest{Files: files, Folders: 1, Bytes: 10, Entries: []Entry{{Name: "d", Dir: true, Size: 10}}, Sums: sums}
	}
	good := folder(2, FileSum{"d/a", 4, h}, FileSum{"d/sub/b", 6, h})
	if err := good.Check(); err != nil {
		t.Fatalf("honest manifest refused: %v", err)
	}
	bad := map[string]Manifest{
		"fewer than the files": folder(2, FileSum{"d/a", 10, h}),
		"outside the folder":   folder(2, FileSum{"d/a", 4, h}, FileSum{"e/b", 6, h}),
		"dot dot":              folder(2, FileSum{"d/a", 4, h}, FileSum{"d/../b", 6, h}),
		"the folder itself":    folder(2, FileSum{"d/a", 4, h}, FileSum{"d", 6, h}),
		"twice":                folder(2, FileSum{"d/a", 5, h}, FileSum{"d/a", 5, h}),
		"sizes too large":      folder(2, FileSum{"d/a", 4, h}, FileSum{"d/b", 7, h}),
		"sizes too small":      folder(2, FileSum{"d/a", 4, h}, FileSum{"d/b", 5, h}),
		"negative size":        folder(2, FileSum{"d/a", 11, h}, FileSum{"d/b", -1, h}),
		"short hash":           folder(2, FileSum{"d/a", 4, h}, FileSum{"d/b", 6, "0f"}),
		"not hex":              folder(2, FileSum{"d/a", 4, h}, FileSum{"d/b", 6, strings.Repeat("zz", HashSize)}),
		"control character":    folder(2, FileSum{"d/a", 4, h}, FileSum{"d/\x1b[2J", 6, h}),
		"unknown size":         {Files: 1, Bytes: UnknownSize, Entries: []Entry{{Name: "f", Size: UnknownSize}}, Sums: []FileSum{{"f", 0, h}}},
	}
	for name, m := range bad {
		if err := m.Check(); err == nil {
			t.Errorf("%s: manifest accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
