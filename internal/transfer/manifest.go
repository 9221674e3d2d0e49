package transfer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps on a manifest from the network, checked before anything is created.
const (
	MaxEntries  = 10000 // top-level names
	MaxNameLen  = 255   // bytes in one path component
	MaxPathLen  = 4096  // bytes in a whole path inside the stream
	MaxFiles    = 1 << 20
	MaxFolders  = 1 << 18 // folders in all, the top-level ones included
	UnknownSize = -1      // Entry.Size of a stream whose length is not known (stdin)
)

// Manifest is what the receiver is shown before it accepts: how much, and
// the names that will appear in its folder.
type Manifest struct {
	Files   int64   `json:"files"`   // regular files, in all folders
	Folders int64   `json:"folders"` // folders, the top-level ones included
	Bytes   int64   `json:"bytes"`   // their total size, or UnknownSize
	Entries []Entry `json:"entries"` // top-level names
	// Sums, from a ferry sender reading files from disk, lists every
	// regular file with its size and hash, in stream order (resume.go).
	Sums []FileSum `json:"sums,omitempty"`
	// SumsLater, instead of Sums, says that the sender is still hashing
	// and sends the sums in a message of their own (Ferry.Sums) once it
	// is done, so that the stream need not wait for them (late.go). A
	// peer that does not know the field sees an offer without sums: no
	// resume, as from a sender that hashes nothing.
	SumsLater bool `json:"sums_later,omitempty"`
	// Wire, when set, is what will cross the wire if it differs from
	// Bytes (a classic sender's zip); the receiver fills it in, it is
	// never sent.
	Wire int64 `json:"-"`
}

// Entry is one top-level name of a transfer.
type Entry struct {
	Name string `json:"name"`
	Dir  bool   `json:"dir,omitempty"`
	Size int64  `json:"size"` // bytes (a folder: of all its files), or UnknownSize
	// Exec marks a top-level file as executable: only then does it land
	// with execute permission.
	Exec bool `json:"exec,omitempty"`
}

// Dotfile reports whether the entry's name starts with a dot: such a name
// is hidden by ls and may be read by a shell (.bashrc, .profile).
func (e Entry) Dotfile() bool { return strings.HasPrefix(e.Name, ".") }

// Check validates a manifest received from the network.
func (m *Manifest) Check() error {
	if len(m.Entries) == 0 {
		return errors.New("manifest lists nothing")
	}
	if len(m.Entries) > MaxEntries {
		return fmt.Errorf("manifest lists %d names; ferry accepts at most %d", len(m.Entries), MaxEntries)
	}
	if m.Files < 0 || m.Files > MaxFiles {
		return fmt.Errorf("manifest declares %d files; ferry accepts at most %d", m.Files, MaxFiles)
	}
	if m.Folders < 0 || m.Folders > MaxFolders {
		return fmt.Errorf("manifest declares %d folders; ferry accepts at most %d", m.Folders, MaxFolders)
	}
	var files, folders int64
	if m.Bytes < UnknownSize {
		return fmt.Errorf("manifest declares %d bytes", m.Bytes)
	}
	seen := make(map[string]bool, len(m.Entries))
	var sum int64
	for _, e := range m.Entries {
		if err := CheckName(e.Name); err != nil {
			return err
		}
		if seen[e.Name] {
			return fmt.Errorf("manifest lists \"%s\" twice", Escape(e.Name))
		}
		seen[e.Name] = true
		if e.Dir {
			folders++
			if e.Exec {
				return fmt.Errorf("manifest marks the folder \"%s\" executable", Escape(e.Name))
			}
		} else {
			files++
		}
		if e.Size < UnknownSize || (e.Size == UnknownSize) != (m.Bytes == UnknownSize) {
			return fmt.Errorf("manifest declares a size of %d for \"%s\"", e.Size, Escape(e.Name))
		}
		if e.Size == UnknownSize {
			continue
		}
		sum += e.Size
		if sum < 0 {
			return errors.New("manifest sizes overflow")
		}
	}
	// Each top-level folder is a folder, each top-level file a file.
	if folders > m.Folders || files > m.Files {
		return fmt.Errorf("manifest declares %d files and %d folders but lists %d and %d at the top", m.Files, m.Folders, files, folders)
	}
	if m.Bytes != UnknownSize && sum != m.Bytes {
		return fmt.Errorf("manifest sizes add up to %d, not the declared %d", sum, m.Bytes)
	}
	return m.checkSums()
}

// CheckName validates one path component from the network: not empty, not
// . or .., no separators, no NUL, control, bidi or line-separator
// characters (nothing Escape would change), valid UTF-8.
func CheckName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid name \"%s\"", Escape(name))
	case len(name) > MaxNameLen:
		return fmt.Errorf("name \"%s\" is longer than %d bytes", Escape(name[:32])+"…", MaxNameLen)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("name \"%s\" contains a path separator", Escape(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("name \"%s\" is not valid UTF-8", Escape(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("name \"%s\" contains control characters", Escape(name))
		}
	}
	return nil
}
