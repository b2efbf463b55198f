package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Down removes the whole lab: containers, overlays, namespaces, links,
// bridge, proxy, per-host folders and state. It works from state.json and by
// scanning for leftovers, so it also cleans up after a crash, and it is safe
// when nothing exists. The lab key and the base image are kept.
func Down(ctx context.Context, log io.Writer) error {
	log = logWriter(log)
	if os.Geteuid() != 0 {
		return errNeedRoot
	}
	unlock, err := lockLab()
	if err != nil {
		return err
	}
	defer unlock()
	return downLocked(ctx, log)
}

// downLocked takes the lab down, under the lab lock, in five stages whose
// order matters: containers first (they hold the overlays, namespaces and
// veths), then mounts, network, proxy and files. A stage that fails does not
// stop the next ones: their errors are joined, and state.json is removed
// only when there was none.
func downLocked(ctx context.Context, log io.Writer) error {
	st, err := loadState()
	if err != nil {
		fmt.Fprintf(log, "lab: %v\n", err)
		st = &state{}
	}
	var errs []error
	errs = append(errs, powerOffContainers(st, log)...)
	errs = append(errs, unmountOverlays(log)...)
	errs = append(errs, deleteNetwork(ctx, st, log)...)
	stopProxy(st, log)
	errs = append(errs, removeFiles(st)...)
	if len(errs) == 0 {
		if err := os.Remove(statePath()); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		fmt.Fprintf(log, "lab: down\n")
	}
	return errors.Join(errs...)
}

// powerOffContainers is stage 1. Containers: clean poweroff, all at once;
// then their console logs are kept and their cgroups removed.
func powerOffContainers(st *state, log io.Writer) []error {
	var errs []error
	nspawns, inits, names := containersToStop(st, log)
	if killed := stopContainers(nspawns, inits); len(killed) > 0 {
		for _, p := range killed {
			name := names[p]
			if name == "" {
				name = "?"
			}
			fmt.Fprintf(log, "lab: %s (pid %d) did not power off within 10 s: killed; its console log is kept in %s\n", name, p, logsDir())
		}
	}
	keepConsoleLogs()
	if err := removeHostCgroups(""); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// containersToStop lists (and logs) the lab's containers: the systemd-nspawn
// processes of state.json's hosts, leftover ones state.json does not know,
// and the inits of orphaned containers whose nspawn is gone. names maps
// each pid to its host's name, for the log.
func containersToStop(st *state, log io.Writer) (nspawns, inits []int, names map[int]string) {
	seen := map[int]bool{}
	for _, h := range st.Hosts {
		if nspawnAlive(h.PID, h.Root) {
			fmt.Fprintf(log, "lab: powering off %s (nspawn pid %d)\n", h.Name, h.PID)
			nspawns = append(nspawns, h.PID)
			seen[h.PID] = true
		}
	}
	names = map[int]string{}
	for _, h := range st.Hosts {
		names[h.PID] = h.Name
	}
	for _, p := range findNspawn() {
		if !seen[p] {
			names[p] = nspawnMachine(p)
			fmt.Fprintf(log, "lab: powering off leftover container %s (nspawn pid %d)\n", names[p], p)
			nspawns = append(nspawns, p)
			seen[p] = true
		}
	}
	known := map[int]bool{}
	for _, n := range nspawns {
		if ini, err := initPID(n); err == nil {
			known[ini] = true
		}
	}
	inits = containerInits("")
	for _, p := range inits {
		if !known[p] {
			fmt.Fprintf(log, "lab: powering off orphaned container %s (init pid %d, its nspawn is gone)\n", containerHost(p), p)
		}
	}
	for _, p := range inits {
		names[p] = containerHost(p)
	}
	return nspawns, inits, names
}

// keepConsoleLogs moves the hosts' console logs to logsDir for a
// post-mortem, keeping one older generation.
func keepConsoleLogs() {
	consoles, _ := filepath.Glob(filepath.Join(hostsDir(), "*", "console.log"))
	for _, c := range consoles {
		dst := filepath.Join(logsDir(), filepath.Base(filepath.Dir(c))+".console.log")
		if err := os.MkdirAll(logsDir(), 0o700); err == nil {
			_ = os.Rename(dst, dst+".1") // keep one older generation
			_ = os.Rename(c, dst)
		}
	}
}

// unmountOverlays is stage 2. Overlays (and anything else mounted under
// StateDir). A root's nspawn lock file is named after the mounted root's
// inode, so it is removed before the root is unmounted.
func unmountOverlays(log io.Writer) []error {
	var errs []error
	for _, mp := range mountsUnder(hostsDir()) {
		if filepath.Base(mp) != "root" {
			continue
		}
		if l := nspawnLockFile(mp); l != "" {
			_ = os.Remove(l)
		}
	}
	if m := mountsUnder(StateDir); len(m) > 0 {
		fmt.Fprintf(log, "lab: unmounting %s\n", strings.Join(m, ", "))
		if err := unmountAll(StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// deleteNetwork is stage 3. Namespaces, veths, bridge: those state.json
// names and those found by name (hdlab-*, hdlab*, hdlv*).
func deleteNetwork(ctx context.Context, st *state, log io.Writer) []error {
	var errs []error
	nss := map[string]bool{}
	links := map[string]bool{}
	for _, h := range st.Hosts {
		if h.Netns != "" {
			nss[h.Netns] = true
		}
		if h.Veth != "" {
			links[h.Veth] = true
		}
	}
	for _, n := range labNetns() {
		nss[n] = true
	}
	for n := range nss {
		if netnsExists(n) {
			fmt.Fprintf(log, "lab: deleting netns %s\n", n)
			if err := delNetns(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range labLinks() {
		links[l] = true
	}
	if st.Bridge != "" {
		links[st.Bridge] = true
	}
	for l := range links {
		if linkExists(l) {
			fmt.Fprintf(log, "lab: deleting link %s\n", l)
			if err := delLink(ctx, l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// stopProxy is stage 4. Proxy: every tinyproxy running with the lab's
// config, the one state.json knows included.
func stopProxy(st *state, log io.Writer) {
	for _, p := range findProxyPIDs(st.ProxyPID) {
		fmt.Fprintf(log, "lab: stopping tinyproxy (pid %d)\n", p)
		stopProcess(p, syscall.SIGTERM, 5*time.Second)
	}
}

// removeFiles is stage 5. Files (never while something is still mounted
// there): nspawn's leftovers in /run, the per-host folders, known_hosts and
// the proxy's files. state.json is left to downLocked.
func removeFiles(st *state) []error {
	var errs []error
	leftovers := append([]hostState(nil), st.Hosts...)
	if ents, err := os.ReadDir(hostsDir()); err == nil {
		for _, e := range ents {
			leftovers = append(leftovers, hostState{Name: e.Name()})
		}
	}
	removeNspawnLeftovers(leftovers)
	if left := mountsUnder(StateDir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("lab: still mounted, not removing %s: %s", hostsDir(), strings.Join(left, ", ")))
	} else if err := os.RemoveAll(hostsDir()); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{KnownHostsPath(), proxyConfPath(), proxyFilterPath(), proxyPidPath()} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errs
}
