package main

import (
	"os"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
)

func TestScaleInventoryIsValid(t *testing.T) {
	for _, n := range []int{4, 16, 32} {
		hosts, err := scaleHosts(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(hosts) != n {
			t.Fatalf("%d hosts: got %d", n, len(hosts))
		}
		c, err := inventory.Parse("scale.yaml", []byte(scaleInventory(hosts)))
		if err != nil {
			t.Fatalf("%d hosts: %v", n, err)
		}
		if len(c.Hosts) != n {
			t.Errorf("%d hosts: inventory has %d", n, len(c.Hosts))
		}
		spec := scaleSpec(hosts)
		if err := spec.Validate(); err != nil {
			t.Errorf("%d hosts: lab spec: %v", n, err)
		}
		for _, h := range spec.Hosts {
			if r := spec.ReleaseOf(h); r != lab.DefaultRelease {
				t.Errorf("%d hosts: %s boots %s, want %s", n, h.Name, r, lab.DefaultRelease)
			}
		}
	}
	hosts, _ := scaleHosts(32)
	if hosts[0].Address != "10.213.47.31" || hosts[29].Address != "10.213.47.60" || hosts[29].Name != "web30" {
		t.Errorf("addresses: first %v, last web %v", hosts[0], hosts[29])
	}
	if got := limitFor(hosts, 4); got != "web01,web02,lb1,lb2" {
		t.Errorf("limitFor 4 = %q", got)
	}
	if _, err := scaleHosts(2); err == nil {
		t.Error("2 hosts accepted")
	}
}

func TestAnsibleInventory(t *testing.T) {
	c, err := inventory.Load("../" + labInventory)
	if err != nil {
		t.Fatal(err)
	}
	got := ansibleInventory(c)
	want := "[web]\nweb1 ansible_host=10.213.47.11\nweb2 ansible_host=10.213.47.12\n\n[lb]\nlb1 ansible_host=10.213.47.21\nlb2 ansible_host=10.213.47.22\n\n"
	if got != want {
		t.Errorf("hosts.ini:\n%s\nwant:\n%s", got, want)
	}
	cfg := ansibleConfig("/tmp/x")
	for _, s := range []string{"pipelining = True", "forks = 5", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/var/lib/hadeploy-lab/known_hosts"} {
		if !strings.Contains(cfg, s) {
			t.Errorf("ansible.cfg lacks %q", s)
		}
	}
}

func TestStatsOf(t *testing.T) {
	out := `{"type":"run_started"}
{"type":"step_result","host":"web1","step":"packages","status":"changed","duration_ms":4000}
{"type":"step_result","host":"lb1","step":"packages","status":"changed","duration_ms":7000}
not json
{"type":"summary","summary":{"command":"apply","changes":5,"hosts":[{"host":"web1","round_trips":3},{"host":"lb1","round_trips":5}]}}
`
	s := statsOf(parseEvents(out))
	if !s.Found || s.RTMax != 5 || s.RTMean != 4 || s.PkgMS != 7000 || s.Changes != 5 || s.Hosts != 2 {
		t.Errorf("stats = %+v", s)
	}
	// Hosts installing in turns (--concurrency 1): the phase is their span.
	turns := `{"time":"2026-12-02T10:00:04Z","type":"step_result","host":"web1","step":"packages","duration_ms":4000}
{"time":"2026-12-02T10:00:09Z","type":"step_result","host":"web2","step":"packages","duration_ms":5000}
`
	if s := statsOf(parseEvents(turns)); s.PkgMS != 9000 {
		t.Errorf("packages in turns: %d ms, want 9000", s.PkgMS)
	}
	if s := statsOf([]events.Event{{Type: "info"}}); s.Found {
		t.Error("summary found in none")
	}
}

func TestRecap(t *testing.T) {
	out := `PLAY RECAP *********************************************************************
lb1                        : ok=10   changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
web1                       : ok=7    changed=2    unreachable=0    failed=1    skipped=1    rescued=0    ignored=0
`
	ch, tasks, failed, hosts := recap(out)
	if ch != 2 || tasks != 10 || failed != 1 || hosts != 2 {
		t.Errorf("recap = %d %d %d %d", ch, tasks, failed, hosts)
	}
}

func TestTableAndTargets(t *testing.T) {
	rows := []Row{
		{Tool: "hadeploy", Op: "no-op apply", Hosts: 4, WallMS: []int64{300, 200, 400}, RTMax: 3, RTMean: 3},
		{Tool: "hadeploy", Op: "cold apply", Hosts: 4, WallMS: []int64{62000}, PkgMS: 50000, OwnMS: 12000},
		{Tool: "ansible", Op: "no-op playbook", Hosts: 4, WallMS: []int64{9000}, TasksHost: 12},
	}
	for i := range rows {
		rows[i].Median = median(rows[i].WallMS)
	}
	if rows[0].Median != 300 || median([]int64{1, 2, 3, 4}) != 2 || median[int64](nil) != 0 {
		t.Fatal("median")
	}
	tab := table(rows)
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines:\n%s", len(lines), tab)
	}
	for _, s := range []string{"| hadeploy | no-op apply", "0.30 s", "3 / 3.0", "≈12 tasks", "50.00 s", "12.00 s"} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
	width := len([]rune(lines[0]))
	for _, l := range lines {
		if len([]rune(l)) != width {
			t.Errorf("ragged table:\n%s", tab)
			break
		}
	}
	ts := targets(rows, nil)
	met := map[string]string{}
	for _, tg := range ts {
		v := "nil"
		if tg.Met != nil {
			v = map[bool]string{true: "yes", false: "no"}[*tg.Met]
		}
		met[tg.Goal] = v + " " + tg.Value
	}
	for goal, want := range map[string]string{
		"no-op apply, 4-host lab: ≤ 0.5 s wall":                          "yes 0.30 s",
		"no-op apply ≥ 20× faster than Ansible's no-op":                  "yes 30.0×",
		"no-op apply ≤ 3 round trips per host":                           "yes 3",
		"cold apply: time beyond package installs ≤ 20% of package time": "no 24% (12.00 s own / 50.00 s packages)",
		"no-op apply, 32 hosts: ≤ 2 s":                                   "nil ",
	} {
		if met[goal] != want {
			t.Errorf("%s: %q, want %q", goal, met[goal], want)
		}
	}
	if !strings.Contains(targetTable(ts), "not measured") {
		t.Error("target table lacks 'not measured'")
	}
	if r := ratios(rows)["ansible_noop_over_hadeploy_noop_apply"]; r != 30 {
		t.Errorf("ratio %v", r)
	}
}

