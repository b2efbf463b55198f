// Package playbooks decides which steps run on which hosts and in what order.
// The built-in playbook is the article's cluster: web hosts first, one at a
// time; then load balancers one at a time, the current VIP holder last, so a
// bad change never reaches both load balancers and the VIP stays served.
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

// Phases orders hosts: web-only hosts, then load balancers with those not
// holding the VIP first (BACKUPs before the MASTER). holdsVIP may be nil or
// report false for every host (a cold cluster): then the lowest priority
// goes first, the would-be MASTER last.
func Phases(hosts []*inventory.Host, holdsVIP func(*inventory.Host) bool) []Phase {
	var web, lb []*inventory.Host
	for _, h := range hosts {
		if h.HasRole(inventory.RoleLB) {
			lb = append(lb, h)
		} else {
			web = append(web, h)
		}
	}
	sort.SliceStable(lb, func(i, j int) bool {
		hi, hj := holds(holdsVIP, lb[i]), holds(holdsVIP, lb[j])
		if hi != hj {
			return !hi
		}
		return lb[i].Priority < lb[j].Priority
	})
	var out []Phase
	if len(web) > 0 {
		out = append(out, Phase{Name: "web", Hosts: web, Serial: true})
	}
	if len(lb) > 0 {
		out = append(out, Phase{Name: "lb", Hosts: lb, Serial: true})
	}
	return out
}

func holds(f func(*inventory.Host) bool, h *inventory.Host) bool { return f != nil && f(h) }
