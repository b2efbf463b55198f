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
	"slices"
	"sort"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

// Phase is a group of hosts that run after the previous group finished.
type Phase struct {
	Name  string
	Hosts []*inventory.Host
	// Serial runs one host at a time (otherwise all in parallel).
	Serial bool
	// Says why the phase runs as it does, when that is news to the
	// operator (shown once as the phase starts).
	Says string
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

// Playbook is what the engine asks: the steps of a host, the stages of an
// apply, and the order of each stage's apply and rollback with their gates.
type Playbook interface {
	StepsFor(h *inventory.Host) []steps.Step
	// Stages turns one apply into a sequence of desired clusters, each
	// applied (and, on failure, rolled back) in turn; nil or one stage: the
	// inventory's cluster at once.
	Stages(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Stage
	Apply(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase
	Rollback(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Phase
	// Refuse says why the plan cannot be carried out without taking a
	// backend out of service (nil: it can).
	Refuse(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) error
}

// Stage is one desired state on the way to the inventory's: the engine
// plans it against the hosts as they are, applies it phase by phase and
// journals it as a run of its own, so a rollback undoes stages newest first
// and every state it passes through is one the apply passed through.
type Stage struct {
	Name    string
	Cluster *inventory.Cluster
	// Says what the stage does, for plans and events.
	Says string
}

// Stages: a change of the contract between web hosts and load balancers (the
// web port, the health check) on a serving cluster goes in three stages, so
// both sides agree at every moment: (1) web hosts serve the old and the new
// (rolling, drained); (2) load balancers switch, one at a time, each passing
// a gate that every serving web host is UP and answering through it; (3) web
// hosts drop the old (rolling, drained). Everything else the inventory
// changes goes in stage 1 on web hosts and load balancers alike. Under
// --limit nothing is staged (the other side is not in the run): Refuse then
// stops a port change that would empty a backend.
func (Cluster) Stages(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) []Stage {
	if len(hosts) != len(c.Hosts) {
		return nil
	}
	old, ok := steps.ServingContract(f)
	want := steps.DesiredContract(c)
	if !ok || old.Equal(want) || len(old.Checks) == 0 {
		return nil
	}
	newPort, newCheck := c.Web.Port, c.Web.HealthCheck
	oldPort, oldCheck := old.Ports[0], old.Checks[0]
	// Stage 1 keeps the load balancers on (the first of) what they use now
	// and has web hosts serve that and the new; stage 2 is the new with the
	// old still served.
	both := func(port int, check string, extraPorts []int, extraPaths []string) *inventory.Cluster {
		cp := *c
		cp.Web.Port, cp.Web.HealthCheck = port, check
		tr := &inventory.WebTransition{}
		for _, p := range extraPorts {
			if p != port {
				tr.Ports = append(tr.Ports, p)
			}
		}
		tr.HealthPaths = extraPaths
		cp.Web.Transition = tr
		return &cp
	}
	ports := append(append([]int(nil), old.Ports...), newPort)
	s1 := both(oldPort, oldCheck, ports, append(old.Paths(), c.HealthPath()))
	s2 := both(newPort, newCheck, ports, old.Paths())
	what := contractWords(old, c)
	drop := "web hosts stop serving " + what.old + " (one at a time, drained)"
	if what.old == "" {
		drop = "web hosts: nothing to drop (the old health page stays in the docroot)"
	}
	return []Stage{
		{Name: "serve-both", Cluster: s1, Says: "web hosts serve " + what.both + " (one at a time, drained)"},
		{Name: "switch", Cluster: s2, Says: "load balancers switch to " + what.new + " (one at a time, the VIP holder last; every web host UP through each)"},
		{Name: "drop-old", Cluster: c, Says: drop},
	}
}

type words struct{ both, new, old string }

// contractWords names what changes from old to c's contract, for the plan.
func contractWords(old steps.Contract, c *inventory.Cluster) words {
	var w words
	var b, n, o []string
	want := steps.DesiredContract(c)
	if !slices.Equal(old.Ports, want.Ports) {
		b = append(b, "ports "+joinInts(append(append([]int(nil), old.Ports...), c.Web.Port)))
		n = append(n, fmt.Sprintf("port %d", c.Web.Port))
		o = append(o, "port "+joinInts(old.Ports))
	}
	if !slices.Equal(old.Checks, want.Checks) {
		b = append(b, "health paths "+strings.Join(append(old.Paths(), c.HealthPath()), " and "))
		n = append(n, "health check "+want.Checks[0])
	}
	w.both, w.new, w.old = strings.Join(b, ", "), strings.Join(n, ", "), strings.Join(o, ", ")
	return w
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, " and ")
}

// Refuse: changing the port haproxy reaches web hosts on in one go would take
// each changed web host out of rotation until the load balancers switch, one
// after the other, until a backend has no server left. Stages avoid that on
// the whole cluster; under --limit such a plan is refused.
func (Cluster) Refuse(c *inventory.Cluster, hosts []*inventory.Host, f steps.Fleet) error {
	if _, lbs := split(c, hosts, f); len(hosts) != len(c.Hosts) && steps.VRRPTimingChanges(c, c.HostsWithRole(inventory.RoleLB), f) {
		for _, h := range c.HostsWithRole(inventory.RoleLB) {
			if f.Active(h.Name, "keepalived") && !slices.Contains(lbs, h) {
				return fmt.Errorf("vrrp.version or vrrp.advert_int changes, and lb %s is not in this run: every load balancer must change at once (peers with a different version or interval both claim the VIP). Run apply without --limit, or include every load balancer", h.Name)
			}
		}
	}
	lbChanging := false
	for _, h := range f.Connected() {
		lbChanging = lbChanging || (h.HasRole(inventory.RoleLB) && f.Active(h.Name, "haproxy") && f.Changing(h.Name, "haproxy"))
	}
	if !lbChanging || !steps.PortChanges(c, f) {
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
			return fmt.Errorf("web.port changes on every server of backend %s while haproxy changes too, and not on the whole cluster: hadeploy would take them out of rotation one by one until the load balancers switch, leaving %s empty. Run apply without --limit: it stages the change (web hosts on both ports, then the load balancers, then the old port off)", b.Name, b.Name)
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
		// A new VRRP version or advert_int reaches every lb at once (both
		// keep serving meanwhile): changed one by one, the first would stop
		// hearing the holder and claim the VIP.
		if steps.VRRPTimingChanges(c, lb, f) {
			ph.Serial = false
			ph.Says = "load balancers change together: the VRRP version or advert_int changes, and peers that differ would both claim the VIP"
		}
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
		// A restored haproxy that ran must reach every server on the port its
		// restored file names before the next lb goes (undoing a switch of
		// the web port: the snapshot cannot tell which restore switches back).
		lbAfter := func(h *inventory.Host) []steps.Gate {
			gs := after(h)
			if f.Active(h.Name, "haproxy") && !slices.ContainsFunc(gs, func(g steps.Gate) bool { return g.Name == "switched" }) {
				gs = append(gs, steps.Switched(h, f))
			}
			return gs
		}
		out = append(out, Phase{Name: "lb", Hosts: lb, Serial: true, After: lbAfter})
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
				if k := g.Name + "\x00" + g.Host + "\x00" + g.OK; !dedupe || !seen[k] {
					seen[k] = true
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
