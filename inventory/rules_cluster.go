package inventory

import (
	"strings"
)

func (k *check) checkName() {
	c := k.c
	if !k.has("name") {
		if !k.bad["name"] {
			c.Name = DefaultName
		}
		return
	}
	switch {
	case c.Name == "":
		k.errf("name", "must not be empty (leave it out to use %q)", DefaultName)
	case !clusterNameRE.MatchString(c.Name):
		k.errf("name", "must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (pattern %s), got %s", clusterNameRE, quote(c.Name))
	}
}

// checkPath refuses characters that have no business in a file name.
func (k *check) checkPath(path, v string) {
	if v == "" && k.has(path) {
		k.errf(path, "must not be empty (leave the field out instead)")
		return
	}
	if strings.HasPrefix(v, "-") {
		k.errf(path, "must be a file path, not starting with '-', got %s", quote(v))
		return
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			k.errf(path, "must be a file path (~ and / are fine) without newlines, NUL or other control characters")
			return
		}
	}
}

func (k *check) checkUser(path, v string) {
	if !userRE.MatchString(v) {
		k.errf(path, "must be a user name of up to 32 letters, digits, '_', '.' or '-', not starting with a digit, '.' or '-' (pattern %s), got %s", userRE, quote(v))
	}
}

func (k *check) checkSSH() {
	s := &k.c.SSH
	if k.strField("ssh.user", &s.User, DefaultSSHUser) || k.has("ssh.user") {
		k.checkUser("ssh.user", s.User)
	}
	k.intField("ssh.port", &s.Port, DefaultSSHPort, 1, 65535, "a TCP port")
	k.intField("ssh.connect_timeout", &s.ConnectTimeout, DefaultConnectTimeout, 1, 600, "seconds")
	if k.has("ssh.identity_file") {
		k.checkPath("ssh.identity_file", s.IdentityFile)
	}
	if k.has("ssh.known_hosts") {
		k.checkPath("ssh.known_hosts", s.KnownHosts)
	}
}
