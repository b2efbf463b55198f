package steps

import (
	"fmt"

	"github.com/hadeploy/hadeploy/inventory"
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
}

type checkScriptModel struct {
	Port int
}

func (Keepalived) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts.Family)
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
		Instance:    fmt.Sprintf("VI_%d", c.VRRP.VirtualRouterID),
		State:       state, Interface: h.Interface, VirtualRouterID: c.VRRP.VirtualRouterID,
		Priority: h.Priority, AdvertInt: c.VRRP.AdvertInt, AuthPass: c.VRRP.AuthPass,
		VIP: c.VIPPrefix.String(),
	}
	conf, err := render("keepalived.conf.tmpl", m)
	if err != nil {
		return nil, err
	}
	script, err := render("check-haproxy.sh.tmpl", checkScriptModel{Port: c.HAProxy.Port})
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
		},
		Services: []Service{{Name: "keepalived", OnChange: Reload}},
	}, nil
}

// DetectionBound is the longest a healthy backup should need to take the VIP
// after the master stops advertising: 3 adverts plus skew, rounded up, plus the
// gratuitous ARP. For a dead haproxy add interval*fall of the tracker.
func DetectionBound(c *inventory.Cluster, haproxyDead bool) (seconds int) {
	s := 3*c.VRRP.AdvertInt + 1 + 1
	if haproxyDead {
		s += c.VRRP.CheckInterval * (c.VRRP.CheckFall + 1)
	}
	return s
}
