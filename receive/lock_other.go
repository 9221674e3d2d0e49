//go:build !unix

package receive

import "os"

// lockStage opens the staging folder; this system has no flock, so two
// receivers of the same offer in one folder are not kept apart.
func lockStage(root *os.Root, stage string) (*os.File, error) { return root.Open(stage) }
