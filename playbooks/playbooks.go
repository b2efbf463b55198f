// Package playbooks decides which steps run on which hosts, in what order,
// one at a time or together, and which gates each host must pass before the
// next one goes. The built-in playbook is the article's cluster: web hosts
// first, one at a time, each back in rotation before the next; then load
// balancers one at a time, the current VIP holder last, so a bad change never
// reaches both load balancers and the VIP stays served. The engine in
// provision runs what this package returns and knows no daemon.
package playbooks

import (
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
	// After lists the gates a host of this phase must pass once it changed
	// (or, in a rollback, once it was restored) before the next host goes.
	After func(h *inventory.Host) []Gate
	// Finally lists the gates to pass once every host of the phase is done,
	// if any of them changed.
	Finally []Gate
}

// StepsFor lists the steps for a host, in the order they run.
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
func Apply(c *inventory.Cluster, hosts []*inventory.Host, f Fleet) []Phase {
	web, lb := split(c, hosts, f)
	rotating := runningHAProxy(f.Connected(), f)
	// When the load balancers' haproxy config changes too (a new web port),
	// web hosts cannot be back in rotation before the lb phase.
	for _, h := range f.Connected() {
		if h.HasRole(inventory.RoleLB) && f.Changing(h.Name, "haproxy") {
			rotating = nil
		}
	}
	vipServed := false
	for _, h := range f.Connected() {
		vipServed = vipServed || (h.HasRole(inventory.RoleLB) && f.HoldsAddr(h.Name, c.VIPAddr()))
	}
	lbs := lbsOf(f.Connected())
	var out []Phase
	if len(web) > 0 {
		out = append(out, Phase{Name: "web", Hosts: web, Serial: true, After: func(h *inventory.Host) []Gate {
			if len(rotating) == 0 {
				return nil
			}
			return []Gate{inRotation(c, h, rotating, f)}
		}})
	}
	if len(lb) > 0 {
		ph := Phase{Name: "lb", Hosts: lb, Serial: true, After: func(h *inventory.Host) []Gate {
			// Between load balancers, the VIP must stay served.
			if !vipServed {
				return nil
			}
			g := oneVIPHolder(c, lbs, false)
			g.Host = h.Name
			return []Gate{g}
		}}
		// Once load balancers changed, exactly one must hold the VIP at the
		// end (not with --limit: the others may be changing elsewhere).
		if len(hosts) == len(c.Hosts) {
			ph.Finally = []Gate{oneVIPHolder(c, lbs, true)}
		}
		out = append(out, ph)
	}
	return out
}

// Rollback orders the hosts a rollback restores: load balancers first with
// the VIP holder last, then web hosts in reverse order, each back in every
// running haproxy's rotation before the next.
func Rollback(c *inventory.Cluster, hosts []*inventory.Host, f Fleet) []Phase {
	web, lb := split(c, hosts, f)
	for i, j := 0, len(web)-1; i < j; i, j = i+1, j-1 {
		web[i], web[j] = web[j], web[i]
	}
	rotating := runningHAProxy(f.Connected(), f)
	var out []Phase
	if len(lb) > 0 {
		out = append(out, Phase{Name: "lb", Hosts: lb, Serial: true})
	}
	if len(web) > 0 {
		out = append(out, Phase{Name: "web", Hosts: web, Serial: true, After: func(h *inventory.Host) []Gate {
			if len(rotating) == 0 {
				return nil
			}
			return []Gate{inRotation(c, h, rotating, f)}
		}})
	}
	return out
}

// split sorts hosts into web-only hosts and load balancers, the VIP holder
// last and otherwise by rising priority.
func split(c *inventory.Cluster, hosts []*inventory.Host, f Fleet) (web, lb []*inventory.Host) {
	for _, h := range hosts {
		if h.HasRole(inventory.RoleLB) {
			lb = append(lb, h)
		} else {
			web = append(web, h)
		}
	}
	holds := func(h *inventory.Host) bool { return f != nil && f.HoldsAddr(h.Name, c.VIPAddr()) }
	sort.SliceStable(lb, func(i, j int) bool {
		hi, hj := holds(lb[i]), holds(lb[j])
		if hi != hj {
			return !hi
		}
		return lb[i].Priority < lb[j].Priority
	})
	return web, lb
}

func lbsOf(hosts []*inventory.Host) []*inventory.Host {
	var out []*inventory.Host
	for _, h := range hosts {
		if h.HasRole(inventory.RoleLB) {
			out = append(out, h)
		}
	}
	return out
}
