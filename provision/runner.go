package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

// DialFunc opens the one connection hadeploy uses for a host.
type DialFunc func(ctx context.Context, h *inventory.Host) (transport.Transport, error)

// Runner carries out plan, apply, rollback and history on a set of hosts.
type Runner struct {
	Cluster *inventory.Cluster
	Hosts   []*inventory.Host // the hosts to act on (--limit)
	Dial    DialFunc
	Sink    events.Sink
	RunID   string
	// Meta identifies the operator in locks and history: who, from where, what.
	Meta             string
	StaleLockMinutes int
	// Log receives every remote program run (with file contents elided).
	Log func(format string, args ...any)

	red   *Redactor
	conns []*hostConn
}

type hostConn struct {
	h       *inventory.Host
	t       transport.Transport
	snap    *Snapshot
	plan    *HostPlan
	touched bool
	locked  bool
	sum     events.HostSummary
}

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

func (r *Runner) emit(e events.Event) {
	if r.Sink == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Run == "" {
		e.Run = r.RunID
	}
	e.Message = r.red.Redact(e.Message)
	r.Sink.Emit(e)
}

// Connect opens one connection per host, in parallel. Every failure is
// reported, not only the first.
func (r *Runner) Connect(ctx context.Context) error {
	r.red = NewRedactor(r.Cluster)
	r.conns = make([]*hostConn, len(r.Hosts))
	errs := make([]error, len(r.Hosts))
	var wg sync.WaitGroup
	for i, h := range r.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			t, err := r.Dial(ctx, h)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", h.Name, err)
				return
			}
			r.conns[i] = &hostConn{h: h, t: t, sum: events.HostSummary{Host: h.Name}}
			r.emit(events.Event{Type: events.EvHostConnected, Host: h.Name, DurationMS: ms(time.Since(start))})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return err
	}
	return nil
}

// Close closes every connection.
func (r *Runner) Close() {
	for _, c := range r.conns {
		if c != nil && c.t != nil {
			c.t.Close()
		}
	}
}

// exec runs a script on a host through sh, logging it without file contents.
// Its errors, like the transport's, do not name the host: callers add it once
// with the stage that failed.
func (r *Runner) exec(ctx context.Context, c *hostConn, s *shell.Script) (transport.Result, error) {
	if r.Log != nil {
		r.Log("%s: run:\n%s", c.h.Name, r.red.Redact(s.Loggable()))
	}
	res, err := c.t.Run(ctx, "/bin/sh", strings.NewReader(s.String()))
	if r.Log != nil {
		r.Log("%s: exit %d\nstdout:\n%s\nstderr:\n%s", c.h.Name, res.ExitCode, r.red.Redact(tail(elideFiles(string(res.Stdout)), 4000)), r.red.Redact(tail(string(res.Stderr), 4000)))
	}
	return res, err
}

func (r *Runner) parallel(ctx context.Context, cs []*hostConn, f func(ctx context.Context, c *hostConn) error) error {
	var g errgroup.Group
	errs := make([]error, len(cs))
	for i, c := range cs {
		g.Go(func() error { errs[i] = f(ctx, c); return nil })
	}
	g.Wait()
	return errors.Join(errs...)
}

