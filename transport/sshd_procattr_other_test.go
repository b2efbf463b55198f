//go:build !linux

package transport

import "syscall"

func sshdProcAttr() *syscall.SysProcAttr { return nil }
