package provision

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/steps"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(got), 0o644)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./provision -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", p, want, got)
	}
}

const snapOut = `==os
ID=debian
VERSION_ID="12"
==endos
==hostname lb1
==mode 644 root:root /etc/haproxy/haproxy.cfg
==mode 600 root:root /etc/empty
==file /etc/haproxy/haproxy.cfg
Z2xvYmFsCg==
==nofile /etc/keepalived/keepalived.conf
==file /etc/empty
` + "\n" + `==pkg haproxy install ok installed
==pkg keepalived deinstall ok config-files
==unit Id=haproxy.service
==unit ActiveState=active
==unit UnitFileState=enabled
==unit 
==unit Id=keepalived.service
==unit UnitFileState=disabled
==unit ActiveState=inactive
==unit 
==unit Id=httpd.service
==unit ActiveState=inactive
==unit UnitFileState=
==addr 127.0.0.1/8
==addr 10.213.47.21/24
==haproxy 2.6.12-1+deb12u4 prometheus-exporter
==addr 10.213.47.100/24
==run 20261126T100000.000Z ok by root@x cmd=apply
==run 20261126T110000.000Z running by root@x cmd=apply
==lock held run X by bob@laptop since 2026
`

func TestParseSnapshot(t *testing.T) {
	sn, err := ParseSnapshot([]byte(snapOut))
	if err != nil {
		t.Fatal(err)
	}
	if sn.Facts.Family != "debian" || sn.Facts.Hostname != "lb1" || sn.Facts.HAProxyVersion != "2.6.12-1+deb12u4" || !sn.Facts.HAProxyHas("prometheus-exporter") {
		t.Errorf("facts %+v", sn.Facts)
	}
	if f := sn.Files["/etc/haproxy/haproxy.cfg"]; !f.Exists || string(f.Content) != "global\n" || f.Mode != 0o644 || f.Owner != "root:root" {
		t.Errorf("haproxy.cfg %+v", f)
	}
	if f := sn.Files["/etc/empty"]; !f.Exists || len(f.Content) != 0 || f.Mode != 0o600 {
		t.Errorf("empty file %+v", f)
	}
	if sn.Files["/etc/keepalived/keepalived.conf"].Exists {
		t.Error("absent file reported present")
	}
	if !sn.Packages["haproxy"] || sn.Packages["keepalived"] {
		t.Errorf("packages %v", sn.Packages)
	}
	if s := sn.Services["keepalived"]; s.Active != "inactive" || s.Enabled != "disabled" {
		t.Errorf("keepalived %+v", s)
	}
	if s := sn.Services["haproxy"]; s.Active != "active" || s.Enabled != "enabled" {
		t.Errorf("haproxy %+v", s)
	}
	if s, ok := sn.Services["httpd"]; !ok || s.Active != "inactive" || s.Enabled != "" {
		t.Errorf("httpd %+v", s)
	}
	if !sn.HoldsAddr("10.213.47.100") || sn.HoldsAddr("10.213.47.1") {
		t.Error("HoldsAddr wrong")
	}
	if len(sn.Runs) != 2 || sn.Runs[1].Status != "running" {
		t.Errorf("runs %+v", sn.Runs)
	}
	if sn.LockTaken || !strings.Contains(sn.Lock, "bob@laptop") {
		t.Errorf("lock %q taken %v", sn.Lock, sn.LockTaken)
	}
	sn, err = ParseSnapshot([]byte("==os\nID=arch\nPRETTY_NAME=\"Arch Linux\"\n==endos\n"))
	if err != nil || sn.OSErr == nil || sn.Facts.Family != "" {
		t.Fatalf("unsupported OS must be kept as OSErr, not a failed read: %v %v %+v", err, sn.OSErr, sn.Facts)
	}
	if msg := sn.OSErr.Error(); !strings.Contains(msg, `ID="arch"`) || !strings.Contains(msg, `PRETTY_NAME="Arch Linux"`) {
		t.Errorf("OSErr does not quote os-release: %s", msg)
	}
}

