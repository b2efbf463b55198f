package inventory

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// bigBase is base with 40 more web hosts, so that the hosts list starts near
// the top and runs for well over a hundred lines.
func bigBase() string {
	var b strings.Builder
	for i := 3; i < 43; i++ {
		n := strconv.Itoa(i)
		b.WriteString("  - name: web" + n + "\n    address: 10.0.1." + n + "\n    roles: [web]\n")
	}
	return strings.Replace(base, "  - name: lb1\n", b.String()+"  - name: lb1\n", 1)
}

// edit applies old, new pairs to doc; each old must occur exactly once.
func edit(t *testing.T, doc string, repl ...string) string {
	t.Helper()
	for i := 0; i+1 < len(repl); i += 2 {
		if n := strings.Count(doc, repl[i]); n != 1 {
			t.Fatalf("%q occurs %d times", repl[i], n)
		}
		doc = strings.Replace(doc, repl[i], repl[i+1], 1)
	}
	return doc
}

func utf16le(s string) string {
	u := utf16.Encode([]rune(s))
	b := []byte{0xff, 0xfe}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return string(b)
}

// Each common class of YAML mistake is reported in words, on the line where
// the mistake is (yaml.v3 often names the line where the enclosing block or
// value starts instead).
func TestYAMLErrors(t *testing.T) {
	big := bigBase()
	for _, tc := range []struct {
		name string
		doc  string
		at   string // the error is on the line where this text starts (last occurrence)
		line int    // or on this line
		want string
	}{
		{name: "tab indentation", doc: edit(t, base, "  port: 22\n", "\tport: 22\n"), at: "\tport: 22", want: "tab character used for indentation; YAML indents with spaces"},
		{name: "tab indentation line 1", doc: "\tname: x\n", line: 1, want: "tab character used for indentation"},
		{name: "tab indentation far from its block", doc: edit(t, big, "    address: 10.0.1.40\n", "\taddress: 10.0.1.40\n"), at: "\taddress: 10.0.1.40", want: "tab character used for indentation"},
		{name: "tab after a key", doc: edit(t, base, "  maxconn: 4000\n", "  maxconn: 4000\n  \tfall: 3\n"), at: "  \tfall: 3", want: "tab character used for indentation"},
		{name: "bad indentation far from its block", doc: edit(t, big, "    address: 10.0.1.40\n", "   address: 10.0.1.40\n"), at: "   address: 10.0.1.40", want: "bad indentation"},
		{name: "bad indentation of a key", doc: edit(t, base, "  max", " max"), at: " maxconn", want: "bad indentation"},
		{name: "list item out of line", doc: edit(t, big, "  - name: web40\n", "   - name: web40\n"), at: "   - name: web40", want: "indentation"},
		{name: "mapping value in a value", doc: edit(t, base, "web:\n  port: 8080\n", "web:\n  port: 8080\n   x: 1\n"), at: "   x: 1", want: `check this line's indentation, or put a value that contains ": " in quotes`},
		{name: "mapping value line 1", doc: "name: a: b\n", line: 1, want: "check this line's indentation"},
		{name: "invalid UTF-8", doc: edit(t, big, "address: 10.0.1.40", "address: caf\xe9"), at: "    address: caf", want: "not valid UTF-8 (byte 0xe9 in column 17): save the file as UTF-8"},
		{name: "invalid UTF-8 line 1", doc: "\xffname: x\n", line: 1, want: "not valid UTF-8 (byte 0xff in column 1)"},
		{name: "truncated UTF-8", doc: base + "x: \xc3", at: "x: ", want: "not valid UTF-8 (byte 0xc3 in column 4)"},
		{name: "NUL byte", doc: edit(t, base, "keep_backups: 5\n", "keep_backups: 5\x00\n"), at: "keep_backups", want: "NUL byte (0x00) in column 16"},
		{name: "control character", doc: edit(t, base, "vip: 10", "vip: \x1b10"), at: "vip:", want: "control character 0x1b in column 6"},
		{name: "unclosed double quote", doc: edit(t, base, "keep_backups: 5\n", "keep_backups: 5\nx: \"oops\n"), at: "x: \"oops", want: `unclosed quote: the string opened with " on this line is never closed`},
		{name: "unclosed single quote", doc: edit(t, big, "address: 10.0.1.40", "address: '10.0.1.40"), at: "    address: '10", want: "unclosed quote: the string opened with ' on this line"},
		{name: "unclosed quote closed by a later one", doc: edit(t, big, "address: 10.0.1.20", "address: \"10.0.1.20"), at: "    address: \"10.0.1.20", want: "unclosed quote"},
		{name: "unclosed quote line 1", doc: "name: \"x\nvip: 1\n", line: 1, want: "unclosed quote"},
		{name: "unclosed quote line 1 no final newline", doc: "name: \"x\nvip: 1", line: 1, want: "unclosed quote"},
		{name: "unclosed quote last line no final newline", doc: base + "x: \"oops", at: "x: \"oops", want: "unclosed quote"},
		{name: "unclosed bracket", doc: edit(t, big, "roles: [web]\n  - name: web20\n", "roles: [web\n  - name: web20\n"), at: "    roles: [web\n", want: "unclosed '[': the list opened on this line needs a ']'"},
		{name: "unclosed bracket line 1", doc: "hosts: [a, b\nvip: 1\n", line: 1, want: "unclosed '['"},
		{name: "unclosed brace", doc: edit(t, base, "vip: 10.0.0.100/24\n", "vip: {a: 1\n"), at: "vip: {", want: "unclosed '{': the mapping opened on this line needs a '}'"},
		{name: "empty document marker only", doc: "---\n", line: 1, want: "the file holds no inventory (empty document)"},
		{name: "empty document marker no newline", doc: "---", line: 1, want: "holds no inventory"},
		{name: "empty document and a comment", doc: "---\n# later\n", line: 1, want: "holds no inventory"},
		{name: "empty document after a comment", doc: "# first\n---\n", line: 2, want: "holds no inventory"},
		{name: "comments only", doc: "# nothing here\n", line: 1, want: "holds no inventory"},
		{name: "null document", doc: "\n\n~\n", line: 3, want: "holds no inventory"},
		{name: "CRLF line ends", doc: strings.ReplaceAll(edit(t, base, "  port: 22\n", "\tport: 22\n"), "\n", "\r\n"), at: "\tport: 22", want: "tab character used for indentation"},
		{name: "UTF-16 with a mistake", doc: utf16le(edit(t, base, "  port: 22\n", "\tport: 22\n")), line: 4, want: "tab character used for indentation"},
		{name: "UTF-16 unpaired surrogate", doc: utf16le(base)[:40] + "\x00\xd8" + "a\x00\n\x00", line: 3, want: "not valid UTF-16"},
		{name: "UTF-16 odd length", doc: utf16le("name: x\n") + "a", line: 2, want: "not valid UTF-16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := parseErrors(t, "inv.yaml", tc.doc)
			want := tc.line
			if tc.at != "" {
				i := strings.LastIndex(tc.doc, tc.at)
				if i < 0 {
					t.Fatalf("%q not in the document", tc.at)
				}
				want = 1 + strings.Count(tc.doc[:i], "\n")
			}
			if len(es) != 1 || es[0].Line != want || !strings.Contains(es[0].Msg, tc.want) {
				t.Fatalf("got %v\nwant inv.yaml:%d: ...%s", es, want, tc.want)
			}
			if es[0].Field != "" {
				t.Errorf("field %q on a syntax error", es[0].Field)
			}
		})
	}
}

// A UTF-16 inventory with a byte order mark (which yaml.v3 reads) and one
// with a UTF-8 BOM are accepted.
func TestByteOrderMarks(t *testing.T) {
	for name, doc := range map[string]string{"utf-8": "\xef\xbb\xbf" + base, "utf-16le": utf16le(base)} {
		if _, err := Parse(name, []byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
