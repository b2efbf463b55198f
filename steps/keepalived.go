package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// Keepalived holds the VIP on the healthiest load balancer. The tracker really
// connects to haproxy's frontend (the article's `killall -0` needs psmisc, and
// proves only that a process exists); vrrp_track_process is not used because
// the kernel's process connector it relies on is unavailable in containers.
type Keepalived struct{}

func (Keepalived) Name() string                   { return "keepalived" }
func (Keepalived) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleLB) }

type keepalivedModel struct {
	RouterID        string
	Script          string
	CheckInterval   int
	CheckFall       int
	CheckRise       int
	CheckWeight     int
	Interface       string
	AdvertInt       int
	AuthPass        string
	HAProxyDownFile string
	PriorityFile    string
	// One vrrp_instance per VIP. Every instance tracks the same files: a
	// stopped haproxy faults them all (every VIP leaves), and switchover's
	// and the handover's priority offset lowers them all alike.
	Instances []instanceModel
}

type instanceModel struct {
	Instance        string
	State           string
	VirtualRouterID int
	Priority        int
	VIP             string
	// Unicast adverts: this lb's own address and the other lbs'.
	UnicastSrc   string
	UnicastPeers []string
}

// Track files keepalived watches with inotify. They live in hadeploy's state
// folder, which must exist before keepalived loads its config.
const (
	StateDir        = "/var/lib/hadeploy"
	HAProxyDownFile = StateDir + "/haproxy-down"
	PriorityFile    = StateDir + "/vrrp-priority"
)

// Activation: systemd reads the drop-in; the track files' folder exists
// before keepalived (re)loads.
func (Keepalived) Activation(Target) string {
	return "systemctl daemon-reload && mkdir -p " + shell.Quote(StateDir)
}

// The handover before keepalived stops: a script and the drop-in that runs it.
const (
	HandoverScript   = "/usr/local/libexec/hadeploy/keepalived-handover"
	KeepalivedDropIn = "/etc/systemd/system/keepalived.service.d/10-hadeploy.conf"
)

type handoverModel struct {
	PriorityFile, Dir, Handover string
	// VIPGrep is grep -F's pattern argument(s) matching any of the VIPs in
	// `ip -o addr` output, already quoted for the shell.
	VIPGrep                string
	WaitS, Tries, TimeoutS int
}

type checkScriptModel struct {
	Port int
}

