// Package inventory is the typed model of a cluster: loading it from YAML with
// positions, defaults, and every validation rule. It does no I/O beyond reading
// the file, so nothing here can touch a host.
package inventory

import (
	"net/netip"
	"slices"
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
	// VIP is the virtual address with its prefix length, e.g. 192.168.83.111/24.
	VIP     string  `yaml:"vip"`
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

// VRRP configures keepalived.
type VRRP struct {
	VirtualRouterID int `yaml:"virtual_router_id"`
	AdvertInt       int `yaml:"advert_int"`
	// AuthPass is the VRRP PASS authentication (1..8 printable ASCII). Secret.
	AuthPass string `yaml:"auth_pass" secret:"true"`
	// CheckWeight is subtracted from a node's priority while its haproxy is down.
	CheckWeight int `yaml:"check_weight"`
	// CheckInterval and CheckFall tune the haproxy health tracker.
	CheckInterval int `yaml:"check_interval"`
	CheckFall     int `yaml:"check_fall"`
	CheckRise     int `yaml:"check_rise"`
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

// VIPAddr is the VIP without prefix.
func (c *Cluster) VIPAddr() string { return c.VIPPrefix.Addr().String() }

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