// snapshot reads every host in one round trip each; with lock it also takes
// the cluster lock.
func (r *Runner) snapshot(ctx context.Context, cs []*hostConn, lock bool) error {
	lockInfo := ""
	if lock {
		lockInfo = fmt.Sprintf("run %s by %s since %s", r.RunID, r.Meta, time.Now().UTC().Format(time.RFC3339))
	}
	stale := r.StaleLockMinutes
	if stale <= 0 {
		stale = 60
	}
	script := SnapshotScript(steps.ManagedPaths(r.Cluster), steps.ManagedPackages(), steps.ManagedServices(), lockInfo, stale)
	return r.parallel(ctx, cs, func(ctx context.Context, c *hostConn) error {
		res, err := r.exec(ctx, c, script)
		if err != nil {
			return fmt.Errorf("%s: read host state: %w", c.h.Name, err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("%s: read host state: exit %d: %s", c.h.Name, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
		sn, err := ParseSnapshot(res.Stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", c.h.Name, err)
		}
		c.snap = sn
		if sn.LockTaken {
			c.locked = true
		}
		return nil
	})
}

func (r *Runner) plan(cs []*hostConn) error {
	var errs []error
	for _, c := range cs {
		p, err := PlanHost(r.Cluster, c.h, c.snap)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.plan = p
	}
	return errors.Join(errs...)
}

// Plan reads every host and computes what apply would change. It changes
// nothing on any host.
func (r *Runner) Plan(ctx context.Context) ([]*HostPlan, error) {
	if err := r.Open(ctx, false); err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.plan(r.conns); err != nil {
		return nil, err
	}
	var out []*HostPlan
	for _, c := range r.conns {
		out = append(out, c.plan)
		c.sum.RoundTrips = c.t.RoundTrips()
	}
	return out, nil
}

// Diff renders a file change for display, secrets masked.
func (r *Runner) Diff(fc FileChange) string { return r.red.Diff(fc) }

// RoundTrips reports the round trips per host of the last command.
func (r *Runner) RoundTrips() map[string]int64 {
	out := map[string]int64{}
	for _, c := range r.conns {
		if c != nil {
			out[c.h.Name] = c.t.RoundTrips()
		}
	}
	return out
}

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

// Apply brings every host to the desired state, or puts every touched host
// back as it was.
func (r *Runner) Apply(ctx context.Context) (*events.Summary, error) {
	start := time.Now()
	sum := &events.Summary{Command: "apply", Run: r.RunID, Backups: RunDir(r.RunID)}
	r.emit(events.Event{Type: events.EvRunStarted, Message: "apply " + r.Cluster.File})
	if err := r.Open(ctx, true); err != nil {
		return nil, err
	}
	defer r.Close()
	// From here on, cleanup must run even if the operator pressed Ctrl-C.
	cleanupCtx := context.WithoutCancel(ctx)
	err := r.applyLocked(ctx)
	if err != nil {
		aerr := &ApplyError{Err: err}
		r.emit(events.Event{Type: events.EvError, Message: err.Error()})
		aerr.RolledBack, aerr.Manual = r.rollbackTouched(cleanupCtx)
		sum.Failed, sum.RolledBack = true, aerr.RolledBack
		sum.Next = "hadeploy history " + r.Cluster.File + "   # then fix the cause and run apply again"
		r.releaseLocks(cleanupCtx, "")
		r.finish(sum, start)
		return sum, aerr
	}
	r.releaseLocks(cleanupCtx, "ok")
	r.finish(sum, start)
	return sum, nil
}

func (r *Runner) finish(sum *events.Summary, start time.Time) {
	for _, c := range r.conns {
		c.sum.RoundTrips = c.t.RoundTrips()
		sum.Hosts = append(sum.Hosts, c.sum)
		sum.Changes += c.sum.Changed
	}
	sum.DurationMS = ms(time.Since(start))
	r.emit(events.Event{Type: events.EvSummary, Summary: sum})
}

func (r *Runner) applyLocked(ctx context.Context) error {
	if err := r.recoverInterrupted(ctx); err != nil {
		return err
	}
	if err := r.plan(r.conns); err != nil {
		return err
	}
	// Packages first, on every host at once: installing is slow and changes
	// no served configuration hadeploy manages.
	var need []*hostConn
	for _, c := range r.conns {
		if len(c.plan.Packages) > 0 {
			need = append(need, c)
		}
	}
	err := r.parallel(ctx, need, func(ctx context.Context, c *hostConn) error {
		t0 := time.Now()
		c.touched = true
		res, err := r.exec(ctx, c, PackagesScript(r.RunID, r.Meta, c.snap.Facts.PkgMgr, c.plan.Packages))
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("%s", failure(res))
		}
		if err != nil {
			c.sum.Failed++
			r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: "packages", Status: events.StatusFailed, Message: err.Error(), DurationMS: ms(time.Since(t0))})
			return fmt.Errorf("%s: step packages: %w", c.h.Name, err)
		}
		c.sum.Changed++
		r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: "packages", Status: events.StatusChanged, Message: "installed " + strings.Join(c.plan.Packages, " "), DurationMS: ms(time.Since(t0))})
		if err := r.snapshot(ctx, []*hostConn{c}, false); err != nil {
			return err
		}
		c.snap.LockTaken = true
		p, err := PlanHost(r.Cluster, c.h, c.snap)
		c.plan = p
		return err
	})
	if err != nil {
		return err
	}

	for _, ph := range playbooks.Apply(r.Cluster, r.Hosts, fleet{r}) {
		if err := r.applyPhase(ctx, ph); err != nil {
			return err
		}
	}
	return nil
}

