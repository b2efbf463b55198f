package steps

import (
	"fmt"
	"path/filepath"
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
	RouterID      string
	Script        string
	CheckInterval int
	CheckFall     int
	CheckRise     int
	CheckWeight   int
	Interface     string
	// AdvertInt as keepalived.conf writes it; Version 3 renders
	// vrrp_version (2, keepalived's default, renders nothing).
	AdvertInt       string
	Version         int
	AuthPass        string
	HAProxyDownFile string
	PriorityFile    string
	Notify          string
	Email           []string
	EmailFrom       string
	SMTPHost        string
	SMTPPort        int
	SMTPTimeout     int
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
	// TransitionLog is where the notify script records every VRRP state
	// change and each hook's outcome (see ParseTransitions).
	TransitionLog = StateDir + "/vrrp-transitions.log"
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

// keepalived's notify script, and the curl config that holds the webhook URL
// (a secret: root's only, masked whole in plans).
const (
	NotifyScript  = "/usr/local/libexec/hadeploy/vrrp-notify"
	webhookConfig = "hadeploy-webhook.curlrc"
)

// Bounds of the hooks, so a hung script or endpoint never piles up.
const (
	notifyScriptTimeout = 30 * time.Second
	webhookTimeout      = 10 * time.Second
	webhookRetry        = 30 * time.Second
)

// NotifyHookBound is the longest a notify hook may run before it records its
// outcome: the script's timeout, or the webhook's tries (with 1 s and 2 s
// back-off), plus a second of slack.
func NotifyHookBound() time.Duration {
	return max(notifyScriptTimeout, webhookRetry+webhookTimeout) + time.Second
}

// notifyModel renders vrrp-notify.sh.tmpl; every value is shell-quoted.
type notifyModel struct {
	Log, Host, Script, Timeout, Curl, Webhook, WebhookConfig string
	ScriptTimeoutS, WebhookTimeoutS, WebhookRetryS           int
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
		Interface:   h.Interface, AdvertInt: c.VRRP.AdvertText(), Version: c.VRRP.Version, AuthPass: c.VRRP.AuthPass,
		HAProxyDownFile: HAProxyDownFile, PriorityFile: PriorityFile,
		Notify: NotifyScript,
	}
	n := c.VRRP.Notify
	if len(n.Email) > 0 {
		m.Email, m.EmailFrom, m.SMTPHost, m.SMTPPort, m.SMTPTimeout = n.Email, n.EmailFrom, n.SMTPHost, n.SMTPPort, n.SMTPConnectTimeout
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
	curlrc := filepath.Join(filepath.Dir(d.KeepalivedCfg), webhookConfig)
	notify, err := render("vrrp-notify.sh.tmpl", notifyModelFor(c, h, curlrc))
	if err != nil {
		return nil, err
	}
	// Always managed, so that removing the webhook from the inventory also
	// removes the URL from the host.
	hook := []byte("# Managed by hadeploy: no webhook (vrrp.notify.webhook) is configured.\n")
	if n.Webhook != "" {
		// curl's config syntax; the inventory refuses quotes and backslashes.
		hook = []byte("# Managed by hadeploy: the webhook " + NotifyScript + " POSTs to.\nurl = \"" + n.Webhook + "\"\n")
	}
	// The operator's script must exist before keepalived may run it.
	notifyCheck := "bash -n %s"
	if n.Script != "" {
		notifyCheck += " && { test -x " + shell.Quote(n.Script) + " || { echo " + shell.Quote("vrrp.notify.script "+n.Script+" is not an executable file on this host") + "; false; }; }"
	}
	pkgs := []string{"keepalived"}
	if n.Webhook != "" && d.CurlPackage != "" {
		pkgs = append(pkgs, d.CurlPackage)
	}
	return &Desired{
		Step:     "keepalived",
		Packages: pkgs,
		// The scripts must exist before keepalived -t looks at the config.
		Files: []File{
			{Path: CheckScript, Content: script, Mode: 0o755, Owner: "root:root"},
			{Path: NotifyScript, Content: notify, Mode: 0o755, Owner: "root:root", Validate: notifyCheck},
			{Path: curlrc, Content: hook, Mode: 0o600, Owner: "root:root", Secret: true},
			{Path: d.KeepalivedCfg, Content: conf, Mode: 0o640, Owner: "root:root",
				Validate: "keepalived -t -f %s", SecretLines: []string{"auth_pass"}},
			{Path: HandoverScript, Content: handover, Mode: 0o755, Owner: "root:root", Validate: "bash -n %s"},
			{Path: KeepalivedDropIn, Content: dropIn, Mode: 0o644, Owner: "root:root"},
		},
		Services: []Service{{Name: "keepalived", OnChange: Reload}},
	}, nil
}

func notifyModelFor(c *inventory.Cluster, h *inventory.Host, curlrc string) notifyModel {
	n := c.VRRP.Notify
	m := notifyModel{Log: shell.Quote(TransitionLog), Host: shell.Quote(h.Name), Timeout: "/usr/bin/timeout",
		ScriptTimeoutS: int(notifyScriptTimeout / time.Second), WebhookTimeoutS: int(webhookTimeout / time.Second),
		WebhookRetryS: int(webhookRetry / time.Second)}
	if n.Script != "" {
		m.Script = shell.Quote(n.Script)
	}
	if n.Webhook != "" {
		// The template only needs to know there is one: the URL stays in curlrc.
		m.Webhook, m.Curl, m.WebhookConfig = "yes", "/usr/bin/curl", shell.Quote(curlrc)
	}
	return m
}

// VRRPInstance names a VIP's vrrp_instance in keepalived.conf (and in
// keepalived's data dump, which status reads).
func VRRPInstance(v *inventory.VIP) string {
	return fmt.Sprintf("VI_%d", v.VirtualRouterID)
}

// MasterDownBound is the longest a healthy backup should need to take the
// VIP after the master vanishes (no advert at all): 3 adverts plus the skew
// (under one advert), plus 1 s for the gratuitous ARP and sampling.
func MasterDownBound(c *inventory.Cluster) time.Duration {
	return 4*c.VRRP.Advert() + time.Second
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
	adv := c.VRRP.Advert()
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
	adv := c.VRRP.Advert()
	return (adv * time.Duration(256-best) / 256).Round(time.Millisecond)
}

// Transition is one line of TransitionLog: a state change keepalived
// reported (Kind "transition", Detail the priority) or a hook's outcome
// (Kind "script": "exit=N"; "webhook": "http=NNN exit=N").
type Transition struct {
	Time, Kind, Instance, State, Detail string
}

// ParseTransitions reads TransitionLog lines, skipping any it cannot read (a
// line cut by a full disk).
func ParseTransitions(log string) []Transition {
	var out []Transition
	for _, line := range strings.Split(log, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 5)
		if len(f) < 4 {
			continue
		}
		t := Transition{Time: f[0], Kind: f[1], Instance: f[2], State: f[3]}
		if len(f) == 5 {
			t.Detail = f[4]
		}
		out = append(out, t)
	}
	return out
}

