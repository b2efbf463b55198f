// Package inventory is the typed model of a cluster: loading it from YAML with
// positions, defaults, and every validation rule. It does no I/O beyond reading
// the file, so nothing here can touch a host.
package inventory

import (
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Roles a host can have.
const (
	RoleWeb = "web"
	RoleLB  = "lb"
)

// Cluster is a validated inventory.
type Cluster struct {
	// File is the path the inventory was read from (for messages).
	File string `yaml:"-"`

	Name  string  `yaml:"name"`
	SSH   SSH     `yaml:"ssh"`
	Hosts []*Host `yaml:"hosts"`
	// VIP is the virtual address with its prefix length, e.g. 192.168.83.111/24
	// (the short form: one VIP, vrrp.virtual_router_id, master = highest priority).
	VIP string `yaml:"vip"`
	// VIPs is the long form: several VIPs, each its own VRRP instance with its
	// own router id and intended master (two VIPs, each lb master of one:
	// active-active). After validation it always holds every VIP, the short
	// form included.
	VIPs    []*VIP  `yaml:"vips"`
	VRRP    VRRP    `yaml:"vrrp"`
	Web     Web     `yaml:"web"`
	HAProxy HAProxy `yaml:"haproxy"`
	Time    Time    `yaml:"time"`
	// Backups is how many runs' backups are kept on each host.
	Backups int `yaml:"keep_backups"`

	// Derived after validation.
	VIPPrefix netip.Prefix `yaml:"-"`
	Warnings  []string     `yaml:"-"`
}

// SSH holds connection defaults; each host may override them.
type SSH struct {
	User         string `yaml:"user"`
	Port         int    `yaml:"port"`
	IdentityFile string `yaml:"identity_file"`
	// KnownHosts is an extra known_hosts file checked besides ~/.ssh/known_hosts.
	KnownHosts string `yaml:"known_hosts"`
	// ConnectTimeout in seconds, covering TCP connect and the SSH handshake.
	ConnectTimeout int `yaml:"connect_timeout"`
}

// Host is one machine.
type Host struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Roles   []string `yaml:"roles"`
	// SSH overrides for this host only (zero values mean "use the cluster's").
	User         string `yaml:"user"`
	Port         int    `yaml:"port"`
	IdentityFile string `yaml:"identity_file"`
	// Interface carries VRRP and the VIP (lb hosts).
	Interface string `yaml:"interface"`
	// Priority is the keepalived priority (lb hosts); the highest starts as MASTER.
	Priority int `yaml:"priority"`

	Line int `yaml:"-"`
}

// VIP is one virtual address and the VRRP instance that carries it.
type VIP struct {
	// Address is the VIP with its prefix length, e.g. 10.0.0.100/24.
	Address         string `yaml:"address"`
	VirtualRouterID int    `yaml:"virtual_router_id"`
	// Master names the lb host meant to hold this VIP: it gets the highest
	// priority in this VIP's instance.
	Master string `yaml:"master"`

	Line int `yaml:"-"`
	// Derived after validation.
	Prefix netip.Prefix `yaml:"-"`
}

// Addr is the VIP without prefix.
func (v *VIP) Addr() string { return v.Prefix.Addr().String() }

// VRRP configures keepalived.
type VRRP struct {
	// VirtualRouterID is the short form's router id (with vip).
	VirtualRouterID int `yaml:"virtual_router_id"`
	// Unicast sends adverts to the other lbs' addresses instead of the
	// multicast group (clouds and switched networks that drop multicast).
	Unicast bool `yaml:"unicast"`
	// Version is the VRRP version: 2 (the article's, the default) or 3
	// (RFC 5798: no authentication, advert_int in hundredths of a second).
	Version int `yaml:"version"`
	// AdvertInt is the seconds between adverts: whole seconds with version
	// 2, down to 0.01 with version 3 (sub-second failover).
	AdvertInt float64 `yaml:"advert_int"`
	// AuthPass is the VRRP PASS authentication (1..8 printable ASCII). Secret.
	AuthPass string `yaml:"auth_pass" secret:"true"`
	// CheckWeight is subtracted from a node's priority while its haproxy is down.
	CheckWeight int `yaml:"check_weight"`
	// CheckInterval and CheckFall tune the haproxy health tracker.
	CheckInterval int `yaml:"check_interval"`
	CheckFall     int `yaml:"check_fall"`
	CheckRise     int `yaml:"check_rise"`
	// Notify tells someone when an lb changes VRRP state.
	Notify Notify `yaml:"notify"`
}

// Advert is the advert interval.
func (v *VRRP) Advert() time.Duration {
	return time.Duration(math.Round(v.AdvertInt*100)) * 10 * time.Millisecond
}

// AdvertText is advert_int as keepalived.conf writes it ("1", "0.2").
func (v *VRRP) AdvertText() string { return strconv.FormatFloat(v.AdvertInt, 'f', -1, 64) }

