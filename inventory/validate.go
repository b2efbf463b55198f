package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Defaults applied when a field is absent.
const (
	DefaultName           = "hadeploy"
	DefaultSSHUser        = "root"
	DefaultSSHPort        = 22
	DefaultConnectTimeout = 10
	DefaultInterface      = "eth0"
	DefaultPriority       = 100 // only for a single lb host
	DefaultAdvertInt      = 1
	DefaultCheckWeight    = 25
	DefaultCheckInterval  = 2
	DefaultCheckFall      = 2
	DefaultCheckRise      = 2
	DefaultWebPort        = 8080
	DefaultHealthCheck    = "GET /index.html"
	DefaultHAProxyPort    = 80
	DefaultMaxConn        = 4000
	DefaultStatsURI       = "/haproxy?stats"
	DefaultCheckInter     = 2000
	DefaultRise           = 2
	DefaultFall           = 3
	DefaultServerWeight   = 1
	DefaultBackendName    = "web"
	DefaultTimeServer     = "pool.ntp.org"
	DefaultTimeSchedule   = "*/10 * * * *"
	DefaultKeepBackups    = 5
)

var (
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	hostNameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	dnsNameRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	routeHostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	userRE        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	interfaceRE   = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
	healthPathRE  = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)
	statsURIRE    = regexp.MustCompile(`^/[A-Za-z0-9._~/?=&-]*$`)
	statsUserRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	backendNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	routeNameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	suffixRE      = regexp.MustCompile(`^\.[A-Za-z0-9_-]{1,16}$`)
	cronFieldRE   = regexp.MustCompile(`^[0-9*/,-]+$`)
	dottedNumRE   = regexp.MustCompile(`^[0-9.]+$`)
)

// check applies defaults and every validation rule to c.
type check struct {
	*decoder
	c *Cluster

	// Built on first use, so that big inventories stay linear.
	hostIdx    map[string]*Host
	backendIdx map[string]*Backend
	webList    string
	backList   string
}

// maxListed caps how many names a message lists.
const maxListed = 20

// nameList joins names, listing at most maxListed of them.
func nameList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > maxListed {
		return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
	}
	return strings.Join(names, ", ")
}

// host is c.Host with an index.
func (k *check) host(name string) *Host {
	if k.hostIdx == nil {
		k.hostIdx = map[string]*Host{}
		for _, h := range k.c.Hosts {
			if _, ok := k.hostIdx[h.Name]; !ok {
				k.hostIdx[h.Name] = h
			}
		}
	}
	return k.hostIdx[name]
}

// backend is c.Backend with an index (built once the backends are final).
func (k *check) backend(name string) *Backend {
	if k.backendIdx == nil {
		k.backendIdx = map[string]*Backend{}
		for _, b := range k.c.HAProxy.Backends {
			if _, ok := k.backendIdx[b.Name]; !ok {
				k.backendIdx[b.Name] = b
			}
		}
	}
	return k.backendIdx[name]
}

func (k *check) path(x any, fallback string) string {
	if p, ok := k.paths[x]; ok {
		return p
	}
	return fallback
}

// intField applies a default when the field is absent and checks the range
// when it was given. It reports whether the value is usable.
func (k *check) intField(path string, v *int, def, lo, hi int, why string) bool {
	if !k.has(path) {
		if k.bad[path] {
			*v = def
			return false
		}
		*v = def
		return true
	}
	if *v < lo || *v > hi {
		msg := fmt.Sprintf("must be between %d and %d, got %d", lo, hi, *v)
		if why != "" {
			msg += " (" + why + ")"
		}
		k.errf(path, "%s", msg)
		return false
	}
	return true
}

// strField applies a default when the field is absent; it reports whether a
// value (given or default) is there to check.
func (k *check) strField(path string, v *string, def string) bool {
	if !k.has(path) {
		if *v == "" {
			*v = def
		}
		return !k.bad[path] && *v != ""
	}
	return true
}

func (k *check) run() {
	c := k.c
	k.checkName()
	k.checkSSH()
	k.checkHosts()
	k.checkVIP()
	k.checkVRRP()
	k.checkWeb()
	k.checkHAProxy()
	k.checkTime()
	k.intField("keep_backups", &c.Backups, DefaultKeepBackups, 1, 100, "")
}