func (Keepalived) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	c, h := t.Cluster, t.Host
	m := keepalivedModel{
		RouterID: h.Name, Script: CheckScript,
		CheckInterval: c.VRRP.CheckInterval, CheckFall: c.VRRP.CheckFall, CheckRise: c.VRRP.CheckRise,
		CheckWeight: c.VRRP.CheckWeight,
		Interface:   h.Interface, AdvertInt: c.VRRP.AdvertInt, AuthPass: c.VRRP.AuthPass,
		HAProxyDownFile: HAProxyDownFile, PriorityFile: PriorityFile,
	}
	var peers []string
	if c.VRRP.Unicast {
		for _, o := range c.HostsWithRole(inventory.RoleLB) {
			if o.Name != h.Name {
				peers = append(peers, o.Address)
			}
		}
	}
	var greps []string
	for _, v := range c.VIPList() {
		state := "BACKUP"
		if vm := c.VIPMaster(v); vm != nil && vm.Name == h.Name {
			state = "MASTER"
		}
		in := instanceModel{Instance: VRRPInstance(v), State: state, VirtualRouterID: v.VirtualRouterID,
			Priority: c.VIPPriority(v, h), VIP: v.Prefix.String()}
		if c.VRRP.Unicast {
			in.UnicastSrc, in.UnicastPeers = h.Address, peers
		}
		m.Instances = append(m.Instances, in)
		greps = append(greps, shell.Quote(" "+v.Addr()+"/"))
	}
	vipGrep := strings.Join(greps, " ")
	if len(greps) > 1 {
		vipGrep = "-e " + strings.Join(greps, " -e ")
	}
	conf, err := render("keepalived.conf.tmpl", m)
	if err != nil {
		return nil, err
	}
	script, err := render("check-haproxy.sh.tmpl", checkScriptModel{Port: c.HAProxy.Port})
	if err != nil {
		return nil, err
	}
	wait := MasterDownBound(c) + time.Second
	ho := handoverModel{PriorityFile: PriorityFile, Dir: StateDir, VIPGrep: vipGrep, WaitS: int(wait / time.Second), Tries: int(wait / (200 * time.Millisecond)),
		Handover: HandoverScript, TimeoutS: int(wait/time.Second) + 10}
	handover, err := render("keepalived-handover.sh.tmpl", ho)
	if err != nil {
		return nil, err
	}
	dropIn, err := render("keepalived-dropin.conf.tmpl", ho)
	if err != nil {
		return nil, err
	}
	return &Desired{
		Step:     "keepalived",
		Packages: []string{"keepalived"},
		// The script must exist before keepalived -t looks at the config.
		Files: []File{
			{Path: CheckScript, Content: script, Mode: 0o755, Owner: "root:root"},
			{Path: d.KeepalivedCfg, Content: conf, Mode: 0o640, Owner: "root:root",
				Validate: "keepalived -t -f %s", SecretLines: []string{"auth_pass"}},
			{Path: HandoverScript, Content: handover, Mode: 0o755, Owner: "root:root", Validate: "bash -n %s"},
			{Path: KeepalivedDropIn, Content: dropIn, Mode: 0o644, Owner: "root:root"},
		},
		Services: []Service{{Name: "keepalived", OnChange: Reload}},
	}, nil
}

// VRRPInstance names a VIP's vrrp_instance in keepalived.conf (and in
// keepalived's data dump, which status reads).
func VRRPInstance(v *inventory.VIP) string {
	return fmt.Sprintf("VI_%d", v.VirtualRouterID)
}

// MasterDownBound is the longest a healthy backup should need to take the
// VIP after the master vanishes (no advert at all): 3 adverts plus skew,
// rounded up, plus the gratuitous ARP.
func MasterDownBound(c *inventory.Cluster) time.Duration {
	return time.Duration(3*c.VRRP.AdvertInt+1+1) * time.Second
}

// FaultBound is the longest a healthy backup should need to take VIP v once
// its holder says it stops (keepalived stopping, or FAULT because haproxy
// stopped: a priority-0 advert): the best backup's skew time in v's instance,
// (256 − priority)/256 × advert_int, plus 1 s for the gratuitous ARP and the
// observer's sampling.
func FaultBound(c *inventory.Cluster, v *inventory.VIP, master string) time.Duration {
	return skewTime(c, v, master) + time.Second
}

// CrashBound is the longest a healthy backup should need to take VIP v when
// its holder vanishes without a word (frozen or cut off, no priority-0
// advert): the best backup's master-down interval, 3 × advert_int plus its
// skew time, plus 0.3 s for the gratuitous ARP and the observer's sampling.
func CrashBound(c *inventory.Cluster, v *inventory.VIP, master string) time.Duration {
	adv := time.Duration(c.VRRP.AdvertInt) * time.Second
	return 3*adv + skewTime(c, v, master) + 300*time.Millisecond
}

// skewTime is the skew time of VIP v's best backup when master holds it,
// (256 − priority)/256 × advert_int, to the millisecond.
func skewTime(c *inventory.Cluster, v *inventory.VIP, master string) time.Duration {
	best := 0
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		if p := c.VIPPriority(v, h); h.Name != master && p > best {
			best = p
		}
	}
	adv := time.Duration(c.VRRP.AdvertInt) * time.Second
	return (adv * time.Duration(256-best) / 256).Round(time.Millisecond)
}
