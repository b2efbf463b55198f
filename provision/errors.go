package provision

import (
	"fmt"
	"strings"
	"time"
)

// LockedError reports hosts whose lock another run holds.
type LockedError struct {
	Holders map[string]string // host → the holder's lock info
	Waited  time.Duration     // how long --lock-wait waited in vain
}

func (e *LockedError) Error() string {
	var b strings.Builder
	b.WriteString("the cluster is locked by another run; nothing was changed")
	if e.Waited > 0 {
		fmt.Fprintf(&b, " (waited %s)", e.Waited)
	}
	b.WriteString(":\n" + e.holders())
	b.WriteString("\n(a lock older than the stale limit expires by itself; `hadeploy lock release` removes it; --lock-wait waits for it)")
	return b.String()
}

// RefusedError is a plan refused before any host was touched.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string {
	return "refused, nothing was changed: " + e.Err.Error()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// holders lists each host and who holds its lock, one per line.
func (e *LockedError) holders() string {
	var lines []string
	for _, h := range sortedKeys(e.Holders) {
		lines = append(lines, "  "+h+": "+e.Holders[h])
	}
	return strings.Join(lines, "\n")
}

// ApplyError is a failed apply; RolledBack says whether every touched host
// was put back as it was.
type ApplyError struct {
	Err        error
	RolledBack bool
	Manual     []string // hosts whose rollback failed, with the command to finish it
}

func (e *ApplyError) Error() string {
	msg := e.Err.Error()
	if e.RolledBack {
		msg += "\nevery host this run touched was rolled back to its state before the run"
	}
	for _, m := range e.Manual {
		msg += "\nrollback FAILED on " + m
	}
	return msg
}

func (e *ApplyError) Unwrap() error { return e.Err }
