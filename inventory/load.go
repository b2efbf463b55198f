package inventory

import (
	"fmt"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Load reads the inventory at path and parses it (see Parse).
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes an inventory, applies defaults and checks every rule. file is
// used in messages and stored in Cluster.File. On failure the error is an
// Errors holding every problem found, sorted by line, and the cluster is nil.
// Non-fatal findings are returned in Cluster.Warnings.
func Parse(file string, data []byte) (c *Cluster, err error) {
	defer func() {
		if r := recover(); r != nil {
			c = nil
			err = Errors{{File: file, Line: 0, Msg: fmt.Sprintf("internal error while checking the inventory (please report this): %v", r)}}
		}
	}()
	d := newDecoder(file)
	if len(data) > maxInventorySize {
		d.errAt(1, "", "the inventory is %d bytes; the limit is %d", len(data), maxInventorySize)
		return nil, d.errs
	}
	root := d.parseYAML(data)
	if root == nil {
		return nil, d.finish()
	}
	c = &Cluster{File: file}
	d.pos[""] = d.rootLine
	if r := d.deref(root, ""); r == nil {
		return nil, d.finish()
	} else if isNull(r) {
		d.errAt(r.Line, "", "the inventory is empty: it needs at least hosts, vip and vrrp.virtual_router_id")
		return nil, d.finish()
	} else if r.Kind != yaml.MappingNode {
		d.errAt(root.Line, "", "the inventory must be a mapping of fields (name:, hosts:, vip:, vrrp:, ...), got %s", describe(r))
		return nil, d.finish()
	}
	d.value(root, "", reflect.ValueOf(c).Elem(), 0)
	if !d.stopped {
		(&check{decoder: d, c: c}).run()
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	d.warns.sort()
	for _, w := range d.warns {
		c.Warnings = append(c.Warnings, w.Error())
	}
	return c, nil
}

// finish returns the sorted errors, or nil when there are none.
func (d *decoder) finish() error {
	if len(d.errs) == 0 {
		return nil
	}
	d.errs.sort()
	return d.errs
}

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
