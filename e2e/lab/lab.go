// Package lab runs a local lab of real Debian 12 hosts on one machine: one
// systemd-nspawn container per inventory host, each with its own overlay root,
// network namespace, SSH host key and address on a private bridge.
//
// It follows /work/shared/docs/lab-recipe.md. The hosts have no default route:
// they reach each other and the machine's bridge address only. A tinyproxy on
// the bridge address (port 3128) is their only way to the Debian mirror.
//
// Everything the lab creates is recorded in StateDir/state.json, and Down also
// scans for leftovers (namespaces, links, mounts, processes) so it cleans up
// after a crash.
//
// The public API, by file:
//
//   - spec.go: Spec and HostSpec (what to run), Validate, and the names and
//     paths of the lab (StateDir, BaseDir, KeyPath, KnownHostsPath, ...).
//   - up.go: Up brings the lab to a Spec and waits for every host's sshd.
//   - down.go: Down removes the whole lab, also after a crash.
//   - control.go: Status, and Exec, SetLink and BlockVRRPMulticast on a running host.
//   - lock.go: Acquire reserves the lab for one of several callers.
//   - prereq.go: CheckPrereqs and EnsureBase (the debootstrap image).
//
// Behind them: boot.go prepares and boots one host, teardown.go stops
// containers and removes hosts, discover.go finds lab processes in /proc,
// and net.go, proxy.go, cgroup.go, keys.go, state.go and proc.go hold the
// plumbing of each.
package lab

import (
	"io"
	"sync"
	"time"
)

// SSHTimeout bounds how long Up waits for a host's sshd to answer.
var SSHTimeout = 60 * time.Second

// HostKeyTypes are the SSH host keys generated per host (with the host's
// own ssh-keygen). RSA is left out by default: a 3072-bit RSA key took from
// 0.5 s to 30 s per host on a loaded 2-core machine, and sshd silently skips
// default host keys that do not exist. Add "rsa" to get all three.
var HostKeyTypes = []string{"ed25519", "ecdsa"}

// HostStatus is what Status reports per host.
type HostStatus struct {
	Name    string
	Address string
	PID     int // systemd-nspawn pid (0 if unknown)
	Running bool
	// SystemState is `systemctl is-system-running` inside the host
	// ("running", "degraded", "starting", ...), empty when not running.
	SystemState string
	SSH         bool // sshd reachable: TCP connect to ADDR:22 within 2 s
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &syncWriter{w: w}
}
