package inventory

// Redacted returns a deep copy of c with the secrets (vrrp.auth_pass and
// haproxy.stats_auth.password) replaced by "********", for plans and logs.
func (c *Cluster) Redacted() *Cluster {
	if c == nil {
		return nil
	}
	r := c.clone()
	if r.VRRP.AuthPass != "" {
		r.VRRP.AuthPass = Redaction
	}
	if r.HAProxy.StatsAuth != nil && r.HAProxy.StatsAuth.Password != "" {
		r.HAProxy.StatsAuth.Password = Redaction
	}
	return r
}

// Redaction replaces secrets in Redacted copies.
const Redaction = "********"

// clone is a deep copy: nothing in the result shares memory with c.
func (c *Cluster) clone() *Cluster {
	r := *c
	r.Hosts = nil
	for _, h := range c.Hosts {
		if h == nil {
			r.Hosts = append(r.Hosts, nil)
			continue
		}
		hc := *h
		hc.Roles = append([]string(nil), h.Roles...)
		r.Hosts = append(r.Hosts, &hc)
	}
	if c.HAProxy.StatsAuth != nil {
		a := *c.HAProxy.StatsAuth
		r.HAProxy.StatsAuth = &a
	}
	r.HAProxy.Backends = nil
	for _, b := range c.HAProxy.Backends {
		if b == nil {
			r.HAProxy.Backends = append(r.HAProxy.Backends, nil)
			continue
		}
		bc := *b
		bc.Servers = nil
		for _, s := range b.Servers {
			if s == nil {
				bc.Servers = append(bc.Servers, nil)
				continue
			}
			sc := *s
			bc.Servers = append(bc.Servers, &sc)
		}
		r.HAProxy.Backends = append(r.HAProxy.Backends, &bc)
	}
	r.HAProxy.Routes = nil
	for _, rt := range c.HAProxy.Routes {
		if rt == nil {
			r.HAProxy.Routes = append(r.HAProxy.Routes, nil)
			continue
		}
		rc := *rt
		rc.PathSuffix = append([]string(nil), rt.PathSuffix...)
		r.HAProxy.Routes = append(r.HAProxy.Routes, &rc)
	}
	r.Warnings = append([]string(nil), c.Warnings...)
	return &r
}
