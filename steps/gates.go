package steps

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// Gate is a condition the engine waits for after a host changed: it runs
// Probe on every observer, in parallel, and asks Passed about the outputs,
// again and again until it holds or Bound runs out. The engine knows nothing
// of what a gate checks; the bound comes from the rendered configuration.
type Gate struct {
	Name      string // reported as the event's step, e.g. "rotation"
	Host      string // the host the gate is about
	Observers []*inventory.Host
	Probe     func(observer *inventory.Host) *shell.Script
	// Passed reads each observer's output (by host name); why says what is
	// still missing, for the error once Bound is spent.
	Passed func(out map[string]string) (ok bool, why string)
	Bound  time.Duration
	OK     string // the message once passed
	// DependsOn names a step whose pending change on an observer makes the
	// gate unpassable until that observer changed too (rotation waits on
	// haproxy: a new web port is only in rotation once haproxy uses it).
	DependsOn string
	// Refuse, when set, reads the outputs for a condition that waiting
	// cannot fix (draining the last server of a backend): the engine stops
	// at once with its message.
	Refuse func(out map[string]string) string
}

// GateInterval is how often the engine probes a gate that has not passed.
const GateInterval = 250 * time.Millisecond

// inRotation is what an operator means by "back in rotation": on every load
// balancer whose haproxy runs, the web host is UP in each backend that has it
// (not "UP 2/3" on its way down), and a request sent through that load
// balancer, pinned to the host by its SERVERID cookie, is answered by the host
// itself. The request is the proof that matters: haproxy keeps a server UP
// until fall checks have failed, so "UP" alone can be a server that stopped
// serving since the last check (haproxy then redispatches the request).
func inRotation(c *inventory.Cluster, h *inventory.Host, lbs []*inventory.Host, f Fleet) Gate {
	hp := c.HAProxy
	// Worst case once the host serves again: a check in flight against the
	// old state runs until its timeout, then rise checks inter apart.
	bound := HAProxyCheckTimeout + time.Duration(hp.CheckInter*(hp.Rise+1))*time.Millisecond + 3*time.Second
	hostHeader, pinned := routeTo(c, h)
	return Gate{
		Name: "rotation", Host: h.Name, Observers: lbs, Bound: bound, DependsOn: "haproxy",
		OK: "back in rotation on every load balancer",
		Probe: func(lb *inventory.Host) *shell.Script {
			s := &shell.Script{}
			s.Line(`echo 'show stat' | timeout 3 socat stdio %s 2>/dev/null | awk -F, -v sv=%s '$2==sv {print "==stat " $1 " " $18}'`,
				"UNIX-CONNECT:"+StatsSocket(f.Facts(lb.Name).Family), h.Name)
			if pinned {
				// The page every web host serves, whatever the health path is now
				// (a rollback restores hosts to an older one).
				req := fmt.Sprintf("GET %s HTTP/1.0\r\nHost: %s\r\nCookie: SERVERID=%s\r\n\r\n", pinnedPath, hostHeader, h.Name)
				s.Line(`printf '==reach %%s\n' "$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0; printf "%%s" "$1" >&3; tail -n 1 <&3' %s %s 2>/dev/null | tr -d '\r')"`,
					fmt.Sprint(hp.Port), req)
			}
			return s
		},
		Passed: func(out map[string]string) (bool, string) {
			var why []string
			for _, lb := range sortedNames(out) {
				if w := rotationProblem(out[lb], h.Name, pinned); w != "" {
					why = append(why, lb+": "+w)
				}
			}
			return len(why) == 0, strings.Join(why, "; ")
		},
	}
}

// rotationProblem reads one load balancer's probe output ("" = in rotation).
func rotationProblem(out, host string, pinned bool) string {
	var states []string
	seen, reached := false, ""
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "==stat "); ok {
			seen = true
			if backend, st, _ := strings.Cut(rest, " "); st != "UP" {
				states = append(states, fmt.Sprintf("%s in %s", orNone(st), backend))
			}
		} else if rest, ok := strings.CutPrefix(l, "==reach "); ok {
			reached = strings.TrimSpace(rest)
		}
	}
	switch {
	case !seen:
		return "haproxy does not report " + host
	case len(states) > 0:
		return "haproxy reports " + host + " " + strings.Join(states, ", ")
	case pinned && reached != host:
		return fmt.Sprintf("a request pinned to %s was answered by %q (haproxy redispatched it)", host, reached)
	}
	return ""
}

