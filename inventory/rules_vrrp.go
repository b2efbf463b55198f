package inventory

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
)

func (k *check) checkVIP() {
	c := k.c
	switch {
	case k.has("vip") && k.has("vips"):
		k.errf("vips", "give either vip (one VIP) or vips (a list), not both")
		return
	case k.has("vips"):
		k.checkVIPList()
		return
	case !k.has("vip"):
		if !k.bad["vip"] && !k.bad["vips"] {
			k.errf("vip", "required: the virtual IP with its prefix length, e.g. 192.168.83.111/24 (or vips: a list of them)")
		}
		return
	}
	p, ok := k.checkVIPAddress("vip", c.VIP)
	if !ok {
		return
	}
	c.VIPPrefix = p
	// The short form is one VIP whose master is the highest-priority lb;
	// its router id is vrrp.virtual_router_id (checked with vrrp).
	v := &VIP{Address: c.VIP, Prefix: p, Line: k.line("vip")}
	if m := c.Master(); m != nil {
		v.Master = m.Name
	}
	c.VIPs = []*VIP{v}
}

// checkVIPList checks the long form: each VIP's address, its own router id
// (distinct), and exactly one intended master that is an lb host.
func (k *check) checkVIPList() {
	c := k.c
	if len(c.VIPs) == 0 {
		k.errf("vips", "must list at least one VIP, each with address, virtual_router_id and master")
		return
	}
	if k.has("vrrp.virtual_router_id") {
		k.errf("vrrp.virtual_router_id", "with vips, each VIP has its own virtual_router_id: remove this one")
	}
	ids := map[int]string{}
	addrs := map[netip.Addr]string{}
	ok := true
	for i, v := range c.VIPs {
		vp := k.path(v, fmt.Sprintf("vips[%d]", i))
		switch {
		case k.bad[vp+".address"]:
			ok = false
		case !k.has(vp + ".address"):
			k.errf(vp+".address", "required: the VIP with its prefix length, e.g. 10.0.0.100/24")
			ok = false
		default:
			p, good := k.checkVIPAddress(vp+".address", v.Address)
			if !good {
				ok = false
				break
			}
			v.Prefix = p
			if prev, dup := addrs[p.Addr()]; dup {
				k.errf(vp+".address", "VIP %s is also %s: each VIP must be a different address", p.Addr(), prev)
				ok = false
			}
			addrs[p.Addr()] = vp
		}
		rp := vp + ".virtual_router_id"
		switch {
		case k.bad[rp]:
			ok = false
		case !k.has(rp):
			k.errf(rp, "required: a number 1-255 that no other VRRP router on this network uses; each VIP needs its own")
			ok = false
		case v.VirtualRouterID < 1 || v.VirtualRouterID > 255:
			k.errf(rp, "must be between 1 and 255, got %d", v.VirtualRouterID)
			ok = false
		default:
			if prev, dup := ids[v.VirtualRouterID]; dup {
				k.errf(rp, "virtual_router_id %d is also used by %s: each VIP is its own VRRP instance and needs its own id", v.VirtualRouterID, prev)
				ok = false
			}
			ids[v.VirtualRouterID] = vp
		}
		mp := vp + ".master"
		switch {
		case k.bad[mp]:
			ok = false
		case !k.has(mp):
			k.errf(mp, "required: the lb host meant to hold this VIP (exactly one), one of %s", lbNames(c))
			ok = false
		default:
			if h := k.host(v.Master); h == nil || !h.HasRole(RoleLB) {
				k.errf(mp, "%s is not an lb host: name the one lb meant to hold this VIP, one of %s", quote(v.Master), lbNames(c))
				ok = false
			}
		}
	}
	if ok {
		c.VIPPrefix = c.VIPs[0].Prefix
	} else {
		c.VIPs = nil
	}
}

func lbNames(c *Cluster) string {
	var out []string
	for _, h := range c.HostsWithRole(RoleLB) {
		out = append(out, h.Name)
	}
	return nameList(out)
}

