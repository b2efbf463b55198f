package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseYAML reads exactly one YAML document. A nil node with no error means
// the document is empty.
func (d *decoder) parseYAML(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errAt(1, "", "%s", emptyInventory)
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
		if len(root.Content) == 0 || isEmptyNode(root.Content[0]) {
			// A bare "---" holds an empty null that yaml.v3 places on the
			// line after it, past the end of a one-line file.
			d.errAt(max(1, min(root.Line, newText(data).lines())), "", "%s", emptyInventory)
			return nil
		}
		root = root.Content[0]
	}
	if root.Line > 0 {
		d.rootLine = root.Line
	}
	return root
}

// emptyInventory is the message for a file with no YAML content.
const emptyInventory = "the file holds no inventory (empty document): it needs at least hosts, vip and vrrp.virtual_router_id"

// isEmptyNode reports whether n is the null of a document with no content
// (as opposed to an explicit ~ or null).
func isEmptyNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Tag == "!!null" && n.Style == 0 && n.Anchor == ""
}

// firstYAMLError reads data as parseYAML does and returns the syntax error, if any.
func firstYAMLError(data []byte) error { return yamlErrorFrom(bytes.NewReader(data)) }

func yamlErrorFrom(r io.Reader) error {
	dec := yaml.NewDecoder(r)
	for range 2 {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

var (
	yamlPrefixRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)
	yamlAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// syntaxError turns a yaml.v3 error into one Error, in words for the common
// mistakes, on the line of the mistake.
func (d *decoder) syntaxError(data []byte, err error) {
	line, msg := explainYAMLError(newText(data), err)
	d.errAt(line, "", "%s", msg)
}

func explainYAMLError(t *text, err error) (int, string) {
	full := err.Error()
	reported := 0 // the line yaml.v3 names, if any
	if m := yamlPrefixRE.FindStringSubmatch(full); m != nil && m[1] != "" {
		reported, _ = strconv.Atoi(m[1])
	}
	msg := yamlPrefixRE.ReplaceAllString(full, "")

	// Reader errors carry no line: find the byte.
	if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode") {
		if off, m := badChar(t); off >= 0 {
			return t.lineOf(off), m
		}
	}
	// Unclosed strings and brackets fail at the end of the file; yaml.v3
	// names the line where they open, unless that is line 1: then it names
	// a later one. (Quotes are scanner errors, counted from 1; brackets are
	// parser errors, counted from 0.)
	switch msg {
	case "found unexpected end of stream":
		for _, l := range []int{reported, 1} {
			if q := unclosedQuote(t.line(l)); q != 0 {
				return l, fmt.Sprintf("unclosed quote: the string opened with %c on this line is never closed", q)
			}
		}
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'":
		open, kind, close := byte('['), "list", "a ']' (or a ',' between two items)"
		if strings.HasSuffix(msg, "'}'") {
			open, kind, close = '{', "mapping", "a '}' (or a ',' between two entries)"
		}
		for _, l := range []int{reported + 1, 1} {
			if unclosedBracket(t.line(l), open) {
				return l, fmt.Sprintf("unclosed '%c': the %s opened on this line needs %s", open, kind, close)
			}
		}
	}

	ps := &prefixSearch{t: t, want: full, fails: map[int]error{}}
	line := ps.line()
	s := t.line(line)
	switch {
	case strings.Contains(msg, "tab character") || msg == "found character that cannot start any token" && bytes.ContainsRune(s, '\t'):
		if indent := s[:len(s)-len(bytes.TrimLeft(s, " \t"))]; bytes.ContainsRune(indent, '\t') {
			return line, "tab character used for indentation; YAML indents with spaces"
		}
		if i := bytes.IndexByte(s, '\t'); i >= 0 {
			return line, fmt.Sprintf("tab character in column %d where YAML needs a space", 1+utf8.RuneCount(s[:i]))
		}
	case msg == "found character that cannot start any token":
		if i := bytes.IndexAny(s, "@`"); i >= 0 {
			return line, fmt.Sprintf("%q in column %d cannot start a YAML value: put the value in quotes", s[i], 1+utf8.RuneCount(s[:i]))
		}
	}
	// The line starts inside a string opened on an earlier line, and a later
	// quote closed it: the quote that opened it is the likely mistake.
	if e := ps.before(line); e != nil && strings.HasSuffix(e.Error(), "found unexpected end of stream") {
		m := yamlPrefixRE.FindStringSubmatch(e.Error())
		r, _ := strconv.Atoi(m[1])
		for _, l := range []int{r, 1} {
			if q := unclosedQuote(t.line(l)); q != 0 && l < line {
				return l, fmt.Sprintf("unclosed quote: the string opened with %c on this line runs on to line %d, where YAML fails (%s)", q, line, msg)
			}
		}
	}
	switch {
	case msg == "mapping values are not allowed in this context":
		return line, `a ':' where YAML allows no mapping: check this line's indentation, or put a value that contains ": " in quotes`
	case msg == "did not find expected key":
		return line, "bad indentation: this line does not line up with the keys above it"
	case msg == "did not find expected '-' indicator":
		return line, "bad indentation: this line does not line up with the '- ' items of the list above it"
	case msg == "block sequence entries are not allowed in this context":
		return line, "a '- ' list item where YAML allows none: check this line's indentation"
	case msg == "could not find expected ':'":
		return line, "a key without ':' after it (could not find expected ':')"
	case msg == "did not find expected ',' or ']'" || msg == "did not find expected ',' or '}'":
		return line, "a ',' is missing between two items of a [...] list or {...} mapping (" + msg + ")"
	}
	if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		return line, fmt.Sprintf("alias *%s refers to an anchor &%s that is not defined before it", m[1], m[1])
	}
	return line, "invalid YAML: " + msg
}

