// Package status reads, in one program per host, what an operator asks first:
// who holds the VIP, each load balancer's VRRP state and effective priority,
// each backend server's state and sessions on every haproxy, the daemons'
// versions; with the snapshot the engine already read (the last run) and the
// plan it computes from it (drift). It changes nothing and takes no lock.
package status

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

// Unknown is shown for whatever could not be read.
const Unknown = "unknown"

// Fleet is what status needs of a runner opened without the lock: one
// program per host, the snapshot Open read and the plan computed from it.
// provision.Runner is one.
type Fleet interface {
	Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error)
	Snapshot(host string) *provision.Snapshot
	PlanOf(host string) (*provision.HostPlan, error)
	RoundTrips() map[string]int64
}

// Report is the cluster's status, as data.
type Report struct {
	Cluster string `json:"cluster"`
	File    string `json:"file"`
	VIP     string `json:"vip"`
	// Holders are the load balancers that hold the VIP now (one is healthy).
	Holders []string `json:"vip_holders"`
	// VIPs is every VIP with its holders, the first one included (several
	// with vips:; each must have exactly one holder).
	VIPs    []VIPHolders `json:"vips"`
	LBs     []LB         `json:"lbs"`
	Servers []Server     `json:"servers"`
	Hosts   []Host       `json:"hosts"`
	// Changes is what `plan` would change, over every host read (drift).
	Changes int `json:"changes"`
	// Problems name each host whose status program could not run.
	Problems []string `json:"problems,omitempty"`
}

// VIPHolders is one VIP and the load balancers holding it now.
type VIPHolders struct {
	VIP     string   `json:"vip"`
	Holders []string `json:"holders"`
}

// LB is one load balancer's VRRP side (its state and priorities are those
// of the first VIP's instance).
type LB struct {
	Host string `json:"host"`
	// VIP is "held", "free" or Unknown.
	VIP string `json:"vip"`
	// State is keepalived's: MASTER, BACKUP, FAULT, ... or Unknown (Why says why).
	State string `json:"state"`
	// Priority is the effective one (base minus failed trackers); Base the
	// running config's; Configured the inventory's. 0 when unknown.
	Priority   int    `json:"priority"`
	Base       int    `json:"base_priority"`
	Configured int    `json:"configured_priority"`
	Why        string `json:"why,omitempty"`
	// StatsWhy says why haproxy's servers could not be read on this lb.
	StatsWhy string `json:"stats_why,omitempty"`
	// LastChange is the newest VRRP transition the notify script logged,
	// "STATE at TIME", with any notify hook that failed for it ("" = none).
	LastChange string `json:"last_change,omitempty"`
	// Instances are the VRRP instances of the VIPs after the first (vips:).
	Instances []Instance `json:"instances,omitempty"`
}

// Instance is one more VIP's vrrp_instance on a load balancer.
type Instance struct {
	Instance   string `json:"instance"`
	VIP        string `json:"vip"`  // the address
	Held       string `json:"held"` // "held", "free" or Unknown
	State      string `json:"state"`
	Priority   int    `json:"priority"`
	Base       int    `json:"base_priority"`
	Configured int    `json:"configured_priority"`
	Why        string `json:"why,omitempty"`
}

// Server is one server of a backend as one load balancer's haproxy sees it.
type Server struct {
	Backend string `json:"backend"`
	Server  string `json:"server"`
	LB      string `json:"lb"`
	// Status is haproxy's: UP, DOWN, DRAIN, MAINT, "UP 1/3"... or Unknown.
	Status   string `json:"status"`
	Sessions int    `json:"sessions"`
}

// Host is one host's versions, last run and drift.
type Host struct {
	Host     string    `json:"host"`
	Roles    []string  `json:"roles"`
	Versions []Version `json:"versions"`
	LastRun  *Run      `json:"last_run,omitempty"`
	// Changes is what plan would change here; DriftWhy is set when the plan
	// could not be computed.
	Changes  int    `json:"changes"`
	DriftWhy string `json:"drift_problem,omitempty"`
	// Lock is who holds the cluster lock on the host ("" = free).
	Lock string `json:"lock,omitempty"`
	// RoundTrips this command made to the host (snapshot + status).
	RoundTrips int64 `json:"round_trips"`
}