func (k *check) checkName() {
	c := k.c
	if !k.has("name") {
		if !k.bad["name"] {
			c.Name = DefaultName
		}
		return
	}
	switch {
	case c.Name == "":
		k.errf("name", "must not be empty (leave it out to use %q)", DefaultName)
	case !clusterNameRE.MatchString(c.Name):
		k.errf("name", "must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (pattern %s), got %s", clusterNameRE, quote(c.Name))
	}
}

// checkPath refuses characters that have no business in a file name.
func (k *check) checkPath(path, v string) {
	if v == "" && k.has(path) {
		k.errf(path, "must not be empty (leave the field out instead)")
		return
	}
	if strings.HasPrefix(v, "-") {
		k.errf(path, "must be a file path, not starting with '-', got %s", quote(v))
		return
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			k.errf(path, "must be a file path (~ and / are fine) without newlines, NUL or other control characters")
			return
		}
	}
}

func (k *check) checkUser(path, v string) {
	if !userRE.MatchString(v) {
		k.errf(path, "must be a user name of up to 32 letters, digits, '_', '.' or '-', not starting with a digit, '.' or '-' (pattern %s), got %s", userRE, quote(v))
	}
}

func (k *check) checkSSH() {
	s := &k.c.SSH
	if k.strField("ssh.user", &s.User, DefaultSSHUser) || k.has("ssh.user") {
		k.checkUser("ssh.user", s.User)
	}
	k.intField("ssh.port", &s.Port, DefaultSSHPort, 1, 65535, "a TCP port")
	k.intField("ssh.connect_timeout", &s.ConnectTimeout, DefaultConnectTimeout, 1, 600, "seconds")
	if k.has("ssh.identity_file") {
		k.checkPath("ssh.identity_file", s.IdentityFile)
	}
	if k.has("ssh.known_hosts") {
		k.checkPath("ssh.known_hosts", s.KnownHosts)
	}
}

// addressProblem says why s is not an IP address or a strict DNS name, or "".
func addressProblem(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if a, err := netip.ParseAddr(s); err == nil {
		switch {
		case a.Zone() != "":
			return "IPv6 zones (%...) are not supported, got " + quote(s)
		case a.IsUnspecified():
			return quote(s) + " is the unspecified address, not a host"
		case a.IsMulticast():
			return quote(s) + " is a multicast address, not a host"
		}
		return ""
	}
	if dottedNumRE.MatchString(s) {
		return "is not a valid IPv4 address (four numbers 0-255 without leading zeros), got " + quote(s)
	}
	if strings.Contains(s, ":") {
		return "is not a valid IPv6 address, got " + quote(s)
	}
	if len(s) > 253 || !dnsNameRE.MatchString(s) {
		return "must be an IPv4/IPv6 address or a DNS name (labels of letters, digits and '-', separated by dots), got " + quote(s)
	}
	labels := strings.Split(s, ".")
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return "looks like an IP address but is not one, got " + quote(s)
	}
	return ""
}

// normAddress makes equal addresses compare equal.
func normAddress(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(s)
}