// applyPhase changes the phase's hosts (one at a time when Serial), each
// passing its gates before the next goes, then the phase's final gates.
func (r *Runner) applyPhase(ctx context.Context, ph playbooks.Phase) error {
	var mu sync.Mutex
	anyChanged := false
	one := func(ctx context.Context, c *hostConn) error {
		changed, err := r.applyHost(ctx, c)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
		mu.Lock()
		anyChanged = true
		mu.Unlock()
		if ph.After == nil {
			return nil
		}
		for _, g := range ph.After(c.h) {
			if err := r.pass(ctx, g); err != nil {
				return fmt.Errorf("%s: after its change: %w", c.h.Name, err)
			}
		}
		return nil
	}
	cs := r.connsOf(ph.Hosts)
	if ph.Serial {
		for _, c := range cs {
			if err := one(ctx, c); err != nil {
				return err
			}
		}
	} else if err := r.parallel(ctx, cs, one); err != nil {
		return err
	}
	if !anyChanged {
		return nil
	}
	for _, g := range ph.Finally {
		if err := r.pass(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// pass waits until gate g holds: its probe runs on every observer at once,
// every GateInterval, until Passed says yes or the gate's bound is spent.
func (r *Runner) pass(ctx context.Context, g playbooks.Gate) error {
	t0 := time.Now()
	deadline := t0.Add(g.Bound)
	obs := r.connsOf(g.Observers)
	for {
		var mu sync.Mutex
		out := map[string]string{}
		err := r.parallel(ctx, obs, func(ctx context.Context, c *hostConn) error {
			res, err := r.exec(ctx, c, g.Probe(c.h))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", c.h.Name, g.Name, err)
			}
			mu.Lock()
			out[c.h.Name] = string(res.Stdout)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
		ok, why := g.Passed(out)
		if ok {
			r.emit(events.Event{Type: events.EvInfo, Host: g.Host, Step: g.Name, Message: g.OK, DurationMS: ms(time.Since(t0))})
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not passed after %s: %s", g.Name, g.Bound, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(playbooks.GateInterval):
		}
	}
}

// connsOf returns the connections of hosts, in their order (hosts this run
// is not connected to are skipped).
func (r *Runner) connsOf(hosts []*inventory.Host) []*hostConn {
	var out []*hostConn
	for _, h := range hosts {
		for _, c := range r.conns {
			if c.h.Name == h.Name {
				out = append(out, c)
			}
		}
	}
	return out
}

// fleet is the playbook's read-only view of the run's snapshots and plans.
type fleet struct{ r *Runner }

func (f fleet) Connected() []*inventory.Host {
	out := make([]*inventory.Host, len(f.r.conns))
	for i, c := range f.r.conns {
		out[i] = c.h
	}
	return out
}

func (f fleet) conn(host string) *hostConn {
	for _, c := range f.r.conns {
		if c.h.Name == host {
			return c
		}
	}
	return nil
}

func (f fleet) Facts(host string) facts.Facts {
	if c := f.conn(host); c != nil && c.snap != nil {
		return c.snap.Facts
	}
	return facts.Facts{}
}

func (f fleet) Active(host, unit string) bool {
	c := f.conn(host)
	return c != nil && c.snap != nil && c.snap.Services[unit].Active == "active"
}

func (f fleet) HoldsAddr(host, addr string) bool {
	c := f.conn(host)
	return c != nil && c.snap != nil && c.snap.HoldsAddr(addr)
}

func (f fleet) Changing(host, step string) bool {
	c := f.conn(host)
	if c == nil || c.plan == nil {
		return false
	}
	for _, sp := range c.plan.Steps {
		if sp.Step == step && sp.Changed() {
			return true
		}
	}
	return false
}

// applyHost runs each changed step on one host; one round trip per step.
func (r *Runner) applyHost(ctx context.Context, c *hostConn) (bool, error) {
	changed := false
	t0 := time.Now()
	defer func() { c.sum.DurationMS += ms(time.Since(t0)) }()
	for _, sp := range c.plan.Steps {
		ts := time.Now()
		for _, n := range sp.Notes {
			r.emit(events.Event{Type: events.EvInfo, Host: c.h.Name, Step: sp.Step, Message: n})
		}
		if !sp.Changed() {
			c.sum.OK++
			r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: sp.Step, Status: events.StatusOK, DurationMS: ms(time.Since(ts))})
			continue
		}
		for _, fc := range sp.Files {
			r.emit(events.Event{Type: events.EvChange, Host: c.h.Name, Step: sp.Step, Path: fc.Path, Diff: r.red.Diff(fc)})
		}
		c.touched = true
		res, err := r.exec(ctx, c, StepScript(r.RunID, r.Meta, sp))
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("%s", failure(res))
		}
		if err != nil {
			c.sum.Failed++
			r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: sp.Step, Status: events.StatusFailed, Message: err.Error(), DurationMS: ms(time.Since(ts))})
			return changed, fmt.Errorf("%s: step %s: %w", c.h.Name, sp.Step, err)
		}
		changed = true
		c.sum.Changed++
		r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: sp.Step, Status: events.StatusChanged, Message: describe(sp), DurationMS: ms(time.Since(ts))})
	}
	return changed, nil
}