// Version is a daemon's version: the first line it prints, and the number.
type Version struct {
	Program string `json:"program"`
	Version string `json:"version"` // Unknown when not installed or unreadable
	Line    string `json:"line,omitempty"`
}

// Run is the newest run recorded on a host.
type Run struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	By     string `json:"by,omitempty"`
}

// Where keepalived writes its pid and, on its data signal, its state. The dump
// holds the VRRP password (mode 0600): the program prints only two fields of
// it and removes it.
const (
	keepalivedPid  = "/run/keepalived.pid"
	keepalivedData = "/tmp/keepalived.data"
)

// vrrpAwk prints the state and priorities of one vrrp_instance from
// keepalived's data dump: "==vrrp STATE EFFECTIVE BASE". Other sections also
// have "State =" lines (scripts, interfaces): only the instance's count.
const vrrpAwk = `$1 == "VRRP" && $2 == "Instance" { on = ($4 == inst); if (on) seen = 1; next }
/^------</ { on = 0 }
on && st == "" && $1 == "State" && $2 == "=" { st = $3 }
on && pr == "" && $1 == "Effective" && $2 == "priority" { pr = $4 }
on && bp == "" && $1 == "Priority" && $2 == "=" { bp = $3 }
END { if (!seen) print "==vrrp unknown no vrrp_instance " inst " in keepalived's data (not applied yet?)"; else print "==vrrp " st " " pr " " bp }`

// statAwk prints every server of haproxy's "show stat" CSV: "==srv BACKEND
// SERVER SCUR STATUS" (status last: it may hold spaces, "UP 1/3").
const statAwk = `$1 !~ /^#/ && NF >= 18 && $2 != "FRONTEND" && $2 != "BACKEND" { print "==srv " $1 " " $2 " " $5 " " $18 }`

// Program is the one status program for h; family is its snapshot's.
func Program(c *inventory.Cluster, h *inventory.Host, family string) *shell.Script {
	s := &shell.Script{}
	s.Raw(`PATH="$PATH:/usr/sbin:/sbin"; echo ==status`)
	// The first line each prints (keepalived prints it on stderr).
	ver := func(bin, arg string) {
		s.Raw(`if command -v ` + bin + ` >/dev/null 2>&1; then printf '==ver ` + bin + ` %s\n' "$(` + bin + ` ` + arg + ` 2>&1 | head -n 1)"; else echo '==ver ` + bin + `'; fi`)
	}
	if h.HasRole(inventory.RoleWeb) {
		// apache2 on Debian, httpd on RHEL: whichever is there.
		s.Raw(`v=; for b in apache2 httpd; do if command -v $b >/dev/null 2>&1; then v=$($b -v 2>&1 | head -n 1); break; fi; done; printf '==ver apache %s\n' "$v"`)
	}
	if !h.HasRole(inventory.RoleLB) {
		s.Raw(":")
		return s
	}
	ver("haproxy", "-v")
	ver("keepalived", "--version")
	// keepalived dumps its state on its data signal (USR1 in 2.x); the file
	// appears, then grows: it is read once its size holds still.
	s.Line(`pid=$(cat %s 2>/dev/null); [ -n "$pid" ] || pid=$(systemctl show -p MainPID --value keepalived 2>/dev/null); [ "$pid" != 0 ] || pid=`, keepalivedPid)
	s.Raw(`if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then echo '==vrrp unknown keepalived is not running'; else`)
	s.Raw(`sig=$(keepalived --signum=DATA 2>/dev/null); case "$sig" in ''|*[!0-9]*) sig=USR1;; esac`)
	// Under PrivateTmp keepalived's /tmp is only seen through its root.
	s.Line(`d1=%s; d2="/proc/$pid/root"%s; rm -f "$d1" "$d2"; kill -"$sig" "$pid"`, keepalivedData, keepalivedData)
	s.Raw(`f=; n=-1; i=0; while [ $i -lt 30 ]; do for x in "$d1" "$d2"; do if [ -z "$f" ] && [ -s "$x" ]; then f=$x; fi; done; if [ -n "$f" ]; then m=$(wc -c < "$f"); [ "$m" = "$n" ] && break; n=$m; fi; i=$((i+1)); sleep 0.1; done`)
	more := ""
	for _, v := range extraVIPs(c) {
		// The same program per instance, its line renamed "==vrrpn INSTANCE ...".
		in := steps.VRRPInstance(v)
		more += fmt.Sprintf(`awk -v inst=%s %s "$f" | sed 's/^==vrrp /==vrrpn %s /'; `, shell.Quote(in), shell.Quote(vrrpAwk), in)
	}
	s.Line(`if [ -n "$f" ]; then awk -v inst=%s %s "$f"; `+strings.ReplaceAll(more, "%", "%%")+`rm -f "$f"; else echo '==vrrp unknown keepalived wrote no data dump within 3s'; fi; fi`, firstInstance(c), vrrpAwk)
	// Read right after the dump, not before its wait: a VRRP transition in
	// between would show a state and a VIP from different moments.
	s.Line(`if ip -o -4 addr show 2>/dev/null | grep -qF %s; then echo '==vip held'; else echo '==vip free'; fi`, " "+c.VIPAddr()+"/")
	for _, v := range extraVIPs(c) {
		s.Line(`if ip -o -4 addr show 2>/dev/null | grep -qF %s; then echo '==vipn '%s' held'; fi`, " "+v.Addr()+"/", v.Addr())
	}
	// The newest transition and its hooks' outcomes (a few lines after it).
	s.Line(`tail -n 20 %s 2>/dev/null | sed 's/^/==trans /'`, steps.TransitionLog)
	sock := steps.StatsSocket(family)
	s.Line(`if [ ! -S %s ]; then echo '==stats unknown no stats socket (is haproxy running?)'; elif out=$(echo 'show stat' | timeout 3 socat stdio %s 2>&1); then printf '%%s\n' "$out" | awk -F, %s; echo '==stats ok'; else printf '==stats unknown %%s\n' "$(printf '%%s' "$out" | head -n 1)"; fi`,
		sock, "UNIX-CONNECT:"+sock, statAwk)
	s.Raw(":")
	return s
}

