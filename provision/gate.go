package provision

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

// pass waits until gate g holds: its probe runs on every observer at once,
// every GateInterval, until Passed says yes or the gate's bound is spent.
func (r *Runner) pass(ctx context.Context, g steps.Gate) error {
	t0 := time.Now()
	deadline := t0.Add(g.Bound)
	obs := r.connsOf(g.Observers)
	for {
		var mu sync.Mutex
		out := map[string]string{}
		err := r.parallel(ctx, obs, func(ctx context.Context, c *hostConn) error {
			res, err := r.exec(ctx, c, g.Probe(c.h))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", c.h.Name, g.Name, err)
			}
			mu.Lock()
			out[c.h.Name] = string(res.Stdout)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
		if g.Refuse != nil {
			if why := g.Refuse(out); why != "" {
				return fmt.Errorf("%s: refused: %s", g.Name, why)
			}
		}
		ok, why := g.Passed(out)
		if ok {
			r.emit(events.Event{Type: events.EvInfo, Host: g.Host, Step: g.Name, Message: g.OK, DurationMS: ms(time.Since(t0))})
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not passed after %s: %s", g.Name, g.Bound, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(steps.GateInterval):
		}
	}
}

// connsOf returns the connections of hosts, in their order (hosts this run
// is not connected to are skipped).
func (r *Runner) connsOf(hosts []*inventory.Host) []*hostConn {
	var out []*hostConn
	for _, h := range hosts {
		for _, c := range r.conns {
			if c.h.Name == h.Name {
				out = append(out, c)
			}
		}
	}
	return out
}

// fleet is the playbook's read-only view of the run's snapshots and plans.
type fleet struct{ r *Runner }

func (f fleet) Connected() []*inventory.Host {
	out := make([]*inventory.Host, len(f.r.conns))
	for i, c := range f.r.conns {
		out[i] = c.h
	}
	return out
}

func (f fleet) conn(host string) *hostConn {
	for _, c := range f.r.conns {
		if c.h.Name == host {
			return c
		}
	}
	return nil
}

func (f fleet) Facts(host string) facts.Facts {
	if c := f.conn(host); c != nil && c.snap != nil {
		return c.snap.Facts
	}
	return facts.Facts{}
}

func (f fleet) Active(host, unit string) bool {
	c := f.conn(host)
	return c != nil && c.snap != nil && c.snap.Services[unit].Active == "active"
}

func (f fleet) HoldsAddr(host, addr string) bool {
	c := f.conn(host)
	return c != nil && c.snap != nil && c.snap.HoldsAddr(addr)
}

// DrainTimeout is the operator's bound for drains (steps.DrainTimeout reads it).
func (f fleet) DrainTimeout() time.Duration { return f.r.DrainTimeout }

func (f fleet) ChangingFile(host, path string) bool {
	c := f.conn(host)
	if c == nil || c.plan == nil {
		return false
	}
	for _, sp := range c.plan.Steps {
		for _, fc := range sp.Files {
			if fc.Path == path && fc.ContentChanged {
				return true
			}
		}
	}
	return false
}

func (f fleet) Content(host, path string) ([]byte, bool) {
	c := f.conn(host)
	if c == nil || c.snap == nil {
		return nil, false
	}
	fs, ok := c.snap.Files[path]
	return fs.Content, ok && fs.Exists
}

func (f fleet) Changing(host, step string) bool {
	c := f.conn(host)
	if c == nil || c.plan == nil {
		return false
	}
	for _, sp := range c.plan.Steps {
		if sp.Step == step && sp.Changed() {
			return true
		}
	}
	return false
}

// Operate runs an operator action as gates (drain, ready, switchover) under
// the cluster lock: gates(f) builds them from the fleet once every host is
// read; each must pass in order. Nothing is journaled: these actions change
// runtime state only (haproxy admin state, a keepalived track file).
func (r *Runner) Operate(ctx context.Context, command string, gates func(f steps.Fleet) ([]steps.Gate, error)) (*events.Summary, error) {
	start := time.Now()
	sum := &events.Summary{Command: command, Run: r.RunID}
	if err := r.Open(ctx, true); err != nil {
		return nil, err
	}
	defer r.Close()
	defer r.releaseLocks(context.WithoutCancel(ctx), "")
	gs, err := gates(fleet{r})
	if err == nil {
		for _, g := range gs {
			if err = r.pass(ctx, g); err != nil {
				break
			}
		}
	}
	r.finish(sum, start)
	sum.Failed = err != nil
	return sum, err
}
