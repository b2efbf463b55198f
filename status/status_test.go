package status

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

func cluster(t *testing.T, routerID int) *inventory.Cluster {
	t.Helper()
	data, err := inventory.Scaffold(inventory.ScaffoldOptions{Web: []string{"192.0.2.11", "192.0.2.12"}, LB: []string{"192.0.2.21", "192.0.2.22"},
		VIP: "192.0.2.100/24", RouterID: routerID})
	if err != nil {
		t.Fatal(err)
	}
	c, err := inventory.Parse("status.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func need(t *testing.T, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("no %s here", prog)
	}
}

// The awk programs read what keepalived 2.2.7 and haproxy 2.6 really print
// (testdata: captured as root from the Debian 12 packages; the dump's
// password masked). Other sections' "State =" lines do not count.
func TestAwkOnRealOutput(t *testing.T) {
	need(t, "awk")
	out, err := exec.Command("awk", "-v", "inst=VI_201", vrrpAwk, "testdata/keepalived.data").Output()
	if err != nil || string(out) != "==vrrp MASTER 65 90\n" {
		t.Errorf("vrrp: %q %v, want MASTER, effective 65 (90 minus a failed tracker's 25), base 90", out, err)
	}
	out, _ = exec.Command("awk", "-v", "inst=VI_47", vrrpAwk, "testdata/keepalived.data").Output()
	if o := parse(string(out)); o.state != Unknown || !strings.Contains(o.why, "no vrrp_instance VI_47") {
		t.Errorf("another instance: %q → %+v", out, o)
	}
	out, err = exec.Command("awk", "-F,", statAwk, "testdata/show-stat.csv").Output()
	want := "==srv web web1 0 UP\n==srv web web2 0 DRAIN\n==srv web web3 0 DOWN\n==srv www1 web1 0 MAINT\n"
	if err != nil || string(out) != want {
		t.Errorf("show stat: %q %v, want %q", out, err, want)
	}
}

// The program is valid sh, quotes the values it is given and asks a web-only
// host for Apache's version alone.
func TestProgram(t *testing.T) {
	c := cluster(t, 47)
	lb := Program(c, c.Host("lb1"), facts.FamilyRHEL).String()
	for _, want := range []string{"grep -qF ' 192.0.2.100/'", "-v inst=VI_47", "[ ! -S " + steps.StatsSocket(facts.FamilyRHEL) + " ]", "haproxy -v", "keepalived --version", "rm -f \"$f\""} {
		if !strings.Contains(lb, want) {
			t.Errorf("lb program lacks %q:\n%s", want, lb)
		}
	}
	web := Program(c, c.Host("web1"), facts.FamilyDebian).String()
	if strings.Contains(web, "keepalived") || strings.Contains(web, "show stat") || !strings.Contains(web, "apache2 httpd") {
		t.Errorf("web program:\n%s", web)
	}
	need(t, "sh")
	for _, p := range []string{lb, web} {
		if out, err := exec.Command("sh", "-n", "-c", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s\n%s", err, out, p)
		}
	}
}

