// Package shell builds the remote programs hadeploy runs: one program per
// stage on a host, every outside value quoted by Quote.
package shell

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Script builds one remote shell program, so that a whole stage on a host
// costs one round trip. Every value goes through Quote; the body is wrapped in
// a function that runs only once the shell has read all of it, so a connection
// cut mid-transfer executes nothing.
type Script struct {
	b strings.Builder
}

// Line appends a line built from a format whose %s verbs get quoted values.
// Use %s only: every argument is quoted.
func (s *Script) Line(format string, args ...string) {
	q := make([]any, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	fmt.Fprintf(&s.b, format+"\n", q...)
}

// Raw appends shell code that contains no outside values.
func (s *Script) Raw(code string) { s.b.WriteString(code + "\n") }

// WriteBase64 writes data to path through a quoted heredoc of base64, which
// cannot contain the delimiter or anything the shell would expand.
func (s *Script) WriteBase64(path string, data []byte) {
	fmt.Fprintf(&s.b, "base64 -d > %s <<'HADEPLOY_EOF'\n", Quote(path))
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		s.b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		s.b.WriteString(enc + "\n")
	}
	s.b.WriteString("HADEPLOY_EOF\n")
}

// WaitUntil polls conds (shell conditions, already quoted) every 0.25 s for at
// most 10 s; if they never all hold, it runs onTimeout (which must end the
// loop: exit, or break).
func (s *Script) WaitUntil(conds []string, onTimeout string) {
	if len(conds) == 0 {
		return
	}
	s.Raw(`i=0; while ! { ` + strings.Join(conds, " && ") + `; }; do i=$((i+1)); if [ $i -ge 40 ]; then ` + onTimeout + `; fi; sleep 0.25; done`)
}

// String is the complete program.
func (s *Script) String() string {
	return "hadeploy_main() {\n" + s.b.String() + "}\nhadeploy_main\n"
}

// Loggable is the program with file contents elided (they may hold secrets).
func (s *Script) Loggable() string {
	var out []string
	skip := false
	for _, l := range strings.Split(s.String(), "\n") {
		switch {
		case strings.HasSuffix(l, "<<'HADEPLOY_EOF'"):
			out = append(out, l, "  [content elided]")
			skip = true
		case l == "HADEPLOY_EOF":
			skip = false
			out = append(out, l)
		case !skip:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