// pinnedPath is the page the web step always writes: it names the host.
const pinnedPath = "/index.html"

// routeTo finds a Host header whose request reaches a backend that has h, so
// the probe can pin a request to h; false when no such plain route exists
// (the health path itself is routed elsewhere by a path suffix).
func routeTo(c *inventory.Cluster, h *inventory.Host) (string, bool) {
	for _, rt := range c.HAProxy.Routes {
		for _, suf := range rt.PathSuffix {
			if strings.HasSuffix(pinnedPath, suf) {
				return "", false
			}
		}
	}
	has := func(name string) bool {
		b := c.Backend(name)
		if b == nil {
			return false
		}
		for _, s := range b.Servers {
			if s.Host == h.Name {
				return true
			}
		}
		return false
	}
	if has(c.HAProxy.DefaultBackend) {
		return "127.0.0.1", true
	}
	for _, rt := range c.HAProxy.Routes {
		if rt.Host != "" && has(rt.Backend) {
			return rt.Host, true
		}
	}
	return "", false
}

// oneVIPHolder: exactly one load balancer holds VIP v, bounded by the
// rendered VRRP timers (plus the tracker's rise once it must first see a
// freshly started haproxy). The final gate also waits until VRRP has settled:
// the holder is the lb keepalived will keep it on (see expectedHolders), so an
// apply never ends with a preemption still to come — the VIP would move, and
// connections in flight with it, moments after hadeploy said "done".
func oneVIPHolder(c *inventory.Cluster, v *inventory.VIP, lbs []*inventory.Host, final bool) Gate {
	bound := MasterDownBound(c) + 3*time.Second
	if final {
		bound += time.Duration(c.VRRP.CheckInterval*(c.VRRP.CheckRise+1)) * time.Second
	}
	vip := v.Addr()
	return Gate{
		Name: "vip", Observers: lbs, Bound: bound, OK: "exactly one load balancer holds the VIP " + vip,
		Probe: func(*inventory.Host) *shell.Script {
			s := &shell.Script{}
			s.Line(`if ip -o -4 addr show 2>/dev/null | grep -qF %s; then echo ==holds; else echo ==free; fi`, " "+vip+"/")
			if final {
				s.Line(`printf '==vrrp %%s %%s %%s %%s\n' "$(systemctl is-active keepalived 2>/dev/null)" "$(systemctl is-active haproxy 2>/dev/null)" "$(cat %s 2>/dev/null || echo 0)" "$(cat %s 2>/dev/null || echo 0)"`,
					HAProxyDownFile, PriorityFile)
			}
			return s
		},
		Passed: func(out map[string]string) (bool, string) {
			var holders []string
			for _, lb := range sortedNames(out) {
				if strings.Contains(out[lb], "==holds") {
					holders = append(holders, lb)
				}
			}
			switch len(holders) {
			case 1:
			case 0:
				return false, "no load balancer holds the VIP " + vip
			default:
				return false, fmt.Sprintf("split brain: %s all hold the VIP %s (VRRP adverts not getting through?)", strings.Join(holders, ", "), vip)
			}
			if !final {
				return true, ""
			}
			want := expectedHolders(c, v, out)
			if len(want) == 0 || contains(want, holders[0]) {
				return true, ""
			}
			return false, fmt.Sprintf("%s holds the VIP %s but VRRP has not settled: %s has the higher priority and will take it over", holders[0], vip, strings.Join(want, " or "))
		},
	}
}

