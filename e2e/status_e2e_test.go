package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/events"
)

// testStatus runs on the applied, verified lab: status sees lb1 holding the
// VIP as MASTER, every server UP on both haproxys and no drift, in at most
// handshake + snapshot + status round trips, and leaves no keepalived dump
// (it holds the VRRP password) behind; validate passes the lab's inventory;
// init writes one for the lab's addresses that validate passes too.
func testStatus(t *testing.T) {
	r := run(t, "status", inv, "--output", "json")
	want(t, r, 0, "status")
	s := r.summary()
	if s == nil || s.Command != "status" || s.Changes != 0 || s.Failed {
		t.Fatalf("status summary %+v (want no drift)\n%s", s, tail(r.stdout))
	}
	for _, h := range s.Hosts {
		if h.RoundTrips > 3 {
			t.Errorf("%s: %d round trips, want ≤ 3 (handshake + snapshot + status)", h.Host, h.RoundTrips)
		}
	}
	vrrp := map[string]events.Event{}
	servers := 0
	for _, e := range r.events {
		switch e.Step {
		case "vip":
			// Right after the cold apply lb2 may still hold the VIP until lb1
			// preempts it: exactly one holder is what matters here.
			if hs, _ := e.Data["holders"].([]any); len(hs) != 1 {
				t.Errorf("VIP holders %v, want exactly one", e.Data["holders"])
			}
		case "vrrp":
			vrrp[e.Host] = e
			// keepalived ran the notify script at least once since it
			// started (its first BACKUP or MASTER), which logged it.
			if lc, _ := e.Data["last_change"].(string); !strings.Contains(lc, " at ") {
				t.Errorf("%s: last VRRP change %q, want the notify script's newest transition", e.Host, lc)
			}
		case "server":
			servers++
			if e.Data["status"] != "UP" {
				t.Errorf("%s: %s/%s is %v, want UP", e.Host, e.Data["backend"], e.Data["server"], e.Data["status"])
			}
		case "host":
			versions, _ := e.Data["versions"].(map[string]any)
			for p, v := range versions {
				if v == "unknown" {
					t.Errorf("%s: %s version unknown", e.Host, p)
				}
			}
		}
	}
	// The holder is MASTER, the other BACKUP, at their configured priorities.
	for lb, prio := range map[string]float64{"lb1": 100, "lb2": 80} {
		e := vrrp[lb]
		held := e.Data["vip"] == "held"
		if e.Data["priority"] != prio || (held && e.Data["state"] != "MASTER") || (!held && e.Data["state"] != "BACKUP") {
			t.Errorf("%s: %+v, want priority %v, MASTER if it holds the VIP, else BACKUP", lb, e.Data, prio)
		}
	}
	// 4 servers in the lab's backends (web: web1, web2; www1: web1;
	// static_web: web2), each on 2 haproxys.
	if servers != 8 {
		t.Errorf("%d server events, want 8\n%s", servers, tail(r.stdout))
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if out := inHost(t, lb, "sh", "-c", "ls /tmp/keepalived.data 2>/dev/null | wc -l"); strings.TrimSpace(out) != "0" {
			t.Errorf("%s: status left keepalived's data dump in /tmp", lb)
		}
	}
	r = run(t, "status", inv)
	want(t, r, 0, "status (text)")
	if !strings.Contains(r.stdout, "VIP 10.213.47.100 on lb1") || !strings.Contains(r.stdout, "plan: nothing to change") {
		t.Errorf("status text:\n%s", r.stdout)
	}

	r = run(t, "validate", inv)
	want(t, r, 0, "validate")
	if !strings.Contains(r.stdout, inv+": valid (4 hosts: web1, web2, lb1, lb2)") {
		t.Errorf("validate: %q", r.stdout)
	}
	p := filepath.Join(t.TempDir(), "init.yaml")
	r = run(t, "init", "--web", "10.213.47.11,10.213.47.12", "--lb", "10.213.47.21,10.213.47.22", "--vip", "10.213.47.100/24", "--router-id", "47", p)
	want(t, r, 0, "init")
	want(t, run(t, "validate", p), 0, "validate the inventory init wrote")
}
