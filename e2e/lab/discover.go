package lab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// nspawnAlive reports whether pid is the systemd-nspawn process booting root.
func nspawnAlive(pid int, root string) bool {
	if !pidAlive(pid) {
		return false
	}
	args := procCmdline(pid)
	return isCommand(args, "systemd-nspawn") && containsArg(args, root)
}

// findNspawn lists systemd-nspawn processes booting a root under StateDir.
func findNspawn() []int {
	var out []int
	prefix := hostsDir() + "/"
	for _, p := range allPIDs() {
		args := procCmdline(p)
		if !isCommand(args, "systemd-nspawn") {
			continue
		}
		// nspawn's own helpers (forked, not exec'd yet) share its argv.
		if pp, err := strconv.Atoi(procStatus(p, "PPid")); err == nil {
			if isCommand(procCmdline(pp), "systemd-nspawn") {
				continue
			}
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(strings.TrimPrefix(a, "-D"), prefix) || strings.HasPrefix(strings.TrimPrefix(a, "--directory="), prefix) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// nspawnMachine is the -M name of a systemd-nspawn process ("?" if none).
func nspawnMachine(pid int) string {
	if names := machineNames(procCmdline(pid)); len(names) > 0 {
		return names[0]
	}
	return "?"
}

// machineNames lists the -M NAME and --machine=NAME of a systemd-nspawn
// command line, in order.
func machineNames(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "-M" && i+1 < len(args) {
			out = append(out, args[i+1])
		} else if v, ok := strings.CutPrefix(a, "--machine="); ok {
			out = append(out, v)
		}
	}
	return out
}

// containerInits lists the inits (pid 1 of their pid namespace) of lab
// containers, also those whose systemd-nspawn is gone: their root mount is
// an overlay whose upperdir is under StateDir/hosts (under hostsDir()/name if
// name is not empty).
func containerInits(name string) []int {
	want := "upperdir=" + hostsDir() + "/"
	if name != "" {
		want += name + "/"
	}
	var out []int
	for _, p := range allPIDs() {
		if !isNamespaceInit(p) || !pidAlive(p) {
			continue
		}
		if strings.Contains(rootMountOptions(p), want) {
			out = append(out, p)
		}
	}
	return out
}

// containerHost names the lab host whose overlay is the process's root.
func containerHost(pid int) string {
	_, after, ok := strings.Cut(rootMountOptions(pid), "upperdir="+hostsDir()+"/")
	if !ok {
		return "?"
	}
	name, _, _ := strings.Cut(after, "/")
	return name
}

// rootMountOptions returns the mount source and super options of the "/"
// mount as the process sees it.
func rootMountOptions(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[4] == "/" {
			if _, after, ok := strings.Cut(l, " - "); ok {
				return after
			}
		}
	}
	return ""
}

// isNamespaceInit reports whether pid is pid 1 of a pid namespace below
// ours (the last of its NSpid pids is 1).
func isNamespaceInit(pid int) bool {
	f := strings.Fields(procStatus(pid, "NSpid"))
	return len(f) >= 2 && f[len(f)-1] == "1"
}

// initPID finds the container's init (pid 1 in its pid namespace) under the
// systemd-nspawn process.
func initPID(nspawnPID int) (int, error) {
	for _, p := range allPIDs() {
		if procStatus(p, "PPid") != strconv.Itoa(nspawnPID) {
			continue
		}
		if isNamespaceInit(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("lab: no container init under systemd-nspawn pid %d", nspawnPID)
}
