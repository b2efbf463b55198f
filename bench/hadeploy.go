package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/steps"
)

// hd is one hadeploy invocation.
type hd struct {
	code   int
	took   time.Duration
	cpu    cpuUse
	stdout string
	stderr string
	stats  runStats
}

// cpuUse is the CPU a finished child used (its rusage from wait4: the
// process and the children it reaped). hadeploy speaks SSH in-process, so
// for it this is all of its work on the operator's machine.
type cpuUse struct {
	User, Sys time.Duration
	MaxRSSKB  int64
}

func cpuOf(ps *os.ProcessState) cpuUse {
	if ps == nil {
		return cpuUse{}
	}
	c := cpuUse{User: ps.UserTime(), Sys: ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		c.MaxRSSKB = ru.Maxrss // kilobytes on Linux
	}
	return c
}

func (b *bench) hadeploy(ctx context.Context, timeout time.Duration, args ...string) (hd, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, append(args, "--output", "json")...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+b.home)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	t0 := time.Now()
	err := cmd.Run()
	r := hd{took: time.Since(t0), cpu: cpuOf(cmd.ProcessState), stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		return r, err
	}
	r.stats = statsOf(parseEvents(r.stdout))
	return r, nil
}

// measure runs hadeploy reps times and records one row; every run must exit
// with wantCode.
func (b *bench) measure(ctx context.Context, op string, reps, wantCode int, args ...string) (*Row, error) {
	return b.measureT(ctx, 20*time.Minute, op, reps, wantCode, args...)
}

func (b *bench) measureT(ctx context.Context, timeout time.Duration, op string, reps, wantCode int, args ...string) (*Row, error) {
	row := Row{Tool: toolHadeploy, Op: op}
	noop := strings.HasPrefix(op, "no-op")
	for i := 0; i < reps; i++ {
		var lc *labCPUMeter
		if noop {
			lc = startLabCPU()
		}
		r, err := b.hadeploy(ctx, timeout, args...)
		if err != nil {
			return nil, err
		}
		if lc != nil {
			row.LabCPUMS = append(row.LabCPUMS, lc.stop())
		}
		if r.code != wantCode {
			return nil, fmt.Errorf("hadeploy %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), r.code, wantCode, tailStr(r.stdout), tailStr(r.stderr))
		}
		row.addRun(r.took, r.cpu)
		row.Hosts = r.stats.Hosts
		row.RTMax = max(row.RTMax, r.stats.RTMax)
		row.RTMean = max(row.RTMean, r.stats.RTMean)
		row.Changes += r.stats.Changes
		row.Exit = r.code
		if r.stats.PkgMS > 0 {
			row.PkgMS = r.stats.PkgMS
			row.OwnMS = r.took.Milliseconds() - r.stats.PkgMS
		}
	}
	if row.Hosts == 0 && len(args) > 1 {
		// verify and failover-test end without a per-host summary.
		if c, err := inventory.Load(args[1]); err == nil {
			row.Hosts = len(c.Hosts)
			row.Note = "no per-host summary: round trips not reported"
		}
	}
	return b.add(row), nil
}

func tailStr(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

func (b *bench) hadeployPhase(ctx context.Context) error {
	c, err := inventory.Load(labInventory)
	if err != nil {
		return err
	}
	if err := b.labUpPython(ctx, c); err != nil {
		return err
	}
	if _, err := b.measure(ctx, "cold apply", 1, 0, "apply", labInventory); err != nil {
		return err
	}
	if err := collectFiles(ctx, c, filepath.Join("bench", "ansible", "files")); err != nil {
		return fmt.Errorf("copying the rendered files for Ansible: %w", err)
	}
	if _, err := b.measure(ctx, "no-op plan", b.reps, 0, "plan", labInventory); err != nil {
		return err
	}
	row, err := b.measure(ctx, "no-op apply", b.reps, 0, "apply", labInventory)
	if err != nil {
		return err
	}
	if row.Changes != 0 {
		b.note("the no-op apply changed %d thing(s)", row.Changes)
	}
	if _, err := b.measure(ctx, "verify", 1, 0, "verify", labInventory); err != nil {
		return err
	}
	if _, err := b.measure(ctx, "failover-test", 1, 0, "failover-test", labInventory); err != nil {
		return err
	}
	// The round trips of a no-op apply, as -v shows them.
	r, err := b.hadeployV(ctx, "apply", labInventory)
	if err == nil {
		b.note("no-op apply -v: %s", r)
	}
	return nil
}

// hadeployV runs hadeploy -v and counts the remote programs it logs per host.
func (b *bench) hadeployV(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, append(args, "-v")...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+b.home)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(filepath.Dir(b.out), "noop-apply-v.log"), out, 0o644)
	return fmt.Sprintf("remote programs per host: %s (log: bench/noop-apply-v.log)", remotePrograms(string(out))), err
}

// managedFile is one file hadeploy manages on a lab host.
type managedFile struct{ host, path string }

// managedFiles are the files hadeploy manages on each lab host, as the steps
// compute them for Debian 12 (the lab's release): what the Ansible playbook
// must deploy too.
func managedFiles(c *inventory.Cluster) ([]managedFile, error) {
	f := facts.Facts{ID: "debian", VersionID: "12", Family: facts.FamilyDebian, PkgMgr: "apt", Init: "systemd"}
	var out []managedFile
	for _, h := range c.Hosts {
		for _, s := range playbooks.StepsFor(h) {
			d, err := s.Desired(steps.Target{Cluster: c, Host: h, Facts: f})
			if err != nil {
				return nil, fmt.Errorf("%s: step %s: %w", h.Name, s.Name(), err)
			}
			for _, file := range d.Files {
				out = append(out, managedFile{h.Name, file.Path})
			}
		}
	}
	return out, nil
}

// collectFiles copies every managed file from the hadeploy-applied hosts
// into dir/<host>/<abs path>, for the Ansible playbook.
func collectFiles(ctx context.Context, c *inventory.Cluster, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	files, err := managedFiles(c)
	if err != nil {
		return err
	}
	for _, mf := range files {
		out, err := lab.Exec(ctx, mf.host, "base64", "-w0", mf.path)
		if err != nil {
			return err
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out)))
		if err != nil {
			return fmt.Errorf("%s:%s: %w", mf.host, mf.path, err)
		}
		p := filepath.Join(dir, mf.host, mf.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	n := len(files)
	logf("copied %d rendered file(s) from the hosts into %s", n, dir)
	return nil
}
