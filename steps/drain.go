package steps

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// DefaultDrainTimeout bounds how long a web host's sessions may take to end
// once it is drained, before the change is aborted (never carried on).
const DefaultDrainTimeout = 30 * time.Second

// Draining through haproxy's runtime API, on every load balancer (admin state
// lives in each process): drain (no new load-balanced requests, existing and
// cookie-pinned ones finish) → wait until the server's current sessions are 0
// → maint (no traffic, no checks) → change the host → ready → back in
// rotation. A backend where the host is the only server keeps it (its
// reload is graceful); a backend whose other servers are all out of rotation
// is refused: draining would take the whole backend down.

// backendsOf lists the backends that have host h, and for each whether
// another server may carry its traffic.
func backendsOf(c *inventory.Cluster, h string) (shared, alone []string) {
	for _, b := range c.HAProxy.Backends {
		has, others := false, 0
		for _, s := range b.Servers {
			if s.Host == h {
				has = true
			} else if s.Weight > 0 {
				others++
			}
		}
		switch {
		case has && others > 0:
			shared = append(shared, b.Name)
		case has:
			alone = append(alone, b.Name)
		}
	}
	return shared, alone
}

// adminProbe sets h's state in the given backends on one lb, then prints,
// per backend, h's status and current sessions and the other servers'
// statuses: "==srv BACKEND SERVER SCUR STATUS".
func adminProbe(c *inventory.Cluster, h string, backends []string, state string, f Fleet) func(*inventory.Host) *shell.Script {
	return func(lb *inventory.Host) *shell.Script {
		sock := "UNIX-CONNECT:" + StatsSocket(f.Facts(lb.Name).Family)
		s := &shell.Script{}
		for _, b := range backends {
			if state != "" {
				s.Line(`echo %s | timeout 3 socat stdio %s >/dev/null 2>&1`, "set server "+b+"/"+h+" state "+state, sock)
			}
		}
		want := strings.Join(backends, ",")
		s.Line(`echo 'show stat' | timeout 3 socat stdio %s 2>/dev/null | awk -F, -v bs=%s 'BEGIN{n=split(bs,a,",");for(i=1;i<=n;i++)w[a[i]]=1} ($1 in w) && $2!="BACKEND" && $2!="FRONTEND" {print "==srv " $1 " " $2 " " $5 " " $18}'`, sock, want)
		return s
	}
}

type srvState struct {
	backend, server, status string
	scur                    int
}

func parseSrv(out string) []srvState {
	var st []srvState
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, "==srv ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " ", 4)
		if len(f) < 4 {
			continue
		}
		n, _ := strconv.Atoi(f[2])
		st = append(st, srvState{backend: f[0], server: f[1], scur: n, status: f[3]})
	}
	return st
}

// DrainGates take web host h out of rotation on every running haproxy and
// wait (at most timeout) until its sessions ended, then put it in
// maintenance. force allows draining the last server in rotation.
func DrainGates(c *inventory.Cluster, h *inventory.Host, lbs []*inventory.Host, f Fleet, timeout time.Duration, force bool) []Gate {
	shared, _ := backendsOf(c, h.Name)
	if len(lbs) == 0 || len(shared) == 0 {
		return nil
	}
	drain := Gate{
		Name: "drain", Host: h.Name, Observers: lbs, Bound: timeout,
		OK:    "drained on every load balancer (no sessions left)",
		Probe: adminProbe(c, h.Name, shared, "drain", f),
		// Drained: no session left and no new traffic, which haproxy shows
		// as DRAIN for a server that is up, but as DOWN for one whose checks
		// already fail (the admin state does not show then): anything but UP.
		Passed: func(out map[string]string) (bool, string) {
			var why []string
			for _, lb := range sortedNames(out) {
				for _, s := range parseSrv(out[lb]) {
					if s.server == h.Name && (s.scur > 0 || strings.HasPrefix(s.status, "UP")) {
						why = append(why, fmt.Sprintf("%s: %s/%s %s with %d session(s)", lb, s.backend, s.server, s.status, s.scur))
					}
				}
			}
			return len(why) == 0, strings.Join(why, "; ")
		},
	}
	// Look before draining: refuse while another server still carries the
	// backend's traffic nowhere (read-only probe, nothing set yet).
	look := Gate{
		Name: "drain-check", Host: h.Name, Observers: lbs, Bound: 5 * time.Second,
		OK:     "another server carries each backend",
		Probe:  adminProbe(c, h.Name, shared, "", f),
		Passed: func(map[string]string) (bool, string) { return true, "" },
	}
	if !force {
		look.Refuse = func(out map[string]string) string {
			for _, lb := range sortedNames(out) {
				// Only a host that serves now can leave a backend empty: one
				// already DOWN (a rebuilt host, a stopped Apache) takes
				// nothing away by draining.
				up, serving := map[string]bool{}, map[string]bool{}
				for _, s := range parseSrv(out[lb]) {
					if s.status != "UP" {
						continue
					}
					if s.server == h.Name {
						serving[s.backend] = true
					} else {
						up[s.backend] = true
					}
				}
				for _, b := range shared {
					if serving[b] && !up[b] {
						return fmt.Sprintf("draining %s would leave backend %s with no server in rotation on %s: bring another server back first (or --force)", h.Name, b, lb)
					}
				}
			}
			return ""
		}
	}
	maint := Gate{
		Name: "maint", Host: h.Name, Observers: lbs, Bound: 5 * time.Second,
		OK:    "in maintenance on every load balancer",
		Probe: adminProbe(c, h.Name, shared, "maint", f),
		Passed: func(out map[string]string) (bool, string) {
			return admin(out, h.Name, func(st string) bool { return strings.HasPrefix(st, "MAINT") })
		},
	}
	return []Gate{look, drain, maint}
}

// ReadyGate clears the admin state of h on every running haproxy (checks
// resume; the rotation gate then waits until it is UP and serving).
func ReadyGate(c *inventory.Cluster, h *inventory.Host, lbs []*inventory.Host, f Fleet) []Gate {
	shared, _ := backendsOf(c, h.Name)
	if len(lbs) == 0 || len(shared) == 0 {
		return nil
	}
	return []Gate{{
		Name: "ready", Host: h.Name, Observers: lbs, Bound: 5 * time.Second,
		OK:    "ready on every load balancer",
		Probe: adminProbe(c, h.Name, shared, "ready", f),
		Passed: func(out map[string]string) (bool, string) {
			return admin(out, h.Name, func(st string) bool { return !strings.HasPrefix(st, "MAINT") && !strings.HasPrefix(st, "DRAIN") })
		},
	}}
}

// admin reports whether h's status is good in every backend probed.
func admin(out map[string]string, h string, good func(status string) bool) (bool, string) {
	var why []string
	for _, lb := range sortedNames(out) {
		for _, s := range parseSrv(out[lb]) {
			if s.server == h && !good(s.status) {
				why = append(why, fmt.Sprintf("%s: %s/%s %s", lb, s.backend, s.server, s.status))
			}
		}
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// Before: a web host is drained and in maintenance before it changes.
func (Web) Before(t Target, f Fleet) []Gate {
	return DrainGates(t.Cluster, t.Host, RunningHAProxy(f.Connected(), f), f, DrainTimeout(f), false)
}

// DrainTimeout is the operator's --drain-timeout, when the fleet carries one.
func DrainTimeout(f Fleet) time.Duration {
	if d, ok := f.(interface{ DrainTimeout() time.Duration }); ok && d.DrainTimeout() > 0 {
		return d.DrainTimeout()
	}
	return DefaultDrainTimeout
}
