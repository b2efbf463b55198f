package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
)

// TestReleases runs the cluster on Debian 13 hosts, then on a mixed cluster
// (web hosts on Debian 12, load balancers on 13, as in a rolling OS upgrade),
// through cold apply, no-op apply, verify and failover-test, and switches
// time sync to chrony on the way. It runs after TestCluster (Debian 12) and
// boots the lab twice: four Debian 13 hosts, then only the two web hosts
// again on Debian 12 (lab up keeps hosts that run the release asked for).
func TestReleases(t *testing.T) {
	if os.Getenv("HADEPLOY_E2E") != "1" {
		t.Skip("set HADEPLOY_E2E=1 (as root) to run the end-to-end suite")
	}
	holdLab(t)
	chrony := variant(t, "chrony", func(s string) string {
		return strings.Replace(s, "  server: 10.213.47.1\n  schedule: \"*/10 * * * *\"\n", "  method: chrony\n  server: 10.213.47.1\n", 1)
	})
	timings := map[string]time.Duration{}

	// osIs checks what the hosts really boot, so a lab that ignored the
	// release asked for cannot pass as a Debian 13 run.
	osIs := func(t *testing.T, version string, hosts ...string) {
		t.Helper()
		for _, h := range hosts {
			if osr := inHost(t, h, "cat", "/etc/os-release"); !strings.Contains(osr, `VERSION_ID="`+version+`"`) {
				t.Fatalf("%s does not run Debian %s:\n%s", h, version, osr)
			}
		}
	}
	// cycle is the story every release must pass: apply (changes when cold),
	// verify, a no-op apply, failover-test.
	cycle := func(t *testing.T, name, file string, cold bool) {
		t.Run(name+": apply", func(t *testing.T) {
			r := run(t, "apply", file, "--output", "json")
			want(t, r, 0, name+" apply")
			timings[name+" apply"] = r.took
			s := r.summary()
			if s == nil || s.Failed || (cold && s.Changes == 0) {
				t.Fatalf("summary %+v", s)
			}
		})
		t.Run(name+": verify", func(t *testing.T) {
			r := run(t, "verify", file, "--output", "json")
			if r.code != 0 {
				t.Fatalf("verify failed: %v\n%s", failedChecks(r), tail(r.stdout))
			}
		})
		t.Run(name+": second apply changes nothing", func(t *testing.T) {
			r := run(t, "apply", file, "--output", "json")
			want(t, r, 0, name+" no-op apply")
			timings[name+" no-op apply"] = r.took
			if s := r.summary(); s == nil || s.Changes != 0 {
				t.Fatalf("no-op apply reported changes: %+v", s)
			}
		})
		t.Run(name+": failover-test", func(t *testing.T) {
			// Receivers only if the inventory has vrrp.notify.
			c, err := inventory.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			hook := startHookReceiver(t, c)
			r := run(t, "failover-test", file, "--output", "json")
			want(t, r, 0, name+" failover-test")
			timings[name+" failover-test"] = r.took
			checkHookFired(t, c, hook, r)
			n := 0
			for _, e := range r.events {
				if e.Type == events.EvStep && e.Step == "failover" {
					n++
				}
			}
			if n == 0 {
				t.Error("failover-test ran no scenario")
			}
		})
	}
	verifyPassed := func(t *testing.T, file, check string, hosts ...string) {
		t.Helper()
		r := run(t, "verify", file, "--output", "json")
		if r.code != 0 {
			t.Fatalf("verify failed: %v", failedChecks(r))
		}
		for _, h := range hosts {
			found := false
			for _, e := range r.events {
				found = found || e.Type == events.EvStep && e.Step == "verify" && e.Host == h && e.Message == check && e.Status != events.StatusFailed
			}
			if !found {
				t.Errorf("verify did not check %q on %s", check, h)
			}
		}
	}

	// Debian 13 everywhere.
	want(t, run(t, "lab", "down"), 0, "lab down before up")
	r := run(t, "lab", "up", inv, "--release", "trixie")
	want(t, r, 0, "lab up --release trixie")
	timings["lab up (4 × Debian 13)"] = r.took
	osIs(t, "13", "web1", "web2", "lb1", "lb2")
	cycle(t, "Debian 13", inv, true)
	if t.Failed() {
		t.FailNow()
	}
	t.Run("Debian 13 has ntpdate from ntpsec-ntpdate, in the cron job", func(t *testing.T) {
		for _, h := range []string{"web1", "lb1"} {
			if st := inHost(t, h, "dpkg-query", "-W", "-f", "${Status}", "ntpsec-ntpdate"); !strings.HasSuffix(st, "ok installed") {
				t.Errorf("%s: ntpsec-ntpdate %q", h, st)
			}
			inHost(t, h, "test", "-x", "/usr/sbin/ntpdate")
			if cron := inHost(t, h, "cat", "/etc/cron.d/hadeploy-timesync"); !strings.Contains(cron, "root /usr/sbin/ntpdate -u 10.213.47.1") {
				t.Errorf("%s: cron job:\n%s", h, cron)
			}
		}
		verifyPassed(t, inv, "time sync cron in place", "web1", "web2", "lb1", "lb2")
	})
	t.Run("Debian 13: haproxy 3.0 and keepalived 2.3 accept the config", func(t *testing.T) {
		out := inHost(t, "lb1", "sh", "-c", "haproxy -v | head -n 1; haproxy -dW -c -f /etc/haproxy/haproxy.cfg 2>&1; keepalived -t -f /etc/keepalived/keepalived.conf 2>&1 && echo keepalived-ok")
		t.Logf("lb1 on Debian 13:\n%s", out)
		if !strings.Contains(out, "HAProxy version 3.") || !strings.Contains(out, "keepalived-ok") || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
			t.Errorf("haproxy/keepalived on Debian 13:\n%s", out)
		}
	})

	// An OS without a profile on one host stops the run on every host before
	// anything changes: here an apply that would switch time sync everywhere.
	t.Run("an unknown OS on lb2: refused before any change, naming lb2 and its os-release", func(t *testing.T) {
		inHost(t, "lb2", "sh", "-c", `mv /etc/os-release /etc/os-release.e2e && printf 'ID=arch\nPRETTY_NAME="Arch Linux"\n' > /etc/os-release`)
		defer inHost(t, "lb2", "sh", "-c", "rm -f /etc/os-release && mv /etc/os-release.e2e /etc/os-release")
		r := run(t, "apply", chrony)
		if r.code == 0 {
			t.Fatalf("apply on an unknown OS succeeded:\n%s", r.stdout)
		}
		out := r.stdout + r.stderr
		for _, s := range []string{`lb2: unsupported OS: /etc/os-release says ID="arch"`, `PRETTY_NAME="Arch Linux"`, "nothing was changed on any host"} {
			if !strings.Contains(out, s) {
				t.Errorf("error lacks %q:\n%s", s, tail(out))
			}
		}
		for _, h := range []string{"web1", "web2", "lb1", "lb2"} {
			if cron := inHost(t, h, "cat", "/etc/cron.d/hadeploy-timesync"); !strings.Contains(cron, "ntpdate") {
				t.Errorf("%s changed although lb2 was refused:\n%s", h, cron)
			}
			if _, err := lab.Exec(context.Background(), h, "test", "!", "-e", "/var/lib/hadeploy/lock"); err != nil {
				t.Errorf("%s: lock left behind by the refused run", h)
			}
		}
	})

	// time.method chrony on Debian 13: the daemon replaces the cron job.
	t.Run("switch to time.method chrony", func(t *testing.T) {
		noFailures(t, "switch to chrony", during(t, "time sync switched to chrony", func() { r = run(t, "apply", chrony, "--output", "json") }))
		want(t, r, 0, "apply chrony")
		if s := r.summary(); s == nil || s.Changes == 0 {
			t.Fatalf("switching to chrony changed nothing: %+v", s)
		}
		for _, h := range []string{"web1", "lb2"} {
			if st := inHost(t, h, "systemctl", "is-active", "chrony"); strings.TrimSpace(st) != "active" {
				t.Errorf("%s: chrony %s", h, st)
			}
			if cron := inHost(t, h, "cat", "/etc/cron.d/hadeploy-timesync"); strings.Contains(cron, "ntpdate") {
				t.Errorf("%s: the ntpdate job is still there:\n%s", h, cron)
			}
		}
		verifyPassed(t, chrony, "chronyd uses the time server", "web1", "web2", "lb1", "lb2")
		r = run(t, "apply", chrony, "--output", "json")
		want(t, r, 0, "no-op apply chrony")
		if s := r.summary(); s == nil || s.Changes != 0 {
			t.Fatalf("no-op apply with chrony reported changes: %+v", s)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// Mixed: the web hosts go back to Debian 12 (fresh hosts), the lbs keep
	// running Debian 13 with the cluster already applied.
	lbPID := inHost(t, "lb1", "systemctl", "show", "-p", "MainPID", "--value", "haproxy")
	r = run(t, "lab", "up", inv, "--release", "trixie", "--host-release", "web1=bookworm", "--host-release", "web2=bookworm")
	want(t, r, 0, "lab up mixed")
	timings["lab up (web hosts → Debian 12)"] = r.took
	for _, h := range []string{"lb1", "lb2", "web1", "web2"} {
		kept := false
		for _, l := range strings.Split(r.stdout, "\n") {
			kept = kept || strings.HasPrefix(l, "lab: "+h+" ") && strings.HasSuffix(l, "kept")
		}
		if lb := strings.HasPrefix(h, "lb"); kept != lb {
			t.Errorf("lab up: %s kept %v, want %v:\n%s", h, kept, lb, r.stdout)
		}
	}
	osIs(t, "12", "web1", "web2")
	osIs(t, "13", "lb1", "lb2")
	if pid := inHost(t, "lb1", "systemctl", "show", "-p", "MainPID", "--value", "haproxy"); pid != lbPID {
		t.Errorf("lb1 was rebooted (haproxy MainPID %s → %s)", strings.TrimSpace(lbPID), strings.TrimSpace(pid))
	}
	cycle(t, "mixed 12+13", chrony, true)
	t.Run("mixed: chrony on Debian 12 web hosts too", func(t *testing.T) {
		verifyPassed(t, chrony, "chronyd uses the time server", "web1", "web2", "lb1", "lb2")
	})
	t.Logf("timings: %v", timings)
}
