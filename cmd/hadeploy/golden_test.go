package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision/fake"
	"github.com/hadeploy/hadeploy/transport"
)

var update = flag.Bool("update", false, "rewrite golden files")

const labInv = "../../e2e/lab-cluster.yaml"

// fakeLab wires the commands to in-memory hosts; lb1 holds the VIP.
func fakeLab(t *testing.T) map[string]*fake.Host {
	c, err := inventory.Load(labInv)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]*fake.Host{}
	for _, h := range c.Hosts {
		hosts[h.Name] = fake.NewDebian(h.Name, h.Address+"/24")
	}
	hosts["lb1"].Addrs = append(hosts["lb1"].Addrs, c.VIP)
	testDial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return hosts[h.Name].Transport(), nil
	}
	newRunID = func() string { return "20261126T120000.000Z" }
	t.Cleanup(func() { testDial = nil })
	return hosts
}

var (
	durations = regexp.MustCompile(`\(\d+\.\d\ds\)|\d+\.\d\ds|,"duration_ms":\d+|"time":"[^"]*",`)
	pids      = regexp.MustCompile(`pid=\d+`)
)

// hadeploy runs the command line like main does and returns stdout and the exit code.
func hadeploy(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--log-dir", t.TempDir()))
	err := root.ExecuteContext(context.Background())
	o := durations.ReplaceAllString(out.String(), "")
	return stable(pids.ReplaceAllString(o, "pid=N")), exitCode(err)
}

// parallelLine matches output of work done on all hosts at once, whose order
// varies from run to run.
var parallelLine = regexp.MustCompile(`connect     ok|"host_connected"|"step":"packages"|packages    changed`)

// stable sorts each block of consecutive parallel lines.
func stable(s string) string {
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && parallelLine.MatchString(lines[j]) {
			j++
		}
		sort.Strings(lines[i:j])
		if j == i {
			j++
		}
		i = j
	}
	return strings.Join(lines, "\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(p, []byte(got), 0o644)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/hadeploy -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", p, want, got)
	}
}

// TestGoldenOutput pins the plain-text and JSON output of plan and apply.
func TestGoldenOutput(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	fakeLab(t)
	out, code := hadeploy(t, "plan", labInv)
	if code != exitChanges {
		t.Errorf("plan on fresh hosts: exit %d, want 2", code)
	}
	golden(t, "plan-fresh.txt", out)
	out, code = hadeploy(t, "apply", labInv, "--output", "json")
	if code != 0 {
		t.Errorf("apply exit %d:\n%s", code, out)
	}
	golden(t, "apply-cold.jsonl", out)
	out, code = hadeploy(t, "apply", labInv)
	if code != 0 {
		t.Errorf("no-op apply exit %d", code)
	}
	golden(t, "apply-noop.txt", out)
	out, code = hadeploy(t, "plan", labInv, "--output", "json")
	if code != 0 {
		t.Errorf("plan after apply: exit %d, want 0", code)
	}
	golden(t, "plan-clean.jsonl", out)
	// A web port change on the applied cluster: the plan shows its stages.
	b, err := os.ReadFile(labInv)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "port.yaml")
	if err := os.WriteFile(moved, []byte(strings.Replace(string(b), "port: 8080", "port: 8081", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = hadeploy(t, "plan", moved)
	if code != exitChanges {
		t.Errorf("plan of a port change: exit %d, want 2", code)
	}
	golden(t, "plan-staged.txt", strings.ReplaceAll(out, moved, "port.yaml"))
}

func TestBadInventoryExitsOneWithoutConnecting(t *testing.T) {
	dialed := false
	testDial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		dialed = true
		return nil, nil
	}
	defer func() { testDial = nil }()
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("hosts:\n  - name: web1\n    address: 10.0.0.1\n    roles: [web]\n    prority: 1\n"), 0o644)
	_, code := hadeploy(t, "plan", p)
	if code != exitError || dialed {
		t.Errorf("exit %d dialed %v, want 1 and no connection", code, dialed)
	}
}
