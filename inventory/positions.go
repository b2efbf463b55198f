package inventory

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

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
