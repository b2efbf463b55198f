package inventory

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile or broken file from using unbounded time or memory.
const (
	maxInventorySize = 1 << 20 // bytes
	maxNodes         = 100000  // YAML nodes visited, aliases included
	maxDepth         = 32      // nesting of mappings and lists
	maxAliasHops     = 32      // an alias pointing at an alias pointing at ...
)

// decoder turns a yaml.Node tree into the typed model, recording where every
// field was found so that later checks can point at the right line.
type decoder struct {
	file     string
	errs     Errors
	warns    Errors
	rootLine int
	pos      map[string]int  // field path -> line of the field
	set      map[string]bool // field path -> present and well typed
	bad      map[string]bool // field path -> present but of the wrong type
	paths    map[any]string  // *Host, *Backend, *Server, *Route -> field path
	visits   int
	stopped  bool
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:     file,
		rootLine: 1,
		pos:      map[string]int{},
		set:      map[string]bool{},
		bad:      map[string]bool{},
		paths:    map[any]string{},
	}
}

// deref follows aliases. It returns nil (after recording an error) for an
// alias chain that is too long.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops >= maxAliasHops || n.Alias == nil {
			d.errAt(n.Line, path, "alias *%s cannot be resolved", n.Value)
			d.bad[path] = true
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "the string " + quote(n.Value)
		case "!!int", "!!float":
			return "the number " + quote(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "nothing"
		default:
			return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " value"
		}
	}
	return "an unexpected YAML node"
}

// value decodes n into v. It reports whether n was present (not null) and of
// the right type; nested problems are recorded but do not make it false.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value, depth int) bool {
	if d.stopped || n == nil {
		return false
	}
	d.visits++
	if d.visits > maxNodes {
		d.stopped = true
		d.errAt(n.Line, path, "the inventory is too large (more than %d YAML values, aliases counted)", maxNodes)
		return false
	}
	if depth > maxDepth {
		d.stopped = true
		d.errAt(n.Line, path, "nested too deeply (more than %d levels)", maxDepth)
		return false
	}
	line := n.Line
	d.pos[path] = line
	if n = d.deref(n, path); n == nil {
		return false
	}
	if isNull(n) {
		return false
	}
	if hint := placeholderHint(path); hint != "" && n.Kind == yaml.ScalarNode && n.Value == Placeholder {
		// CHANGE-ME is a valid DNS name: without this rule an unfilled
		// address would pass (and collide with the other placeholders).
		d.errAt(line, path, "still the placeholder %s that `hadeploy init` wrote: %s", Placeholder, hint)
		d.bad[path] = true
		return false
	}
	typeErr := func(want string) bool {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && n.ShortTag() == "!!str" {
			if _, err := strconv.Atoi(n.Value); err == nil && want == "a whole number" {
				hint = " (remove the quotes)"
			}
		}
		d.errAt(line, path, "must be %s, got %s%s", want, describe(n), hint)
		d.bad[path] = true
		return false
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return typeErr("a string")
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && bigIntRE.MatchString(n.Value) {
			d.errAt(line, path, "the number %s is out of range", quote(n.Value))
			d.bad[path] = true
			return false
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return typeErr("a whole number")
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			return typeErr("a whole number")
		}
		if v.OverflowInt(i) {
			d.errAt(line, path, "the number %s is out of range", quote(n.Value))
			d.bad[path] = true
			return false
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			return typeErr("a number")
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return typeErr("a number")
		}
		v.SetFloat(f)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return typeErr("true or false")
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return typeErr("true or false")
		}
		v.SetBool(b)
	case reflect.Slice:
		elem := v.Type().Elem()
		items := n.Content
		switch {
		case n.Kind == yaml.SequenceNode:
		case n.Kind == yaml.ScalarNode && elem.Kind() == reflect.String:
			// A single string where a list of strings is expected: a list of one.
			items = []*yaml.Node{n}
		default:
			return typeErr("a list")
		}
		out := reflect.MakeSlice(v.Type(), 0, len(items))
		for i, it := range items {
			p := fmt.Sprintf("%s[%d]", path, i)
			if it == nil {
				continue
			}
			if r := d.deref(it, p); r != nil && isNull(r) {
				d.errAt(it.Line, p, "empty list entry")
				d.bad[p] = true
				continue
			}
			ev := reflect.New(elem).Elem()
			target := ev
			if elem.Kind() == reflect.Pointer {
				ev = reflect.New(elem.Elem())
				target = ev.Elem()
			}
			if d.value(it, p, target, depth+1) {
				out = reflect.Append(out, ev)
				if elem.Kind() == reflect.Pointer {
					d.paths[ev.Interface()] = p
				}
			}
		}
		v.Set(out)
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if !d.value(n, path, nv.Elem(), depth) {
			return false
		}
		v.Set(nv)
		return true
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return typeErr("a mapping of fields (field: value)")
		}
		d.fields(n, line, path, v, depth)
	default:
		d.errAt(line, path, "this field cannot be read from YAML (unsupported type %s)", v.Type())
		d.bad[path] = true
		return false
	}
	d.set[path] = true
	return true
}

type fieldInfo struct {
	name  string
	index int
}

// structFields lists the YAML names of t's fields, in declaration order.
func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name: name, index: i})
	}
	return out
}

// fields decodes a mapping into struct v: unknown and duplicate keys are errors.
func (d *decoder) fields(n *yaml.Node, line int, path string, v reflect.Value, depth int) {
	known := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, val := n.Content[i], n.Content[i+1]
		if kn == nil || val == nil {
			continue
		}
		keyLine := kn.Line
		k := d.deref(kn, path)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errAt(keyLine, path, "field names must be plain words, got %s as a key", describe(k))
			continue
		}
		name := k.Value
		fp := joinPath(path, name)
		if name == "<<" && k.ShortTag() == "!!merge" {
			d.errAt(keyLine, fp, "YAML merge keys (<<) are not supported in an inventory: write the fields out")
			continue
		}
		if first, dup := seen[name]; dup {
			d.errAt(keyLine, fp, "duplicate field %s (first set on line %d): say it once", quote(name), first)
			continue
		}
		seen[name] = keyLine
		fi := -1
		for _, f := range known {
			if f.name == name {
				fi = f.index
				break
			}
		}
		if fi < 0 {
			d.errAt(keyLine, fp, "%s", unknownFieldMsg(name, known))
			continue
		}
		d.value(val, fp, v.Field(fi), depth+1)
		// A section or list is reported on the line of its key.
		if r := d.deref(val, fp); r != nil && r.Kind != yaml.ScalarNode {
			d.pos[fp] = keyLine
		}
	}
	if f, ok := v.Type().FieldByName("Line"); ok && f.Type.Kind() == reflect.Int && f.Tag.Get("yaml") == "-" {
		v.FieldByIndex(f.Index).SetInt(int64(line))
	}
}