func labCluster(t *testing.T) *inventory.Cluster {
	c, err := inventory.Load("../e2e/lab-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPlanAndScripts pins the exact remote programs per family: the snapshot,
// package installs and a step's apply script.
func TestPlanAndScripts(t *testing.T) {
	c := labCluster(t)
	// Each host reads what its own steps manage, for every family.
	for _, hn := range []string{"lb1", "web1"} {
		rd, err := steps.ReadsFor(c, []*inventory.Host{c.Host(hn)}, playbooks.StepsFor)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "snapshot-"+hn+".sh", SnapshotScript(rd.Paths, rd.Packages, rd.Services, "run R by root@here", 60).String())
	}
	golden(t, "packages-apt.sh", PackagesScript("R1", "root@here cmd=apply", "apt", []string{"haproxy", "keepalived"}).String())
	golden(t, "packages-dnf.sh", PackagesScript("R1", "root@here cmd=apply", "dnf", []string{"httpd", "chrony"}).String())
	for _, fam := range []string{"debian", "rhel"} {
		sn := &Snapshot{Files: map[string]FileState{}, Packages: map[string]bool{}, Services: map[string]ServiceState{
			"haproxy": {Active: "active", Enabled: "enabled"},
		}}
		sn.Facts.Family = fam
		if fam == "rhel" {
			sn.Files["/etc/httpd/conf/httpd.conf"] = FileState{Exists: true, Content: []byte("Listen 80\n"), Mode: 0o644, Owner: "root:root"}
		}
		for _, hn := range []string{"lb1", "web1"} {
			hp, err := PlanHost(c, c.Host(hn), sn, playbooks.StepsFor)
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, sp := range hp.Steps {
				all.WriteString("# step " + sp.Step + "\n" + StepScript("R1", "root@here cmd=apply", sp).Loggable() + "\n")
			}
			golden(t, "apply-"+fam+"-"+hn+".sh", all.String())
		}
	}
}

func TestPlanNoChangeWhenHostMatches(t *testing.T) {
	c := labCluster(t)
	h := c.Host("lb1")
	sn := &Snapshot{Files: map[string]FileState{}, Packages: map[string]bool{}, Services: map[string]ServiceState{}}
	sn.Facts.Family = "debian"
	// First plan on an empty host: everything changes.
	hp, err := PlanHost(c, h, sn, playbooks.StepsFor)
	if err != nil {
		t.Fatal(err)
	}
	if hp.Changes() == 0 || len(hp.Packages) == 0 {
		t.Fatal("empty host should need changes")
	}
	// Make the snapshot look like the desired state: then zero changes.
	for _, p := range hp.Packages {
		sn.Packages[p] = true
	}
	for _, sp := range hp.Steps {
		for _, f := range sp.Files {
			sn.Files[f.Path] = FileState{Exists: true, Content: f.New, Mode: f.Mode, Owner: f.Owner}
		}
		for _, s := range sp.Services {
			sn.Services[s.Name] = ServiceState{Active: "active", Enabled: "enabled"}
		}
	}
	hp, err = PlanHost(c, h, sn, playbooks.StepsFor)
	if err != nil {
		t.Fatal(err)
	}
	if n := hp.Changes(); n != 0 {
		t.Fatalf("converged host reports %d changes", n)
	}
	// One weight changes exactly one line of haproxy.cfg and reloads haproxy.
	c.HAProxy.Backends[0].Servers[1].Weight = 5
	hp, _ = PlanHost(c, h, sn, playbooks.StepsFor)
	if n := hp.Changes(); n != 2 {
		t.Fatalf("weight change: %d changes, want 2 (file + reload)", n)
	}
	for _, sp := range hp.Steps {
		if sp.Step != "haproxy" {
			if sp.Changed() {
				t.Errorf("step %s changed on a weight change", sp.Step)
			}
			continue
		}
		d := NewRedactor(c).Diff(sp.Files[0])
		var minus, plus int
		for _, l := range strings.Split(d, "\n") {
			if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") {
				minus++
			}
			if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") {
				plus++
			}
		}
		if minus != 1 || plus != 1 || !strings.Contains(d, "weight 5") {
			t.Errorf("diff should change one line:\n%s", d)
		}
		if sp.Services[0].Action != "reload" {
			t.Errorf("haproxy action %q, want reload", sp.Services[0].Action)
		}
	}
}

