package inventory

import (
	"bytes"
	"unicode/utf8"
)

// text is an inventory cut into lines the way yaml.v3 counts them (LF, CRLF,
// CR, NEL, LS and PS each end a line), so that the lines found here agree with
// the lines yaml.v3 gives nodes.
type text struct {
	data   []byte
	starts []int // offset where each line starts; starts[0] == 0
}

func newText(data []byte) *text {
	t := &text{data: data, starts: []int{0}}
	for i := 0; i < len(data); {
		if n := breakLen(data, i); n > 0 {
			i += n
			t.starts = append(t.starts, i)
			continue
		}
		i++
	}
	return t
}

// breakLen is the length of the line break at data[i], or 0.
func breakLen(data []byte, i int) int {
	switch b := data[i]; {
	case b == '\n':
		return 1
	case b == '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			return 2
		}
		return 1
	case b == 0xc2 && i+1 < len(data) && data[i+1] == 0x85: // NEL
		return 2
	case b == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9): // LS, PS
		return 3
	}
	return 0
}

// lines is the number of lines, not counting the empty one after a final
// line break; at least 1.
func (t *text) lines() int {
	n := len(t.starts)
	if n > 1 && t.starts[n-1] == len(t.data) {
		n--
	}
	return n
}

// lineOf is the line holding byte offset off.
func (t *text) lineOf(off int) int {
	lo, hi := 0, len(t.starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if t.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1
}

// line is the content of line n (1-based) without its line break.
func (t *text) line(n int) []byte {
	if n < 1 || n > len(t.starts) {
		return nil
	}
	start, end := t.starts[n-1], len(t.data)
	if n < len(t.starts) {
		end = t.starts[n]
	}
	s := t.data[start:end]
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if n == 1 {
		s = bytes.TrimPrefix(s, utf8BOM)
	}
	return s
}

// column is the 1-based column, in characters, of byte offset off.
func (t *text) column(off int) int {
	start := t.starts[t.lineOf(off)-1]
	if start == 0 && bytes.HasPrefix(t.data, utf8BOM) {
		start = len(utf8BOM)
	}
	if off < start {
		return 1
	}
	return 1 + utf8.RuneCount(t.data[start:off])
}

// prefix is lines 1..n followed by as many empty lines as the rest of the
// file has: yaml.v3 reports some errors at the end of the input, and this
// keeps that end on the same line as in the whole file.
func (t *text) prefix(n int) []byte {
	if n >= len(t.starts) {
		return t.data
	}
	end := t.starts[n]
	pad := len(t.starts) - 1 - n
	out := make([]byte, end+pad)
	copy(out, t.data[:end])
	for i := end; i < len(out); i++ {
		out[i] = '\n'
	}
	return out
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}
