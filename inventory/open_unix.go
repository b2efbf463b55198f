//go:build unix

package inventory

import (
	"os"
	"syscall"
)

// openFlags: O_NONBLOCK so that opening a FIFO cannot block, O_NOCTTY so
// that opening a terminal cannot make it ours. Neither changes how a
// regular file reads.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
