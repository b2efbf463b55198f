package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
)

// The lab's VIP and the second one of the active-active inventory: a free
// address of the lab subnet (the lab uses .1, .11, .12, .21, .22 and .100).
const (
	vip1 = "10.213.47.100"
	vip2 = "10.213.47.101"
)

// failoverLog is every failover-test figure of the VRRP modes, for the
// suite's closing note.
var failoverLog []string

// blockMulticast drops (or lets through again) the multicast VRRP adverts of
// both load balancers, as a cloud network does.
func blockMulticast(t *testing.T, on bool) {
	t.Helper()
	for _, lb := range []string{"lb1", "lb2"} {
		if err := lab.BlockVRRPMulticast(lb, on); err != nil {
			t.Fatalf("block multicast VRRP on %s (%v): %v", lb, on, err)
		}
	}
}

// vipHolders is which load balancers hold addr now, from inside the hosts.
func vipHolders(t *testing.T, addr string) []string {
	t.Helper()
	var out []string
	for _, lb := range []string{"lb1", "lb2"} {
		if strings.Contains(inHost(t, lb, "ip", "-o", "-4", "addr", "show"), " "+addr+"/") {
			out = append(out, lb)
		}
	}
	return out
}

// waitHolders waits until addr is held by exactly the load balancers in
// want (both of them: a split brain), at most limit.
func waitHolders(t *testing.T, addr string, limit time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := vipHolders(t, addr)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("VIP %s held by %v after %s, want %v", addr, got, limit, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// applyNoop applies inventory p twice: the first converges (changes > 0
// when changed), the second must change nothing.
func applyNoop(t *testing.T, p, what string, changed bool) {
	t.Helper()
	r := run(t, "apply", p, "--output", "json")
	want(t, r, 0, what+": apply")
	if s := r.summary(); s == nil || s.Failed || (changed && s.Changes == 0) {
		t.Fatalf("%s: apply summary %+v", what, s)
	}
	r = run(t, "apply", p, "--output", "json")
	want(t, r, 0, what+": second apply")
	if s := r.summary(); s == nil || s.Changes != 0 {
		t.Fatalf("%s: the second apply reported changes: %+v", what, s)
	}
}

// verifyOK runs verify and fails the test with the failed checks.
func verifyOK(t *testing.T, p, what string) {
	t.Helper()
	if r := run(t, "verify", p, "--output", "json"); r.code != 0 {
		t.Fatalf("%s: verify failed: %v", what, failedChecks(r))
	}
}

// failoverOK runs failover-test and checks that every VIP in vips was
// measured by every scenario, each one passing; the figures go to the
// closing note.
func failoverOK(t *testing.T, p, what string, vips ...string) {
	t.Helper()
	c, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	hook := startHookReceiver(t, c) // nil unless the inventory has vrrp.notify
	r := run(t, "failover-test", p, "--output", "json")
	per := map[string]int{}
	for _, e := range r.events {
		if e.Step != "failover" || e.Type != events.EvStep {
			continue
		}
		v, _ := e.Data["vip"].(string)
		per[v]++
		ms := func(k string) float64 { f, _ := e.Data[k].(float64); return f / 1000 }
		failoverLog = append(failoverLog, fmt.Sprintf("| %s | %s | %s | %v→%v | %.2f s | %.2f s | %.2f s | %.2f s | %v/%v | %v, %.2f s | %s |",
			what, v, e.Message, e.Data["master"], e.Data["new_holder"], ms("moved_ms"), ms("bound_ms"), ms("failback_ms"), ms("longest_gap_ms"),
			e.Data["failed"], e.Data["requests"], e.Data["failback_failed"], ms("failback_gap_ms"), e.Status))
	}
	want(t, r, 0, what+": failover-test")
	checkHookFired(t, c, hook, r)
	for _, v := range vips {
		if per[v] != 3 {
			t.Errorf("%s: failover-test measured VIP %s in %d scenarios, want 3 (%v)", what, v, per[v], per)
		}
	}
	if len(per) != len(vips) {
		t.Errorf("%s: failover-test measured VIPs %v, want %v", what, per, vips)
	}
}

// unicastEdit turns the lab inventory's VRRP to unicast.
func unicastEdit(s string) string {
	return strings.Replace(s, "  check_weight: 25\n", "  check_weight: 25\n  unicast: true\n", 1)
}

// activeActiveEdit makes the lab inventory active-active over unicast: the
// lab's VIP with lb1 its master, vip2 with lb2.
func activeActiveEdit(s string) string {
	// Each VIP brings its own router id: vrrp's goes.
	s = strings.Replace(s, "vrrp:\n  virtual_router_id: 47\n", "vrrp:\n", 1)
	s = strings.Replace(s, "vip: "+vip1+"/24\n", "vips:\n  - address: "+vip1+"/24\n    virtual_router_id: 47\n    master: lb1\n"+
		"  - address: "+vip2+"/24\n    virtual_router_id: 48\n    master: lb2\n", 1)
	return unicastEdit(s)
}

// vrrp3Edit turns the lab inventory's VRRP to version 3 with five adverts a
// second (VRRPv3 has no authentication: auth_pass goes).
func vrrp3Edit(s string) string {
	s = strings.Replace(s, "  auth_pass: labpass\n", "", 1)
	return strings.Replace(s, "  advert_int: 1\n", "  version: 3\n  advert_int: 0.2\n", 1)
}

// testVRRPv3 changes the serving cluster from VRRPv2 (1 s adverts) to VRRPv3
// (0.2 s) and back, both lbs at once, under the availability client; on v3
// it verifies and runs every failover scenario, whose bounds (derived from
// the rendered advert_int) shrink with it.
func testVRRPv3(t *testing.T) {
	v3 := variant(t, "vrrp3", vrrp3Edit)
	t.Cleanup(func() {
		if r := run(t, "apply", inv); r.code != 0 {
			t.Errorf("re-applying the lab inventory: exit %d\n%s", r.code, tail(r.stderr))
		}
	})
	var r result
	a := during(t, "VRRP v2 → v3 (advert_int 1 → 0.2 s, both lbs at once)", func() { r = run(t, "apply", v3, "--output", "json") })
	want(t, r, 0, "apply VRRPv3")
	noFailures(t, "VRRP v2 → v3", a)
	together := false
	for _, e := range r.events {
		together = together || strings.Contains(e.Message, "together")
	}
	if !together {
		t.Error("the apply to VRRPv3 did not say it changes both load balancers together")
	}
	if adv, _ := renderedVRRP(t, "lb1"); adv != 0.2 {
		t.Fatalf("lb1 renders advert_int %v, want 0.2", adv)
	}
	applyNoop(t, v3, "VRRPv3", false)
	verifyOK(t, v3, "VRRPv3")
	failoverOK(t, v3, "VRRPv3, 0.2 s", vip1)
	faultScenarios(t, v3, "VRRPv3, 0.2 s")
	a = during(t, "VRRP v3 → v2 (both lbs at once)", func() { r = run(t, "apply", inv) })
	want(t, r, 0, "apply VRRPv2 again")
	noFailures(t, "VRRP v3 → v2", a)
}

// The inventories the VRRP modes apply are valid, and say what they mean
// (offline: no lab needed).
func TestVRRPModeInventories(t *testing.T) {
	u, err := inventory.Load(variant(t, "unicast", unicastEdit))
	if err != nil || !u.VRRP.Unicast || len(u.VIPs) != 1 {
		t.Fatalf("unicast: %v", err)
	}
	v3, err := inventory.Load(variant(t, "vrrp3", vrrp3Edit))
	if err != nil || v3.VRRP.Version != 3 || v3.VRRP.AdvertText() != "0.2" || v3.VRRP.AuthPass != "" {
		t.Fatalf("vrrp3: %v", err)
	}
	a, err := inventory.Load(variant(t, "active-active", activeActiveEdit))
	if err != nil {
		t.Fatal(err)
	}
	if !a.VRRP.Unicast || len(a.VIPs) != 2 || a.VIPs[0].Addr() != vip1 || a.VIPs[0].Master != "lb1" || a.VIPs[1].Addr() != vip2 || a.VIPs[1].Master != "lb2" {
		t.Errorf("active-active: %+v", a.VIPs)
	}
}

// testVRRPModes runs on the applied lab: with multicast VRRP blocked between
// the load balancers the lab's (multicast) cluster splits and verify names
// the split brain; a unicast cluster then works with the block in place
// (apply, no-op apply, verify, failover-test), and so does an active-active
// unicast cluster with two VIPs, each lb master of one (also status and
// switchover there and back). The lab's own inventory is applied again at
// the end, multicast let through, for the tests after this one.
func testVRRPModes(t *testing.T) {
	t.Cleanup(func() {
		for _, lb := range []string{"lb1", "lb2"} {
			if err := lab.BlockVRRPMulticast(lb, false); err != nil {
				t.Errorf("unblock multicast VRRP on %s: %v", lb, err)
			}
		}
		if r := run(t, "apply", inv); r.code != 0 {
			t.Errorf("re-applying the lab inventory: exit %d\n%s", r.code, tail(r.stderr))
			return
		}
		if r := run(t, "verify", inv, "--output", "json"); r.code != 0 {
			t.Errorf("verify after re-applying the lab inventory: %v", failedChecks(r))
		}
	})
	uni := variant(t, "unicast", unicastEdit)
	aa := variant(t, "active-active", activeActiveEdit)

	t.Run("multicast blocked: the multicast cluster splits, verify names it", func(t *testing.T) {
		waitHolders(t, vip1, 15*time.Second, "lb1")
		blockMulticast(t, true)
		// lb2 hears no advert: MASTER after its master-down timer (~3 s).
		waitHolders(t, vip1, 15*time.Second, "lb1", "lb2")
		r := run(t, "verify", inv, "--output", "json")
		want(t, r, 3, "verify with a split brain")
		failed := strings.Join(failedChecks(r), "\n")
		if !strings.Contains(failed, "exactly one lb holds the VIP") || !strings.Contains(failed, "SPLIT BRAIN") {
			t.Errorf("verify did not name the split brain; failed checks:\n%s", failed)
		}
		if r := run(t, "status", inv); !strings.Contains(r.stdout, "SPLIT BRAIN") {
			t.Errorf("status did not name the split brain:\n%s", tail(r.stdout))
		}
		// Let multicast through for the switch to unicast: lb1 preempts back.
		blockMulticast(t, false)
		waitHolders(t, vip1, 15*time.Second, "lb1")
	})

	t.Run("unicast with multicast blocked: apply, no-op, verify, failover-test", func(t *testing.T) {
		// The switch itself runs with multicast let through: while one lb
		// already sends unicast and the other still multicast, neither
		// would hear the other with the block on. (Also when the subtest
		// before stopped half-way.)
		blockMulticast(t, false)
		waitHolders(t, vip1, 15*time.Second, "lb1")
		r := run(t, "apply", uni, "--output", "json")
		want(t, r, 0, "unicast: apply")
		if s := r.summary(); s == nil || s.Failed || s.Changes == 0 {
			t.Fatalf("unicast: apply summary %+v", s)
		}
		conf := inHost(t, "lb1", "cat", "/etc/keepalived/keepalived.conf")
		if !strings.Contains(conf, "unicast_src_ip 10.213.47.21") || !strings.Contains(conf, "unicast_peer {\n\t\t10.213.47.22\n\t}") {
			t.Fatalf("lb1's keepalived.conf has no unicast peers:\n%s", conf)
		}
		blockMulticast(t, true)
		// Longer than the master-down timer: a split would show by now.
		time.Sleep(5 * time.Second)
		waitHolders(t, vip1, time.Second, "lb1")
		r = run(t, "apply", uni, "--output", "json")
		want(t, r, 0, "unicast: second apply")
		if s := r.summary(); s == nil || s.Changes != 0 {
			t.Fatalf("unicast: the second apply reported changes: %+v", s)
		}
		verifyOK(t, uni, "unicast, multicast blocked")
		failoverOK(t, uni, "unicast", vip1)
	})

	t.Run("active-active, two VIPs, multicast blocked: apply, no-op, verify, failover-test, status, switchover", func(t *testing.T) {
		blockMulticast(t, true) // already, unless the subtest before stopped early
		applyNoop(t, aa, "active-active", true)
		waitHolders(t, vip1, 15*time.Second, "lb1")
		waitHolders(t, vip2, 15*time.Second, "lb2")
		verifyOK(t, aa, "active-active")
		r := run(t, "status", aa)
		want(t, r, 0, "status active-active")
		for _, s := range []string{"VIP " + vip1 + " on lb1", "VIP " + vip2 + " on lb2"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("status lacks %q:\n%s", s, tail(r.stdout))
			}
		}
		failoverOK(t, aa, "active-active", vip1, vip2)
		// Both VIPs onto lb1 (lb2's maintenance), then each back on its master.
		want(t, run(t, "switchover", aa, "--to", "lb1"), 0, "switchover --to lb1")
		waitHolders(t, vip1, time.Second, "lb1")
		waitHolders(t, vip2, time.Second, "lb1")
		want(t, run(t, "switchover", aa, "--restore"), 0, "switchover --restore")
		waitHolders(t, vip1, time.Second, "lb1")
		waitHolders(t, vip2, time.Second, "lb2")
	})

}

// failoverNote is the failover figures of the VRRP modes, for the closing note.
func failoverNote() string {
	return "| cluster | VIP | scenario | from→to | moved | bound | fail-back | longest gap | failed/requests | fail-back failed, gap | result |\n|---|---|---|---|---|---|---|---|---|---|---|\n" +
		strings.Join(failoverLog, "\n")
}
