package transport

import "syscall"

// sshdProcAttr makes the kernel kill the test sshd if the test binary dies
// without running its cleanups (timeout, kill -9).
func sshdProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
