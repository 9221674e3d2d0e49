package crypto

import (
	"io/fs"

	"github.com/ferrydrop/ferry/internal/safefile"
)

// What Open decrypts must not appear before it is authenticated, and a
// key export or a message must not appear half written: a PendingFile is
// written in a temporary file in its target's folder and renamed onto the
// target only on Commit (after the caller's checks passed); Abort removes
// it. Without force an existing target is never replaced.

// PendingFile is an output file that appears whole or not at all.
type PendingFile = safefile.File

// ErrFileExists means the target exists and replacing it was not allowed.
var ErrFileExists = safefile.ErrExists

// CreatePending starts a pending file for target with permissions perm.
// Without force it fails at once if target exists (Commit checks again).
func CreatePending(target string, perm fs.FileMode, force bool) (*PendingFile, error) {
	return safefile.Create(target, perm, force)
}

// WriteFileAtomic writes data to target whole or not at all.
func WriteFileAtomic(target string, data []byte, perm fs.FileMode, force bool) error {
	return safefile.WriteFile(target, data, perm, force)
}