func (k *check) checkHosts() {
	c := k.c
	if len(c.Hosts) == 0 {
		if !k.bad["hosts"] {
			k.errf("hosts", "required: list the machines, e.g. two web hosts and two lb hosts, each with name, address and roles")
		}
		return
	}
	names := map[string]string{}
	addrs := map[string]string{}
	for i, h := range c.Hosts {
		hp := k.path(h, fmt.Sprintf("hosts[%d]", i))
		// name
		switch {
		case !k.has(hp + ".name"):
			if !k.bad[hp+".name"] {
				k.errf(hp+".name", "required: every host needs a name, e.g. web1")
			}
		case !hostNameRE.MatchString(h.Name):
			k.errf(hp+".name", "must be 1 to 63 lowercase letters, digits or '-', not starting or ending with '-' (pattern %s), got %s", hostNameRE, quote(h.Name))
		default:
			if prev, dup := claim(names, h.Name, hp); dup {
				k.errf(hp+".name", "host name %q is already used by %s (line %d): names must be unique", h.Name, prev, k.line(prev))
			}
		}
		// address
		switch {
		case !k.has(hp + ".address"):
			if !k.bad[hp+".address"] {
				k.errf(hp+".address", "required: the IP address or DNS name to reach the host, e.g. 192.168.83.129")
			}
		default:
			if p := addressProblem(h.Address); p != "" {
				k.errf(hp+".address", "%s", p)
			} else if prev, dup := claim(addrs, normAddress(h.Address), hp); dup {
				k.errf(hp+".address", "address %s is already used by %s (line %d): each host needs its own address", h.Address, prev, k.line(prev))
			}
		}
		// roles
		if !k.has(hp+".roles") || len(h.Roles) == 0 {
			if !k.bad[hp+".roles"] {
				k.errf(hp+".roles", "required: a list of roles, each %q or %q, e.g. [web] or [lb]", RoleWeb, RoleLB)
			}
		} else {
			seen := map[string]bool{}
			valid := h.Roles[:0:0]
			for j, r := range h.Roles {
				rp := fmt.Sprintf("%s.roles[%d]", hp, j)
				switch {
				case r != RoleWeb && r != RoleLB:
					k.errf(rp, "unknown role %s: roles are %q (Apache behind the load balancers) and %q (HAProxy + keepalived)", quote(r), RoleWeb, RoleLB)
				case seen[r]:
					k.errf(rp, "role %q is listed twice", r)
				default:
					seen[r] = true
					valid = append(valid, r)
				}
			}
			h.Roles = valid
		}
		// SSH overrides
		if k.has(hp + ".user") {
			k.checkUser(hp+".user", h.User)
		}
		if k.has(hp + ".port") {
			k.intField(hp+".port", &h.Port, 0, 1, 65535, "a TCP port")
		}
		if k.has(hp + ".identity_file") {
			k.checkPath(hp+".identity_file", h.IdentityFile)
		}
		// interface and priority
		lb := h.HasRole(RoleLB)
		if k.has(hp + ".interface") {
			if !interfaceRE.MatchString(h.Interface) {
				k.errf(hp+".interface", "must be a network interface name of 1 to 15 letters, digits, '_', '.', ':' or '-' (pattern %s), got %s", interfaceRE, quote(h.Interface))
			} else if !lb && len(h.Roles) > 0 {
				k.warnf(hp+".interface", "ignored: only lb hosts carry the VIP")
			}
		} else if lb && !k.bad[hp+".interface"] {
			h.Interface = DefaultInterface
		}
		if k.has(hp+".priority") && !lb && len(h.Roles) > 0 {
			k.warnf(hp+".priority", "ignored: only lb hosts run keepalived")
		}
	}

	webs, lbs := c.HostsWithRole(RoleWeb), c.HostsWithRole(RoleLB)
	rolesOK := true
	for _, h := range c.Hosts {
		if len(h.Roles) == 0 {
			rolesOK = false
		}
	}
	if rolesOK && len(webs) == 0 {
		k.errf("hosts", "no host has the %q role: at least one web server is needed behind the load balancers", RoleWeb)
	}
	switch {
	case rolesOK && len(lbs) == 0:
		k.errf("hosts", "no host has the %q role: two lb hosts are needed for a highly available VIP (one works, without failover)", RoleLB)
	case len(lbs) == 1:
		h := lbs[0]
		hp := k.path(h, "hosts")
		k.warnf(hp, "%s is the only lb host: there is no failover, the VIP goes down with it; add a second lb host for HA", h.Name)
		if !k.has(hp+".priority") && !k.bad[hp+".priority"] {
			h.Priority = DefaultPriority
		}
	}
	k.checkPriorities(lbs)
}

func (k *check) checkPriorities(lbs []*Host) {
	byPrio := map[int]*Host{}
	for _, h := range lbs {
		hp := k.path(h, "hosts")
		pp := hp + ".priority"
		switch {
		case k.bad[pp]:
		case !k.has(pp) && len(lbs) >= 2:
			k.errf(pp, "required on every lb host when there are two or more: the highest priority starts as MASTER (e.g. 100 and 80)")
		case k.has(pp) && (h.Priority < 1 || h.Priority > 254):
			k.errf(pp, "must be between 1 and 254 (255 is reserved for the address owner), got %d", h.Priority)
		case k.has(pp) || len(lbs) == 1:
			if o, dup := byPrio[h.Priority]; dup {
				k.errf(pp, "priority %d is also used by %s: lb priorities must differ so exactly one host starts as MASTER", h.Priority, o.Name)
			} else {
				byPrio[h.Priority] = h
			}
		}
	}
}

