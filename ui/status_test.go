package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/status"
)

// What is not as it should be reads plainly: split brain, an unknown VRRP
// state and why, a lowered priority, servers unknown on an lb, drift, a lock.
func TestStatusTextSaysWhatIsWrong(t *testing.T) {
	rep := &status.Report{Cluster: "lab", File: "lab.yaml", VIP: "10.0.0.100", Holders: []string{"lb1", "lb2"},
		LBs: []status.LB{
			{Host: "lb1", VIP: "held", State: "MASTER", Priority: 75, Base: 100, Configured: 100, LastChange: "MASTER at 2026-12-02T00:01:00.000Z, webhook failed (http=503 exit=0)"},
			{Host: "lb2", VIP: "held", State: status.Unknown, Configured: 80, Why: "keepalived is not running", StatsWhy: "no stats socket (is haproxy running?)"}},
		Servers: []status.Server{
			{Backend: "web", Server: "web1", LB: "lb1", Status: "DRAIN", Sessions: 1},
			{Backend: "web", Server: "web1", LB: "lb2", Status: status.Unknown}},
		Hosts: []status.Host{
			{Host: "web1", Roles: []string{"web"}, Versions: []status.Version{{Program: "apache", Version: "2.4.71"}}, Changes: 2, Lock: "run X by bob@desk", RoundTrips: 2},
			{Host: "lb1", Roles: []string{"lb"}, DriftWhy: "no profile", Lock: "run X by bob@desk", LastRun: &status.Run{ID: "20261127T080000.000Z", Status: "ok"}}},
		Changes: 2}
	got := StatusText(rep, false)
	for _, want := range []string{
		"cluster lab (lab.yaml): VIP 10.0.0.100 held by lb1, lb2: SPLIT BRAIN\n",
		"lock: held on web1, lb1 by run X by bob@desk\n",
		"lb1  MASTER                               75 (inventory: 100)  held  MASTER at 2026-12-02T00:01:00.000Z, webhook failed (http=503 exit=0)",
		"lb2  unknown (keepalived is not running)  -                    held  -",
		"web      web1    DRAIN, 1 session  unknown",
		"lb2: haproxy's servers unknown: no stats socket (is haproxy running?)",
		"web1  web    -        -           2.4.71  none                     2 change(s)",
		"lb1   lb     -        -           -       20261127T080000.000Z ok  unknown",
		"plan: 2 change(s) pending on web1; `hadeploy plan lab.yaml` shows them\n",
		"plan: unknown on lb1 (no profile)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	// JSON: one event per lb, server and host, then the summary.
	var b bytes.Buffer
	var evs []events.Event
	New(&b, Options{JSON: true}).Status(rep, events.SinkFunc(func(e events.Event) { evs = append(evs, e) }))
	if len(evs) != 1+2+2+2+1 || evs[len(evs)-1].Summary.Changes != 2 || evs[0].Step != "vip" {
		t.Errorf("events: %+v", evs)
	}
}
