package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/transport"
)

// noDial fails the test if a command contacts a host.
func noDial(t *testing.T) {
	testDial = func(_ context.Context, h *inventory.Host) (transport.Transport, error) {
		t.Errorf("%s was contacted", h.Name)
		return nil, errors.New("no host may be contacted in this test")
	}
	t.Cleanup(func() { testDial = nil })
}

// run2 runs the command line with stdout and stderr apart.
func run2(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(append(args, "--log-dir", t.TempDir()))
	err := root.ExecuteContext(context.Background())
	if err != nil {
		e.WriteString("error: " + err.Error() + "\n")
	}
	return o.String(), e.String(), exitCode(err)
}

func fixedAuthPass(t *testing.T) {
	old := newAuthPass
	newAuthPass = func() string { return "k3epal1v" }
	t.Cleanup(func() { newAuthPass = old })
}

// init without flags prints the article's cluster with placeholders on
// stdout (and only the inventory there); validate then names each one.
func TestInitPlaceholdersThenValidate(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	noDial(t)
	fixedAuthPass(t)
	out, errOut, code := run2(t, "init")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, errOut)
	}
	golden(t, "init-placeholders.yaml", out)
	if !strings.Contains(errOut, "fill in 6 value(s)") {
		t.Errorf("init does not say what is left to fill in:\n%s", errOut)
	}
	p := filepath.Join(t.TempDir(), "new.yaml")
	os.WriteFile(p, []byte(out), 0o600)
	_, errOut, code = run2(t, "validate", p)
	if code != exitError || strings.Count(errOut, "placeholder CHANGE-ME") != 6 {
		t.Errorf("validate on placeholders: exit %d, want 1 naming 6 placeholders:\n%s", code, errOut)
	}
	for _, f := range []string{":31: hosts[0].address", ":34: hosts[1].address", ":39: hosts[2].address", ":44: hosts[3].address", ":50: vip", ":55: vrrp.virtual_router_id"} {
		if !strings.Contains(errOut, p+f+": still the placeholder") {
			t.Errorf("validate does not name %s%s:\n%s", p, f, errOut)
		}
	}
	// JSON: one error event per problem, then the summary.
	out, _, code = run2(t, "validate", p, "--output", "json")
	evs := jsonEvents(t, out)
	if code != exitError || len(evs) != 7 || evs[6].Type != events.EvSummary || !evs[6].Summary.Failed {
		t.Fatalf("validate --output json: exit %d, events:\n%s", code, out)
	}
	for _, e := range evs[:6] {
		if e.Type != events.EvError || e.Data["field"] == "" || e.Data["line"].(float64) < 1 || e.Data["file"] != p {
			t.Errorf("not an error event with file, line and field: %+v", e)
		}
	}
}

// init from flags writes a valid inventory (0600), never over an existing
// file without --force, never into a directory.
func TestInitFromFlagsWritesAValidFile(t *testing.T) {
	noDial(t)
	d := t.TempDir()
	p := filepath.Join(d, "cluster.yaml")
	flags := []string{"--web", "10.0.0.11,10.0.0.12", "--lb", "10.0.0.21,10.0.0.22", "--vip", "10.0.0.100/24", "--router-id", "47", "--interface", "ens3", "--name", "shop"}
	out, errOut, code := run2(t, append([]string{"init", p}, flags...)...)
	if code != 0 || out != "" {
		t.Fatalf("init FILE: exit %d, stdout %q\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, p+": valid (4 hosts: web1, web2, lb1, lb2); next: hadeploy plan "+p) {
		t.Errorf("init does not say the file is valid:\n%s", errOut)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("written file: %v %v, want mode 0600", fi, err)
	}
	c, err := inventory.Load(p)
	if err != nil {
		t.Fatalf("init's file is not valid: %v", err)
	}
	if c.Name != "shop" || c.Master().Interface != "ens3" || len(c.VRRP.AuthPass) != 8 {
		t.Errorf("read back %+v", c)
	}
	out, _, code = run2(t, "validate", p)
	if code != 0 || out != p+": valid (4 hosts: web1, web2, lb1, lb2)\n" {
		t.Errorf("validate: exit %d: %q", code, out)
	}

	before, _ := os.ReadFile(p)
	_, errOut, code = run2(t, "init", p)
	if after, _ := os.ReadFile(p); code != exitError || !bytes.Equal(before, after) || !strings.Contains(errOut, p+" exists: nothing written (--force overwrites it)") {
		t.Errorf("init over an existing file: exit %d, file changed %v:\n%s", code, !bytes.Equal(before, after), errOut)
	}
	_, errOut, code = run2(t, "init", p, "--force")
	if after, _ := os.ReadFile(p); code != 0 || bytes.Equal(before, after) {
		t.Errorf("init --force: exit %d, file unchanged %v:\n%s", code, bytes.Equal(before, after), errOut)
	}
	_, errOut, code = run2(t, "init", d, "--force")
	if code != exitError || !strings.Contains(errOut, d+" is a directory") {
		t.Errorf("init DIR --force: exit %d:\n%s", code, errOut)
	}
	// A value the inventory refuses: nothing written, the option named.
	q := filepath.Join(d, "bad.yaml")
	_, errOut, code = run2(t, "init", q, "--web", "10.0.0.11", "--lb", "10.0.0.21", "--vip", "10.9.9.100/24", "--router-id", "47")
	if _, err := os.Stat(q); code != exitError || err == nil || !strings.Contains(errOut, `vip "10.9.9.100/24": vip: VIP 10.9.9.100/24 is not in the subnet of lb host lb1`) {
		t.Errorf("init with a VIP outside the lb subnet: exit %d, written %v:\n%s", code, err == nil, errOut)
	}
}

// validate is offline: a valid inventory exits 0 naming its hosts, a broken
// one 1 with every problem as FILE:LINE: FIELD: message, and no host is
// ever contacted.
func TestValidateIsOffline(t *testing.T) {
	noDial(t)
	out, _, code := run2(t, "validate", labInv)
	if code != 0 || out != labInv+": valid (4 hosts: web1, web2, lb1, lb2)\n" {
		t.Errorf("validate lab: exit %d: %q", code, out)
	}
	out, _, code = run2(t, "validate", labInv, "--output", "json")
	evs := jsonEvents(t, out)
	for _, e := range evs {
		if e.Time.IsZero() {
			t.Errorf("event without time: %+v", e)
		}
	}
	if code != 0 || len(evs) != 2 || evs[0].Message != labInv+": valid (4 hosts: web1, web2, lb1, lb2)" || evs[1].Summary == nil || evs[1].Summary.Failed {
		t.Errorf("validate lab --output json: exit %d:\n%s", code, out)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("hosts:\n  - name: web1\n    address: 10.0.0.1\n    roles: [web]\n    prority: 1\nvip: 10.0.0.100\n"), 0o644)
	_, errOut, code := run2(t, "validate", p)
	for _, want := range []string{p + `:5: hosts[0].prority: unknown field "prority"`, p + ":6: vip: needs a prefix length"} {
		if code != exitError || !strings.Contains(errOut, want) {
			t.Errorf("validate bad: exit %d, want 1 and %q:\n%s", code, want, errOut)
		}
	}
	_, errOut, code = run2(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitError || !strings.Contains(errOut, "missing.yaml: cannot read the inventory") {
		t.Errorf("validate missing: exit %d:\n%s", code, errOut)
	}
}

func jsonEvents(t *testing.T, out string) []events.Event {
	t.Helper()
	var evs []events.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON event: %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}
