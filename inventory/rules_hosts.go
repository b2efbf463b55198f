package inventory

import (
	"fmt"
	"net/netip"
	"strings"
)

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