// Notify configures what keepalived does on a VRRP state change: the
// article's alarm email (keepalived's own SMTP client, smtp_alert) and a hook
// run by hadeploy's notify script: an executable on the lb, a webhook URL the
// transition is POSTed to as JSON, or both.
type Notify struct {
	Email     []string `yaml:"email"`
	EmailFrom string   `yaml:"email_from"`
	// SMTPServer is host or host:port ([v6]:port).
	SMTPServer         string `yaml:"smtp_server"`
	SMTPConnectTimeout int    `yaml:"smtp_connect_timeout"`
	// Script is an absolute path of an executable on each lb, run with
	// keepalived's TYPE NAME STATE PRIORITY arguments.
	Script string `yaml:"script"`
	// Webhook is an http(s) URL. Secret: URLs often carry a token.
	Webhook string `yaml:"webhook" secret:"true"`

	// Derived after validation: smtp_server split for keepalived.conf.
	SMTPHost string `yaml:"-"`
	SMTPPort int    `yaml:"-"`
}

// Web configures Apache on web hosts.
type Web struct {
	Port int `yaml:"port"`
	// HealthCheck is the request HAProxy and verify use, e.g. "GET /index.html".
	HealthCheck string `yaml:"health_check"`
	// Transition is what web hosts serve besides Port and HealthCheck while
	// the playbook stages a change of the contract with the load balancers
	// (never read from a file: the playbook sets it on a copy).
	Transition *WebTransition `yaml:"-"`
}

// WebTransition lists the extra ports and health paths web hosts serve during
// a staged change, so that both the old and the new load balancer
// configuration find them.
type WebTransition struct {
	Ports       []int
	HealthPaths []string
}

