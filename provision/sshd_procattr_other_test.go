//go:build !linux

package provision

import "syscall"

func sshdProcAttr() *syscall.SysProcAttr { return nil }
