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
