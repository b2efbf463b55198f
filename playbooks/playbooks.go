// Package playbooks decides which steps run on which hosts, in what order,
// one at a time or together, and which gates each host must pass before the
// next one goes. The built-in playbook is the article's cluster: web hosts
// first, one at a time, each back in rotation before the next; then load
// balancers one at a time, the current VIP holder last, so a bad change never
// reaches both load balancers and the VIP stays served. Gates come from the
// steps (steps.Gater); the engine in provision runs what this package
// returns and knows no daemon.
package playbooks

import (
	"fmt"
	"sort"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

// Phase is a group of hosts that run after the previous group finished.
type Phase struct {
	Name  string
	Hosts []*inventory.Host
	// Serial runs one host at a time (otherwise all in parallel).
	Serial bool
	// Before lists the gates a host must pass before it changes (drained,
	// in maintenance); a failure stops the run, which puts it back.
	Before func(h *inventory.Host) []steps.Gate
	// After lists the gates a host of this phase must pass once it changed
	// (or, in a rollback, once it was restored) before the next host goes.
	After func(h *inventory.Host) []steps.Gate
	// Finally lists the gates to pass once every host of the phase is done,
	// if any of them changed.
	Finally []steps.Gate
}

// Playbook is what the engine asks: the steps of a host, and the order of an
// apply and of a rollback with their gates.
type Playbook interface {
	StepsFor(h *inventory.Host) []steps.Step
	Apply(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase
	Rollback(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase
	// Refuse says why the plan cannot be carried out without taking a
	// backend out of service (nil: it can).
	Refuse(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) error
}

// Refuse: changing the port haproxy reaches web hosts on would take each
// changed web host out of rotation until the load balancers switch, one
// after the other, until a backend has no server left. It needs a staged
// switch (web hosts on both ports, then the load balancers, then the old
// port off), which this playbook does not do yet.
func (Cluster) Refuse(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) error {
	lbChanging := false
	for _, h := range f.Connected() {
		lbChanging = lbChanging || (h.HasRole(inventory.RoleLB) && f.Active(h.Name, "haproxy") && f.Changing(h.Name, "haproxy"))
	}
	if !lbChanging {
		return nil
	}
	moving := map[string]bool{}
	for _, h := range hosts {
		if h.HasRole(inventory.RoleWeb) && steps.Serving(h, f) && steps.ListenChanges(h, f) {
			moving[h.Name] = true
		}
	}
	for _, b := range c.HAProxy.Backends {
		all := len(b.Servers) > 1
		for _, s := range b.Servers {
			all = all && moving[s.Host]
		}
		if all {
			return fmt.Errorf("web.port changes on every server of backend %s while haproxy changes too: hadeploy would take them out of rotation one by one until the load balancers switch, leaving %s empty. A staged switch (web hosts on both ports, then the load balancers, then the old port off) is not done yet; change the port in a maintenance window", b.Name, b.Name)
		}
	}
	return nil
}

// Cluster is the article's cluster, the built-in playbook.
type Cluster struct{}

// StepsFor lists the steps for a host, in the order they run.
func (Cluster) StepsFor(h *inventory.Host) []steps.Step { return StepsFor(h) }

// StepsFor lists the built-in steps for a host, in the order they run.
func StepsFor(h *inventory.Host) []steps.Step {
	var out []steps.Step
	for _, s := range steps.All() {
		if s.Applies(h) {
			out = append(out, s)
		}
	}
	return out
}

// Apply orders hosts for an apply: web-only hosts, then load balancers with
// those not holding the VIP first (BACKUPs before the MASTER; on a cold
// cluster the lowest priority first, the would-be MASTER last).
func (Cluster) Apply(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase {
	web, lb := split(c, hosts, f)
	var out []Phase
	if len(web) > 0 {
		out = append(out, Phase{Name: "web", Hosts: web, Serial: true,
			Before: func(h *inventory.Host) []steps.Gate { return gatesBefore(c, h, f, true) },
			After:  func(h *inventory.Host) []steps.Gate { return ready(gatesAfter(c, h, f, true), f) }})
	}
	if len(lb) > 0 {
		ph := Phase{Name: "lb", Hosts: lb, Serial: true, After: func(h *inventory.Host) []steps.Gate {
			return ready(gatesAfter(c, h, f, true), f)
		}}
		// Not with --limit: the other hosts may be changing elsewhere.
		if len(hosts) == len(c.Hosts) {
			ph.Finally = finalGates(c, lb, f)
		}
		out = append(out, ph)
	}
	return out
}

// Rollback orders the hosts a rollback restores: load balancers first with
// the VIP holder last, then web hosts in reverse order, each drained before
// it is restored (when another server can carry its traffic) and passing its
// steps' gates before the next.
func (Cluster) Rollback(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase {
	web, lb := split(c, hosts, f)
	for i, j := 0, len(web)-1; i < j; i, j = i+1, j-1 {
		web[i], web[j] = web[j], web[i]
	}
	after := func(h *inventory.Host) []steps.Gate { return gatesAfter(c, h, f, false) }
	var out []Phase
	if len(lb) > 0 {
		out = append(out, Phase{Name: "lb", Hosts: lb, Serial: true, After: after})
	}
	if len(web) > 0 {
		out = append(out, Phase{Name: "web", Hosts: web, Serial: true, After: after,
			Before: func(h *inventory.Host) []steps.Gate { return gatesBefore(c, h, f, false) }})
	}
	return out
}

// collect asks each step of each host (only those that change on it, when
// changedOnly) for gates through ask, keeping one gate per name and OK
// message (haproxy and keepalived ask for the same VIP gate; each VIP has its
// own, and its OK names it), or all when dedupe is false: Before gates are a
// sequence.
func collect(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet, changedOnly, dedupe bool, ask func(steps.Step, steps.Target) []steps.Gate) []steps.Gate {
	var out []steps.Gate
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, st := range StepsFor(h) {
			if changedOnly && !f.Changing(h.Name, st.Name()) {
				continue
			}
			for _, g := range ask(st, steps.Target{Cluster: c, Host: h, Facts: f.Facts(h.Name)}) {
				if key := g.Name + "\x00" + g.OK; !dedupe || !seen[key] {
					seen[key] = true
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// gatesAfter collects the gates of h's steps (in an apply, only of the steps
// that change on h).
func gatesAfter(c *inventory.Cluster, h *inventory.Host, f steps.Fleet, changedOnly bool) []steps.Gate {
	return collect(c, []*inventory.Host{h}, f, changedOnly, true, func(st steps.Step, t steps.Target) []steps.Gate {
		if g, ok := st.(steps.Gater); ok {
			return g.Gates(t, f)
		}
		return nil
	})
}

// gatesBefore collects the Before gates of h's steps (in an apply, only of
// the steps that change on h).
func gatesBefore(c *inventory.Cluster, h *inventory.Host, f steps.Fleet, changedOnly bool) []steps.Gate {
	return collect(c, []*inventory.Host{h}, f, changedOnly, false, func(st steps.Step, t steps.Target) []steps.Gate {
		if s, ok := st.(steps.Surrounder); ok {
			return s.Before(t, f)
		}
		return nil
	})
}

// finalGates collects the final gates of the steps that change on any of hosts.
func finalGates(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []steps.Gate {
	return collect(c, hosts, f, true, true, func(st steps.Step, t steps.Target) []steps.Gate {
		if g, ok := st.(steps.FinalGater); ok {
			return g.FinalGates(t, f)
		}
		return nil
	})
}

// ready drops the gates that cannot pass yet in an apply: those whose
// observers still have the step they depend on to change (a new web port is
// in rotation only once haproxy uses it, later in the run).
func ready(gs []steps.Gate, f steps.Fleet) []steps.Gate {
	var out []steps.Gate
	for _, g := range gs {
		pending := false
		for _, o := range g.Observers {
			pending = pending || (g.DependsOn != "" && f.Changing(o.Name, g.DependsOn))
		}
		if !pending {
			out = append(out, g)
		}
	}
	return out
}

// split sorts hosts into web-only hosts and load balancers, the VIP holder
// last and otherwise by rising priority.
func split(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) (web, lb []*inventory.Host) {
	for _, h := range hosts {
		if h.HasRole(inventory.RoleLB) {
			lb = append(lb, h)
		} else {
			web = append(web, h)
		}
	}
	holds := func(h *inventory.Host) bool { return f != nil && steps.HoldsAnyVIP(c, h, f) }
	sort.SliceStable(lb, func(i, j int) bool {
		hi, hj := holds(lb[i]), holds(lb[j])
		if hi != hj {
			return !hi
		}
		return lb[i].Priority < lb[j].Priority
	})
	return web, lb
}
