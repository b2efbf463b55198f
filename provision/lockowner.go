package provision

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"syscall"
)

// Owner identifies this process in locks and run records: who, from which
// machine, which process, which command.
func Owner(command string) string {
	who := os.Getenv("USER")
	if who == "" {
		who = strconv.Itoa(os.Getuid())
	}
	host, _ := os.Hostname()
	return who + "@" + host + " pid=" + strconv.Itoa(os.Getpid()) + " cmd=" + command
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
