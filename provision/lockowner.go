package provision

import (
	"errors"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"syscall"
)

// currentUser is the os/user lookup, replaced in tests.
var currentUser = user.Current

// Owner identifies this process in locks and run records: who, from which
// machine, which process, which command.
func Owner(command string) string {
	host, _ := os.Hostname()
	return userName() + "@" + host + " pid=" + strconv.Itoa(os.Getpid()) + " cmd=" + command
}

// userName is the login name of this process's user: a lock held by "0@vm"
// tells the operator nothing. $USER is often unset (sudo -i, systemd units,
// containers), so the passwd entry comes first; the uid is the last resort.
func userName() string {
	if u, err := currentUser(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, v := range []string{"USER", "LOGNAME"} {
		if n := os.Getenv(v); n != "" {
			return n
		}
	}
	return strconv.Itoa(os.Getuid())
}

var lockOwner = regexp.MustCompile(`by \S+@(\S+) pid=(\d+) `)

// deadLocalHolder reports whether a lock's info names a process on this
// machine that no longer exists.
func deadLocalHolder(info string) bool {
	m := lockOwner.FindStringSubmatch(info)
	host, _ := os.Hostname()
	if m == nil || m[1] != host {
		return false
	}
	pid, err := strconv.Atoi(m[2])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