// prefixSearch finds the line on which yaml.v3 fails with the error want.
// yaml.v3 names the line where the enclosing block, list or value starts
// (its "context"), which can be a hundred lines above the mistake, and does
// not expose the position of the problem itself. The mistake is on the
// first line n such that lines 1..n alone fail the same way: a prefix that
// stops before it parses, or fails in another way.
type prefixSearch struct {
	t     *text
	want  string
	fails map[int]error // n -> the error of lines 1..n
}

// fail reports whether lines 1..n fail as the whole file does.
func (ps *prefixSearch) fail(n int) bool {
	e, ok := ps.fails[n]
	if !ok {
		e = firstYAMLError(ps.t.prefix(n))
		ps.fails[n] = e
	}
	return e != nil && e.Error() == ps.want
}

// before is the error of the lines above n (nil when they parse).
func (ps *prefixSearch) before(n int) error {
	if n <= 1 {
		return nil
	}
	ps.fail(n - 1)
	return ps.fails[n-1]
}

func (ps *prefixSearch) line() int {
	// Fed one byte per Read, yaml.v3 has read little past the mistake when it
	// fails: the line it stopped on is an upper bound, and usually the answer.
	hi := ps.t.lines()
	r := &oneByteReader{data: ps.t.data}
	if e := yamlErrorFrom(r); e != nil && e.Error() == ps.want && r.n > 0 {
		hi = min(hi, ps.t.lineOf(r.n-1))
	}
	// Walk up in doubling steps to a prefix that does not fail, then bisect.
	lo := 1
	for step := 1; hi > 1; step *= 2 {
		n := max(1, hi-step)
		if !ps.fail(n) {
			lo = n + 1
			break
		}
		hi = n
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ps.fail(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

type oneByteReader struct {
	data []byte
	n    int
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.n >= len(r.data) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.data[r.n]
	r.n++
	return 1, nil
}

// unclosedQuote returns the quote character of a string that opens on line
// and does not close on it, or 0. Comments and plain words with an
// apostrophe (it's) do not count.
func unclosedQuote(line []byte) byte {
	var in byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case in == '"' && c == '\\':
			i++
		case in == '"' && c == '"':
			in = 0
		case in == '\'' && c == '\'':
			if i+1 < len(line) && line[i+1] == '\'' {
				i++ // '' is an escaped quote
			} else {
				in = 0
			}
		case in != 0:
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return 0
		case (c == '"' || c == '\'') && (i == 0 || bytes.IndexByte([]byte(" \t[{,:?-"), line[i-1]) >= 0):
			in = c
		}
	}
	return in
}

// unclosedBracket reports whether more of open ('[' or '{') than of its
// closing bracket appear on line, outside quotes and comments.
func unclosedBracket(line []byte, open byte) bool {
	close := byte(']')
	if open == '{' {
		close = '}'
	}
	depth := 0
	var in byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case in == '"' && c == '\\':
			i++
		case in != 0 && c == in:
			in = 0
		case in != 0:
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return depth > 0
		case (c == '"' || c == '\'') && (i == 0 || bytes.IndexByte([]byte(" \t[{,:?-"), line[i-1]) >= 0):
			in = c
		case c == open:
			depth++
		case c == close:
			depth--
		}
	}
	return depth > 0
}