func (k *check) checkVIP() {
	c := k.c
	if !k.has("vip") {
		if !k.bad["vip"] {
			k.errf("vip", "required: the virtual IP with its prefix length, e.g. 192.168.83.111/24")
		}
		return
	}
	p, err := netip.ParsePrefix(c.VIP)
	if err != nil {
		if a, err2 := netip.ParseAddr(c.VIP); err2 == nil && a.Is4() {
			k.errf("vip", "needs a prefix length, e.g. %s/24 (the subnet of the lb hosts)", a)
		} else {
			k.errf("vip", "must be an IPv4 address with prefix length, e.g. 10.0.0.100/24, got %s", quote(c.VIP))
		}
		return
	}
	a := p.Addr()
	if !a.Is4() {
		k.errf("vip", "IPv6 VIPs are not supported yet: use an IPv4 address with prefix length, e.g. 10.0.0.100/24")
		return
	}
	if p.Bits() < 8 {
		k.errf("vip", "prefix length must be between /8 and /32, got /%d", p.Bits())
		return
	}
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		k.errf("vip", "%s is not a usable unicast address for a VIP", a)
		return
	case p.Bits() <= 30 && a == p.Masked().Addr():
		k.errf("vip", "%s is the network address of %s: pick a free host address inside it", a, p.Masked())
		return
	case p.Bits() <= 30 && a == lastAddr(p):
		k.errf("vip", "%s is the broadcast address of %s: pick a free host address inside it", a, p.Masked())
		return
	}
	c.VIPPrefix = p
	for _, h := range c.Hosts {
		ha, err := netip.ParseAddr(h.Address)
		if err == nil && ha.Unmap() == a {
			k.errf("vip", "VIP %s is also the address of host %s: the VIP must be a free address", a, h.Name)
		}
	}
	for _, h := range c.HostsWithRole(RoleLB) {
		ha, err := netip.ParseAddr(h.Address)
		switch {
		case h.Address == "" || addressProblem(h.Address) != "":
		case err != nil:
			k.warnf("vip", "cannot check that VIP %s is in the subnet of %s: its address %s is a DNS name", p, h.Name, h.Address)
		case !ha.Unmap().Is4():
			k.errf("vip", "lb host %s has the IPv6 address %s: the VIP is IPv4, lb hosts need IPv4 addresses in its subnet", h.Name, ha)
		case !p.Contains(ha.Unmap()):
			k.errf("vip", "VIP %s is not in the subnet of lb host %s (%s): keepalived adds the VIP on that host's interface, so it must share the subnet %s", p, h.Name, ha, p.Masked())
		}
	}
}

// lastAddr is the highest address of p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (k *check) checkVRRP() {
	v := &k.c.VRRP
	switch {
	case k.bad["vrrp.virtual_router_id"]:
	case !k.has("vrrp.virtual_router_id"):
		k.errf("vrrp.virtual_router_id", "required: a number 1-255 that no other VRRP router on this network uses (there is no default: colliding IDs, like everyone's 51, make clusters fight over VIPs)")
	default:
		k.intField("vrrp.virtual_router_id", &v.VirtualRouterID, 0, 1, 255, "")
	}
	k.intField("vrrp.advert_int", &v.AdvertInt, DefaultAdvertInt, 1, 255, "seconds")
	if k.has("vrrp.auth_pass") {
		k.checkAuthPass(v.AuthPass)
	}
	weightOK := k.intField("vrrp.check_weight", &v.CheckWeight, DefaultCheckWeight, 1, 253,
		"a positive number N, rendered as 'weight -N': it is subtracted from the priority while haproxy is down")
	k.intField("vrrp.check_interval", &v.CheckInterval, DefaultCheckInterval, 1, 60, "seconds")
	k.intField("vrrp.check_fall", &v.CheckFall, DefaultCheckFall, 1, 10, "")
	k.intField("vrrp.check_rise", &v.CheckRise, DefaultCheckRise, 1, 10, "")
	if weightOK {
		k.checkFailover()
	}
}

