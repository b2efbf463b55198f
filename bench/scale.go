package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
)

// maxScale is the largest scale lab the bench boots (scaleHosts fits 202).
const maxScale = 200

// coldTimeout bounds one cold apply of the scale lab: 100 hosts running
// dpkg on 2 cores take tens of minutes.
const coldTimeout = 60 * time.Minute

// scaleConcurrency is --concurrency for the scale lab's cold applies: its
// hosts share the machine's cores, and 100 dpkg runs at once made every
// package step outlive hadeploy's 15-minute command timeout (2026-12-02).
const scaleConcurrency = 10

// sshWait is how long the scale lab waits for each host's sshd: 3 s a host,
// at least a minute.
func sshWait(n int) time.Duration { return max(time.Minute, time.Duration(n)*3*time.Second) }

func (b *bench) scalePhase(ctx context.Context) error {
	scale := b.scale
	maxN := slices.Max(scale)
	fits, err := b.ensureInotify(maxN)
	if err != nil {
		b.note("%v", err)
	}
	if fits < maxN {
		var kept []int
		for _, n := range scale {
			if n <= fits {
				kept = append(kept, n)
			}
		}
		b.note("scale: fs.inotify.max_user_instances fits %d lab hosts: measuring %v instead of %v", fits, kept, scale)
		if len(kept) == 0 {
			return nil
		}
		scale, maxN = kept, slices.Max(kept)
	}
	b.checkRoom(maxN)
	// All hosts boot at once: on 2 cores, 100 systemds starting take longer
	// than the 60 s the lab waits for one host's sshd by default.
	if t := sshWait(maxN); t > lab.SSHTimeout {
		old := lab.SSHTimeout
		lab.SSHTimeout = t
		defer func() { lab.SSHTimeout = old }()
	}
	hosts, err := scaleHosts(maxN)
	if err != nil {
		return err
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	inv := filepath.Join(b.tmp, fmt.Sprintf("scale-%d.yaml", maxN))
	if err := os.WriteFile(inv, []byte(scaleInventory(hosts)), 0o644); err != nil {
		return err
	}
	spec := scaleSpec(hosts)
	if b.aptCache {
		spec.AptProxy = aptCacheURL()
	}
	if err := b.labUp(ctx, spec); err != nil {
		return err
	}
	// Memory once the hosts have finished booting, not while they start.
	settled, why := waitSettled(ctx, len(hosts), 5*time.Minute)
	if why != "" {
		b.note("scale: %s", why)
	}
	m := labMemory("booted", names, b.availBefore)
	m.LabUpS, m.SettledS = b.lastUp.Seconds(), settled.Seconds()
	b.res.Memory = append(b.res.Memory, m)
	op := "cold apply"
	if b.aptCache {
		op = "cold apply (empty cache)"
	}
	if err := b.coldApply(ctx, op, inv, len(hosts)); err != nil {
		return err
	}
	b.res.Memory = append(b.res.Memory, labMemory("applied", names, b.availBefore))
	b.save()
	if b.aptCache {
		// Fresh hosts again, the cache kept: a cold apply whose packages
		// come from the machine, not the mirror.
		if err := b.labUp(ctx, spec); err != nil {
			return err
		}
		// Settled like the hosts of the first cold apply.
		if _, why := waitSettled(ctx, len(hosts), 5*time.Minute); why != "" {
			b.note("scale: %s", why)
		}
		if err := b.coldApply(ctx, "cold apply (warm cache)", inv, len(hosts)); err != nil {
			return err
		}
		b.save()
	}
	return b.scaleNoops(ctx, hosts, inv, scale)
}

// scaleNoops measures no-op plan and apply at each host count of scale on
// the converged cluster of hosts, with --limit below its size.
func (b *bench) scaleNoops(ctx context.Context, hosts []scaleHost, inv string, scale []int) error {
	for _, n := range slices.Sorted(slices.Values(scale)) {
		args := []string{inv}
		note := fmt.Sprintf("%d web + 2 lb", n-2)
		if n < len(hosts) {
			args = append(args, "--limit", limitFor(hosts, n))
			note += fmt.Sprintf(" (--limit on the %d-host cluster)", len(hosts))
		}
		for _, op := range []string{"plan", "apply"} {
			r, err := b.measure(ctx, "no-op "+op, b.reps, 0, append([]string{op}, args...)...)
			if err != nil {
				return err
			}
			r.Note = note
		}
		b.save()
	}
	return nil
}

// coldApply applies the freshly booted scale cluster once and records it.
// A failed cold apply (say a host's apt timing out on a loaded machine) is
// a result, not the end of the phase: it is recorded with its exit code,
// then a second apply converges the cluster for the no-op runs.
func (b *bench) coldApply(ctx context.Context, op, inv string, n int) error {
	before := b.cacheTraffic()
	logf("%s of %d hosts", op, n)
	r, err := b.hadeploy(ctx, coldTimeout, "apply", inv, "--concurrency", fmt.Sprint(scaleConcurrency))
	if err != nil {
		return err
	}
	row := Row{Tool: toolHadeploy, Op: op, Hosts: r.stats.Hosts, RTMax: r.stats.RTMax, RTMean: r.stats.RTMean,
		Changes: r.stats.Changes, Exit: r.code, Note: fmt.Sprintf("scale cluster (web hosts + 2 lb), lab hosts booted fresh, --concurrency %d", scaleConcurrency)}
	if row.Hosts == 0 {
		row.Hosts = n
	}
	row.addRun(r.took, r.cpu)
	if r.stats.PkgMS > 0 {
		row.PkgMS, row.OwnMS = r.stats.PkgMS, r.took.Milliseconds()-r.stats.PkgMS
	}
	if b.cache != nil {
		t := b.cacheTraffic().sub(before)
		row.MirrorMB, row.ServedMB = float64(t.In)/1e6, float64(t.Out)/1e6
		row.Note += fmt.Sprintf("; apt-cacher-ng: %.1f MB from the mirror, %.1f MB to the hosts", row.MirrorMB, row.ServedMB)
	}
	if r.code != 0 {
		log := filepath.Join(filepath.Dir(b.out), "scale-cold-apply.log")
		_ = os.WriteFile(log, []byte(r.stdout+r.stderr), 0o644)
		row.Note += fmt.Sprintf("; FAILED, exit %d (log %s)", r.code, log)
	}
	b.add(row)
	if r.code == 0 {
		return nil
	}
	b.note("%s of %d hosts exited %d: %s", op, n, r.code, tailStr(r.stderr))
	r, err = b.hadeploy(ctx, coldTimeout, "apply", inv)
	if err != nil {
		return err
	}
	if r.code != 0 {
		return fmt.Errorf("a second apply after the failed %s exited %d\n%s", op, r.code, tailStr(r.stderr))
	}
	b.note("a second apply (%s, not in the table) converged the cluster for the no-op runs", secs(r.took.Milliseconds()))
	return nil
}
