package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
)

// rollbackTouched undoes this run on every host it touched, stage by stage,
// newest first (each stage's undo returns the cluster to the state the
// stage began from, which served), each in the playbook's rollback order
// for that stage's cluster, each restored host passing its gates (a gate
// that does not pass is a warning: the files are back either way).
func (r *Runner) rollbackTouched(ctx context.Context) (bool, []string) {
	ok, any := true, false
	var manual []string
	staged := len(r.stages) > 1
	for i := len(r.stages) - 1; i >= 0; i-- {
		st := r.stages[i]
		var touched []*inventory.Host
		for _, c := range r.conns {
			if st.touched[c.h.Name] {
				touched = append(touched, c.h)
			}
		}
		if len(touched) == 0 {
			continue
		}
		any = true
		// The playbook orders and gates this stage's undo with the cluster
		// the stage wanted.
		r.stages = r.stages[:i+1]
		if staged {
			r.emit(events.Event{Type: events.EvInfo, Step: "stage", Message: fmt.Sprintf("rolling back stage %d %s (run %s)", i+1, st.stage.Name, st.id)})
		}
		failed := false
		r.rollbackInOrder(ctx, touched, func(*hostConn) bool { return true }, func(c *hostConn) (bool, error) {
			if err := r.rollbackHost(ctx, c, st.id); err != nil {
				ok, failed = false, true
				manual = append(manual, fmt.Sprintf("%s: %v\n  finish it with: hadeploy rollback %s --run %s --limit %s", c.h.Name, err, r.Cluster.File, r.RunID, c.h.Name))
				return false, err
			}
			c.sum.RolledBack = true
			return true, nil
		})
		// An older stage's undo on top of a half-undone newer one could
		// break the order that keeps both sides agreeing: stop here.
		if failed {
			break
		}
	}
	return ok && any, manual
}

// rollbackInOrder restores hosts phase by phase as the playbook orders them:
// each host that has something to restore (pending) passes its Before gates
// (drained; a gate that does not pass is a warning, restoring matters more),
// is restored, then passes its After gates before the next goes.
func (r *Runner) rollbackInOrder(ctx context.Context, hosts []*inventory.Host, pending func(c *hostConn) bool, restore func(c *hostConn) (bool, error)) {
	for _, ph := range r.playbook().Rollback(r.cluster(), hosts, fleet{r}) {
		for _, c := range r.connsOf(ph.Hosts) {
			if ph.Before != nil && pending(c) {
				for _, g := range ph.Before(c.h) {
					if err := r.pass(ctx, g); err != nil {
						r.emit(events.Event{Type: events.EvWarning, Host: c.h.Name, Message: "restored without draining: " + err.Error()})
						break
					}
				}
			}
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
		// The whole staged apply, not only its last stage.
		target = StageBase(target)
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
	// Run by run, newest first, each over every host that has it: every
	// state passed through is one a run left (a staged apply's stages are
	// runs), never one host ahead of the others by several runs.
	var ids []string
	seen := map[string]bool{}
	for _, c := range r.conns {
		for _, run := range c.snap.Runs {
			if run.ID >= target && run.Status != "rolled-back" && !seen[run.ID] {
				seen[run.ID] = true
				ids = append(ids, run.ID)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	has := func(c *hostConn, id string) bool {
		for _, run := range c.snap.Runs {
			if run.ID == id && run.Status != "rolled-back" {
				return true
			}
		}
		return false
	}
	var errs []error
	for _, id := range ids {
		failed := false
		r.rollbackInOrder(cleanupCtx, r.Hosts, func(c *hostConn) bool { return has(c, id) }, func(c *hostConn) (bool, error) {
			if !has(c, id) {
				return false, nil
			}
			if err := r.rollbackHost(cleanupCtx, c, id); err != nil {
				errs = append(errs, err)
				c.sum.Failed++
				failed = true
				return false, err
			}
			c.sum.Changed++
			return true, nil
		})
		if failed {
			break
		}
	}
	sum.Run = target
	r.finish(sum, start)
	if err := errors.Join(errs...); err != nil {
		sum.Failed = true
		return sum, err
	}
	return sum, nil
}
