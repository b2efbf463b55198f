// Package e2e is the end-to-end suite: it boots the lab (real hosts with
// systemd, sshd, apt) and drives the hadeploy binary exactly as an operator
// would, asserting each outcome. It runs only with HADEPLOY_E2E=1 (as root),
// so `go test ./...` stays fast.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
)

const inv = "lab-cluster.yaml"

var bin string

func TestMain(m *testing.M) {
	if os.Getenv("HADEPLOY_E2E") != "1" {
		fmt.Println("e2e: skipped (set HADEPLOY_E2E=1, as root, to boot the lab and run the suite)")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "hadeploy-e2e")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "hadeploy")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/hadeploy").CombinedOutput()
	if err != nil {
		fmt.Printf("build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one hadeploy invocation.
type result struct {
	code   int
	stdout string
	stderr string
	events []events.Event
	took   time.Duration
}

func (r result) summary() *events.Summary {
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Type == events.EvSummary && r.events[i].Summary != nil {
			return r.events[i].Summary
		}
	}
	return nil
}

// run executes hadeploy with args and returns its exit code and JSON events
// (when --output json is among the args).
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+t.TempDir())
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String(), took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hadeploy %v: %v", args, err)
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e events.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type != "" {
			r.events = append(r.events, e)
		}
	}
	t.Logf("hadeploy %s → exit %d in %s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

func want(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, tail(r.stdout), tail(r.stderr))
	}
}

func tail(s string) string {
	if len(s) > 6000 {
		return "…" + s[len(s)-6000:]
	}
	return s
}

// inHost runs a command inside a lab host.
func inHost(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, err := lab.Exec(context.Background(), host, args...)
	if err != nil {
		t.Fatalf("%s: %v: %v\n%s", host, args, err, out)
	}
	return string(out)
}

