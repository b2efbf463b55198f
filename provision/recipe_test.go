package provision_test

// The "how to add a step" recipe of docs/ARCHITECTURE.md, walked with an
// example step: one file (here, in a test) plus its template, one line in
// the step list, optional abilities by interface. It is planned, applied on
// the fake fleet, a no-op the second time, and rolled back with its
// activation replayed.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"text/template"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/provision/fake"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// Step 1: the step, with its template.
type sysctlStep struct{ nonlocalBind int }

var sysctlTmpl = template.Must(template.ParseFiles("testdata/recipe/sysctl.conf.tmpl"))

func (sysctlStep) Name() string                   { return "sysctl" }
func (sysctlStep) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleLB) }
func (s sysctlStep) Desired(t steps.Target) (*steps.Desired, error) {
	var b bytes.Buffer
	if err := sysctlTmpl.Execute(&b, struct{ NonlocalBind int }{s.nonlocalBind}); err != nil {
		return nil, err
	}
	return &steps.Desired{Step: "sysctl", Packages: []string{"procps"},
		Files: []steps.File{{Path: "/etc/sysctl.d/60-hadeploy.conf", Content: b.Bytes(), Mode: 0o644, Owner: "root:root"}}}, nil
}

// Optional abilities: an activation (replayed by rollback) and a verify check.
func (sysctlStep) Activation(steps.Target) string { return "sysctl --system" }
func (sysctlStep) Checks(steps.Target) []steps.Check {
	return []steps.Check{{Name: "sysctl applied", Expected: "net.ipv4.ip_nonlocal_bind = 1",
		Command: shell.Join("sysctl", "-n", "net.ipv4.ip_nonlocal_bind"), Judge: func(out string) bool { return strings.TrimSpace(out) == "1" }}}
}

// Step 2: the one line in the step list (here a playbook that adds it).
type withSysctl struct {
	playbooks.Cluster
	step *sysctlStep
}

func (p withSysctl) StepsFor(h *inventory.Host) []steps.Step {
	out := p.Cluster.StepsFor(h)
	if p.step.Applies(h) {
		out = append(out, *p.step)
	}
	return out
}

func TestRecipeAddAStep(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	st := &sysctlStep{nonlocalBind: 1}
	run := func(id string) (*provision.Runner, error) {
		r := fc.runner(id)
		r.Playbook = withSysctl{step: st}
		_, err := r.Apply(context.Background())
		return r, err
	}
	const path = "/etc/sysctl.d/60-hadeploy.conf"

	// Planned: the new file shows up in the plan of the load balancers only.
	r := fc.runner("P")
	r.Playbook = withSysctl{step: st}
	plans, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, hp := range plans {
		found := false
		for _, sp := range hp.Steps {
			found = found || (sp.Step == "sysctl" && len(sp.Files) == 1 && sp.Activate == "sysctl --system")
		}
		if found != hp.Host.HasRole(inventory.RoleLB) {
			t.Errorf("%s: sysctl planned = %v", hp.Host.Name, found)
		}
	}

	// Applied: file in place, activation run and journaled.
	if _, err := run("R1"); err != nil {
		t.Fatal(err)
	}
	lb2 := fc.hosts["lb2"]
	if !strings.Contains(lb2.Files[path], "ip_nonlocal_bind = 1") {
		t.Fatalf("sysctl file not applied: %q", lb2.Files[path])
	}
	if !strings.Contains(lastProgram(lb2, `"begin "sysctl`), "sysctl --system") {
		t.Error("the step program does not activate the settings")
	}

	// Second apply: nothing to do (the snapshot read the new step's file).
	r2 := fc.runner("R2")
	r2.Playbook = withSysctl{step: st}
	sum, err := r2.Apply(context.Background())
	if err != nil || sum.Changes != 0 {
		t.Fatalf("second apply: %d changes, %v", sum.Changes, err)
	}

	// Rolled back: a later run changes the setting, then fails on lb2;
	// rollback restores the file and replays the activation.
	st.nonlocalBind = 0
	lb2.FailStep = "sysctl"
	_, err = run("R3")
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack {
		t.Fatalf("want a rolled back apply, got %v", err)
	}
	if !strings.Contains(lb2.Files[path], "ip_nonlocal_bind = 1") {
		t.Errorf("sysctl file not restored: %q", lb2.Files[path])
	}
	if !strings.Contains(lastProgram(lb2, "==rolledback"), "sysctl --system") {
		t.Error("rollback did not replay the activation")
	}
}

// lastProgram is the last program the host got that contains marker.
func lastProgram(h *fake.Host, marker string) string {
	for i := len(h.Programs) - 1; i >= 0; i-- {
		if strings.Contains(h.Programs[i], marker) {
			return h.Programs[i]
		}
	}
	return ""
}