// HookOK reports whether a hook line says the hook succeeded: the script
// exited 0, the webhook answered 2xx.
func (t Transition) HookOK() bool {
	switch t.Kind {
	case "script":
		return t.Detail == "exit=0"
	case "webhook":
		return strings.HasPrefix(t.Detail, "http=2") && strings.HasSuffix(t.Detail, " exit=0")
	}
	return false
}

// VRRPTimingChanges reports whether the apply changes the VRRP version or
// advert_int of lbs whose keepalived runs, with more than one running: they
// must then change together, not one after the other with a VIP gate
// between them — peers with a different version or interval drop each
// other's adverts, and the one changed first would claim the VIP.
func VRRPTimingChanges(c *inventory.Cluster, lbs []*inventory.Host, f Fleet) bool {
	running, differs := 0, false
	for _, lb := range lbs {
		if !f.Active(lb.Name, "keepalived") {
			continue
		}
		running++
		if cfg, ok := distroFile(lb, f, func(d *distro) string { return d.KeepalivedCfg }); ok {
			v, a := vrrpTiming(cfg)
			differs = differs || v != c.VRRP.Version || a != c.VRRP.AdvertText()
		}
	}
	return running > 1 && differs
}

// vrrpTiming reads the VRRP version (2 unless vrrp_version says otherwise)
// and the first advert_int of a keepalived.conf.
func vrrpTiming(cfg string) (version int, advert string) {
	version = 2
	for _, l := range strings.Split(cfg, "\n") {
		fs := strings.Fields(l)
		if len(fs) < 2 {
			continue
		}
		switch fs[0] {
		case "vrrp_version":
			fmt.Sscan(fs[1], &version)
		case "advert_int":
			if advert == "" {
				advert = fs[1]
			}
		}
	}
	return version, advert
}
