package e2e

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
)

var (
	advertRe   = regexp.MustCompile(`(?m)^\s*advert_int (\S+)$`)
	priorityRe = regexp.MustCompile(`(?m)^\s*priority (\d+)$`)
)

// renderedVRRP is lb's advert_int (seconds) and its first instance's
// priority, read from the keepalived.conf on the host.
func renderedVRRP(t *testing.T, lb string) (float64, int) {
	t.Helper()
	conf := inHost(t, lb, "cat", "/etc/keepalived/keepalived.conf")
	a, p := advertRe.FindStringSubmatch(conf), priorityRe.FindStringSubmatch(conf)
	if a == nil || p == nil {
		t.Fatalf("%s: no advert_int or priority in keepalived.conf:\n%s", lb, conf)
	}
	adv, err := strconv.ParseFloat(a[1], 64)
	if err != nil {
		t.Fatalf("%s: advert_int %q: %v", lb, a[1], err)
	}
	prio, _ := strconv.Atoi(p[1])
	return adv, prio
}

// faultScenarios runs failover-test's master-crash and vrrp-partition on the
// applied cluster (inventory p, lb1 the VIP's master, lb2 its backup) and
// asserts what the rendered config promises: the VIP leaves a frozen lb1
// within 3 × advert_int + lb2's skew + 0.3 s; with lb1's adverts dropped
// both lbs hold the VIP (the split brain is named), and once they pass again
// lb1 is the one holder within the master-down bound (4 × advert_int + 1 s);
// the return's own figures are there; nothing of the faults is left on lb1.
func faultScenarios(t *testing.T, p, what string) {
	t.Helper()
	adv, prio := renderedVRRP(t, "lb2")
	crash := 3*adv + adv*float64(256-prio)/256 + 0.3
	masterDown := 4*adv + 1
	r := run(t, "failover-test", p, "--output", "json", "--scenario", "master-crash,vrrp-partition")
	seen := map[string]bool{}
	for _, e := range r.events {
		if e.Step != "failover" || e.Type != events.EvStep {
			continue
		}
		id, _ := e.Data["id"].(string)
		seen[id] = true
		ms := func(k string) float64 { f, _ := e.Data[k].(float64); return f / 1000 }
		failoverLog = append(failoverLog, fmt.Sprintf("| %s | %s | %s | %v→%v | %.2f s | %.2f s | %.2f s | %.2f s | %v/%v | %v, %.2f s | %s |",
			what, e.Data["vip"], e.Message, e.Data["master"], e.Data["new_holder"], ms("moved_ms"), ms("bound_ms"), ms("failback_ms"), ms("longest_gap_ms"),
			e.Data["failed"], e.Data["requests"], e.Data["failback_failed"], ms("failback_gap_ms"), e.Status))
		t.Logf("%s %s: %v", what, id, e.Data)
		if _, ok := e.Data["failback_failed"].(float64); !ok {
			t.Errorf("%s %s: no failback_failed figure: %v", what, id, e.Data)
		}
		if _, ok := e.Data["failback_gap_ms"].(float64); !ok {
			t.Errorf("%s %s: no failback_gap_ms figure: %v", what, id, e.Data)
		}
		switch id {
		case "master-crash":
			if b := ms("bound_ms"); math.Abs(b-crash) > 0.002 {
				t.Errorf("%s: master-crash bound %.3f s, the rendered config gives %.3f s", what, b, crash)
			}
			if m := ms("moved_ms"); m <= 0 || m > ms("bound_ms") {
				t.Errorf("%s: the VIP left the frozen master after %.3f s, bound %.3f s", what, m, ms("bound_ms"))
			}
			if e.Data["new_holder"] != "lb2" {
				t.Errorf("%s: the VIP went to %v, want lb2", what, e.Data["new_holder"])
			}
		case "vrrp-partition":
			if d, _ := e.Data["detected"].(string); e.Data["split_brain"] != true || !strings.Contains(d, "SPLIT BRAIN: lb1, lb2") {
				t.Errorf("%s: the partition's split brain was not seen and named: %v", what, e.Data)
			}
			if b := ms("bound_ms"); math.Abs(b-masterDown) > 0.002 {
				t.Errorf("%s: partition bound %.3f s, want the master-down bound %.3f s", what, b, masterDown)
			}
			if h := ms("failback_ms"); h <= 0 || h > masterDown {
				t.Errorf("%s: the split brain healed after %.3f s, bound %.3f s", what, h, masterDown)
			}
		}
	}
	want(t, r, 0, what+": failover-test --scenario master-crash,vrrp-partition")
	if !seen["master-crash"] || !seen["vrrp-partition"] || len(seen) != 2 {
		t.Errorf("%s: scenarios measured %v, want master-crash and vrrp-partition", what, seen)
	}
	// Nothing is left: no process stopped, no filter, no pending safety net.
	if out := inHost(t, "lb1", "sh", "-c", "ps -o stat=,comm= -C keepalived,haproxy"); strings.Contains(out, "T") {
		t.Errorf("%s: processes left stopped on lb1:\n%s", what, out)
	}
	if out := inHost(t, "lb1", "sh", "-c", "tc filter show dev eth0 egress 2>&1; systemctl list-timers --all --no-legend 'hadeploy-failover-*'"); strings.Contains(out, "bpf") || strings.Contains(out, "hadeploy-failover") {
		t.Errorf("%s: a fault's filter or safety net is left on lb1:\n%s", what, out)
	}
	if h := vipHolders(t, vip1); len(h) != 1 || h[0] != "lb1" {
		t.Errorf("%s: after the faults the VIP is on %v, want lb1", what, h)
	}
}

