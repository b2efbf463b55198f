package provision

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/shell"
)

// releaseTimeout bounds releasing the locks after a failure or an
// interrupt: a host that does not answer keeps its lock (it expires, or
// `hadeploy lock release`), the operator gets the prompt back.
const releaseTimeout = 20 * time.Second

// releaseLocks marks the run on each host it locked and drops the lock if it
// is still this run's; hosts whose locking program failed half-way are
// unlocked if the lock there turns out to be ours.
func (r *Runner) releaseLocks(ctx context.Context, status string) {
	keep := r.Cluster.Backups
	// The first host goes last, as it went first: once it is free, no other
	// host holds this run's lock, so the next run does not trip on one.
	order := r.lockOrder()
	release := func(ctx context.Context, c *hostConn) error {
		if c == nil || (!c.locked && !c.lockUnknown) {
			return nil
		}
		script := UnlockScript(r.lockInfo)
		if c.locked {
			// The current stage's run: earlier stages were marked as they
			// finished.
			st, touched := status, r.touchedNow(c)
			if !touched {
				st = ""
			}
			script = ReleaseScript(r.runID(), st, keep, touched && st != "", r.lockInfo)
		}
		if _, err := r.exec(ctx, c, script); err != nil && c.locked {
			r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "could not release the lock: " + err.Error() + " (run `hadeploy lock release`)"})
		}
		c.locked, c.lockUnknown = false, false
		return nil
	}
	if len(order) > 0 {
		r.parallel(ctx, order[1:], release)
		release(ctx, order[0])
	}
}

// lockOrder is the order hosts are locked in: by name, the same for every
// run over the same hosts.
func (r *Runner) lockOrder() []*hostConn {
	var order []*hostConn
	for _, c := range r.conns {
		if c != nil {
			order = append(order, c)
		}
	}
	slices.SortFunc(order, func(a, b *hostConn) int { return strings.Compare(a.h.Name, b.h.Name) })
	return order
}

// lockAll takes the cluster lock on every host, reading each host in the
// same round trip. With LockWait it retries, with backoff, while someone
// else holds the lock, saying who; then fails with the holders.
func (r *Runner) lockAll(ctx context.Context) error {
	// The wait starts when the lock is first found held, not before the
	// first attempt (connecting a slow fleet must not eat it).
	var deadline time.Time
	delay := 250 * time.Millisecond
	said := ""
	for {
		err := r.tryLockAll(ctx)
		var le *LockedError
		if !errors.As(err, &le) || r.LockWait <= 0 {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(r.LockWait)
		}
		left := time.Until(deadline)
		if left <= 0 {
			le.Waited = r.LockWait
			return le
		}
		if who := le.holders(); who != said {
			said = who
			for _, h := range sortedKeys(le.Holders) {
				r.emit(events.Event{Type: events.EvInfo, Host: h, Step: "lock", Message: fmt.Sprintf("held by %s; waiting up to %s for it (--lock-wait)", le.Holders[h], left.Round(time.Second))})
			}
		}
		// Jitter, so that runs waiting for the same lock do not all retry
		// at the same instant.
		wait := min(delay/2+rand.N(delay), left)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w while waiting for the lock, held by:\n%s", ctx.Err(), le.holders())
		case <-time.After(wait):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// tryLockAll takes the lock on every host or on none. Hosts are locked in
// name order, the first one ALONE before the rest: concurrent runs over the
// same hosts all contend for that one atomic mkdir first, so exactly one gets
// past it and the others fail at once holding nothing. (Locking every host
// at once let two runs each win some hosts and both be refused.) The rest
// are then locked in parallel, one round trip each; any of them held (by
// another tool, or by a run over other --limit hosts, whose first host
// differs) makes this run release only what it took, and fail naming the
// holders.
func (r *Runner) tryLockAll(ctx context.Context) error {
	r.lockInfo = fmt.Sprintf("run %s by %s since %s", r.RunID, r.Meta, time.Now().UTC().Format(time.RFC3339))
	order := r.lockOrder()
	for _, c := range order {
		c.snap, c.locked, c.lockUnknown = nil, false, false
	}
	for _, wave := range [][]*hostConn{order[:min(1, len(order))], order[min(1, len(order)):]} {
		if len(wave) == 0 {
			continue
		}
		err := r.snapshot(ctx, wave, true)
		held := map[string]string{}
		for _, c := range wave {
			if c.snap != nil && !c.snap.LockTaken && c.snap.Lock != "" {
				held[c.h.Name] = c.snap.Lock
			}
		}
		if err == nil && len(held) > 0 {
			held = r.takeOverDeadLocks(ctx, held)
		}
		if err != nil || len(held) > 0 {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			r.releaseLocks(rctx, "")
			cancel()
			if err != nil {
				return err
			}
			return &LockedError{Holders: held}
		}
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
		if _, err := r.exec(ctx, c, TakeOverScript(info)); err != nil {
			left[c.h.Name] = info
			continue
		}
		if err := r.snapshot(ctx, []*hostConn{c}, true); err != nil || !c.snap.LockTaken {
			left[c.h.Name] = info
			if c.snap != nil && c.snap.Lock != "" {
				left[c.h.Name] = c.snap.Lock // another run took it first
			}
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
	s.Line(`rm -rf %s %s`, LockDir, lockBreaker)
	return r.parallel(ctx, r.conns, func(ctx context.Context, c *hostConn) error {
		if _, err := r.exec(ctx, c, s); err != nil {
			return fmt.Errorf("%s: release lock: %w", c.h.Name, err)
		}
		return nil
	})
}

// Unlock releases a lock taken by Open without recording a run.
func (r *Runner) Unlock(ctx context.Context) { r.releaseLocks(ctx, "") }
