package transport

import "strings"

// quote makes s a single word for a POSIX shell. It is a copy of
// provision.Quote, kept here so the transport imports nothing of hadeploy: the
// sudo wrapping passes the caller's whole command as one argument of sh -c.
func quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// join quotes each argument and joins them into one command line.
func join(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	return strings.Join(q, " ")
}
