package inventory

import (
	"fmt"
	"strings"
)

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
	k.checkTLS()
	k.checkMetrics()
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