// expectedHolders are the lbs keepalived converges on for v (preempt is on): among
// those whose keepalived and haproxy run and that are not in FAULT (haproxy's
// down file), the highest priority once lowered by the switchover's priority
// file (track_file weight -1), v's priorities. Several on a tie; none when no lb qualifies or
// a probe's output cannot be read.
func expectedHolders(c *inventory.Cluster, v *inventory.VIP, out map[string]string) []string {
	best, bestPrio := []string(nil), -1
	for _, lb := range sortedNames(out) {
		h := c.Host(lb)
		var ka, hap, down, lower string
		for _, l := range strings.Split(out[lb], "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "==vrrp "); ok {
				if f := strings.Fields(rest); len(f) == 4 {
					ka, hap, down, lower = f[0], f[1], f[2], f[3]
				}
			}
		}
		if h == nil || ka == "" {
			return nil
		}
		n, err := strconv.Atoi(lower)
		if err != nil {
			return nil
		}
		if ka != "active" || hap != "active" || down != "0" {
			continue
		}
		switch p := c.VIPPriority(v, h) - n; {
		case p > bestPrio:
			best, bestPrio = []string{lb}, p
		case p == bestPrio:
			best = append(best, lb)
		}
	}
	return best
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// RunningHAProxy lists the load balancers whose haproxy was running when the
// run began: only they can report a web host in rotation.
func RunningHAProxy(hosts []*inventory.Host, f Fleet) []*inventory.Host {
	var out []*inventory.Host
	for _, h := range hosts {
		if h.HasRole(inventory.RoleLB) && f.Active(h.Name, "haproxy") {
			out = append(out, h)
		}
	}
	return out
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(no state)"
	}
	return s
}

// Gates: a web host that changed must be back in every running haproxy's
// rotation before the next one goes.
func (Web) Gates(t Target, f Fleet) []Gate {
	lbs := RunningHAProxy(f.Connected(), f)
	if len(lbs) == 0 {
		return nil
	}
	rot := inRotation(t.Cluster, t.Host, lbs, f)
	// Rotation waits for haproxy's change when haproxy must first learn of
	// the host (a cold cluster: the package's own config runs; a new web
	// host), or when the port haproxy reaches it on changes in the same
	// stage as the host's own (a run the playbook could not stage).
	// Otherwise the host must be back in rotation even while haproxy
	// changes too (a weight change in the same run).
	if (!ListenChanges(t.Host, f) || !PortChanges(t.Cluster, f)) && allKnow(lbs, t.Host, f) {
		rot.DependsOn = ""
	}
	return append(ReadyGate(t.Cluster, t.Host, lbs, f), rot)
}

// Gates: between load balancers, the VIP must stay served (when it was).
func (Keepalived) Gates(t Target, f Fleet) []Gate { return vipServed(t, f) }

// Gates: a haproxy reload moves the VIP if the tracker sees it down. When
// the reload switched the contract with the web hosts (port, health check),
// every serving web host must be UP and answer a pinned request through this
// load balancer before the next one switches.
func (HAProxy) Gates(t Target, f Fleet) []Gate {
	gs := vipServed(t, f)
	if !ContractChanges(t.Host, t.Cluster, f) {
		return gs
	}
	gs = append(gs, Switched(t.Host, f))
	seen := map[string]bool{}
	for _, b := range t.Cluster.HAProxy.Backends {
		for _, s := range b.Servers {
			h := t.Cluster.Host(s.Host)
			if h == nil || seen[h.Name] || !Serving(h, f) {
				continue
			}
			seen[h.Name] = true
			g := inRotation(t.Cluster, h, []*inventory.Host{t.Host}, f)
			g.DependsOn = ""
			g.OK = "in rotation through " + t.Host.Name + " on the new contract"
			gs = append(gs, g)
		}
	}
	return gs
}

// FinalGates: see Keepalived.
func (HAProxy) FinalGates(t Target, f Fleet) []Gate { return Keepalived{}.FinalGates(t, f) }