// frozen reports whether keepalived on lb is stopped by a signal (ps state T).
func frozen(t *testing.T, lb string) bool {
	t.Helper()
	out := inHost(t, lb, "sh", "-c", "ps -o stat= -C keepalived")
	return strings.Contains(out, "T")
}

// freezeOutlivesKill: failover-test SIGKILLed while the master is frozen
// leaves nothing stuck: the thaw timer it scheduled before the freeze wakes
// keepalived and haproxy by themselves, the VIP comes back to lb1, the timer
// is gone, and the next command takes over the dead process's lock (an apply
// that changes nothing).
func freezeOutlivesKill(t *testing.T) {
	var out lockedBuffer
	cmd := exec.Command(bin, "failover-test", inv, "--output", "json", "--scenario", "master-crash")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !frozen(t, "lb1") {
		select {
		case err := <-done:
			t.Fatalf("failover-test ended (%v) before lb1 was frozen:\n%s", err, tail(out.String()))
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("lb1 never frozen:\n%s", tail(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	killed := time.Now()
	// The timer fires at the crash bound + 6 s at most after the freeze.
	adv, prio := renderedVRRP(t, "lb2")
	limit := time.Duration((3*adv+adv*float64(256-prio)/256+0.3+6+5)*float64(time.Second)) + 5*time.Second
	for frozen(t, "lb1") {
		if time.Since(killed) > limit {
			t.Fatalf("lb1 still frozen %s after failover-test was killed: the thaw timer did not fire", limit)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("lb1 thawed by its timer %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if out := inHost(t, "lb1", "sh", "-c", "ps -o stat=,comm= -C haproxy"); strings.Contains(out, "T") {
		t.Errorf("haproxy still stopped on lb1:\n%s", out)
	}
	waitHolders(t, vip1, 10*time.Second, "lb1")
	if out := inHost(t, "lb1", "sh", "-c", "systemctl list-timers --all --no-legend 'hadeploy-failover-*'"); strings.Contains(out, "hadeploy-failover") {
		t.Errorf("the thaw timer is still there after firing:\n%s", out)
	}
	r := run(t, "apply", inv, "--output", "json")
	want(t, r, 0, "apply after a killed failover-test")
	if s := r.summary(); s == nil || s.Changes != 0 || s.Failed {
		t.Errorf("apply after a killed failover-test: %+v", s)
	}
}
