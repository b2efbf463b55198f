package inventory

import (
	"fmt"
	"net/netip"
	"strings"
)

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
	k.checkNotify()
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
