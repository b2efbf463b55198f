// Command bench measures hadeploy on the lab (issues 8 and 20): plan/apply/
// verify/failover-test on the 4-host lab cluster, the same job done by an
// Ansible playbook on the same hosts (plain and with Mitogen), and no-op runs
// on 4 to 100 hosts, with hadeploy's own CPU time beside the wall time.
//
//	go run ./bench            # from the repository root, as root
//
// It holds the lab (lab.Acquire) for the whole run, prints a table and writes
// bench/results.json. The lab is left down. docs/benchmarks.md says what it
// needs installed.
package main

import (
	"context"
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
	"syscall"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
)

const labInventory = "e2e/lab-cluster.yaml"

// options are the command-line flags.
type options struct {
	reps        int
	scale       []int
	skipAnsible bool
	skipMitogen bool
	noSysctl    bool
	aptCache    bool
	out         string
}

type bench struct {
	options
	bin    string // hadeploy binary
	tmp    string
	home   string // HOME for hadeploy and ansible
	labLog io.Writer
	res    *Results
	cache  *aptCache // the scale lab's package cache, while it runs
	// availBefore is MemAvailable (kB) with the lab down, before the last labUp.
	availBefore int64
	lastUp      time.Duration // how long the last lab.Up took
	restore     []func()      // run after the lab is down
}

func main() {
	var o options
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each no-op measurement (the median is reported)")
	scale := flag.String("scale", "4,16,32,64,100", "host counts for the scale runs (empty: skip)")
	flag.BoolVar(&o.skipAnsible, "skip-ansible", false, "skip the Ansible comparison (plain and Mitogen)")
	flag.BoolVar(&o.skipMitogen, "skip-mitogen", false, "skip the Ansible + Mitogen run only")
	flag.BoolVar(&o.noSysctl, "no-sysctl", false, "never raise fs.inotify.max_user_instances for the scale lab (cap the host count instead)")
	flag.BoolVar(&o.aptCache, "apt-cache", true, "scale lab: apt through an apt-cacher-ng run by the bench (mirror read once), cold apply with an empty then a warm cache; false: the lab's tinyproxy, one cold apply")
	flag.StringVar(&o.out, "out", "bench/results.json", "where to write the results")
	flag.Parse()
	var err error
	if o.scale, err = parseScale(*scale); err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseScale reads -scale: comma-separated host counts, 3..maxScale.
func parseScale(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 3 || n > maxScale {
			return nil, fmt.Errorf("-scale: %q: want host counts 3..%d", f, maxScale)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func run(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root (the lab boots systemd-nspawn hosts)")
	}
	if _, err := os.Stat(labInventory); err != nil {
		return fmt.Errorf("run from the repository root (%s not found)", labInventory)
	}
	if o.reps < 1 || o.reps > 20 {
		return errors.New("-reps: 1..20")
	}
	if err := checkTools(o); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "hadeploy-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{options: o, bin: filepath.Join(tmp, "hadeploy"), tmp: tmp, home: filepath.Join(tmp, "home")}
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
	}, Tools: toolVersions()}

	logf("waiting for the lab (lab.Acquire)")
	actx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	release, err := lab.Acquire(actx)
	cancel()
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		b.stopCache()
		logf("taking the lab down")
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		if err := lab.Down(dctx, b.labLog); err != nil {
			logf("lab down: %v", err)
		}
		for _, f := range b.restore {
			f()
		}
	}()

	var errs []error
	phase := func(name string, f func(context.Context) error) {
		if ctx.Err() != nil {
			return
		}
		if err := f(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s phase: %w", name, err))
			b.note("%s phase failed: %v", name, err)
		}
		b.save()
	}
	phase("hadeploy", b.hadeployPhase)
	if !o.skipAnsible {
		phase("ansible", func(ctx context.Context) error { return b.ansiblePhase(ctx, toolAnsible) })
		if !o.skipMitogen {
			phase("ansible+mitogen", b.mitogenPhase)
		}
	}
	if len(o.scale) > 0 {
		phase("scale", b.scalePhase)
	}
	b.res.Finished = time.Now().UTC()
	b.save()
	fmt.Println(table(b.res.Rows))
	fmt.Println(targetTable(b.res.Targets))
	fmt.Println(memoryTable(b.res.Memory))
	for _, n := range b.res.Notes {
		fmt.Println("note:", n)
	}
	fmt.Println("results:", o.out)
	return errors.Join(errs...)
}

// checkTools fails before the lab is touched when a tool the chosen phases
// need is missing, with the Debian packages that provide it.
func checkTools(o options) error {
	var missing, pkgs []string
	need := func(ok bool, what, pkg string) {
		if !ok {
			missing, pkgs = append(missing, what), append(pkgs, pkg)
		}
	}
	has := func(cmd string) bool { _, err := exec.LookPath(cmd); return err == nil }
	if !o.skipAnsible {
		need(has("ansible-playbook"), "ansible-playbook", "ansible-core")
		if !o.skipMitogen {
			need(mitogenStrategyPath() != "", "Ansible's mitogen_linear strategy", "ansible-mitogen")
		}
	}
	if len(o.scale) > 0 && o.aptCache {
		need(has(aptCacherBin), aptCacherBin, "apt-cacher-ng")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing %s; install with\n  apt-get install -y --no-install-recommends %s\n(or pass -skip-ansible, -skip-mitogen, -apt-cache=false)",
		strings.Join(missing, ", "), strings.Join(pkgs, " "))
}

func (b *bench) note(format string, a ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, a...))
	logf("note: %s", fmt.Sprintf(format, a...))
}

func (b *bench) add(r Row) *Row {
	r.finish()
	b.res.Rows = append(b.res.Rows, r)
	logf("%s %s (%d hosts): median %s over %d run(s), CPU %s, round trips max %d, changes %d",
		r.Tool, r.Op, r.Hosts, secs(r.Median), len(r.WallMS), msStr(r.CPUMedian), r.RTMax, r.Changes)
	return &b.res.Rows[len(b.res.Rows)-1]
}

func (b *bench) save() {
	b.res.Targets = targets(b.res.Rows, b.res.Mitogen)
	b.res.Ratios = ratios(b.res.Rows)
	data, err := json.MarshalIndent(b.res, "", "  ")
	if err == nil {
		err = os.WriteFile(b.out, append(data, '\n'), 0o644)
	}
	if err != nil {
		logf("writing %s: %v", b.out, err)
	}
}
