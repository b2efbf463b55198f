package provision

import (
	"fmt"
	"strings"
)

// LockedError reports hosts whose lock another run holds.
type LockedError struct{ Holders map[string]string }

func (e *LockedError) Error() string {
	var b strings.Builder
	b.WriteString("the cluster is locked by another run; nothing was changed:")
	for _, h := range sortedKeys(e.Holders) {
		fmt.Fprintf(&b, "\n  %s: %s", h, e.Holders[h])
	}
	b.WriteString("\n(a lock older than the stale limit expires by itself; `hadeploy lock release` removes it)")
	return b.String()
}

// RefusedError is a plan refused before any host was touched.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string {
	return "refused, nothing was changed: " + e.Err.Error()
}

func (e *RefusedError) Unwrap() error { return e.Err }

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