func (k *check) checkAuthPass(s string) {
	const path = "vrrp.auth_pass"
	// The value is a secret: messages never include it.
	switch {
	case s == "":
		k.errf(path, "must be 1 to 8 characters; leave auth_pass out to run VRRP without authentication")
	case len(s) > 8:
		k.errf(path, "is %d characters long; keepalived silently truncates auth_pass to 8, so use 1 to 8 characters", len(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }):
		k.errf(path, "must be printable ASCII without spaces or other whitespace")
	case strings.ContainsAny(s, "\"'#!{}\\"):
		k.errf(path, `must not contain any of " ' # ! { } \ (they break keepalived.conf)`)
	}
}

// checkFailover proves that a dead haproxy on the master moves the VIP: the
// master's priority minus check_weight must fall below every backup's.
func (k *check) checkFailover() {
	lbs := k.c.HostsWithRole(RoleLB)
	if len(lbs) < 2 {
		return
	}
	seen := map[int]bool{}
	for _, h := range lbs {
		pp := k.path(h, "hosts") + ".priority"
		if !k.has(pp) || h.Priority < 1 || h.Priority > 254 || seen[h.Priority] {
			return // already reported
		}
		seen[h.Priority] = true
	}
	m := k.c.Master()
	w := k.c.VRRP.CheckWeight
	var worst *Host
	for _, b := range lbs {
		if b != m && m.Priority-w >= b.Priority && (worst == nil || b.Priority < worst.Priority) {
			worst = b
		}
	}
	if worst == nil {
		return
	}
	need := m.Priority - worst.Priority
	fix := fmt.Sprintf("use check_weight > %d", need)
	if need >= 253 {
		fix = "bring the priorities closer together (check_weight is at most 253)"
	}
	k.errf("vrrp.check_weight", "master %s priority %d - check_weight %d = %d is not below backup %s priority %d: a dead haproxy on %s would never move the VIP; %s",
		m.Name, m.Priority, w, m.Priority-w, worst.Name, worst.Priority, m.Name, fix)
}

func (k *check) checkWeb() {
	c := k.c
	webPortOK := k.intField("web.port", &c.Web.Port, DefaultWebPort, 1, 65535, "a TCP port")
	hpPortOK := k.intField("haproxy.port", &c.HAProxy.Port, DefaultHAProxyPort, 1, 65535, "a TCP port")
	if webPortOK && hpPortOK && c.Web.Port == c.HAProxy.Port {
		for _, h := range c.Hosts {
			if h.HasRole(RoleWeb) && h.HasRole(RoleLB) {
				k.errf("web.port", "web.port and haproxy.port are both %d but %s is both web and lb: Apache and HAProxy cannot listen on the same port", c.Web.Port, h.Name)
				break
			}
		}
	}
	if k.strField("web.health_check", &c.Web.HealthCheck, DefaultHealthCheck) || k.has("web.health_check") {
		if msg := healthCheckProblem(c.Web.HealthCheck); msg != "" {
			k.errf("web.health_check", "%s", msg)
		}
	}
}

func healthCheckProblem(s string) string {
	method, path, ok := strings.Cut(s, " ")
	if !ok || strings.Contains(path, " ") {
		return `must be "METHOD /path" with one space, e.g. "GET /index.html", got ` + quote(s)
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
	default:
		return "method must be GET, HEAD or OPTIONS (upper case), got " + quote(method)
	}
	if !healthPathRE.MatchString(path) {
		return "path must start with / and use only letters, digits and ._~/- (pattern " + healthPathRE.String() + "), got " + quote(path)
	}
	return ""
}

