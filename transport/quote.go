package transport

import "strings"

// Quote makes s a single word for a POSIX shell, whatever it contains. Every
// value that reaches a remote shell goes through this one function: it lives
// in the transport, which needs it for the sudo wrapping (the caller's whole
// command is one argument of sh -c) and imports nothing of hadeploy; package
// shell re-exports it for the programs the rest of hadeploy builds.
func Quote(s string) string {
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

// Join quotes each argument and joins them into one command line.
func Join(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