// WebPorts is every port web hosts listen on: Port and the transition's,
// sorted, each once.
func (c *Cluster) WebPorts() []int {
	out := []int{c.Web.Port}
	if t := c.Web.Transition; t != nil {
		for _, p := range t.Ports {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// HAProxy configures the load balancers.
type HAProxy struct {
	Port           int        `yaml:"port"`
	MaxConn        int        `yaml:"maxconn"`
	StatsURI       string     `yaml:"stats_uri"`
	StatsAuth      *StatsAuth `yaml:"stats_auth"`
	DefaultBackend string     `yaml:"default_backend"`
	Backends       []*Backend `yaml:"backends"`
	Routes         []*Route   `yaml:"routes"`
	// Check tuning for every server line.
	CheckInter int `yaml:"check_inter"`
	Rise       int `yaml:"rise"`
	Fall       int `yaml:"fall"`
	// TLS terminates HTTPS on the load balancers (nil: plain HTTP only).
	TLS *TLS `yaml:"tls"`
	// Metrics serves haproxy's Prometheus exporter (nil: off).
	Metrics *Metrics `yaml:"metrics"`
}

// TLS is HTTPS termination on haproxy. Certificate and Key are files on the
// operator's machine, relative to the inventory file; they are read and
// checked while the inventory loads, so bad ones stop before any host.
type TLS struct {
	Certificate  string `yaml:"certificate"`
	Key          string `yaml:"key"`
	Port         int    `yaml:"port"`
	RedirectHTTP bool   `yaml:"redirect_http"`
	// HSTSMaxAge in seconds; 0 sends no Strict-Transport-Security header.
	HSTSMaxAge int `yaml:"hsts_max_age"`

	// Derived from the files after validation.
	CertPEM string `yaml:"-"` // leaf then chain, PEM
	// KeyPEM is the private key, PEM. Secret: masked whole wherever shown.
	KeyPEM string `yaml:"-" secret:"true"`
	// Fingerprint is the leaf's SHA-256, hex.
	Fingerprint string    `yaml:"-"`
	Subject     string    `yaml:"-"`
	NotAfter    time.Time `yaml:"-"`
}

// Metrics is haproxy's built-in Prometheus exporter, on a frontend of its
// own bound to each load balancer's own address.
type Metrics struct {
	Port int    `yaml:"port"`
	Path string `yaml:"path"`
}

// StatsAuth protects the stats page. Password is a secret.
type StatsAuth struct {
	User     string `yaml:"user"`
	Password string `yaml:"password" secret:"true"`
}

// Backend is a named pool of web servers.
type Backend struct {
	Name    string    `yaml:"name"`
	Servers []*Server `yaml:"servers"`
	Line    int       `yaml:"-"`
}

// Server is one web host in a backend.
type Server struct {
	Host   string `yaml:"host"`
	Weight int    `yaml:"weight"`
	Line   int    `yaml:"-"`
}

// Route sends matching requests to a backend: by Host header or by path suffix.
type Route struct {
	Name       string   `yaml:"name"`
	Host       string   `yaml:"host"`
	PathSuffix []string `yaml:"path_suffix"`
	Backend    string   `yaml:"backend"`
	Line       int      `yaml:"-"`
}

// Time configures clock synchronisation.
type Time struct {
	// Method is TimeNtpdate (a cron job steps the clock, as in the article)
	// or TimeChrony (the chrony daemon slews it).
	Method   string `yaml:"method"`
	Server   string `yaml:"server"`
	Schedule string `yaml:"schedule"`
}

// Time sync methods.
const (
	TimeNtpdate = "ntpdate"
	TimeChrony  = "chrony"
)

// HasRole reports whether the host has role r.
func (h *Host) HasRole(r string) bool {
	for _, x := range h.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// HostsWithRole returns hosts having role r, in inventory order.
func (c *Cluster) HostsWithRole(r string) []*Host {
	var out []*Host
	for _, h := range c.Hosts {
		if h.HasRole(r) {
			out = append(out, h)
		}
	}
	return out
}

// Host returns the host named n or nil.
func (c *Cluster) Host(n string) *Host {
	for _, h := range c.Hosts {
		if h.Name == n {
			return h
		}
	}
	return nil
}

// Backend returns the backend named n or nil.
func (c *Cluster) Backend(n string) *Backend {
	for _, b := range c.HAProxy.Backends {
		if b.Name == n {
			return b
		}
	}
	return nil
}

// Master returns the lb host with the highest priority (the initial MASTER).
func (c *Cluster) Master() *Host {
	var m *Host
	for _, h := range c.HostsWithRole(RoleLB) {
		if m == nil || h.Priority > m.Priority {
			m = h
		}
	}
	return m
}

// VIPAddr is the first VIP without prefix.
func (c *Cluster) VIPAddr() string { return c.VIPPrefix.Addr().String() }

// VIPList is every VIP: VIPs once validated; for a Cluster built by hand
// with only the short form's fields, the one VIP they describe.
func (c *Cluster) VIPList() []*VIP {
	if len(c.VIPs) > 0 {
		return c.VIPs
	}
	if !c.VIPPrefix.IsValid() {
		return nil
	}
	v := &VIP{Address: c.VIP, VirtualRouterID: c.VRRP.VirtualRouterID, Prefix: c.VIPPrefix}
	if m := c.Master(); m != nil {
		v.Master = m.Name
	}
	return []*VIP{v}
}

// VIPMaster is the lb host meant to hold v.
func (c *Cluster) VIPMaster(v *VIP) *Host {
	if h := c.Host(v.Master); h != nil {
		return h
	}
	return c.Master()
}

// VIPPriority is h's priority in v's VRRP instance. The lbs' configured
// priorities are dealt out again per VIP: v's master gets the highest, the
// others keep their order below it. So every instance uses the same set of
// priorities (the failover arithmetic holds for each), and with one VIP whose
// master is the highest-priority lb every host keeps its own priority.
func (c *Cluster) VIPPriority(v *VIP, h *Host) int {
	lbs := c.HostsWithRole(RoleLB)
	m := c.VIPMaster(v)
	if m == nil {
		return h.Priority
	}
	prios := make([]int, 0, len(lbs))
	for _, x := range lbs {
		prios = append(prios, x.Priority)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(prios)))
	if h.Name == m.Name {
		return prios[0]
	}
	// The others by configured priority, highest first, take prios[1:].
	rank := 1
	for _, x := range lbs {
		if x.Name != h.Name && x.Name != m.Name && x.Priority > h.Priority {
			rank++
		}
	}
	if rank >= len(prios) {
		return h.Priority
	}
	return prios[rank]
}

// HealthCheck is Web.HealthCheck as "METHOD PATH".
func (c *Cluster) HealthCheck() string { return c.HealthMethod() + " " + c.HealthPath() }

// HealthMethod and HealthPath split Web.HealthCheck.
func (c *Cluster) HealthMethod() string { m, _ := splitHealth(c.Web.HealthCheck); return m }
func (c *Cluster) HealthPath() string   { _, p := splitHealth(c.Web.HealthCheck); return p }

// Limit keeps only the named hosts (for --limit). Unknown names are an error.
func (c *Cluster) Limit(names []string) ([]*Host, error) {
	if len(names) == 0 {
		return c.Hosts, nil
	}
	var out []*Host
	for _, n := range names {
		h := c.Host(n)
		if h == nil {
			return nil, &UnknownHostError{Name: n}
		}
		out = append(out, h)
	}
	return out, nil
}

// UnknownHostError is returned by Limit.
type UnknownHostError struct{ Name string }

func (e *UnknownHostError) Error() string {
	return "--limit: no host named " + e.Name + " in the inventory"
}

// splitHealth splits "GET /index.html" into method and path.
func splitHealth(s string) (string, string) {
	m, p, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return "GET", strings.TrimSpace(s)
	}
	return m, strings.TrimSpace(p)
}