func TestSecretsNeverShown(t *testing.T) {
	c := labCluster(t)
	sn := &Snapshot{Files: map[string]FileState{
		"/etc/keepalived/keepalived.conf": {Exists: true, Content: []byte("auth_pass OLDSECRET\n"), Mode: 0o640, Owner: "root:root"},
	}, Packages: map[string]bool{}, Services: map[string]ServiceState{}}
	sn.Facts.Family = "debian"
	hp, err := PlanHost(c, c.Host("lb1"), sn, playbooks.StepsFor)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedactor(c)
	for _, sp := range hp.Steps {
		for _, f := range sp.Files {
			d := r.Diff(f)
			if strings.Contains(d, c.VRRP.AuthPass) || strings.Contains(d, "OLDSECRET") {
				t.Errorf("%s diff shows a secret:\n%s", f.Path, d)
			}
		}
		s := StepScript("R", "m", sp).Loggable()
		if strings.Contains(s, c.VRRP.AuthPass) {
			t.Errorf("loggable script of %s shows the secret", sp.Step)
		}
	}
}

func TestJournalAndRollbackScript(t *testing.T) {
	j := ParseJournal("running\n", []byte("pkg haproxy\nbegin haproxy\nfile /etc/haproxy/haproxy.cfg backup\nservice haproxy active enabled\ndone haproxy\nbegin keepalived\nfile /etc/keepalived/keepalived.conf absent\nservice keepalived inactive disabled\nfile /etc/haproxy/haproxy.cfg backup\nservice haproxy active enabled\n"))
	if j.Status != "running" || len(j.Files) != 2 || len(j.Services) != 2 || len(j.Packages) != 1 {
		t.Fatalf("journal %+v", j)
	}
	if !j.Files[0].HadBackup || j.Files[1].HadBackup {
		t.Errorf("files %+v", j.Files)
	}
	golden(t, "rollback.sh", RollbackScript("R1", j).String())
	golden(t, "release.sh", ReleaseScript("R1", "ok", 5, true, "run R1 by root@here pid=1 cmd=apply since 2026-11-26T10:00:00Z").String())
}

// A file the step marks secret (a TLS key) is never shown: the diff gives
// fingerprints only, whatever the content.
func TestSecretFileMaskedWhole(t *testing.T) {
	r := &Redactor{}
	fc := FileChange{Path: "/etc/haproxy/site.pem", Old: []byte("-----BEGIN PRIVATE KEY-----\nold\n"), OldExists: true,
		New: []byte("-----BEGIN PRIVATE KEY-----\nnew\n"), Secret: true, ContentChanged: true}
	d := r.Diff(fc)
	if strings.Contains(d, "PRIVATE") || strings.Contains(d, "new") || !strings.Contains(d, "sha256:") {
		t.Errorf("secret file shown:\n%s", d)
	}
	// Lines a step declares secret are masked even for an unknown old value.
	fc = FileChange{Path: "/etc/keepalived/keepalived.conf", Old: []byte("  auth_pass oldpass\n"), OldExists: true,
		New: []byte("  auth_pass newpass\n"), SecretLines: []string{"auth_pass"}, ContentChanged: true}
	if d := r.Diff(fc); strings.Contains(d, "oldpass") || strings.Contains(d, "newpass") {
		t.Errorf("secret line shown:\n%s", d)
	}
}
