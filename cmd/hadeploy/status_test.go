package main

import (
	"slices"
	"strings"
	"testing"
)

// status on the fake fleet after an apply: one screen, pinned; exactly two
// round trips per host (the snapshot, without the lock, and the status
// program), all hosts at once; no lock taken, nothing released.
func TestStatusTwoRoundTripsNoLock(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	hosts := fakeLab(t)
	if out, code := hadeploy(t, "apply", labInv); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	sent, progs := map[string]int{}, map[string]int{}
	for name, h := range hosts {
		sent[name], progs[name] = len(h.Log), len(h.Programs)
	}
	out, code := hadeploy(t, "status", labInv)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	golden(t, "status.txt", out)
	for name, h := range hosts {
		if got := h.Log[sent[name]:]; !slices.Equal(got, []string{"snapshot", "status"}) {
			t.Errorf("%s: status sent %v, want [snapshot status]", name, got)
		}
		if len(h.Programs) != progs[name]+2 {
			t.Errorf("%s: status sent %d programs, want 2", name, len(h.Programs)-progs[name])
		}
		for _, p := range h.Programs[progs[name]:] {
			if strings.Contains(p, "mkdir /var/lib/hadeploy/lock") || strings.Contains(p, "rm -rf /var/lib/hadeploy/lock") {
				t.Errorf("%s: status touched the lock:\n%s", name, p)
			}
		}
		if h.LockInfo() != "" {
			t.Errorf("%s: left locked by %q", name, h.LockInfo())
		}
	}

	// JSON: the same facts as events; the summary counts the round trips.
	hosts["lb1"].Admin = map[string]string{"web/web2": "drain"}
	out, code = hadeploy(t, "status", labInv, "--output", "json")
	evs := jsonEvents(t, out)
	if code != 0 || len(evs) == 0 {
		t.Fatalf("status --output json: exit %d\n%s", code, out)
	}
	sum := evs[len(evs)-1].Summary
	if sum == nil || sum.Command != "status" || sum.Changes != 0 || len(sum.Hosts) != 4 {
		t.Fatalf("summary: %+v", sum)
	}
	for _, h := range sum.Hosts {
		if h.RoundTrips != 2 {
			t.Errorf("%s: %d round trips, want 2 (snapshot + status)", h.Host, h.RoundTrips)
		}
	}
	vrrp, servers := map[string]string{}, map[string]string{}
	for _, e := range evs {
		switch e.Step {
		case "vip":
			if hs, _ := e.Data["holders"].([]any); len(hs) != 1 || hs[0] != "lb1" {
				t.Errorf("VIP holders %v, want [lb1]", e.Data["holders"])
			}
		case "vrrp":
			vrrp[e.Host] = e.Data["state"].(string) + " " + e.Data["vip"].(string)
			if e.Data["priority"].(float64) != e.Data["configured_priority"].(float64) {
				t.Errorf("%s: effective priority %v, configured %v", e.Host, e.Data["priority"], e.Data["configured_priority"])
			}
		case "server":
			servers[e.Host+" "+e.Data["backend"].(string)+"/"+e.Data["server"].(string)] = e.Data["status"].(string)
		}
	}
	if vrrp["lb1"] != "MASTER held" || vrrp["lb2"] != "BACKUP free" {
		t.Errorf("vrrp: %v", vrrp)
	}
	if len(servers) != 8 || servers["lb1 web/web2"] != "DRAIN" || servers["lb2 web/web2"] != "UP" || servers["lb1 web/web1"] != "UP" {
		t.Errorf("servers: %v", servers)
	}

	// Drift and what cannot be read: a hand edit on lb2, keepalived stopped.
	hosts["lb2"].Files["/etc/haproxy/haproxy.cfg"] += "# edited by hand\n"
	hosts["lb2"].Services["keepalived"] = "inactive enabled"
	out, code = hadeploy(t, "status", labInv)
	for _, want := range []string{"lb2  unknown (keepalived is not running)  -", "plan: 3 change(s) pending on lb2; `hadeploy plan " + labInv + "` shows them"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status with drift on lb2: exit %d, want %q in:\n%s", code, want, out)
		}
	}
}
