package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// sigPoweroff is SIGRTMIN+3: systemd (and nspawn, which forwards it) powers off.
const sigPoweroff = syscall.Signal(37)

// stopContainers powers containers off cleanly and waits up to 10 s, then
// SIGKILLs what is left. SIGRTMIN+3 goes to each container's init (what
// nspawn itself does on SIGTERM): sent to the systemd-nspawn process, it
// would kill nspawn and orphan the running container. Containers whose init
// is not found get SIGTERM on their nspawn, which forwards SIGRTMIN+3.
//
// It returns the pids it had to SIGKILL.
func stopContainers(nspawns, inits []int) (killed []int) {
	seen := map[int]bool{}
	var all, initsAll []int
	add := func(p int, isInit bool) {
		if p > 0 && !seen[p] {
			seen[p] = true
			all = append(all, p)
			if isInit {
				initsAll = append(initsAll, p)
			}
		}
	}
	for _, p := range inits {
		add(p, true)
		_ = syscall.Kill(p, sigPoweroff)
	}
	for _, n := range nspawns {
		ini, err := initPID(n)
		if err == nil {
			if !seen[ini] {
				_ = syscall.Kill(ini, sigPoweroff)
			}
			add(ini, true)
		} else {
			_ = syscall.Kill(n, syscall.SIGTERM)
		}
		add(n, false)
	}
	// systemd-shutdown waits (up to 90 s) for every process of the host to
	// go, re-checking only when it gets a SIGCHLD. A process started from
	// outside (Exec) is reaped outside, so no SIGCHLD comes: nudge it.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		alive := false
		for _, p := range all {
			if pidAlive(p) {
				alive = true
			}
		}
		if !alive {
			break
		}
		resend := time.Until(deadline) < 9*time.Second && time.Until(deadline)%time.Second < 200*time.Millisecond
		for _, p := range initsAll {
			if !pidAlive(p) {
				continue
			}
			_ = syscall.Kill(p, syscall.SIGCHLD)
			// A host still booting may have missed the request: repeat it
			// while its init is systemd itself (never to systemd-shutdown,
			// for which SIGRTMIN+3 would be a hard kill).
			if resend && procComm(p) == "systemd" {
				_ = syscall.Kill(p, sigPoweroff)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range all {
		if pidAlive(p) {
			killed = append(killed, p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	for _, p := range all {
		waitGone(p, 5*time.Second)
	}
	return killed
}

// teardownHost removes one host: its container, overlay, namespace, veth
// and folder. Safe when some or all of it does not exist.
func teardownHost(ctx context.Context, h hostState) error {
	var nspawns []int
	if nspawnAlive(h.PID, h.Root) {
		nspawns = append(nspawns, h.PID)
	}
	for _, p := range findNspawn() {
		if containsArg(procCmdline(p), h.Root) {
			nspawns = append(nspawns, p)
		}
	}
	_ = stopContainers(nspawns, containerInits(h.Name))
	dir := hostDir(h.Name)
	var errs []error
	if err := unmountAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := delNetns(ctx, h.Netns); err != nil {
		errs = append(errs, err)
	}
	if h.Veth != "" {
		if err := delLink(ctx, h.Veth); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && len(mountsUnder(dir)) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeHostCgroups(h.Name); err != nil {
		errs = append(errs, err)
	}
	removeNspawnLeftovers([]hostState{h})
	return errors.Join(errs...)
}

const nspawnRunDir = "/run/systemd/nspawn"

// nspawnLockFile is the lock file systemd-nspawn keeps for the mounted root
// (named after its inode), "" if root cannot be stat'ed.
func nspawnLockFile(root string) string {
	var sb syscall.Stat_t
	if err := syscall.Stat(root, &sb); err != nil {
		return ""
	}
	return fmt.Sprintf("%s/locks/inode-%d:%d", nspawnRunDir, sb.Dev, sb.Ino)
}

// removeNspawnLeftovers removes what systemd-nspawn leaves in /run for
// stopped lab hosts: the root's lock file and the host's propagation folder
// (nspawn refuses to remove it when /run is not a tmpfs, as here), then the
// nspawn folders themselves if nothing else is in them.
func removeNspawnLeftovers(hosts []hostState) {
	running := map[string]bool{}
	for _, p := range allPIDs() {
		args := procCmdline(p)
		if !isCommand(args, "systemd-nspawn") {
			continue
		}
		for _, m := range machineNames(args) {
			running[m] = true
		}
	}
	for _, h := range hosts {
		if running[h.Name] {
			continue
		}
		if strings.HasPrefix(h.NspawnLock, nspawnRunDir+"/locks/inode-") {
			_ = os.Remove(h.NspawnLock)
		}
		if validName(h.Name) {
			_ = os.RemoveAll(filepath.Join(nspawnRunDir, "propagate", h.Name))
		}
	}
	for _, d := range []string{"locks", "propagate", ""} {
		_ = os.Remove(filepath.Join(nspawnRunDir, d)) // only if empty
	}
}
