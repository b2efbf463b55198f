package transport

import (
	"io"
	"strings"
)

// becomeWrapper runs under sudo when a password is sent: it discards stdin up
// to the marker line ($1), then runs the command ($2). The caller's stdin thus
// reaches the command intact whether sudo read the password line or not (sudo
// does not ask when credentials are cached or for NOPASSWD rules).
const becomeWrapper = `while IFS= read -r hadeploy_line; do [ "$hadeploy_line" = "$1" ] && break; done; exec sh -c "$2"`

// remoteCommand wraps cmd for privilege escalation; prefix, when not nil, must
// precede the caller's stdin. The remote shell first reports its PID (the
// process group sshd made for the session) on stderr behind pidToken, so a
// cancelled command can be killed: OpenSSH refuses "signal" requests for root
// sessions, and closing the channel does not stop the command.
func (t *SSHTransport) remoteCommand(cmd, pidToken string) (remote string, prefix io.Reader) {
	report := Join("printf", "%s%s\\n", pidToken) + ` "$$" >&2` + "\n"
	if !t.sudo {
		return report + cmd, nil
	}
	if t.cfg.BecomePassword == "" {
		return report + "exec " + Join(t.sudoPath, "-n", "sh", "-c", cmd), nil
	}
	marker := "hadeploy-become-" + randomHex(12)
	return report + "exec " + Join(t.sudoPath, "-S", "-p", "", "sh", "-c", becomeWrapper, "sh", marker, cmd),
		strings.NewReader(t.cfg.BecomePassword + "\n" + marker + "\n")
}
