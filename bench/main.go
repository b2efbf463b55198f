// Command bench measures hadeploy on the lab (issue 8): plan/apply/verify/
// failover-test on the 4-host lab cluster, the same job done by an Ansible
// playbook on the same hosts, and no-op runs on 4, 16 and 32 hosts.
//
//	go run ./bench            # from the repository root, as root
//
// It holds the lab (lab.Acquire) for the whole run, prints a table and writes
// bench/results.json. The lab is left down.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/steps"
)

const labInventory = "e2e/lab-cluster.yaml"

type bench struct {
	bin      string // hadeploy binary
	tmp      string
	home     string // HOME for hadeploy and ansible
	reps     int
	labLog   io.Writer
	res      *Results
	outPath  string
	noSysctl bool
	restore  []func() // run after the lab is down
}

func main() {
	reps := flag.Int("reps", 3, "repetitions of each no-op measurement (the median is reported)")
	scaleFlag := flag.String("scale", "4,16,32", "host counts for the no-op scale runs (empty: skip)")
	skipAnsible := flag.Bool("skip-ansible", false, "skip the Ansible comparison")
	out := flag.String("out", "bench/results.json", "where to write the results")
	noSysctl := flag.Bool("no-sysctl", false, "never raise fs.inotify.max_user_instances for the scale lab (cap the host count instead)")
	flag.Parse()
	if err := run(*reps, *scaleFlag, *skipAnsible, *noSysctl, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func run(reps int, scaleFlag string, skipAnsible, noSysctl bool, outPath string) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root (the lab boots systemd-nspawn hosts)")
	}
	if _, err := os.Stat(labInventory); err != nil {
		return fmt.Errorf("run from the repository root (%s not found)", labInventory)
	}
	if reps < 1 || reps > 20 {
		return errors.New("-reps: 1..20")
	}
	var scale []int
	for _, f := range strings.Split(scaleFlag, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 3 || n > 64 {
			return fmt.Errorf("-scale: %q: want host counts 3..64", f)
		}
		scale = append(scale, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "hadeploy-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{bin: filepath.Join(tmp, "hadeploy"), tmp: tmp, home: filepath.Join(tmp, "home"), reps: reps, outPath: outPath, noSysctl: noSysctl}
	if err := os.MkdirAll(b.home, 0o700); err != nil {
		return err
	}
	labLog, err := os.Create(filepath.Join(tmp, "lab.log"))
	if err != nil {
		return err
	}
	b.labLog = labLog
	logf("building hadeploy")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/hadeploy").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	b.res = &Results{Started: time.Now().UTC(), Machine: map[string]string{
		"cores": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "kernel": strings.TrimSpace(string(kernel)),
	}}

	logf("waiting for the lab (lab.Acquire)")
	actx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	release, err := lab.Acquire(actx)
	cancel()
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		logf("taking the lab down")
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if err := lab.Down(dctx, b.labLog); err != nil {
			logf("lab down: %v", err)
		}
		for _, f := range b.restore {
			f()
		}
	}()

	var errs []error
	if err := b.hadeployPhase(ctx); err != nil {
		errs = append(errs, fmt.Errorf("hadeploy phase: %w", err))
		b.note("hadeploy phase failed: %v", err)
	}
	b.save()
	if ctx.Err() == nil && !skipAnsible {
		if err := b.ansiblePhase(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ansible phase: %w", err))
			b.note("ansible phase failed: %v", err)
		}
		b.save()
	}
	if ctx.Err() == nil && len(scale) > 0 {
		if err := b.scalePhase(ctx, scale); err != nil {
			errs = append(errs, fmt.Errorf("scale phase: %w", err))
			b.note("scale phase failed: %v", err)
		}
	}
	b.res.Finished = time.Now().UTC()
	b.save()
	fmt.Println(table(b.res.Rows))
	fmt.Println(targetTable(b.res.Targets))
	for _, n := range b.res.Notes {
		fmt.Println("note:", n)
	}
	fmt.Println("results:", outPath)
	return errors.Join(errs...)
}

func (b *bench) note(format string, a ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, a...))
	logf("note: %s", fmt.Sprintf(format, a...))
}

func (b *bench) add(r Row) {
	r.Median = median(r.WallMS)
	b.res.Rows = append(b.res.Rows, r)
	logf("%s %s (%d hosts): median %s over %d run(s), round trips max %d, changes %d",
		r.Tool, r.Op, r.Hosts, secs(r.Median), len(r.WallMS), r.RTMax, r.Changes)
}

