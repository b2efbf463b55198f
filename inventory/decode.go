package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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

// errAt records an error on an explicit line.
func (d *decoder) errAt(line int, path, format string, args ...any) {
	if line < 0 {
		line = 0
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// errf records an error on the line of path (or of its nearest parent).
func (d *decoder) errf(path, format string, args ...any) {
	d.errAt(d.line(path), path, format, args...)
}

// warnf records a warning on the line of path.
func (d *decoder) warnf(path, format string, args ...any) {
	d.warns = append(d.warns, &Error{File: d.file, Line: d.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// line is the line of path, or of its nearest parent that was seen, or of the
// top of the document.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.pos[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return d.rootLine
}

// has reports whether path was present, non-null and of the right type.
func (d *decoder) has(path string) bool { return d.set[path] }

// parentPath strips the last ".field" or "[i]" from path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func joinPath(path, name string) string {
	if !plainKey.MatchString(name) {
		name = quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	bigIntRE = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)
)

// quote renders a user value for a message: Go-quoted (so control characters
// cannot reach a terminal) and shortened.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// parseYAML reads exactly one YAML document. A nil node with no error means
// the document is empty.
func (d *decoder) parseYAML(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errAt(1, "", "the inventory is empty: it needs at least hosts, vip and vrrp.virtual_router_id")
			return nil
		}
		d.syntaxError(data, err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errAt(next.Line, "", "a second YAML document starts here (---): an inventory is a single document")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntaxError(data, err)
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			d.errAt(1, "", "the inventory is empty: it needs at least hosts, vip and vrrp.virtual_router_id")
			return nil
		}
		root = root.Content[0]
	}
	if root.Line > 0 {
		d.rootLine = root.Line
	}
	return root
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// yaml.v3 reports parser (as opposed to scanner) errors with a 0-based line.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxError turns a yaml.v3 error into one Error with the best line we can find.
func (d *decoder) syntaxError(data []byte, err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		for _, p := range yamlParserProblems {
			if msg == p {
				line++
				break
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := yamlAnchorRE.FindStringSubmatch(err.Error()); m != nil {
			line = lineOfSubstring(data, "*"+m[1])
			msg = fmt.Sprintf("alias *%s refers to an anchor &%s that is not defined before it", m[1], m[1])
		} else {
			line = firstBadCharLine(data)
		}
	}
	// End-of-stream problems are reported past the last line: point at it.
	last := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		last++
	}
	if line > last {
		line = last
	}
	if line < 1 {
		line = 1
	}
	d.errAt(line, "", "invalid YAML: %s", msg)
}

func lineOfSubstring(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 1
	}
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

// firstBadCharLine finds the line of the first byte YAML refuses (invalid
// UTF-8 or a control character), for reader errors that carry no line.
func firstBadCharLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return line
		}
		switch {
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return line
		}
		i += n
	}
	return 1
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

// synonyms are names people reach for; a suggestion is made only when the
// target is a field of the mapping in question.
var synonyms = map[string][]string{
	"ip":               {"address"},
	"addr":             {"address"},
	"host":             {"address"},
	"hostname":         {"name", "address"},
	"role":             {"roles"},
	"vrid":             {"virtual_router_id"},
	"router_id":        {"virtual_router_id"},
	"password":         {"auth_pass"},
	"pass":             {"auth_pass"},
	"backups":          {"keep_backups"},
	"default":          {"default_backend"},
	"suffix":           {"path_suffix"},
	"suffixes":         {"path_suffix"},
	"extensions":       {"path_suffix"},
	"server":           {"servers"},
	"backend":          {"backends", "default_backend"},
	"ntp":              {"server"},
	"ntp_server":       {"server"},
	"cron":             {"schedule"},
	"key":              {"identity_file"},
	"ssh_key":          {"identity_file"},
	"iface":            {"interface"},
	"nic":              {"interface"},
	"timeout":          {"connect_timeout"},
	"username":         {"user"},
	"weight":           {"check_weight"},
	"interval":         {"check_interval", "check_inter"},
	"max_conn":         {"maxconn"},
	"stats_url":        {"stats_uri"},
	"known_hosts_file": {"known_hosts"},
}

func unknownFieldMsg(name string, known []fieldInfo) string {
	names := make([]string, len(known))
	for i, f := range known {
		names[i] = f.name
	}
	msg := "unknown field " + quote(name)
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; allowed: " + strings.Join(names, ", ")
}

// closest suggests the allowed name nearest to name, or "".
func closest(name string, names []string) string {
	norm := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	norm = strings.ReplaceAll(norm, " ", "_")
	for _, n := range names {
		if n == norm {
			return n
		}
	}
	for _, s := range synonyms[norm] {
		for _, n := range names {
			if n == s {
				return n
			}
		}
	}
	if len(norm) > 64 {
		return ""
	}
	best, bestD := "", 0
	for _, n := range names {
		dist := levenshtein(norm, n)
		limit := len(n) / 3
		if limit < 1 {
			limit = 1
		}
		if limit > 3 {
			limit = 3
		}
		if dist <= limit && (best == "" || dist < bestD) {
			best, bestD = n, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
