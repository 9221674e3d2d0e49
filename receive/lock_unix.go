//go:build unix

package receive

import (
	"os"
	"syscall"
)

// lockStage locks the staging folder stage for this process (flock, so a
// killed receiver's lock goes with it); it fails when another holds it.
func lockStage(root *os.Root, stage string) (*os.File, error) {
	f, err := root.Open(stage)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
