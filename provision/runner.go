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
	// PackageConcurrency caps how many hosts install packages at once
	// (0: all): the one heavy job done on every host together.
	PackageConcurrency int
	// LockWait is how long to wait for a lock held by someone else before
	// giving up (0: fail at once).
	LockWait time.Duration
	// DrainTimeout bounds how long a drained web host's sessions may take to
	// end (0: the steps' default).
	DrainTimeout time.Duration
	// Log receives every remote program run (with file contents elided).
	Log func(format string, args ...any)

	// Playbook orders hosts and names their steps and gates; nil is the
	// built-in cluster.
	Playbook playbooks.Playbook

	// stages are this apply's stages begun so far (one for an apply the
	// playbook does not stage).
	stages []*stageRun

	red   *Redactor
	reads map[string]*steps.Reads // per host: what its snapshot reads, derived once from its steps
	conns []*hostConn
	// lockInfo is what this run wrote into the locks it took; releasing
	// compares against it.
	lockInfo string
}

type hostConn struct {
	h       *inventory.Host
	t       transport.Transport
	snap    *Snapshot
	plan    *HostPlan
	touched bool
	locked  bool
	// lockUnknown: the program taking the lock failed (cut off, cancelled),
	// so the lock may or may not be ours; release it if it is.
	lockUnknown bool
	sum         events.HostSummary
}

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
	return r.parallelN(ctx, 0, cs, f)
}

// parallelN is parallel with at most n hosts at a time (0: no cap).
func (r *Runner) parallelN(ctx context.Context, n int, cs []*hostConn, f func(ctx context.Context, c *hostConn) error) error {
	var g errgroup.Group
	if n > 0 {
		g.SetLimit(n)
	}
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
		lockInfo = r.lockInfo
	}
	stale := r.StaleLockMinutes
	if stale <= 0 {
		stale = 60
	}
	if r.reads == nil {
		r.reads = map[string]*steps.Reads{}
	}
	// Each host reads only what its own steps manage (a web host no
	// haproxy.cfg): half the probes on a web host, and no unit it never runs.
	scripts := map[string]*shell.Script{}
	for _, c := range cs {
		rd := r.reads[c.h.Name]
		if rd == nil {
			x, err := steps.ReadsFor(r.Cluster, []*inventory.Host{c.h}, r.playbook().StepsFor)
			if err != nil {
				return err
			}
			rd = &x
			r.reads[c.h.Name] = rd
		}
		scripts[c.h.Name] = SnapshotScript(rd.Paths, rd.Packages, rd.Services, lockInfo, stale)
	}
	return r.parallel(ctx, cs, func(ctx context.Context, c *hostConn) error {
		res, err := r.exec(ctx, c, scripts[c.h.Name])
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
		if err != nil {
			c.lockUnknown = c.lockUnknown || lock
			return fmt.Errorf("%s: read host state: %w", c.h.Name, err)
		}
		sn, err := ParseSnapshot(res.Stdout)
		if err != nil {
			c.lockUnknown = c.lockUnknown || lock
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
		p, err := PlanHost(r.cluster(), c.h, c.snap, r.playbook().StepsFor)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.plan = p
	}
	return errors.Join(errs...)
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
	if err == nil {
		if err = r.unknownOS(); err != nil && lock {
			r.releaseLocks(context.WithoutCancel(ctx), "")
		}
	}
	if err != nil {
		r.Close()
	}
	return err
}

// unknownOS names every host whose OS hadeploy has no profile for, with what
// its os-release says. Open calls it once every host is read, so one such
// host stops the run before anything changes on any host.
func (r *Runner) unknownOS() error {
	var errs []error
	for _, c := range r.lockOrder() {
		if c.snap != nil && c.snap.OSErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.h.Name, c.snap.OSErr))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w\nnothing was changed on any host", errors.Join(errs...))
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

func (r *Runner) playbook() playbooks.Playbook {
	if r.Playbook == nil {
		return playbooks.Cluster{}
	}
	return r.Playbook
}
