package steps

import (
	"fmt"
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
	Instance        string
	State           string
	Interface       string
	VirtualRouterID int
	Priority        int
	AdvertInt       int
	AuthPass        string
	VIP             string
	HAProxyDownFile string
	PriorityFile    string
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
	PriorityFile, Dir, VIP, Handover string
	WaitS, Tries, TimeoutS           int
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
	state := "BACKUP"
	if m := c.Master(); m != nil && m.Name == h.Name {
		state = "MASTER"
	}
	m := keepalivedModel{
		RouterID: h.Name, Script: CheckScript,
		CheckInterval: c.VRRP.CheckInterval, CheckFall: c.VRRP.CheckFall, CheckRise: c.VRRP.CheckRise,
		CheckWeight: c.VRRP.CheckWeight,
		Instance:    VRRPInstance(c),
		State:       state, Interface: h.Interface, VirtualRouterID: c.VRRP.VirtualRouterID,
		Priority: h.Priority, AdvertInt: c.VRRP.AdvertInt, AuthPass: c.VRRP.AuthPass,
		VIP: c.VIPPrefix.String(), HAProxyDownFile: HAProxyDownFile, PriorityFile: PriorityFile,
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
	ho := handoverModel{PriorityFile: PriorityFile, Dir: StateDir, VIP: c.VIPAddr(), WaitS: int(wait / time.Second), Tries: int(wait / (200 * time.Millisecond)),
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

// VRRPInstance names the cluster's vrrp_instance in keepalived.conf (and in
// keepalived's data dump, which status reads).
func VRRPInstance(c *inventory.Cluster) string {
	return fmt.Sprintf("VI_%d", c.VRRP.VirtualRouterID)
}

// MasterDownBound is the longest a healthy backup should need to take the
// VIP after the master vanishes (no advert at all): 3 adverts plus skew,
// rounded up, plus the gratuitous ARP.
func MasterDownBound(c *inventory.Cluster) time.Duration {
	return time.Duration(3*c.VRRP.AdvertInt+1+1) * time.Second
}

// FaultBound is the longest a healthy backup should need to take the VIP once
// the master says it stops (keepalived stopping, or FAULT because haproxy
// stopped: a priority-0 advert): the best backup's skew time,
// (256 − priority)/256 × advert_int, plus 1 s for the gratuitous ARP and the
// observer's sampling.
func FaultBound(c *inventory.Cluster, master string) time.Duration {
	best := 0
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		if h.Name != master && h.Priority > best {
			best = h.Priority
		}
	}
	skew := time.Duration(float64(time.Second) * float64(c.VRRP.AdvertInt) * float64(256-best) / 256)
	return skew.Round(time.Millisecond) + time.Second
}