// checkVIPAddress checks one VIP address with prefix at path.
func (k *check) checkVIPAddress(path, s string) (netip.Prefix, bool) {
	c := k.c
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err2 := netip.ParseAddr(s); err2 == nil && a.Is4() {
			k.errf(path, "needs a prefix length, e.g. %s/24 (the subnet of the lb hosts)", a)
		} else {
			k.errf(path, "must be an IPv4 address with prefix length, e.g. 10.0.0.100/24, got %s", quote(s))
		}
		return p, false
	}
	a := p.Addr()
	if !a.Is4() {
		k.errf(path, "IPv6 VIPs are not supported yet: use an IPv4 address with prefix length, e.g. 10.0.0.100/24")
		return p, false
	}
	if p.Bits() < 8 {
		k.errf(path, "prefix length must be between /8 and /32, got /%d", p.Bits())
		return p, false
	}
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		k.errf(path, "%s is not a usable unicast address for a VIP", a)
		return p, false
	case p.Bits() <= 30 && a == p.Masked().Addr():
		k.errf(path, "%s is the network address of %s: pick a free host address inside it", a, p.Masked())
		return p, false
	case p.Bits() <= 30 && a == lastAddr(p):
		k.errf(path, "%s is the broadcast address of %s: pick a free host address inside it", a, p.Masked())
		return p, false
	}
	for _, h := range c.Hosts {
		ha, err := netip.ParseAddr(h.Address)
		if err == nil && ha.Unmap() == a {
			k.errf(path, "VIP %s is also the address of host %s: the VIP must be a free address", a, h.Name)
		}
	}
	for _, h := range c.HostsWithRole(RoleLB) {
		ha, err := netip.ParseAddr(h.Address)
		switch {
		case h.Address == "" || addressProblem(h.Address) != "":
		case err != nil:
			k.warnf(path, "cannot check that VIP %s is in the subnet of %s: its address %s is a DNS name", p, h.Name, h.Address)
		case !ha.Unmap().Is4():
			k.errf(path, "lb host %s has the IPv6 address %s: the VIP is IPv4, lb hosts need IPv4 addresses in its subnet", h.Name, ha)
		case !p.Contains(ha.Unmap()):
			k.errf(path, "VIP %s is not in the subnet of lb host %s (%s): keepalived adds the VIP on that host's interface, so it must share the subnet %s", p, h.Name, ha, p.Masked())
		}
	}
	return p, true
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
	case k.has("vips"): // each VIP has its own (checkVIPList)
	case k.bad["vrrp.virtual_router_id"]:
	case !k.has("vrrp.virtual_router_id"):
		k.errf("vrrp.virtual_router_id", "required: a number 1-255 that no other VRRP router on this network uses (there is no default: colliding IDs, like everyone's 51, make clusters fight over VIPs)")
	default:
		if k.intField("vrrp.virtual_router_id", &v.VirtualRouterID, 0, 1, 255, "") && len(k.c.VIPs) == 1 {
			k.c.VIPs[0].VirtualRouterID = v.VirtualRouterID
		}
	}
	if v.Unicast {
		k.checkUnicast()
	}
	k.checkVersion()
	if k.has("vrrp.auth_pass") && v.Version == 3 {
		k.errf("vrrp.auth_pass", "VRRP version 3 has no authentication (RFC 5798 removed it): remove auth_pass, or keep vrrp.version 2")
	} else if k.has("vrrp.auth_pass") {
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

// checkVersion: VRRPv2 counts advert_int in whole seconds, VRRPv3 in
// hundredths (keepalived rounds anything finer). Every lb renders the same
// version and interval from the one vrrp section: peers that differ drop
// each other's adverts and both become master.
func (k *check) checkVersion() {
	v := &k.c.VRRP
	if !k.intField("vrrp.version", &v.Version, DefaultVRRPVersion, 2, 3, "VRRP version: 2, or 3 for sub-second advert_int") {
		return
	}
	if !k.has("vrrp.advert_int") {
		v.AdvertInt = DefaultAdvertInt
		return
	}
	a := v.AdvertInt
	if v.Version == 3 {
		if cs := a * 100; a < 0.01 || a > 40.95 || math.Abs(cs-math.Round(cs)) > 1e-6 {
			k.errf("vrrp.advert_int", "must be between 0.01 and 40.95 seconds in steps of 0.01 with vrrp.version 3, got %v", a)
		}
		return
	}
	switch {
	case a < 1 || a > 255:
		k.errf("vrrp.advert_int", "must be between 1 and 255 whole seconds with VRRP version 2, got %v (sub-second adverts need vrrp.version: 3)", a)
	case a != math.Trunc(a):
		k.errf("vrrp.advert_int", "must be whole seconds with VRRP version 2, got %v (sub-second adverts need vrrp.version: 3)", a)
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

// checkUnicast: keepalived's unicast_src_ip and unicast_peer take IP
// addresses, so every lb host needs one (a DNS name would be resolved once,
// at config load, and silently go stale).
func (k *check) checkUnicast() {
	lbs := k.c.HostsWithRole(RoleLB)
	for _, h := range lbs {
		ap := k.path(h, "hosts") + ".address"
		if h.Address == "" || addressProblem(h.Address) != "" {
			continue // already reported
		}
		if a, err := netip.ParseAddr(h.Address); err != nil {
			k.errf(ap, "vrrp.unicast is on: lb host %s needs an IP address (keepalived's unicast_src_ip and unicast_peer take addresses), got the DNS name %s", h.Name, quote(h.Address))
		} else if !a.Unmap().Is4() {
			k.errf(ap, "vrrp.unicast is on: lb host %s needs an IPv4 address (VRRP here is IPv4), got %s", h.Name, a)
		}
	}
}

// checkFailover proves that a dead haproxy on the master moves the VIP: the
// master's priority minus check_weight must fall below every backup's. Every
// VIP's instance uses the same set of priorities with its own master on top
// (Cluster.VIPPriority), so this one check covers each VIP.
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
