package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/shell"
)

func (r *Runner) releaseLocks(ctx context.Context, status string) {
	keep := r.Cluster.Backups
	r.parallel(ctx, r.conns, func(ctx context.Context, c *hostConn) error {
		if !c.locked {
			return nil
		}
		st := status
		if !c.touched {
			st = ""
		}
		if _, err := r.exec(ctx, c, ReleaseScript(r.RunID, st, keep, c.touched && st != "")); err != nil {
			r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "could not release the lock: " + err.Error() + " (run `hadeploy lock release`)"})
		}
		c.locked = false
		return nil
	})
}

// lockAll snapshots every host taking the lock; if any host is locked by
// someone else, it releases what it took and fails with the holders.
func (r *Runner) lockAll(ctx context.Context) error {
	err := r.snapshot(ctx, r.conns, true)
	held := map[string]string{}
	for _, c := range r.conns {
		if c.snap != nil && !c.snap.LockTaken && c.snap.Lock != "" {
			held[c.h.Name] = c.snap.Lock
		}
	}
	if err == nil && len(held) > 0 {
		held = r.takeOverDeadLocks(ctx, held)
	}
	if err != nil || len(held) > 0 {
		r.releaseLocks(context.WithoutCancel(ctx), "")
		if err != nil {
			return err
		}
		return &LockedError{Holders: held}
	}
	return nil
}

// takeOverDeadLocks frees locks left by a hadeploy process on this machine
// that no longer runs (killed, or cut off from a host), then retakes them.
// Locks of live processes or other machines are never touched.
func (r *Runner) takeOverDeadLocks(ctx context.Context, held map[string]string) map[string]string {
	left := map[string]string{}
	for _, c := range r.conns {
		info, ok := held[c.h.Name]
		if !ok {
			continue
		}
		if !deadLocalHolder(info) {
			left[c.h.Name] = info
			continue
		}
		r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "taking over the lock of a hadeploy process that no longer runs: " + info})
		s := &shell.Script{}
		s.Line(`if [ "$(cat %s/info 2>/dev/null)" = %s ]; then rm -rf %s; fi`, LockDir, info, LockDir)
		if _, err := r.exec(ctx, c, s); err != nil {
			left[c.h.Name] = info
			continue
		}
		if err := r.snapshot(ctx, []*hostConn{c}, true); err != nil || !c.snap.LockTaken {
			left[c.h.Name] = info
		}
	}
	return left
}

// recoverInterrupted rolls back runs that never finished (Ctrl-C, lost
// connection) before anything else, so no file is left changed but not
// reloaded.
func (r *Runner) recoverInterrupted(ctx context.Context) error {
	var errs []error
	for _, c := range r.conns {
		var redo bool
		for _, run := range c.snap.Runs {
			if run.Status != "running" || run.ID == r.RunID {
				continue
			}
			r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "run " + run.ID + " was interrupted; rolling it back first"})
			if err := r.rollbackHost(ctx, c, run.ID); err != nil {
				errs = append(errs, err)
			}
			redo = true
		}
		if redo {
			if err := r.snapshot(ctx, []*hostConn{c}, false); err != nil {
				errs = append(errs, err)
			}
			c.snap.LockTaken = true
		}
	}
	return errors.Join(errs...)
}

// LockStatus reports who holds the lock on each host ("" when free).
func (r *Runner) LockStatus(ctx context.Context) (map[string]string, error) {
	if err := r.Open(ctx, false); err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]string{}
	for _, c := range r.conns {
		out[c.h.Name] = c.snap.Lock
	}
	return out, nil
}

// LockRelease removes the lock on every host, whoever holds it.
func (r *Runner) LockRelease(ctx context.Context) error {
	if err := r.Connect(ctx); err != nil {
		return err
	}
	defer r.Close()
	s := &shell.Script{}
	s.Line(`rm -rf %s`, LockDir)
	return r.parallel(ctx, r.conns, func(ctx context.Context, c *hostConn) error {
		if _, err := r.exec(ctx, c, s); err != nil {
			return fmt.Errorf("%s: release lock: %w", c.h.Name, err)
		}
		return nil
	})
}

// Unlock releases a lock taken by Open without recording a run.
func (r *Runner) Unlock(ctx context.Context) { r.releaseLocks(ctx, "") }
