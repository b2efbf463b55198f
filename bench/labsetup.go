package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/inventory"
)

// labUp takes the lab down and boots fresh hosts; b.availBefore is the
// machine's MemAvailable in between. The package cache is stopped first
// (its bridge address goes away with the lab) and, for a spec whose hosts
// use it, started again on the new bridge.
func (b *bench) labUp(ctx context.Context, spec lab.Spec) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	logf("lab down, then up with %d fresh host(s)", len(spec.Hosts))
	b.stopCache()
	if err := lab.Down(ctx, b.labLog); err != nil {
		return err
	}
	b.availBefore = memAvailableKB()
	if err := lab.Up(ctx, spec, b.labLog); err != nil {
		return err
	}
	b.lastUp = time.Since(t0)
	logf("lab up in %s", b.lastUp.Round(time.Second))
	if spec.AptProxy != "" {
		return b.startCache(ctx, lab.BridgeAddr(spec.Subnet).String())
	}
	return nil
}

// labUpPython boots c's hosts fresh and installs python3 on them.
func (b *bench) labUpPython(ctx context.Context, c *inventory.Cluster) error {
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	if err := b.labUp(ctx, specOf(c)); err != nil {
		return err
	}
	return python3(ctx, names)
}

// specOf is the lab for the comparison's inventory, on the default release
// like the scale lab.
func specOf(c *inventory.Cluster) lab.Spec {
	s := lab.Spec{Subnet: c.VIPPrefix.Masked(), Release: lab.DefaultRelease}
	for _, h := range c.Hosts {
		s.Hosts = append(s.Hosts, lab.HostSpec{Name: h.Name, Address: h.Address})
	}
	return s
}

// python3 installs python3 and its apt bindings on every host (setup for
// Ansible, not timed; done on hadeploy's side too so both see identical
// hosts). Without python3-apt Ansible's apt module respawns itself under
// another interpreter, which Mitogen cannot do (AttributeError: module
// '__main__' has no attribute '_module_fqn', seen with ansible-mitogen 0.3.3).
func python3(ctx context.Context, hosts []string) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			out, err := lab.Exec(ctx, h, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-apt >/dev/null")
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

// waitSettled waits until every lab host's systemd has finished booting
// (is-system-running: running or degraded), at most limit, and returns how
// long that took and the hosts' states when it gave up, if it did.
func waitSettled(ctx context.Context, n int, limit time.Duration) (time.Duration, string) {
	t0 := time.Now()
	for {
		sts, err := lab.Status(ctx)
		states := map[string]int{}
		settled := 0
		for _, s := range sts {
			states[s.SystemState]++
			if s.SystemState == "running" || s.SystemState == "degraded" {
				settled++
			}
		}
		if err == nil && settled == n {
			return time.Since(t0), ""
		}
		if time.Since(t0) > limit || ctx.Err() != nil {
			return time.Since(t0), fmt.Sprintf("%d of %d hosts settled after %s (states %v, err %v)", settled, n, limit, states, err)
		}
		time.Sleep(5 * time.Second)
	}
}
