package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/transport"
)

// Plan reads every host and computes what apply would change. It changes
// nothing on any host.
func (r *Runner) Plan(ctx context.Context) ([]*HostPlan, error) {
	if err := r.Open(ctx, false); err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.plan(r.conns); err != nil {
		return nil, err
	}
	var out []*HostPlan
	for _, c := range r.conns {
		out = append(out, c.plan)
		c.sum.RoundTrips = c.t.RoundTrips()
	}
	return out, nil
}

// Stages is how apply would stage the change Plan computed (nil: in one go,
// phase by phase).
func (r *Runner) Stages() []playbooks.Stage {
	st := r.playbook().Stages(r.Cluster, r.Hosts, fleet{r})
	if len(st) < 2 {
		return nil
	}
	return st
}

// PlanOf computes what apply would change on host from what Open read: no
// round trip, for commands that do more over the same connections (status).
func (r *Runner) PlanOf(host string) (*HostPlan, error) {
	for _, c := range r.conns {
		if c != nil && c.h.Name == host && c.snap != nil {
			return PlanHost(r.Cluster, c.h, c.snap, r.playbook().StepsFor)
		}
	}
	return nil, errors.New("not read")
}

// Diff renders a file change for display, secrets masked.
func (r *Runner) Diff(fc FileChange) string { return r.red.Diff(fc) }

// RoundTrips reports the round trips per host of the last command.
func (r *Runner) RoundTrips() map[string]int64 {
	out := map[string]int64{}
	for _, c := range r.conns {
		if c != nil {
			out[c.h.Name] = c.t.RoundTrips()
		}
	}
	return out
}

// Holders lists which of hosts hold addr on an interface, asked now.
func (r *Runner) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	var mu sync.Mutex
	var holders []string
	s := &shell.Script{}
	s.Raw(addrsCmd)
	err := r.parallel(ctx, r.connsOf(hosts), func(ctx context.Context, c *hostConn) error {
		res, err := r.exec(ctx, c, s)
		if err != nil {
			return fmt.Errorf("%s: %w", c.h.Name, err)
		}
		if (&Snapshot{Addrs: parseAddrs(res.Stdout)}).HoldsAddr(addr) {
			mu.Lock()
			holders = append(holders, c.h.Name)
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(holders)
	return holders, err
}

// History lists the runs recorded on each host, newest first.
func (r *Runner) History(ctx context.Context) (map[string][]RunInfo, error) {
	if err := r.Open(ctx, false); err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string][]RunInfo{}
	for _, c := range r.conns {
		runs := append([]RunInfo(nil), c.snap.Runs...)
		sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
		out[c.h.Name] = runs
	}
	return out, nil
}

// Snapshot returns what Open read on a host.
func (r *Runner) Snapshot(host string) *Snapshot {
	for _, c := range r.conns {
		if c.h.Name == host {
			return c.snap
		}
	}
	return nil
}

// Exec runs a script on the named host over the runner's connections (for
// verify and failover-test). Its errors do not name the host, the caller does.
func (r *Runner) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	for _, c := range r.conns {
		if c.h.Name == host {
			return r.exec(ctx, c, s)
		}
	}
	return transport.Result{}, errors.New("not connected")
}

// Facts are what the host's snapshot read of its OS (false when the host is
// not connected or not read yet).
func (r *Runner) Facts(host string) (facts.Facts, bool) {
	if sn := r.Snapshot(host); sn != nil {
		return sn.Facts, true
	}
	return facts.Facts{}, false
}