// hostOut is what one host's program printed.
type hostOut struct {
	ran      bool
	versions map[string]string // program → first line ("" = not installed)
	vip      string
	moreVIPs map[string]bool // held, of the VIPs after the first
	more     map[string]Instance
	state    string
	prio     int
	base     int
	why      string
	stats    string // "ok" or Unknown + why
	servers  []Server
	trans    []string // transition log lines
}

// Parse reads Program's output.
func parse(out string) hostOut {
	o := hostOut{versions: map[string]string{}, vip: Unknown, state: Unknown}
	for _, l := range strings.Split(out, "\n") {
		tag, rest, _ := strings.Cut(l, " ")
		switch tag {
		case "==status":
			o.ran = true
		case "==ver":
			name, line, _ := strings.Cut(rest, " ")
			o.versions[name] = strings.TrimSpace(line)
		case "==vip":
			o.vip = rest
		case "==vipn":
			if a, st, _ := strings.Cut(rest, " "); st == "held" {
				if o.moreVIPs == nil {
					o.moreVIPs = map[string]bool{}
				}
				o.moreVIPs[a] = true
			}
		case "==vrrpn":
			inst, r, _ := strings.Cut(rest, " ")
			if o.more == nil {
				o.more = map[string]Instance{}
			}
			o.more[inst] = parseInstance(r)
		case "==vrrp":
			f := strings.Fields(rest)
			if len(f) > 0 && f[0] == Unknown {
				o.why = strings.TrimSpace(strings.TrimPrefix(rest, Unknown))
				continue
			}
			if len(f) != 3 || f[0] == "" {
				o.why = "keepalived's data has no state for the instance"
				continue
			}
			o.state = f[0]
			o.prio, _ = strconv.Atoi(f[1])
			o.base, _ = strconv.Atoi(f[2])
		case "==srv":
			f := strings.SplitN(rest, " ", 4)
			if len(f) < 4 {
				continue
			}
			n, _ := strconv.Atoi(f[2])
			o.servers = append(o.servers, Server{Backend: f[0], Server: f[1], Sessions: n, Status: strings.TrimSpace(f[3])})
		case "==stats":
			o.stats = rest
		case "==trans":
			o.trans = append(o.trans, rest)
		}
	}
	return o
}