func TestShortVersion(t *testing.T) {
	for in, want := range map[string]string{
		"HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/": "2.6.12-1+deb12u4",
		"Keepalived v2.2.7 (01/16,2022)":                                     "2.2.7",
		"Server version: Apache/2.4.71 (Debian)":                             "2.4.71",
		"Server version: Apache/2.4.57 (Rocky Linux)":                        "2.4.57",
		"":                                  Unknown,
		"sh: 1: haproxy: Permission denied": "sh: 1: haproxy: Permission denied",
	} {
		if got := shortVersion(in); got != want {
			t.Errorf("shortVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// fleet answers Collect from canned outputs.
type fleet struct {
	out   map[string]string
	fail  map[string]error
	snaps map[string]*provision.Snapshot
	plans map[string]error
}

func (f *fleet) Exec(_ context.Context, host string, _ *shell.Script) (transport.Result, error) {
	if err := f.fail[host]; err != nil {
		return transport.Result{}, err
	}
	return transport.Result{Stdout: []byte(f.out[host])}, nil
}
func (f *fleet) Snapshot(host string) *provision.Snapshot { return f.snaps[host] }
func (f *fleet) PlanOf(host string) (*provision.HostPlan, error) {
	if err := f.plans[host]; err != nil {
		return nil, err
	}
	return &provision.HostPlan{}, nil
}
func (f *fleet) RoundTrips() map[string]int64 {
	return map[string]int64{"lb1": 2, "lb2": 2, "web1": 2, "web2": 2}
}

// A host whose program cannot run is named and shown unknown; the others
// are read as they are; the newest run is the last one.
func TestCollect(t *testing.T) {
	c := cluster(t, 201)
	lb1 := "==status\n==ver haproxy HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n==ver keepalived Keepalived v2.2.7 (01/16,2022)\n" +
		"==vip held\n==vrrp MASTER 75 100\n==srv web web1 3 UP\n==srv web web2 0 DRAIN\n==srv old web9 0 DOWN\n==stats ok\n"
	f := &fleet{
		out:  map[string]string{"lb1": lb1, "web1": "==status\n==ver apache Server version: Apache/2.4.71 (Debian)\n", "web2": "==status\n==ver apache\n"},
		fail: map[string]error{"lb2": errors.New("connection lost")},
		snaps: map[string]*provision.Snapshot{"web1": {Runs: []provision.RunInfo{{ID: "20261126T120000.000Z", Status: "ok"}, {ID: "20261127T080000.000Z", Status: "rolled-back", Meta: "by alice@laptop"}}},
			"lb1": {Lock: "run X by bob@desk"}},
		plans: map[string]error{"web2": errors.New("web2: no profile for OS family \"\"")},
	}
	rep := Collect(context.Background(), f, c, c.Hosts)
	if len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], "lb2: status: connection lost") {
		t.Errorf("problems: %q", rep.Problems)
	}
	if len(rep.Holders) != 1 || rep.Holders[0] != "lb1" {
		t.Errorf("holders %v", rep.Holders)
	}
	if l := rep.LBs[0]; l.State != "MASTER" || l.Priority != 75 || l.Base != 100 || l.Configured != 100 || l.VIP != "held" {
		t.Errorf("lb1: %+v", l)
	}
	if l := rep.LBs[1]; l.State != Unknown || l.VIP != Unknown || l.Why == "" || l.StatsWhy == "" {
		t.Errorf("lb2: %+v", l)
	}
	got := map[string]string{}
	for _, s := range rep.Servers {
		got[s.LB+" "+s.Backend+"/"+s.Server] = s.Status
	}
	want := map[string]string{"lb1 web/web1": "UP", "lb1 web/web2": "DRAIN", "lb2 web/web1": Unknown, "lb2 web/web2": Unknown, "lb1 old/web9": "DOWN"}
	if len(got) != len(want) {
		t.Errorf("servers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if rep.Servers[0].Sessions != 3 || rep.Servers[len(rep.Servers)-1].Server != "web9" {
		t.Errorf("servers: inventory ones first with their sessions, then the stale: %+v", rep.Servers)
	}
	hosts := map[string]Host{}
	for _, h := range rep.Hosts {
		hosts[h.Host] = h
	}
	if r := hosts["web1"].LastRun; r == nil || r.ID != "20261127T080000.000Z" || r.By != "by alice@laptop" {
		t.Errorf("web1 last run %+v", r)
	}
	if v := hosts["web1"].Versions; len(v) != 1 || v[0].Version != "2.4.71" {
		t.Errorf("web1 versions %+v", v)
	}
	if v := hosts["web2"].Versions; v[0].Version != Unknown {
		t.Errorf("web2 without apache: %+v", v)
	}
	if hosts["web2"].DriftWhy == "" || hosts["lb1"].Lock != "run X by bob@desk" || hosts["lb1"].RoundTrips != 2 {
		t.Errorf("hosts: %+v", rep.Hosts)
	}
}

// The newest VRRP transition from the notify script's log, and the hooks
// that failed for it (older transitions' hooks do not count).
func TestLastChange(t *testing.T) {
	out := "==status\n==trans 2026-12-02T00:00:00.000Z transition VI_47 BACKUP 80\n" +
		"==trans 2026-12-02T00:00:00.200Z webhook VI_47 BACKUP http=000 exit=7\n" +
		"==trans 2026-12-02T00:01:00.000Z transition VI_47 MASTER 80\n" +
		"==trans 2026-12-02T00:01:00.100Z script VI_47 MASTER exit=0\n" +
		"==trans 2026-12-02T00:01:00.300Z webhook VI_47 MASTER http=503 exit=0\n"
	if got := lastChange(parse(out).trans, false); got != "MASTER at 2026-12-02T00:01:00.000Z, webhook failed (http=503 exit=0)" {
		t.Errorf("last change = %q", got)
	}
	if got := lastChange(parse("==status\n==trans 2026-12-02T00:00:00.000Z transition VI_47 BACKUP 80\n").trans, true); got != "VI_47 BACKUP at 2026-12-02T00:00:00.000Z" {
		t.Errorf("last change = %q", got)
	}
	if got := lastChange(parse("==status\n").trans, false); got != "" {
		t.Errorf("no log: %q", got)
	}
	lb := Program(cluster(t, 47), cluster(t, 47).Host("lb1"), facts.FamilyDebian).String()
	if !strings.Contains(lb, "tail -n 20 "+steps.TransitionLog) {
		t.Errorf("the lb program does not read the transition log:\n%s", lb)
	}
}
