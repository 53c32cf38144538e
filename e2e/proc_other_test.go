//go:build !linux

package e2e

import (
	"errors"
	"fmt"
)

// waitNoReap waits for a child without reaping it only on Linux
// (waitid's WNOWAIT); elsewhere callers reap it with Wait and signal
// nothing after.
func waitNoReap(int) error { return errors.ErrUnsupported }

// parentOf needs Linux's /proc.
func parentOf(pid int) (int, error) {
	return 0, fmt.Errorf("parent of %d: %w", pid, errors.ErrUnsupported)
}