func (k *check) checkHAProxy() {
	c := k.c
	h := &c.HAProxy
	k.intField("haproxy.maxconn", &h.MaxConn, DefaultMaxConn, 1, 1000000, "")
	if k.strField("haproxy.stats_uri", &h.StatsURI, DefaultStatsURI) || k.has("haproxy.stats_uri") {
		if !statsURIRE.MatchString(h.StatsURI) {
			k.errf("haproxy.stats_uri", "must start with / and use only letters, digits and ._~/?=&- (pattern %s), got %s", statsURIRE, quote(h.StatsURI))
		}
	}
	if h.StatsAuth != nil {
		a := h.StatsAuth
		switch {
		case !k.has("haproxy.stats_auth.user"):
			if !k.bad["haproxy.stats_auth.user"] {
				k.errf("haproxy.stats_auth.user", "required when stats_auth is set")
			}
		case !statsUserRE.MatchString(a.User):
			k.errf("haproxy.stats_auth.user", "must be 1 to 32 letters, digits, '.', '_' or '-' (pattern %s), got %s", statsUserRE, quote(a.User))
		}
		switch {
		case !k.has("haproxy.stats_auth.password"):
			if !k.bad["haproxy.stats_auth.password"] {
				k.errf("haproxy.stats_auth.password", "required when stats_auth is set")
			}
		case a.Password == "" || len(a.Password) > 64:
			k.errf("haproxy.stats_auth.password", "must be 1 to 64 characters, got %d", len(a.Password))
		case strings.ContainsFunc(a.Password, func(r rune) bool { return r <= ' ' || r > '~' }):
			k.errf("haproxy.stats_auth.password", "must be printable ASCII without spaces or other whitespace")
		case strings.ContainsAny(a.Password, "#\"'\\"):
			k.errf("haproxy.stats_auth.password", `must not contain any of # " ' \ (they break haproxy.cfg)`)
		}
	}
	k.intField("haproxy.check_inter", &h.CheckInter, DefaultCheckInter, 100, 3600000, "milliseconds")
	k.intField("haproxy.rise", &h.Rise, DefaultRise, 1, 100, "")
	k.intField("haproxy.fall", &h.Fall, DefaultFall, 1, 100, "")
	k.checkBackends()
	k.checkDefaultBackend()
	k.checkRoutes()
}

func (k *check) webHostNames() string {
	if k.webList == "" {
		var n []string
		seen := map[string]bool{}
		for _, h := range k.c.HostsWithRole(RoleWeb) {
			if hostNameRE.MatchString(h.Name) && !seen[h.Name] {
				seen[h.Name] = true
				n = append(n, h.Name)
			}
		}
		k.webList = nameList(n)
	}
	return k.webList
}

func (k *check) checkBackends() {
	c := k.c
	h := &c.HAProxy
	if len(h.Backends) == 0 {
		if k.bad["haproxy.backends"] {
			return
		}
		webs := c.HostsWithRole(RoleWeb)
		if len(webs) == 0 {
			return
		}
		b := &Backend{Name: DefaultBackendName}
		for _, w := range webs {
			b.Servers = append(b.Servers, &Server{Host: w.Name, Weight: DefaultServerWeight})
		}
		h.Backends = []*Backend{b}
		return
	}
	names := map[string]string{}
	for i, b := range h.Backends {
		bp := k.path(b, fmt.Sprintf("haproxy.backends[%d]", i))
		switch {
		case !k.has(bp + ".name"):
			if !k.bad[bp+".name"] {
				k.errf(bp+".name", "required: every backend needs a name, e.g. web")
			}
		case !backendNameRE.MatchString(b.Name):
			k.errf(bp+".name", "must be 1 to 64 letters, digits, '_', '.' or '-' (pattern %s), got %s", backendNameRE, quote(b.Name))
		default:
			if prev, dup := claim(names, b.Name, bp); dup {
				k.errf(bp+".name", "backend name %q is already used by %s (line %d): names must be unique", b.Name, prev, k.line(prev))
			}
		}
		if len(b.Servers) == 0 {
			if !k.bad[bp+".servers"] {
				k.errf(bp+".servers", "required: a backend needs at least one server (a web host), e.g. servers: [{host: web1}]")
			}
			continue
		}
		seen := map[string]string{}
		allZero := true
		for j, s := range b.Servers {
			sp := k.path(s, fmt.Sprintf("%s.servers[%d]", bp, j))
			switch {
			case !k.has(sp + ".host"):
				if !k.bad[sp+".host"] {
					k.errf(sp+".host", "required: the name of a web host (web hosts: %s)", k.webHostNames())
				}
			case len(c.Hosts) == 0:
				// hosts is missing or broken: already reported.
			case k.host(s.Host) == nil:
				k.errf(sp+".host", "no host named %s; servers must be web hosts: %s", quote(s.Host), k.webHostNames())
			case len(k.host(s.Host).Roles) == 0:
				// its roles are missing or all invalid: already reported.
			case !k.host(s.Host).HasRole(RoleWeb):
				k.errf(sp+".host", "host %s does not have the web role; servers must be web hosts: %s", s.Host, k.webHostNames())
			default:
				if prev, dup := claim(seen, s.Host, sp); dup {
					k.errf(sp+".host", "%s is already a server of this backend (%s)", s.Host, prev)
				}
			}
			if k.intField(sp+".weight", &s.Weight, DefaultServerWeight, 0, 256, "0 takes the server out of rotation") && s.Weight > 0 {
				allZero = false
			}
		}
		if allZero && b.Name != "" {
			k.warnf(bp, "every server of backend %s has weight 0: it receives no traffic", b.Name)
		}
	}
}

