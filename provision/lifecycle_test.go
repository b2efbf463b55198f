package provision_test

// The engine's lifecycle with fake steps and a fake playbook (the way
// k0sctl's phase/manager_test.go tests its manager): phases in order, serial
// and parallel, gates after each changed host and at the end of a phase, a
// no-op second run that passes no gate, and a failure rolled back in the
// playbook's rollback order.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// noteStep writes one file per host; its gate passes on the second probe.
type noteStep struct {
	text  string
	mu    *sync.Mutex
	tries map[string]int
}

func (noteStep) Name() string                 { return "note" }
func (noteStep) Applies(*inventory.Host) bool { return true }
func (s noteStep) Desired(t steps.Target) (*steps.Desired, error) {
	return &steps.Desired{Step: "note", Files: []steps.File{{Path: "/etc/note", Content: []byte(s.text + " " + t.Host.Name + "\n"), Mode: 0o644, Owner: "root:root"}}}, nil
}
func (s noteStep) Gates(t steps.Target, f steps.Fleet) []steps.Gate {
	name := t.Host.Name
	return []steps.Gate{{Name: "noted", Host: name, Observers: f.Connected()[:1], Bound: 5 * time.Second, OK: "noted",
		Probe: func(*inventory.Host) *shell.Script { s := &shell.Script{}; s.Raw("echo ==probe"); return s },
		Passed: func(out map[string]string) (bool, string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.tries[name]++
			return s.tries[name] >= 2, "not yet"
		}}}
}

// twoPhases: web1 alone first, then every other host at once; rollback in
// reverse host order, one at a time.
type twoPhases struct{ step noteStep }

func (p twoPhases) StepsFor(*inventory.Host) []steps.Step { return []steps.Step{p.step} }
func (p twoPhases) Apply(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []playbooks.Phase {
	after := func(h *inventory.Host) []steps.Gate {
		if !f.Changing(h.Name, "note") {
			return nil
		}
		return p.step.Gates(steps.Target{Cluster: c, Host: h}, f)
	}
	final := steps.Gate{Name: "all-noted", Observers: hosts[:1], Bound: time.Second, OK: "all noted",
		Probe:  func(*inventory.Host) *shell.Script { s := &shell.Script{}; s.Raw("echo ==probe"); return s },
		Passed: func(map[string]string) (bool, string) { return true, "" }}
	return []playbooks.Phase{
		{Name: "canary", Hosts: hosts[:1], Serial: true, After: after},
		{Name: "rest", Hosts: hosts[1:], Serial: false, After: after, Finally: []steps.Gate{final}},
	}
}
func (twoPhases) Refuse(*inventory.Cluster, []*inventory.Host, steps.Fleet) error { return nil }

func (twoPhases) Stages(*inventory.Cluster, []*inventory.Host, steps.Fleet) []playbooks.Stage {
	return nil
}

func (p twoPhases) Rollback(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []playbooks.Phase {
	rev := append([]*inventory.Host(nil), hosts...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return []playbooks.Phase{{Name: "back", Hosts: rev, Serial: true}}
}

func TestEngineLifecycle(t *testing.T) {
	fc := newCluster(t)
	step := noteStep{text: "v1", mu: &sync.Mutex{}, tries: map[string]int{}}
	run := func(id string) (*events.Summary, error) {
		r := fc.runner(id)
		r.Playbook = twoPhases{step: step}
		return r.Apply(context.Background())
	}
	if _, err := run("R1"); err != nil {
		t.Fatal(err)
	}
	var order, gates []string
	for _, e := range fc.events {
		if e.Type == events.EvStep && e.Step == "note" {
			order = append(order, e.Host)
		}
		if e.Type == events.EvInfo && (e.Step == "noted" || e.Step == "all-noted") {
			gates = append(gates, e.Step+":"+e.Host)
		}
	}
	// The canary goes alone and passes its gate before anything else runs.
	if len(order) != 4 || order[0] != "web1" || len(gates) != 5 || gates[0] != "noted:web1" || gates[4] != "all-noted:" {
		t.Fatalf("order %v, gates %v", order, gates)
	}
	for h, n := range step.tries {
		if n != 2 {
			t.Errorf("%s: gate probed %d times, want 2 (it passes on the second)", h, n)
		}
	}
	// A second run changes nothing and passes no gate.
	step.tries = map[string]int{}
	if sum, err := run("R2"); err != nil || sum.Changes != 0 || len(step.tries) != 0 {
		t.Fatalf("second run: %v changes, gates %v, %v", sum, step.tries, err)
	}
	// A failure on one host of the parallel phase: every touched host is
	// rolled back, in the playbook's rollback order.
	step.text = "v2"
	fc.hosts["lb2"].FailStep = "note"
	r := fc.runner("R3")
	r.Playbook = twoPhases{step: step}
	_, err := r.Apply(context.Background())
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack || !strings.Contains(err.Error(), "lb2: step note") {
		t.Fatalf("want a rolled back ApplyError naming lb2, got %v", err)
	}
	var rolled []string
	for _, e := range fc.events {
		if e.Step == "rollback" && e.Status == events.StatusChanged {
			rolled = append(rolled, e.Host)
		}
	}
	// Touched: web1 (canary) and the parallel phase's hosts that started.
	if len(rolled) < 2 || rolled[len(rolled)-1] != "web1" {
		t.Errorf("rollback order %v: web1 (first touched) must be restored last", rolled)
	}
	for n, h := range fc.hosts {
		if !strings.HasPrefix(h.Files["/etc/note"], "v1 ") {
			t.Errorf("%s: /etc/note = %q, want v1 restored", n, h.Files["/etc/note"])
		}
	}
}