// variant writes a copy of the lab inventory changed by edit.
func variant(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".yaml")
	changed := edit(string(b))
	if changed == string(b) {
		t.Fatalf("variant %s: edit changed nothing", name)
	}
	if err := os.WriteFile(p, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func failedChecks(r result) []string {
	var out []string
	for _, e := range r.events {
		if e.Type == events.EvStep && e.Status == events.StatusFailed {
			out = append(out, fmt.Sprintf("%s: %s %v", e.Host, e.Message, e.Data))
		}
	}
	return out
}

// dumpCluster logs what each load balancer's haproxy and each web host's
// sockets look like, so a failed availability check shows its cause.
func dumpCluster(t *testing.T) {
	t.Helper()
	for _, h := range []string{"lb1", "lb2"} {
		out, _ := lab.Exec(context.Background(), h, "sh", "-c", `echo "show stat" | socat stdio /run/haproxy/admin.sock | cut -d, -f1,2,5,8,14,16,18,22,24,37,38,39 | grep -v -e ^stats -e FRONTEND; tail -n 25 /var/log/haproxy.log; ip -br addr show eth0`)
		t.Logf("%s:\n%s", h, out)
	}
	for _, h := range []string{"web1", "web2"} {
		out, _ := lab.Exec(context.Background(), h, "sh", "-c", `ss -Hltnp; systemctl is-active apache2; tail -n 5 /var/log/apache2/error.log`)
		t.Logf("%s:\n%s", h, out)
	}
}

// holdLab takes the lab for the test (other packages' tests use it too) and
// takes it down at the end, checking nothing is left behind, unless
// HADEPLOY_E2E_KEEP=1.
func holdLab(t *testing.T) {
	t.Helper()
	release, err := lab.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	t.Cleanup(func() {
		if os.Getenv("HADEPLOY_E2E_KEEP") == "1" {
			return
		}
		if r := run(t, "lab", "down"); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
		if _, err := os.Stat("/run/netns/hdlab-web1"); err == nil {
			t.Error("lab down left a network namespace behind")
		}
	})
}

// TestCluster is the whole story on real hosts, in order.
func TestCluster(t *testing.T) {
	if os.Getenv("HADEPLOY_E2E") != "1" {
		t.Skip("set HADEPLOY_E2E=1 (as root) to run the end-to-end suite")
	}
	c, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	holdLab(t)
	// Start clean: a lab left by a killed run (netns, mounts) is removed first.
	want(t, run(t, "lab", "down"), 0, "lab down before up")
	r := run(t, "lab", "up", inv)
	want(t, r, 0, "lab up")
	timings := map[string]time.Duration{"lab up": r.took}

	t.Run("plan on fresh hosts shows changes", func(t *testing.T) {
		r := run(t, "plan", inv)
		want(t, r, 2, "plan")
		for _, s := range []string{"install packages: apache2", "/etc/haproxy/haproxy.cfg", "+\tbalance roundrobin", "auth_pass ********"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("plan output lacks %q", s)
			}
		}
		if strings.Contains(r.stdout, c.VRRP.AuthPass) {
			t.Error("plan shows the VRRP password")
		}
	})

	t.Run("cold apply", func(t *testing.T) {
		r := run(t, "apply", inv, "--output", "json")
		want(t, r, 0, "cold apply")
		timings["cold apply"] = r.took
		s := r.summary()
		if s == nil || s.Changes == 0 || s.Failed {
			t.Fatalf("summary %+v", s)
		}
	})

	t.Run("verify", func(t *testing.T) {
		r := run(t, "verify", inv, "--output", "json")
		if r.code != 0 {
			t.Fatalf("verify failed: %v\n%s", failedChecks(r), tail(r.stdout))
		}
	})

	t.Run("status, validate and init", testStatus)

	t.Run("second apply changes nothing", func(t *testing.T) {
		before := inHost(t, "lb1", "sh", "-c", "ls /var/backups/hadeploy | wc -l")
		r := run(t, "apply", inv, "--output", "json")
		want(t, r, 0, "no-op apply")
		timings["no-op apply"] = r.took
		s := r.summary()
		if s == nil || s.Changes != 0 {
			t.Fatalf("no-op apply reported changes: %+v", s)
		}
		for _, h := range s.Hosts {
			// handshake + read/lock + release
			if h.RoundTrips > 3 {
				t.Errorf("%s: %d round trips for a no-op apply, want ≤ 3", h.Host, h.RoundTrips)
			}
		}
		if after := inHost(t, "lb1", "sh", "-c", "ls /var/backups/hadeploy | wc -l"); after != before {
			t.Errorf("no-op apply wrote a run folder: %s → %s", before, after)
		}
		r = run(t, "plan", inv)
		want(t, r, 0, "plan after apply")
	})

	t.Run("TLS with redirect, HSTS and metrics: no failed request, verified, key never shown", testTLS)

	t.Run("weight change touches one line, reloads, keeps the VIP, rolls back byte for byte", func(t *testing.T) {
		orig := inHost(t, "lb1", "cat", "/etc/haproxy/haproxy.cfg")
		pidBefore := inHost(t, "lb1", "systemctl", "show", "-p", "MainPID", "--value", "haproxy")
		heavy := variant(t, "weight", func(s string) string {
			return strings.Replace(s, "        - host: web2\n          weight: 1", "        - host: web2\n          weight: 3", 1)
		})
		r := run(t, "plan", heavy)
		want(t, r, 2, "plan weight change")
		if n := strings.Count(r.stdout, "+\tserver web2 10.213.47.12:8080 cookie web2 weight 3"); n != 2 {
			t.Errorf("expected the weight line changed on both lbs, saw %d\n%s", n, r.stdout)
		}
		noFailures(t, "weight change", during(t, "weight change (haproxy reload)", func() { r = run(t, "apply", heavy, "--output", "json") }))
		want(t, r, 0, "apply weight change")
		runID := r.events[0].Run
		var changedSteps []string
		for _, e := range r.events {
			if e.Type == events.EvStep && e.Status == events.StatusChanged {
				changedSteps = append(changedSteps, e.Host+"/"+e.Step+": "+e.Message)
			}
		}
		if len(changedSteps) != 2 || !strings.Contains(strings.Join(changedSteps, ";"), "reloaded haproxy") {
			t.Errorf("want exactly haproxy reloaded on lb1 and lb2, got %v", changedSteps)
		}
		if pid := inHost(t, "lb1", "systemctl", "show", "-p", "MainPID", "--value", "haproxy"); pid != pidBefore {
			t.Errorf("haproxy was restarted (MainPID %s → %s), want a reload", strings.TrimSpace(pidBefore), strings.TrimSpace(pid))
		}
		if !strings.Contains(inHost(t, "lb1", "ip", "-o", "-4", "addr"), "10.213.47.100/") {
			t.Error("lb1 lost the VIP during a weight change")
		}
		noFailures(t, "rollback", during(t, "rollback of the weight change", func() { r = run(t, "rollback", inv, "--run", runID) }))
		want(t, r, 0, "rollback --run")
		if got := inHost(t, "lb1", "cat", "/etc/haproxy/haproxy.cfg"); got != orig {
			t.Errorf("rollback did not restore haproxy.cfg byte for byte")
		}
		r = run(t, "plan", inv)
		want(t, r, 0, "plan after rollback")
		r = run(t, "history", inv)
		want(t, r, 0, "history")
		if !strings.Contains(r.stdout, runID) || !strings.Contains(r.stdout, "rolled-back") {
			t.Errorf("history lacks the rolled back run %s:\n%s", runID, r.stdout)
		}
	})

	t.Run("failover-test", func(t *testing.T) {
		// With vrrp.notify on (a webhook and the article's alarm mail), each
		// VRRP transition reaches receivers on the lab's own address; the
		// standard inventory is applied again at the end.
		withHooks, nc := notifyVariant(t)
		hook := startHookReceiver(t, nc)
		t.Cleanup(func() { want(t, run(t, "apply", inv), 0, "apply without notify again") })
		report := filepath.Join(t.TempDir(), "failover.html")
		r := run(t, "failover-test", withHooks, "--output", "json", "--report", report)
		requests := 0
		for _, e := range r.events {
			if e.Step == "failover" && e.Type == events.EvStep {
				t.Logf("failover %s: %v", e.Message, e.Data)
				if n, ok := e.Data["requests"].(float64); ok {
					requests += int(n)
				}
			}
		}
		want(t, r, 0, "failover-test")
		timings["failover-test"] = r.took
		checkHookFired(t, nc, hook, r)
		// The report shows every request of the real run as one mark.
		page, err := os.ReadFile(report)
		if err != nil {
			t.Fatalf("no report: %v", err)
		}
		if n := strings.Count(string(page), `class="req `); n != requests || requests == 0 {
			t.Errorf("report has %d request marks, the run sent %d requests", n, requests)
		}
		if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
			t.Error("the report is not self-contained")
		}
	})

	t.Run("failover-test: master crash and VRRP partition", func(t *testing.T) {
		r := time.Now()
		faultScenarios(t, inv, "multicast")
		timings["failover-test crash+partition"] = time.Since(r)
	})
	t.Run("failover-test killed while the master is frozen: the host thaws by itself", freezeOutlivesKill)

	t.Run("verify names what is broken", func(t *testing.T) {
		inHost(t, "web1", "systemctl", "stop", "apache2")
		inHost(t, "lb2", "systemctl", "stop", "haproxy")
		r := run(t, "verify", inv, "--output", "json")
		want(t, r, 3, "verify with broken hosts")
		failed := strings.Join(failedChecks(r), "\n")
		for _, s := range []string{"web1: web answers health check", "web1: service running and enabled", "lb2: service running and enabled", "lb2: stats socket: show info"} {
			if !strings.Contains(failed, s) {
				t.Errorf("verify did not name %q; failed checks:\n%s", s, failed)
			}
		}
		// Every failure must be about web1 or lb2 (lb1's view of web1 is fine).
		for _, f := range failedChecks(r) {
			if !strings.Contains(f, "web1") && !strings.Contains(f, "lb2") {
				t.Errorf("verify blamed a healthy host: %s", f)
			}
		}
		// apply repairs it: stopped services are started again.
		r = run(t, "apply", inv)
		want(t, r, 0, "repairing apply")
		r = run(t, "verify", inv, "--output", "json")
		if r.code != 0 {
			t.Fatalf("verify after repair: %v", failedChecks(r))
		}
	})

	t.Run("drain and ready a web host: no failed request", func(t *testing.T) {
		var r1, r2 result
		a := during(t, "drain + ready of web1", func() {
			r1 = run(t, "drain", inv, "web1")
			if out := inHost(t, "lb1", "sh", "-c", `echo "show stat" | socat stdio /run/haproxy/admin.sock | grep "^web,web1,"`); !strings.Contains(out, "MAINT") {
				t.Errorf("web1 not in maintenance after drain: %s", out)
			}
			r2 = run(t, "ready", inv, "web1")
		})
		want(t, r1, 0, "drain web1")
		want(t, r2, 0, "ready web1")
		noFailures(t, "drain + ready", a)
		// Bad input: nothing changed, exit 1.
		want(t, run(t, "drain", inv, "lb1"), 1, "drain a load balancer")
		want(t, run(t, "drain", inv, "nosuch"), 1, "drain an unknown host")
	})

	t.Run("switchover there and back: no failed request", func(t *testing.T) {
		var r1, r2 result
		var mid string
		a := during(t, "switchover lb1 → lb2 → lb1", func() {
			r1 = run(t, "switchover", inv, "--to", "lb2")
			mid = inHost(t, "lb2", "ip", "-o", "-4", "addr")
			r2 = run(t, "switchover", inv, "--to", "lb1")
		})
		want(t, r1, 0, "switchover --to lb2")
		want(t, r2, 0, "switchover --to lb1")
		if !strings.Contains(mid, "10.213.47.100/") {
			t.Error("lb2 did not hold the VIP after switchover --to lb2")
		}
		// A TCP connection the old holder accepted just before the new one's
		// gratuitous ARP is reset by the new holder, which has no state for
		// it (keepalived #1225, #2414): at most one such request per move is
		// the limit of moving a VIP, not a request hadeploy dropped. Seen in
		// 2 of 10 runs, one request each.
		if a.Failed > 2 {
			t.Errorf("switchover there and back: %d of %d requests failed (longest gap %.2f s); at most one connection in flight per move may be reset", a.Failed, a.Requests, a.LongestGap.Seconds())
		}
		want(t, run(t, "switchover", inv, "--to", "web1"), 1, "switchover to a web host")
	})

	t.Run("a keepalived change on both lbs: no failed request", func(t *testing.T) {
		tuned := variant(t, "ka", func(s string) string { return strings.Replace(s, "check_weight: 25", "check_weight: 30", 1) })
		var r result
		a := during(t, "keepalived config change on both lbs (reload)", func() { r = run(t, "apply", tuned) })
		want(t, r, 0, "apply keepalived change")
		noFailures(t, "keepalived change", a)
		want(t, run(t, "apply", inv), 0, "apply back")
	})

	t.Run("VRRPv3 with 0.2 s adverts and back, both lbs at once: no failed request, failover within its bounds", testVRRPv3)

	t.Run("a web port change and back, staged: no failed request", func(t *testing.T) {
		// The health check moves too: both halves of the contract at once,
		// for no extra time.
		moved := variant(t, "port", func(s string) string {
			s = strings.Replace(s, "port: 8080", "port: 8081", 1)
			return strings.Replace(s, "health_check: GET /index.html", "health_check: GET /health.html", 1)
		})
		portsBefore := inHost(t, "web1", "cat", "/etc/apache2/ports.conf")
		r := run(t, "plan", moved)
		want(t, r, 2, "plan of the port change")
		if !strings.Contains(r.stdout, "stage 1/3 serve-both: web hosts serve ports 8080 and 8081") || !strings.Contains(r.stdout, "stage 3/3 drop-old") {
			t.Errorf("the plan does not show the stages:\n%s", tail(r.stdout))
		}
		var there, back result
		var webMid, lbMid string
		a := during(t, "web port 8080 → 8081 and health check → /health.html, and back (staged)", func() {
			there = run(t, "apply", moved, "--output", "json")
			webMid = inHost(t, "web1", "sh", "-c", "cat /etc/apache2/ports.conf; ss -Hltn; ls /var/www/html")
			lbMid = inHost(t, "lb1", "sh", "-c", `grep httpchk /etc/haproxy/haproxy.cfg; echo "show servers state" | socat stdio /run/haproxy/admin.sock`)
			back = run(t, "apply", inv, "--output", "json")
		})
		want(t, there, 0, "apply port 8081")
		want(t, back, 0, "apply port 8080 again")
		noFailures(t, "web port change and back", a)
		for _, r := range []result{there, back} {
			var stages, switched []string
			for _, e := range r.events {
				if e.Step == "stage" && strings.Contains(e.Message, "(run ") {
					stages = append(stages, e.Message)
				}
				if e.Step == "switched" && e.Type == events.EvInfo {
					switched = append(switched, e.Host)
				}
			}
			if len(stages) != 3 {
				t.Errorf("want 3 stages, got %q", stages)
			}
			// Both lbs switched, one after the other, each checked at runtime.
			if sort.Strings(switched); strings.Join(switched, ",") != "lb1,lb2" {
				t.Errorf("switch gates passed on %v, want lb1 and lb2", switched)
			}
		}
		if strings.Contains(webMid, "Listen 8080") || !strings.Contains(webMid, "Listen 8081") || strings.Contains(webMid, ":8080 ") || !strings.Contains(webMid, "health.html") {
			t.Errorf("web1 after the change to 8081 and /health.html:\n%s", webMid)
		}
		// haproxy's runtime state, not only its file, has the new port.
		if !strings.Contains(lbMid, "option httpchk GET /health.html") || !strings.Contains(lbMid, " web1 10.213.47.11 ") || strings.Contains(lbMid, " 8080 ") {
			t.Errorf("lb1 after the change to 8081 and /health.html:\n%s", lbMid)
		}
		if got := inHost(t, "web1", "cat", "/etc/apache2/ports.conf"); got != portsBefore {
			t.Errorf("web1's ports.conf after the change back:\n%s", got)
		}
		want(t, run(t, "plan", inv), 0, "plan after the change and back")
	})

	t.Run("a failing apply with its rollback (the new port taken on web2): no failed request", func(t *testing.T) {
		// Another process holds 8081 on web2: stage 1 (web hosts on both
		// ports) changes web1, then fails on web2 while it is drained; web2
		// and web1 are rolled back, drained, and the lbs are never touched.
		inHost(t, "web2", "systemd-run", "--unit=occupy-8081", "/usr/bin/systemd-socket-activate", "-l", "8081", "/bin/cat")
		defer inHost(t, "web2", "systemctl", "stop", "occupy-8081")
		moved := variant(t, "port", func(s string) string { return strings.Replace(s, "port: 8080", "port: 8081", 1) })
		lbBefore := inHost(t, "lb1", "cat", "/etc/haproxy/haproxy.cfg")
		portsBefore := inHost(t, "web1", "cat", "/etc/apache2/ports.conf")
		var r result
		a := during(t, "failing apply + rollback (port 8081 taken on web2)", func() { r = run(t, "apply", moved, "--output", "json") })
		want(t, r, 4, "apply with 8081 taken on web2")
		noFailures(t, "failing apply", a)
		if !strings.Contains(r.stderr, "stage serve-both: web2") {
			t.Errorf("the error does not name the stage and web2:\n%s", r.stderr)
		}
		var rolled []string
		for _, e := range r.events {
			if e.Step == "rollback" && e.Status == events.StatusChanged {
				rolled = append(rolled, e.Host)
			}
			if e.Type == events.EvStep && e.Step == "haproxy" && e.Status != events.StatusOK {
				t.Errorf("%s: haproxy %s during a failure in stage 1", e.Host, e.Status)
			}
		}
		if strings.Join(rolled, ",") != "web2,web1" {
			t.Errorf("rolled back %v, want web2 then web1", rolled)
		}
		if inHost(t, "lb1", "cat", "/etc/haproxy/haproxy.cfg") != lbBefore {
			t.Error("lb1's haproxy.cfg changed")
		}
		if got := inHost(t, "web1", "cat", "/etc/apache2/ports.conf"); got != portsBefore {
			t.Errorf("web1's ports.conf not restored:\n%s", got)
		}
		applied := r
		r = run(t, "verify", inv, "--output", "json")
		if r.code != 0 {
			for _, e := range applied.events {
				t.Logf("apply event: %s %s %s %s %s", e.Time.Format("15:04:05.000"), e.Host, e.Step, e.Status, e.Message)
			}
			dumpCluster(t)
			t.Fatalf("cluster not serving after rollback: %v", failedChecks(r))
		}
	})

	t.Run("a locked cluster refuses a second apply", func(t *testing.T) {
		inHost(t, "lb2", "sh", "-c", "mkdir -p /var/lib/hadeploy/lock && echo 'run X by alice@laptop cmd=apply since 2026-11-26T10:00:00Z' > /var/lib/hadeploy/lock/info")
		r := run(t, "apply", inv)
		want(t, r, 1, "apply on a locked cluster")
		if !strings.Contains(r.stderr, "alice@laptop") || !strings.Contains(r.stderr, "lb2") {
			t.Errorf("lock error does not name the owner:\n%s", r.stderr)
		}
		if out := inHost(t, "lb1", "sh", "-c", "test -d /var/lib/hadeploy/lock && echo held || echo free"); strings.TrimSpace(out) != "free" {
			t.Error("the refused apply left its own lock on lb1")
		}
		want(t, run(t, "lock", "release", inv), 0, "lock release")
		want(t, run(t, "plan", inv), 0, "plan after lock release")
	})

	t.Run("three applies at once: exactly one proceeds", testConcurrentApplies)

	t.Run("a host cut off mid-apply: clear error, then a second apply converges", func(t *testing.T) {
		heavy := variant(t, "weight2", func(s string) string {
			return strings.Replace(s, "        - host: web2\n          weight: 1", "        - host: web2\n          weight: 2", 1)
		})
		// lb1 holds the VIP so it goes last: cut it while lb2 is being changed.
		cmd := exec.Command(bin, "apply", heavy, "--output", "json")
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		out, _ := cmd.StdoutPipe()
		var se bytes.Buffer
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		cut := false
		for sc.Scan() {
			var e events.Event
			json.Unmarshal(sc.Bytes(), &e)
			if !cut && e.Type == events.EvChange && e.Host == "lb2" {
				if err := lab.SetLink("lb1", false); err != nil {
					t.Fatal(err)
				}
				cut = true
			}
		}
		err := cmd.Wait()
		lab.SetLink("lb1", true)
		if !cut {
			t.Fatal("never saw lb2 change; could not cut mid-run")
		}
		if err == nil {
			t.Fatal("apply succeeded with lb1 cut off")
		}
		if !strings.Contains(se.String(), "lb1") {
			t.Errorf("error does not name lb1:\n%s", se.String())
		}
		t.Logf("error with lb1 cut off:\n%s", se.String())
		// Wait for VRRP to settle (lb1 preempts back), then a normal apply converges.
		time.Sleep(10 * time.Second)
		r := run(t, "apply", inv)
		want(t, r, 0, "apply after the cut")
		r = run(t, "verify", inv, "--output", "json")
		if r.code != 0 {
			t.Fatalf("verify after the cut: %v", failedChecks(r))
		}
	})

	t.Run("VRRP without multicast: split brain, unicast, active-active", testVRRPModes)

	t.Logf("timings: %v", timings)
	t.Logf("availability through the VIP (about 20 req/s, 1 s timeout):\n| operation | requests | failed | longest gap |\n|---|---|---|---|\n%s", strings.Join(availLog, "\n"))
	t.Logf("failover per VRRP mode and VIP (multicast VRRP blocked):\n%s", failoverNote())
}
