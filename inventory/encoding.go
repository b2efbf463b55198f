package inventory

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// fromUTF16 converts a file that starts with a UTF-16 byte order mark (which
// yaml.v3 reads too) to UTF-8, so that lines, columns and bytes in messages
// are those of one encoding. ok is false for any other file. On invalid
// UTF-16, problem says why and out ends with U+FFFD in place of the bad
// character.
func fromUTF16(data []byte) (out []byte, ok bool, problem string) {
	var order func(b []byte) uint16
	switch {
	case len(data) >= 2 && data[0] == 0xff && data[1] == 0xfe:
		order = func(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
	case len(data) >= 2 && data[0] == 0xfe && data[1] == 0xff:
		order = func(b []byte) uint16 { return uint16(b[1]) | uint16(b[0])<<8 }
	default:
		return nil, false, ""
	}
	out = make([]byte, 0, len(data))
	for i := 2; i < len(data); i += 2 {
		if i+1 == len(data) {
			return utf8.AppendRune(out, utf8.RuneError), true, "not valid UTF-16 (the file ends in the middle of a character): save the file as UTF-8"
		}
		c := rune(order(data[i:]))
		if utf16.IsSurrogate(c) {
			var d rune = utf8.RuneError
			if c < 0xdc00 && i+3 < len(data) {
				d = utf16.DecodeRune(c, rune(order(data[i+2:])))
			}
			if d == utf8.RuneError {
				return utf8.AppendRune(out, utf8.RuneError), true, fmt.Sprintf("not valid UTF-16 (unpaired surrogate 0x%04x): save the file as UTF-8", c)
			}
			c = d
			i += 2
		}
		out = utf8.AppendRune(out, c)
	}
	return out, true, ""
}

// badChar finds the first character yaml.v3's reader refuses: a byte that is
// not UTF-8, or a control character. It returns its offset and a message
// with its column, or -1.
func badChar(t *text) (int, string) {
	data := t.data
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i, fmt.Sprintf("not valid UTF-8 (byte 0x%02x in column %d): save the file as UTF-8", data[i], t.column(i))
		case r == 0:
			return i, fmt.Sprintf("NUL byte (0x00) in column %d: YAML is text; is this a binary file, or UTF-16 or UTF-32 without a byte order mark?", t.column(i))
		case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f:
			return i, fmt.Sprintf("control character 0x%02x in column %d: YAML allows no control characters but tab and line breaks", r, t.column(i))
		case (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return i, fmt.Sprintf("character U+%04X in column %d is not allowed in YAML", r, t.column(i))
		}
		i += n
	}
	return -1, ""
}