func (k *check) backendNames() string {
	if k.backList == "" {
		var n []string
		seen := map[string]bool{}
		for _, b := range k.c.HAProxy.Backends {
			if backendNameRE.MatchString(b.Name) && !seen[b.Name] {
				seen[b.Name] = true
				n = append(n, b.Name)
			}
		}
		k.backList = nameList(n)
	}
	return k.backList
}

func (k *check) checkDefaultBackend() {
	h := &k.c.HAProxy
	const path = "haproxy.default_backend"
	if k.bad[path] || len(h.Backends) == 0 {
		return
	}
	if !k.has(path) {
		switch {
		case len(h.Backends) == 1:
			h.DefaultBackend = h.Backends[0].Name
		case k.backend(DefaultBackendName) != nil:
			h.DefaultBackend = DefaultBackendName
		default:
			k.errf(path, "required: with several backends and none named %q, say which one gets requests no route matches (one of: %s)", DefaultBackendName, k.backendNames())
		}
		return
	}
	if h.DefaultBackend == "" || k.backend(h.DefaultBackend) == nil {
		k.errf(path, "no backend named %s; backends: %s", quote(h.DefaultBackend), k.backendNames())
	}
}

func (k *check) checkRoutes() {
	c := k.c
	names := map[string]string{}
	hosts := map[string]string{}
	suffixes := map[string]string{}
	for i, r := range c.HAProxy.Routes {
		rp := k.path(r, fmt.Sprintf("haproxy.routes[%d]", i))
		// name
		if !k.has(rp + ".name") {
			if !k.bad[rp+".name"] {
				r.Name = fmt.Sprintf("route%d", i+1)
			}
		} else if !routeNameRE.MatchString(r.Name) {
			k.errf(rp+".name", "must be 1 to 64 letters, digits, '_' or '-' (pattern %s), got %s", routeNameRE, quote(r.Name))
		}
		if r.Name != "" && routeNameRE.MatchString(r.Name) {
			if prev, dup := claim(names, r.Name, rp); dup {
				k.errf(rp+".name", "route name %q is already used by %s (line %d): names must be unique (unnamed routes are called route<N>)", r.Name, prev, k.line(prev))
			}
		}
		// host or path_suffix
		hasHost, hasSfx := k.has(rp+".host"), k.has(rp+".path_suffix")
		switch {
		case hasHost && hasSfx:
			k.errf(rp, "set only one of host and path_suffix: a route matches the Host header or the end of the path, not both")
		case !hasHost && !hasSfx:
			if !k.bad[rp+".host"] && !k.bad[rp+".path_suffix"] {
				k.errf(rp, "set one of host (match the Host header, e.g. www.example.com) or path_suffix (match the end of the path, e.g. [.css, .js])")
			}
		case hasHost:
			if msg := routeHostProblem(r.Host); msg != "" {
				k.errf(rp+".host", "%s", msg)
			} else if prev, dup := claim(hosts, r.Host, rp); dup {
				k.errf(rp+".host", "host %s is already routed by %s: only the first route would ever match", r.Host, prev)
			}
		case hasSfx:
			if len(r.PathSuffix) == 0 {
				k.errf(rp+".path_suffix", "must list at least one suffix, e.g. [.css, .js]")
			}
			for j, s := range r.PathSuffix {
				sp := fmt.Sprintf("%s.path_suffix[%d]", rp, j)
				if !suffixRE.MatchString(s) {
					k.errf(sp, "must be a dot followed by 1 to 16 letters, digits, '_' or '-' (pattern %s), e.g. \".css\", got %s", suffixRE, quote(s))
					continue
				}
				key := strings.ToLower(s) // matched with path_end -i
				if prev, dup := claim(suffixes, key, rp); dup {
					k.errf(sp, "suffix %s is already routed by %s: only the first route would ever match", s, prev)
				}
			}
		}
		// backend
		switch {
		case k.bad[rp+".backend"]:
		case !k.has(rp + ".backend"):
			k.errf(rp+".backend", "required: the backend matching requests go to (one of: %s)", k.backendNames())
		case k.backend(r.Backend) == nil:
			k.errf(rp+".backend", "no backend named %s; backends: %s", quote(r.Backend), k.backendNames())
		}
	}
}

