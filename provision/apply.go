package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/transport"
)

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
	var refused *RefusedError
	if errors.As(err, &refused) {
		r.emit(events.Event{Type: events.EvError, Message: err.Error()})
		sum.Failed = true
		r.releaseLocks(cleanupCtx, "")
		r.finish(sum, start)
		return sum, err
	}
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
	// A change of the contract between web hosts and load balancers goes
	// in stages, each planned against the hosts as the previous one left
	// them.
	stages := r.playbook().Stages(r.Cluster, r.Hosts, fleet{r})
	if len(stages) == 0 {
		stages = []playbooks.Stage{{Name: "apply", Cluster: r.Cluster}}
	}
	r.announce(stages)
	r.begin(0, stages[0])
	if len(stages) > 1 {
		added, err := r.readStages(stages)
		if err == nil && added {
			err = r.reread(ctx)
		} else if err == nil {
			err = r.plan(r.conns)
		}
		if err != nil {
			return err
		}
	}
	// A plan the playbook cannot carry out without an outage is refused
	// before anything changes.
	if err := r.playbook().Refuse(r.cluster(), r.Hosts, fleet{r}); err != nil {
		return &RefusedError{Err: err}
	}
	if err := r.packages(ctx); err != nil {
		return err
	}
	for i, st := range stages {
		if i > 0 {
			if err := r.finishStage(ctx); err != nil {
				return err
			}
			r.begin(i, st)
			if err := r.reread(ctx); err != nil {
				return err
			}
			// Hosts changed already: a refusal now is a failure, rolled back.
			if err := r.playbook().Refuse(r.cluster(), r.Hosts, fleet{r}); err != nil {
				return fmt.Errorf("stage %s: %w", st.Name, err)
			}
		}
		if len(stages) > 1 {
			r.emit(events.Event{Type: events.EvInfo, Step: "stage", Message: fmt.Sprintf("stage %d/%d %s (run %s): %s", i+1, len(stages), st.Name, r.runID(), st.Says)})
		}
		for _, ph := range r.playbook().Apply(r.cluster(), r.Hosts, fleet{r}) {
			if err := r.applyPhase(ctx, ph); err != nil {
				if len(stages) > 1 {
					return fmt.Errorf("stage %s: %w", st.Name, err)
				}
				return err
			}
		}
	}
	return nil
}

// packages installs what is missing first, on every host at once:
// installing is slow and changes no served configuration hadeploy manages.
func (r *Runner) packages(ctx context.Context) error {
	var need []*hostConn
	for _, c := range r.conns {
		if len(c.plan.Packages) > 0 {
			need = append(need, c)
		}
	}
	return r.parallelN(ctx, r.PackageConcurrency, need, func(ctx context.Context, c *hostConn) error {
		t0 := time.Now()
		r.touch(c)
		res, err := r.exec(ctx, c, PackagesScript(r.runID(), r.Meta, c.snap.Facts.PkgMgr, c.plan.Packages))
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
		p, err := PlanHost(r.cluster(), c.h, c.snap, r.playbook().StepsFor)
		c.plan = p
		return err
	})
}

// applyPhase changes the phase's hosts (one at a time when Serial), each
// passing its gates before the next goes, then the phase's final gates.
func (r *Runner) applyPhase(ctx context.Context, ph playbooks.Phase) error {
	var mu sync.Mutex
	anyChanged := false
	one := func(ctx context.Context, c *hostConn) error {
		if ph.Before != nil {
			for _, g := range ph.Before(c.h) {
				// Touched from here on: a rollback puts it back in service.
				r.touch(c)
				if err := r.pass(ctx, g); err != nil {
					return fmt.Errorf("%s: before its change: %w", c.h.Name, err)
				}
			}
		}
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
	if ph.Says != "" {
		r.emit(events.Event{Type: events.EvInfo, Message: ph.Says})
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
		r.touch(c)
		res, err := r.exec(ctx, c, StepScript(r.runID(), r.Meta, sp))
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
