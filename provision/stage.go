package provision

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// A staged apply (playbooks.Stages) runs each stage as a run of its own on
// the hosts: stage 1 under the run's id, stage N under "ID-stageN". Each
// stage's journal holds the state before that stage, so a rollback undoes
// the stages newest first and passes back through the states the apply
// passed through, each of which served.

// stageRun is one stage of this apply: its run id on the hosts, the cluster
// it wants, and the hosts it touched.
type stageRun struct {
	id    string
	stage playbooks.Stage
	mu    sync.Mutex // hosts are touched in parallel (packages)
	// touched: the hosts this stage changed or began changing.
	touched map[string]bool
}

const stageMark = "-stage"

// StageBase is the run id of the apply a stage's run belongs to (the id
// itself for a run that is not a later stage).
func StageBase(id string) string {
	base, _, _ := strings.Cut(id, stageMark)
	return base
}

// cluster is what the current stage wants (the inventory outside a staged
// apply).
func (r *Runner) cluster() *inventory.Cluster {
	if n := len(r.stages); n > 0 && r.stages[n-1].stage.Cluster != nil {
		return r.stages[n-1].stage.Cluster
	}
	return r.Cluster
}

// runID is the id the current stage journals under.
func (r *Runner) runID() string {
	if n := len(r.stages); n > 0 {
		return r.stages[n-1].id
	}
	return r.RunID
}

// begin starts stage i of an apply.
func (r *Runner) begin(i int, st playbooks.Stage) {
	id := r.RunID
	if i > 0 {
		id = fmt.Sprintf("%s%s%d", r.RunID, stageMark, i+1)
	}
	r.stages = append(r.stages, &stageRun{id: id, stage: st, touched: map[string]bool{}})
}

// touch records that the current stage changed (or began changing) c.
func (r *Runner) touch(c *hostConn) {
	c.touched = true
	if n := len(r.stages); n > 0 {
		st := r.stages[n-1]
		st.mu.Lock()
		st.touched[c.h.Name] = true
		st.mu.Unlock()
	}
}

// touchedNow reports whether the current stage touched c.
func (r *Runner) touchedNow(c *hostConn) bool {
	if n := len(r.stages); n > 0 {
		st := r.stages[n-1]
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.touched[c.h.Name]
	}
	return c.touched
}

// finishStage marks the current stage's run ok on every host it touched,
// so that an interruption later leaves a finished stage (a serving state)
// for the next apply to start from, not one to roll back.
func (r *Runner) finishStage(ctx context.Context) error {
	var cs []*hostConn
	for _, c := range r.conns {
		if r.touchedNow(c) {
			cs = append(cs, c)
		}
	}
	s := MarkRunScript(r.runID(), "ok")
	return r.parallel(ctx, cs, func(ctx context.Context, c *hostConn) error {
		if _, err := r.exec(ctx, c, s); err != nil {
			return fmt.Errorf("%s: mark stage %s done: %w", c.h.Name, r.runID(), err)
		}
		return nil
	})
}

// reread snapshots every host again (the lock is held already) and plans
// the current stage against what is there now.
func (r *Runner) reread(ctx context.Context) error {
	if err := r.snapshot(ctx, r.conns, false); err != nil {
		return err
	}
	for _, c := range r.conns {
		c.snap.LockTaken = true
	}
	return r.plan(r.conns)
}

// readStages makes the snapshot read what every stage's steps manage too
// (the old health page a stage keeps serving): a file the snapshot did not
// read would look absent, so the plan would show it new and rewrite it. It
// reports whether that added anything, so the hosts must be read again.
func (r *Runner) readStages(stages []playbooks.Stage) (bool, error) {
	added := false
	for _, h := range r.Hosts {
		own := r.reads[h.Name]
		if own == nil {
			continue // not connected
		}
		seen := map[string]bool{}
		for _, p := range own.Paths {
			seen[p] = true
		}
		for _, st := range stages {
			rd, err := steps.ReadsFor(st.Cluster, []*inventory.Host{h}, r.playbook().StepsFor)
			if err != nil {
				return false, err
			}
			for _, p := range rd.Paths {
				if !seen[p] {
					seen[p] = true
					added = true
					own.Paths = append(own.Paths, p)
				}
			}
		}
	}
	return added, nil
}

// MarkRunScript sets a run's status on a host, if the run is there.
func MarkRunScript(runID, status string) *shell.Script {
	s := &shell.Script{}
	r := RunDir(runID)
	s.Line(`if [ -d %s ]; then echo %s > %s/status; fi`, r, status, r)
	return s
}

// announce tells the operator the stages of a staged apply.
func (r *Runner) announce(stages []playbooks.Stage) {
	if len(stages) < 2 {
		return
	}
	for i, st := range stages {
		r.emit(events.Event{Type: events.EvInfo, Step: "stage", Message: fmt.Sprintf("stage %d/%d %s: %s", i+1, len(stages), st.Name, st.Says)})
	}
}