// lastChange says when the newest transition happened (of which instance,
// when there are several) and names each hook that failed for it.
func lastChange(lines []string, withInstance bool) string {
	tr := steps.ParseTransitions(strings.Join(lines, "\n"))
	last := -1
	for i, t := range tr {
		if t.Kind == "transition" {
			last = i
		}
	}
	if last < 0 {
		return ""
	}
	t := tr[last]
	out := t.State + " at " + t.Time
	if withInstance {
		out = t.Instance + " " + out
	}
	for _, h := range tr[last+1:] {
		if h.Kind != "transition" && h.Instance == t.Instance && h.State == t.State && !h.HookOK() {
			out += ", " + h.Kind + " failed (" + h.Detail + ")"
		}
	}
	return out
}

// parseInstance reads one "STATE EFFECTIVE BASE" (or "unknown WHY") line.
func parseInstance(rest string) Instance {
	in := Instance{State: Unknown}
	f := strings.Fields(rest)
	switch {
	case len(f) > 0 && f[0] == Unknown:
		in.Why = strings.TrimSpace(strings.TrimPrefix(rest, Unknown))
	case len(f) != 3:
		in.Why = "keepalived's data has no state for the instance"
	default:
		in.State = f[0]
		in.Priority, _ = strconv.Atoi(f[1])
		in.Base, _ = strconv.Atoi(f[2])
	}
	return in
}

var versionRE = regexp.MustCompile(`v?([0-9]+\.[0-9]+(?:\.[0-9]+)?(?:[-+~][0-9A-Za-z.+~-]*)?)`)

// shortVersion is the version number in a program's first line:
// "HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://haproxy.org/" →
// "2.6.12-1+deb12u1", "Keepalived v2.2.7 (01/16,2022)" → "2.2.7",
// "Server version: Apache/2.4.57 (Debian)" → "2.4.57".
func shortVersion(line string) string {
	if m := versionRE.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	if line == "" {
		return Unknown
	}
	return line
}

// Collect runs the status program on every host at once and puts it together
// with the snapshots and plans the runner has: one round trip per host on top
// of the snapshot. A host whose program cannot run is named in Problems and
// shown as unknown.
func Collect(ctx context.Context, f Fleet, c *inventory.Cluster, hosts []*inventory.Host) *Report {
	outs := make([]hostOut, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			family := ""
			if sn := f.Snapshot(h.Name); sn != nil {
				family = sn.Facts.Family
			}
			res, err := f.Exec(ctx, h.Name, Program(c, h, family))
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
			}
			outs[i], errs[i] = parse(string(res.Stdout)), err
			if err == nil && !outs[i].ran {
				errs[i] = fmt.Errorf("the status program printed nothing")
			}
		}()
	}
	wg.Wait()

	rep := &Report{Cluster: c.Name, File: c.File, VIP: c.VIPAddr(), Holders: []string{}}
	var lbs []*inventory.Host
	for i, h := range hosts {
		o := outs[i]
		if errs[i] != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: status: %v", h.Name, errs[i]))
			o.why, o.stats = "the status program did not run", Unknown
		}
		rep.Hosts = append(rep.Hosts, hostStatus(f, h, o))
		if !h.HasRole(inventory.RoleLB) {
			continue
		}
		lbs = append(lbs, h)
		lb := LB{Host: h.Name, VIP: o.vip, State: o.state, Priority: o.prio, Base: o.base, Configured: h.Priority, Why: o.why,
			LastChange: lastChange(o.trans, len(c.VIPList()) > 1)}
		if vs := c.VIPList(); len(vs) > 0 {
			lb.Configured = c.VIPPriority(vs[0], h)
		}
		for _, v := range extraVIPs(c) {
			in, ok := o.more[steps.VRRPInstance(v)]
			if !ok {
				in = Instance{State: Unknown, Why: o.why}
			}
			in.Instance, in.VIP, in.Configured = steps.VRRPInstance(v), v.Addr(), c.VIPPriority(v, h)
			in.Held = "free"
			switch {
			case errs[i] != nil:
				in.Held = Unknown
			case o.moreVIPs[v.Addr()]:
				in.Held = "held"
			}
			lb.Instances = append(lb.Instances, in)
		}
		if o.stats != "ok" {
			lb.StatsWhy = strings.TrimSpace(strings.TrimPrefix(o.stats, Unknown))
			if lb.StatsWhy == "" {
				lb.StatsWhy = "haproxy's stats were not read"
			}
		}
		if o.vip == "held" {
			rep.Holders = append(rep.Holders, h.Name)
		}
		rep.LBs = append(rep.LBs, lb)
	}
	rts := f.RoundTrips()
	for i := range rep.Hosts {
		rep.Hosts[i].RoundTrips = rts[rep.Hosts[i].Host]
		rep.Changes += rep.Hosts[i].Changes
	}
	rep.Servers = servers(c, lbs, outs, hosts)
	rep.VIPs = []VIPHolders{{VIP: rep.VIP, Holders: rep.Holders}}
	for _, v := range extraVIPs(c) {
		vh := VIPHolders{VIP: v.Addr(), Holders: []string{}}
		for i, h := range hosts {
			if h.HasRole(inventory.RoleLB) && outs[i].moreVIPs[v.Addr()] {
				vh.Holders = append(vh.Holders, h.Name)
			}
		}
		rep.VIPs = append(rep.VIPs, vh)
	}
	return rep
}

