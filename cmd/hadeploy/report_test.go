package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/verify"
)

// A --report that cannot be written is refused before anything connects,
// not after a minute of failovers.
func TestFailoverReportPathCheckedFirst(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	// In-memory hosts with the VIP on none: were the path let through, the
	// test would stop at once, touching no real host and no real VIP.
	hosts := fakeLab(t)
	hosts["lb1"].Addrs = hosts["lb1"].Addrs[:1]
	dir := t.TempDir()
	for _, c := range []struct{ path, says string }{
		{dir, "is a directory"},
		{filepath.Join(dir, "no", "such.html"), "there is no directory"},
	} {
		root := newRoot()
		root.SetOut(&strings.Builder{})
		root.SetArgs([]string{"failover-test", labInv, "--report", c.path, "--log-dir", t.TempDir()})
		err := root.ExecuteContext(context.Background())
		if code := exitCode(err); code != exitError || !strings.Contains(err.Error(), c.says) {
			t.Errorf("--report %s: exit %d (%v), want 1 saying %q", c.path, code, err, c.says)
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("the directory given as --report is gone: %v", err)
	}
	for name, h := range hosts {
		if len(h.Programs) > 0 {
			t.Errorf("%s was sent %d program(s) before the --report path was checked", name, len(h.Programs))
		}
	}
}

// The test's own result is not hidden by the report: no scenario ran, the
// report says so as a warning, the exit code is the test's.
func TestFailoverReportNotWrittenIsAWarning(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	hosts := fakeLab(t)
	hosts["lb1"].Addrs = hosts["lb1"].Addrs[:1] // the VIP on no lb: the test refuses to start
	p := filepath.Join(t.TempDir(), "r.html")
	out, code := hadeploy(t, "failover-test", labInv, "--report", p)
	if code != exitVerify || !strings.Contains(out, "no report written: no scenario ran") {
		t.Errorf("exit %d, want 3 with a warning that no report was written:\n%s", code, out)
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("a report was written with no scenario in it")
	}
}

func TestWriteReport(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	dir := t.TempDir()
	rs := []verify.Result{{ID: "haproxy-stop", Scenario: "stop haproxy on master", Master: "lb1", Requests: 2, Failed: 1,
		Timeline: verify.Timeline{LBs: []string{"lb1", "lb2"}, Fail: time.Second, Start: 2 * time.Second, End: 3 * time.Second,
			Requests: []verify.RequestMark{{At: 500 * time.Millisecond, OK: true}, {At: 1500 * time.Millisecond}}}}}
	p := filepath.Join(dir, "r.html")
	if err := writeReport(p, "lab", rs, time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("report: %v, mode %v, want 0644", err, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if n := strings.Count(string(b), `<rect class="req `); n != 2 {
		t.Errorf("%d request marks in the written page, want 2", n)
	}
	if err := writeReport(dir, "lab", rs, time.Now()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("writing the report over a directory: %v", err)
	}
	if err := writeReport(p, "lab", nil, time.Now()); err == nil {
		t.Error("a report of no scenario was written")
	}
}