func describe(sp *StepPlan) string {
	var parts []string
	for _, f := range sp.Files {
		parts = append(parts, "wrote "+f.Path)
	}
	for _, s := range sp.Services {
		if s.Enable {
			parts = append(parts, "enabled "+s.Name)
		}
		if s.Action != "" {
			parts = append(parts, s.Action+"ed "+s.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// failure turns a failed script's output into the message the operator sees:
// the stage that failed and the checker's own words.
func failure(res transport.Result) string {
	out := string(res.Stdout)
	if i := strings.Index(out, "==fail "); i >= 0 {
		out = out[i+len("==fail "):]
	}
	msg := strings.TrimSpace(out)
	if e := strings.TrimSpace(string(res.Stderr)); e != "" {
		msg += "\n" + tail(e, 2000)
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return msg
}

// Holders lists which of hosts hold addr on an interface, asked now.
func (r *Runner) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	var mu sync.Mutex
	var holders []string
	s := &shell.Script{}
	s.Raw(addrsCmd)
	err := r.parallel(ctx, r.connsOf(hosts), func(ctx context.Context, c *hostConn) error {
		res, err := r.exec(ctx, c, s)
		if err != nil {
			return fmt.Errorf("%s: %w", c.h.Name, err)
		}
		if (&Snapshot{Addrs: parseAddrs(res.Stdout)}).HoldsAddr(addr) {
			mu.Lock()
			holders = append(holders, c.h.Name)
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(holders)
	return holders, err
}

// rollbackTouched undoes this run on every host it touched, in the
// playbook's rollback order, each restored host passing its gates (a gate
// that does not pass is a warning: the files are back either way).
func (r *Runner) rollbackTouched(ctx context.Context) (bool, []string) {
	var touched []*inventory.Host
	for _, c := range r.conns {
		if c.touched {
			touched = append(touched, c.h)
		}
	}
	ok := true
	var manual []string
	r.rollbackInOrder(ctx, touched, func(c *hostConn) (bool, error) {
		if err := r.rollbackHost(ctx, c, r.RunID); err != nil {
			ok = false
			manual = append(manual, fmt.Sprintf("%s: %v\n  finish it with: hadeploy rollback %s --run %s --limit %s", c.h.Name, err, r.Cluster.File, r.RunID, c.h.Name))
			return false, err
		}
		c.sum.RolledBack = true
		return true, nil
	})
	return ok && len(touched) > 0, manual
}

// rollbackInOrder restores hosts phase by phase as the playbook orders them;
// after each host restore changed, its gates must pass before the next goes.
func (r *Runner) rollbackInOrder(ctx context.Context, hosts []*inventory.Host, restore func(c *hostConn) (bool, error)) {
	for _, ph := range playbooks.Rollback(r.Cluster, hosts, fleet{r}) {
		for _, c := range r.connsOf(ph.Hosts) {
			if done, err := restore(c); !done || err != nil || ph.After == nil {
				continue
			}
			for _, g := range ph.After(c.h) {
				if err := r.pass(ctx, g); err != nil {
					r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "after rollback: " + err.Error()})
				}
			}
		}
	}
}

// rollbackHost restores one run on one host: two round trips (read the
// journal, restore).
func (r *Runner) rollbackHost(ctx context.Context, c *hostConn, runID string) error {
	t0 := time.Now()
	res, err := r.exec(ctx, c, ReadJournalScript(runID))
	if err != nil {
		return fmt.Errorf("%s: rollback %s: read journal: %w", c.h.Name, runID, err)
	}
	out := string(res.Stdout)
	if strings.HasPrefix(out, "==norun") {
		return nil
	}
	status, body, _ := strings.Cut(strings.TrimPrefix(out, "==status "), "\n")
	j := ParseJournal(status, []byte(body))
	res, err = r.exec(ctx, c, RollbackScript(runID, j))
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s", failure(res))
	}
	if err != nil {
		r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: "rollback", Status: events.StatusFailed, Message: err.Error(), DurationMS: ms(time.Since(t0))})
		return fmt.Errorf("%s: rollback %s: %w", c.h.Name, runID, err)
	}
	r.emit(events.Event{Type: events.EvStep, Host: c.h.Name, Step: "rollback", Status: events.StatusChanged,
		Message: fmt.Sprintf("run %s: restored %d files, %d services", runID, len(j.Files), len(j.Services)), DurationMS: ms(time.Since(t0))})
	return nil
}

// Rollback restores the cluster to its state before run id (default: the
// last run that is not already rolled back): every later run is undone too,
// newest first.
func (r *Runner) Rollback(ctx context.Context, runID string) (*events.Summary, error) {
	start := time.Now()
	sum := &events.Summary{Command: "rollback", Run: r.RunID}
	if err := r.Open(ctx, true); err != nil {
		return nil, err
	}
	defer r.Close()
	cleanupCtx := context.WithoutCancel(ctx)
	defer r.releaseLocks(cleanupCtx, "")
	target := runID
	if target == "" {
		for _, c := range r.conns {
			for _, run := range c.snap.Runs {
				if (run.Status == "ok" || run.Status == "running" || run.Status == "failed") && run.ID > target && run.ID != r.RunID {
					target = run.ID
				}
			}
		}
		if target == "" {
			return nil, errors.New("no run to roll back: no host has a run that is not already rolled back")
		}
	}
	found := false
	for _, c := range r.conns {
		for _, run := range c.snap.Runs {
			found = found || run.ID == target
		}
	}
	if !found {
		return nil, fmt.Errorf("run %s is not recorded on any host (see `hadeploy history %s`)", target, r.Cluster.File)
	}
	var errs []error
	r.rollbackInOrder(cleanupCtx, r.Hosts, func(c *hostConn) (bool, error) {
		var ids []string
		for _, run := range c.snap.Runs {
			if run.ID >= target && run.Status != "rolled-back" {
				ids = append(ids, run.ID)
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(ids)))
		for _, id := range ids {
			if err := r.rollbackHost(cleanupCtx, c, id); err != nil {
				errs = append(errs, err)
				c.sum.Failed++
				return false, err
			}
			c.sum.Changed++
		}
		return len(ids) > 0, nil
	})
	sum.Run = target
	r.finish(sum, start)
	if err := errors.Join(errs...); err != nil {
		sum.Failed = true
		return sum, err
	}
	return sum, nil
}

// History lists the runs recorded on each host, newest first.
func (r *Runner) History(ctx context.Context) (map[string][]RunInfo, error) {
	if err := r.Open(ctx, false); err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string][]RunInfo{}
	for _, c := range r.conns {
		runs := append([]RunInfo(nil), c.snap.Runs...)
		sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
		out[c.h.Name] = runs
	}
	return out, nil
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

// Open connects to every host and reads them (one round trip each), for
// commands that inspect the cluster (verify, failover-test). Close when done.
func (r *Runner) Open(ctx context.Context, lock bool) error {
	if err := r.Connect(ctx); err != nil {
		return err
	}
	var err error
	if lock {
		err = r.lockAll(ctx)
	} else {
		err = r.snapshot(ctx, r.conns, false)
	}
	if err != nil {
		r.Close()
	}
	return err
}

// Unlock releases a lock taken by Open without recording a run.
func (r *Runner) Unlock(ctx context.Context) { r.releaseLocks(ctx, "") }

// Snapshot returns what Open read on a host.
func (r *Runner) Snapshot(host string) *Snapshot {
	for _, c := range r.conns {
		if c.h.Name == host {
			return c.snap
		}
	}
	return nil
}

// Exec runs a script on the named host over the runner's connections (for
// verify and failover-test). Its errors do not name the host, the caller does.
func (r *Runner) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	for _, c := range r.conns {
		if c.h.Name == host {
			return r.exec(ctx, c, s)
		}
	}
	return transport.Result{}, errors.New("not connected")
}

// elideFiles drops the base64 file contents of a snapshot from logs: they
// may hold secrets that redaction cannot see once encoded.
func elideFiles(out string) string {
	lines := strings.Split(out, "\n")
	for i := 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i-1], "==file ") {
			lines[i] = "  [content elided]"
		}
	}
	return strings.Join(lines, "\n")
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