func hostStatus(f Fleet, h *inventory.Host, o hostOut) Host {
	hs := Host{Host: h.Name, Roles: h.Roles, Versions: []Version{}}
	var progs []string
	if h.HasRole(inventory.RoleLB) {
		progs = append(progs, "haproxy", "keepalived")
	}
	if h.HasRole(inventory.RoleWeb) {
		progs = append(progs, "apache")
	}
	for _, p := range progs {
		line := o.versions[p]
		hs.Versions = append(hs.Versions, Version{Program: p, Version: shortVersion(line), Line: line})
	}
	if sn := f.Snapshot(h.Name); sn != nil {
		hs.Lock = sn.Lock
		for _, r := range sn.Runs {
			// Run IDs are UTC timestamps: the greatest is the newest.
			if hs.LastRun == nil || r.ID > hs.LastRun.ID {
				hs.LastRun = &Run{ID: r.ID, Status: r.Status, By: r.Meta}
			}
		}
	}
	hp, err := f.PlanOf(h.Name)
	if err != nil {
		hs.DriftWhy = err.Error()
	} else {
		hs.Changes = hp.Changes()
	}
	return hs
}

// servers lists every inventory server on every lb (in inventory order), then
// any a haproxy reports that the inventory does not have (a stale config).
func servers(c *inventory.Cluster, lbs []*inventory.Host, outs []hostOut, hosts []*inventory.Host) []Server {
	seen := map[string]map[string]Server{} // lb → backend/server → what it reports
	for i, h := range hosts {
		if !h.HasRole(inventory.RoleLB) {
			continue
		}
		seen[h.Name] = map[string]Server{}
		for _, sv := range outs[i].servers {
			seen[h.Name][sv.Backend+"/"+sv.Server] = sv
		}
	}
	var out []Server
	known := map[string]bool{}
	for _, b := range c.HAProxy.Backends {
		for _, s := range b.Servers {
			k := b.Name + "/" + s.Host
			known[k] = true
			for _, lb := range lbs {
				sv, ok := seen[lb.Name][k]
				if !ok {
					sv = Server{Backend: b.Name, Server: s.Host, Status: Unknown}
				}
				sv.LB = lb.Name
				out = append(out, sv)
			}
		}
	}
	var extra []Server
	for _, lb := range lbs {
		for k, sv := range seen[lb.Name] {
			if !known[k] {
				sv.LB = lb.Name
				extra = append(extra, sv)
			}
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		a, b := extra[i], extra[j]
		if a.Backend+"/"+a.Server != b.Backend+"/"+b.Server {
			return a.Backend+"/"+a.Server < b.Backend+"/"+b.Server
		}
		return a.LB < b.LB
	})
	return append(out, extra...)
}

// extraVIPs are the VIPs after the first (vips:), each reported on its own.
func extraVIPs(c *inventory.Cluster) []*inventory.VIP {
	if len(c.VIPList()) <= 1 {
		return nil
	}
	return c.VIPList()[1:]
}

// firstInstance names the first VIP's vrrp_instance, whose state status shows.
func firstInstance(c *inventory.Cluster) string {
	if len(c.VIPList()) == 0 {
		return steps.VRRPInstance(&inventory.VIP{VirtualRouterID: c.VRRP.VirtualRouterID})
	}
	return steps.VRRPInstance(c.VIPList()[0])
}