// Switched: lb's running haproxy reaches every server on the port its
// configuration file names (its runtime state, not the file: a saved server
// state could have kept the old port over the configuration). The file, not
// the inventory, so the same gate holds after a rollback restored it.
func Switched(lb *inventory.Host, f Fleet) Gate {
	cfg := "/etc/haproxy/haproxy.cfg"
	if d, err := distroFor(f.Facts(lb.Name)); err == nil {
		cfg = d.HAProxyCfg
	}
	return Gate{
		Name: "switched", Host: lb.Name, Observers: []*inventory.Host{lb}, Bound: 5 * time.Second,
		OK: "haproxy reaches every server on the port its configuration names",
		Probe: func(lb *inventory.Host) *shell.Script {
			s := &shell.Script{}
			s.Line(`if [ -r %s ]; then echo ==cfgread; fi; awk '$1 == "backend" {b = $2} $1 == "server" && b != "" {n = split($3, a, ":"); print "==cfg " b " " $2 " " a[n]}' %s 2>/dev/null`, cfg, cfg)
			s.Line(`echo 'show servers state' | timeout 3 socat stdio %s 2>/dev/null | awk 'NF > 18 && !/^#/ {print "==port " $2 " " $4 " " $19}'`,
				"UNIX-CONNECT:"+StatsSocket(f.Facts(lb.Name).Family))
			return s
		},
		Passed: func(out map[string]string) (bool, string) {
			want, got := map[string]string{}, map[string]string{}
			var order []string
			for _, l := range strings.Split(out[lb.Name], "\n") {
				fs := strings.Fields(l)
				if len(fs) != 4 {
					continue
				}
				switch fs[0] {
				case "==cfg":
					order = append(order, fs[1]+"/"+fs[2])
					want[fs[1]+"/"+fs[2]] = fs[3]
				case "==port":
					got[fs[1]+"/"+fs[2]] = fs[3]
				}
			}
			if !strings.Contains(out[lb.Name], "==cfgread") {
				return false, "cannot read " + cfg
			}
			if len(want) == 0 {
				// No server lines (a rollback restored the package's own
				// configuration): nothing can be on a wrong port.
				return true, ""
			}
			var why []string
			for _, k := range order {
				if got[k] != want[k] {
					why = append(why, fmt.Sprintf("%s on port %s, configured %s", k, orNone(got[k]), want[k]))
				}
			}
			return len(why) == 0, strings.Join(why, ", ")
		},
	}
}

// vipServed: each VIP that was served when the run began stays served.
func vipServed(t Target, f Fleet) []Gate {
	var lbs []*inventory.Host
	for _, h := range f.Connected() {
		if h.HasRole(inventory.RoleLB) {
			lbs = append(lbs, h)
		}
	}
	var out []Gate
	for _, v := range t.Cluster.VIPList() {
		served := false
		for _, h := range lbs {
			served = served || f.HoldsAddr(h.Name, v.Addr())
		}
		if served {
			g := oneVIPHolder(t.Cluster, v, lbs, false)
			g.Host = t.Host.Name
			out = append(out, g)
		}
	}
	return out
}

// HoldsAnyVIP reports whether lb h held one of the cluster's VIPs when the
// run began.
func HoldsAnyVIP(c *inventory.Cluster, h *inventory.Host, f Fleet) bool {
	for _, v := range c.VIPList() {
		if f.HoldsAddr(h.Name, v.Addr()) {
			return true
		}
	}
	return false
}

// FinalGates: once load balancers changed, exactly one holds each VIP at the
// end, allowing the tracker's rise for a freshly started haproxy.
func (Keepalived) FinalGates(t Target, f Fleet) []Gate {
	var lbs []*inventory.Host
	for _, h := range f.Connected() {
		if h.HasRole(inventory.RoleLB) {
			lbs = append(lbs, h)
		}
	}
	var out []Gate
	for _, v := range t.Cluster.VIPList() {
		out = append(out, oneVIPHolder(t.Cluster, v, lbs, true))
	}
	return out
}

// ListenChanges reports whether the plan changes the port web host h listens
// on (the file that holds Apache's Listen line changes).
func ListenChanges(h *inventory.Host, f Fleet) bool {
	d, err := distroFor(f.Facts(h.Name))
	return err == nil && f.ChangingFile(h.Name, d.listenFile())
}

// Serving reports whether web host h's web server was running when the run
// began (a cold host is in no rotation yet).
func Serving(h *inventory.Host, f Fleet) bool {
	d, err := distroFor(f.Facts(h.Name))
	return err == nil && f.Active(h.Name, d.WebService)
}