func (b *bench) save() {
	b.res.Targets = targets(b.res.Rows)
	b.res.Ratios = ratios(b.res.Rows)
	data, err := json.MarshalIndent(b.res, "", "  ")
	if err == nil {
		err = os.WriteFile(b.outPath, append(data, '\n'), 0o644)
	}
	if err != nil {
		logf("writing %s: %v", b.outPath, err)
	}
}

// labUp takes the lab down and boots fresh hosts.
func (b *bench) labUp(ctx context.Context, spec lab.Spec) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	logf("lab down, then up with %d fresh host(s)", len(spec.Hosts))
	if err := lab.Down(ctx, b.labLog); err != nil {
		return err
	}
	if err := lab.Up(ctx, spec, b.labLog); err != nil {
		return err
	}
	logf("lab up in %s", time.Since(t0).Round(time.Second))
	return nil
}

func specOf(c *inventory.Cluster) lab.Spec {
	s := lab.Spec{Subnet: c.VIPPrefix.Masked()}
	for _, h := range c.Hosts {
		s.Hosts = append(s.Hosts, lab.HostSpec{Name: h.Name, Address: h.Address})
	}
	return s
}

// python3 installs python3 on every host (setup for Ansible, not timed; done
// on hadeploy's side too so both see identical hosts).
func python3(ctx context.Context, hosts []string) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			out, err := lab.Exec(ctx, h, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null")
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: python3: %v: %s", h, err, out))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	logf("python3 installed on %d host(s) in %s (setup, not timed)", len(hosts), time.Since(t0).Round(time.Second))
	return errors.Join(errs...)
}

// hd is one hadeploy invocation.
type hd struct {
	code   int
	took   time.Duration
	stdout string
	stderr string
	stats  runStats
}

func (b *bench) hadeploy(ctx context.Context, args ...string) (hd, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, append(args, "--output", "json")...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+b.home)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	t0 := time.Now()
	err := cmd.Run()
	r := hd{took: time.Since(t0), stdout: so.String(), stderr: se.String()}
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
	row := Row{Tool: "hadeploy", Op: op}
	for i := 0; i < reps; i++ {
		r, err := b.hadeploy(ctx, args...)
		if err != nil {
			return nil, err
		}
		if r.code != wantCode {
			return nil, fmt.Errorf("hadeploy %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), r.code, wantCode, tailStr(r.stdout), tailStr(r.stderr))
		}
		row.WallMS = append(row.WallMS, r.took.Milliseconds())
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
	b.add(row)
	return &b.res.Rows[len(b.res.Rows)-1], nil
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
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	if err := b.labUp(ctx, specOf(c)); err != nil {
		return err
	}
	if err := python3(ctx, names); err != nil {
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
	_ = os.WriteFile(filepath.Join(filepath.Dir(b.outPath), "noop-apply-v.log"), out, 0o644)
	return fmt.Sprintf("remote programs per host: %s (log: bench/noop-apply-v.log)", remotePrograms(string(out))), err
}

// collectFiles copies every file hadeploy manages on each host (as the steps
// compute them for Debian) from the hadeploy-applied hosts into
// dir/<host>/<abs path>, for the Ansible playbook.
func collectFiles(ctx context.Context, c *inventory.Cluster, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	f := facts.Facts{ID: "debian", VersionID: "12", Family: facts.FamilyDebian, PkgMgr: "apt", Init: "systemd"}
	n := 0
	for _, h := range c.Hosts {
		for _, s := range playbooks.StepsFor(h) {
			d, err := s.Desired(steps.Target{Cluster: c, Host: h, Facts: f})
			if err != nil {
				return err
			}
			for _, file := range d.Files {
				out, err := lab.Exec(ctx, h.Name, "base64", "-w0", file.Path)
				if err != nil {
					return err
				}
				data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out)))
				if err != nil {
					return fmt.Errorf("%s:%s: %w", h.Name, file.Path, err)
				}
				p := filepath.Join(dir, h.Name, file.Path)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, data, 0o600); err != nil {
					return err
				}
				n++
			}
		}
	}
	logf("copied %d rendered file(s) from the hosts into %s", n, dir)
	return nil
}