func routeHostProblem(s string) string {
	switch {
	case strings.HasPrefix(s, "*."):
		return "wildcard hosts (*.example.com) are not supported: give each host its own route, got " + quote(s)
	case strings.Contains(s, ":"):
		return "must be a host name without a port (the port in the Host header is ignored when matching), got " + quote(s)
	case strings.ToLower(s) != s && routeHostRE.MatchString(strings.ToLower(s)):
		return "must be lowercase (Host headers are compared in lowercase), got " + quote(s)
	case len(s) > 253 || !routeHostRE.MatchString(s):
		return "must be a host name of lowercase letters, digits, '.' and '-' (e.g. www.example.com), got " + quote(s)
	}
	return ""
}

func (k *check) checkTime() {
	t := &k.c.Time
	if k.strField("time.server", &t.Server, DefaultTimeServer) || k.has("time.server") {
		if p := addressProblem(t.Server); p != "" {
			k.errf("time.server", "%s (the NTP server clocks are synced from)", p)
		}
	}
	if k.strField("time.schedule", &t.Schedule, DefaultTimeSchedule) || k.has("time.schedule") {
		if msg := cronProblem(t.Schedule); msg != "" {
			k.errf("time.schedule", "%s", msg)
		} else {
			t.Schedule = strings.Join(strings.Fields(t.Schedule), " ")
		}
	}
}

var cronFields = []struct {
	name   string
	lo, hi int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7}}

// cronProblem checks a 5-field cron schedule made only of numbers, *, /, , and -.
func cronProblem(s string) string {
	for _, r := range s {
		if r != ' ' && r != '\t' && !strings.ContainsRune("0123456789*/,-", r) {
			return `must be 5 cron fields (minute hour day-of-month month day-of-week) using only digits and * / , - separated by spaces, e.g. "*/10 * * * *", got ` + quote(s)
		}
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return fmt.Sprintf(`must have 5 cron fields (minute hour day-of-month month day-of-week), e.g. "*/10 * * * *", got %d in %s`, len(f), quote(s))
	}
	for i, field := range f {
		cf := cronFields[i]
		bad := fmt.Sprintf("%s field %s is not valid: use *, N, N-M, a list with commas, or /STEP, with values %d-%d", cf.name, quote(field), cf.lo, cf.hi)
		if !cronFieldRE.MatchString(field) {
			return bad
		}
		for _, item := range strings.Split(field, ",") {
			base, step, hasStep := strings.Cut(item, "/")
			if hasStep {
				n, err := strconv.Atoi(step)
				if err != nil || n < 1 || n > cf.hi {
					return bad
				}
			}
			if base == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(base, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < cf.lo || a > cf.hi {
				return bad
			}
			if isRange {
				b, err := strconv.Atoi(hi)
				if err != nil || b < a || b > cf.hi {
					return bad
				}
			} else if hasStep {
				// "5/10" means 5-max/10 in Vixie cron but not everywhere: refuse.
				return bad
			}
		}
	}
	return ""
}

// claim records that path uses key, unless an earlier path already did:
// then it returns that one, for a "already used by" message.
func claim(seen map[string]string, key, path string) (string, bool) {
	if prev, dup := seen[key]; dup {
		return prev, true
	}
	seen[key] = path
	return "", false
}
