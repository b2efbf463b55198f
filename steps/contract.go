package steps

import (
	"slices"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
)

// Contract is what load balancers and web hosts must agree on: the ports
// haproxy's server lines reach web hosts on and the health checks it sends.
// Changing it on a serving cluster is staged by the playbook (web hosts
// serve both, the load balancers switch, the old goes) so both sides agree
// at every moment.
type Contract struct {
	Ports  []int    // sorted, each once
	Checks []string // "METHOD PATH", sorted, each once
}

// Equal reports whether both contracts name the same ports and checks.
func (a Contract) Equal(b Contract) bool {
	return slices.Equal(a.Ports, b.Ports) && slices.Equal(a.Checks, b.Checks)
}

// Paths are the checks' paths.
func (a Contract) Paths() []string {
	var out []string
	for _, c := range a.Checks {
		_, p, _ := strings.Cut(c, " ")
		out = append(out, p)
	}
	return out
}

// DesiredContract is the contract the inventory asks for.
func DesiredContract(c *inventory.Cluster) Contract {
	return Contract{Ports: []int{c.Web.Port}, Checks: []string{c.HealthMethod() + " " + c.HealthPath()}}
}

// LBContract reads the contract of lb's current haproxy configuration as the
// run read it (false: no configuration there yet).
func LBContract(lb *inventory.Host, f Fleet) (Contract, bool) {
	cfg, ok := lbConfig(lb, f)
	if !ok {
		return Contract{}, false
	}
	var ct Contract
	for _, l := range strings.Split(cfg, "\n") {
		fs := strings.Fields(l)
		switch {
		case len(fs) >= 4 && fs[0] == "option" && fs[1] == "httpchk":
			ct.Checks = addSorted(ct.Checks, fs[2]+" "+fs[3])
		case len(fs) >= 3 && fs[0] == "server":
			if i := strings.LastIndexByte(fs[2], ':'); i >= 0 {
				if p, err := strconv.Atoi(fs[2][i+1:]); err == nil {
					ct.Ports = addSorted(ct.Ports, p)
				}
			}
		}
	}
	return ct, len(ct.Ports) > 0
}

// lbConfig is lb's haproxy.cfg as the run read it (false: none there).
func lbConfig(lb *inventory.Host, f Fleet) (string, bool) {
	return distroFile(lb, f, func(d *distro) string { return d.HAProxyCfg })
}

// distroFile is the file at the path of h's distro that which picks, as the
// run read it (false: none there, or h's distro is unknown).
func distroFile(h *inventory.Host, f Fleet, which func(*distro) string) (string, bool) {
	d, err := distroFor(f.Facts(h.Name))
	if err != nil {
		return "", false
	}
	b, ok := f.Content(h.Name, which(d))
	return string(b), ok
}

// allKnow reports whether the current haproxy configuration of every lb in
// lbs (as the run read it) has a server line for web host h.
func allKnow(lbs []*inventory.Host, h *inventory.Host, f Fleet) bool {
	for _, lb := range lbs {
		cfg, ok := lbConfig(lb, f)
		if !ok || !namesServer(cfg, h.Name) {
			return false
		}
	}
	return true
}

func namesServer(cfg, name string) bool {
	for _, l := range strings.Split(cfg, "\n") {
		if fs := strings.Fields(l); len(fs) >= 2 && fs[0] == "server" && fs[1] == name {
			return true
		}
	}
	return false
}

// ServingContract is the union of the contracts of every running haproxy
// (they differ only after an interrupted run); false when none runs.
func ServingContract(f Fleet) (Contract, bool) {
	var ct Contract
	any := false
	for _, lb := range RunningHAProxy(f.Connected(), f) {
		c, ok := LBContract(lb, f)
		if !ok {
			continue
		}
		any = true
		for _, p := range c.Ports {
			ct.Ports = addSorted(ct.Ports, p)
		}
		for _, ch := range c.Checks {
			ct.Checks = addSorted(ct.Checks, ch)
		}
	}
	return ct, any
}

// ContractChanges reports whether lb's running haproxy uses another contract
// than the cluster c asks for (a cold or stopped haproxy serves none).
func ContractChanges(lb *inventory.Host, c *inventory.Cluster, f Fleet) bool {
	if !f.Active(lb.Name, "haproxy") {
		return false
	}
	ct, ok := LBContract(lb, f)
	return ok && !ct.Equal(DesiredContract(c))
}

// PortChanges reports whether a running haproxy reaches web hosts on another
// port than c's.
func PortChanges(c *inventory.Cluster, f Fleet) bool {
	ct, ok := ServingContract(f)
	return ok && !slices.Equal(ct.Ports, []int{c.Web.Port})
}

func addSorted[T int | string](xs []T, x T) []T {
	if i, found := slices.BinarySearch(xs, x); !found {
		xs = slices.Insert(xs, i, x)
	}
	return xs
}