func TestRemotePrograms(t *testing.T) {
	out := "web2: run:\nhadeploy_main() {\n}\nweb2: run: /bin/sh\nweb1: run:\nx\nweb2: run:\n"
	if got := remotePrograms(out); got != "web2=2 web1=1" {
		t.Errorf("remotePrograms = %q", got)
	}
}

func TestInotifyFits(t *testing.T) {
	for _, n := range []int{4, 16, 32, 64} {
		if got := inotifyFits(inotifyNeed(n)); got != n {
			t.Errorf("fits(need(%d)) = %d", n, got)
		}
	}
	if inotifyFits(128) != 16 || inotifyNeed(34) < 6*34 {
		t.Error("inotify arithmetic")
	}
}

func TestCPUStatUsec(t *testing.T) {
	n, ok := cpuStatUsec("usage_usec 32265626\nuser_usec 16973967\nsystem_usec 15291659\n")
	if !ok || n != 32265626 {
		t.Errorf("usage_usec = %d, %v", n, ok)
	}
	if _, ok := cpuStatUsec("user_usec 1\n"); ok {
		t.Error("found usage_usec where there is none")
	}
	r := Row{Hosts: 4, LabCPUMS: []float64{400, 420, 900}}
	r.finish()
	if r.LabCPUPerHost != 105 {
		t.Errorf("lab CPU per host = %v, want the median 420 / 4", r.LabCPUPerHost)
	}
}

// The Ansible playbook must deploy every file hadeploy manages on the lab
// (Debian 12), or the comparison is of less work and `hadeploy plan` after
// it finds changes (it once lacked the six files of the haproxy watcher and
// the keepalived notify and handover scripts).
func TestPlaybookCoversEveryManagedFile(t *testing.T) {
	play, err := os.ReadFile("ansible/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := inventory.Load("../" + labInventory)
	if err != nil {
		t.Fatal(err)
	}
	files, err := managedFiles(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no managed files")
	}
	for _, mf := range files {
		if !strings.Contains(string(play), mf.path) {
			t.Errorf("%s: site.yml does not deploy %s", mf.host, mf.path)
		}
	}
}
