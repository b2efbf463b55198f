package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hadeploy/hadeploy/e2e/lab"
)

const inotifyInstances = "/proc/sys/fs/inotify/max_user_instances"

// inotifyNeed is how many inotify instances (all of root's, machine-wide) a
// lab of n hosts needs: each booted host's systemd and its services take
// about 6 (a 34-host lab ran out at the default 128 after ~21 hosts), plus
// the machine's own.
func inotifyNeed(n int) int { return 32 + 6*n }

// inotifyFits is how many lab hosts a limit of max instances supports.
func inotifyFits(limit int) int { return max(0, (limit-32)/6) }

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// ensureInotify makes room for an n-host lab: it raises
// fs.inotify.max_user_instances (not persistently) when it is too low, and
// returns the value to restore once the lab is down. With noSysctl it
// changes nothing and returns how many hosts fit instead.
func (b *bench) ensureInotify(n int) (fits int, err error) {
	cur, err := readInt(inotifyInstances)
	if err != nil {
		return n, nil // not Linux-like: nothing to do
	}
	need := inotifyNeed(n)
	if cur >= need {
		return n, nil
	}
	if b.noSysctl {
		return inotifyFits(cur), nil
	}
	need = max(2*need, 512) // room to spare: running out stops a host's boot
	if err := os.WriteFile(inotifyInstances, []byte(strconv.Itoa(need)), 0o644); err != nil {
		return inotifyFits(cur), fmt.Errorf("raising %s: %w", inotifyInstances, err)
	}
	b.note("fs.inotify.max_user_instances raised from %d to %d for the %d-host lab (each booted host's systemd needs ~6; 128, the default, fits ~20 hosts), restored after the lab is down", cur, need, n)
	b.restore = append(b.restore, func() {
		if err := os.WriteFile(inotifyInstances, []byte(strconv.Itoa(cur)), 0o644); err != nil {
			logf("restoring %s: %v", inotifyInstances, err)
		} else {
			logf("fs.inotify.max_user_instances restored to %d", cur)
		}
	})
	return n, nil
}

// tasksPerHost is a generous count of tasks (processes and threads: both
// take a pid) of an applied lab host: systemd and its services, sshd, and
// on web hosts apache2's event MPM, ~25 threads per child.
const tasksPerHost = 100

// memPerHostKB is a generous memory need of an applied lab host (measured
// ones report theirs, see LabMemory).
const memPerHostKB = 96 << 10

// diskPerHost is a generous size of an applied host's overlay upper layer
// (a 4-host lab measured 300-340 MB, apt's lists and .debs included).
const diskPerHost = 450 << 20

// checkRoom notes whether the machine has pids, memory and disk for an
// n-host lab; it changes nothing. The limits are kernel.pid_max, kernel.threads-max
// and this process's pids cgroup (v1 or v2) when it has one.
func (b *bench) checkRoom(n int) {
	limit, from := 0, ""
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max", pidsCgroupMax()} {
		if f == "" {
			continue
		}
		if v, err := readInt(f); err == nil && (limit == 0 || v < limit) {
			limit, from = v, f
		}
	}
	used := countTasks()
	need := n * tasksPerHost
	if limit > 0 {
		b.note("scale: pids: %d in use, a %d-host lab needs up to ~%d more, limit %d (%s): %s", used, n, need, limit, from, okStr(used+need <= limit))
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(lab.StateDir), &fs); err == nil {
		free := int64(fs.Bavail) * fs.Bsize
		b.note("scale: disk: %.1f GB free under %s, a %d-host lab needs up to ~%.1f GB: %s", float64(free)/1e9, lab.StateDir, n, float64(int64(n)*diskPerHost)/1e9, okStr(free >= int64(n)*diskPerHost))
	}
	if avail := memAvailableKB(); avail > 0 {
		b.note("scale: memory: MemAvailable %.0f MB, a %d-host lab needs up to ~%.0f MB: %s", mb(avail), n, mb(int64(n)*memPerHostKB), okStr(avail >= int64(n)*memPerHostKB))
	}
}

func okStr(ok bool) string {
	if ok {
		return "enough"
	}
	return "NOT ENOUGH, hosts may fail to boot or apply"
}

// pidsCgroupMax is the pids.max file of this process's pids cgroup, or "".
func pidsCgroupMax() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		var p string
		switch {
		case f[1] == "pids":
			p = filepath.Join("/sys/fs/cgroup/pids", f[2], "pids.max")
		case f[0] == "0" && f[1] == "":
			p = filepath.Join("/sys/fs/cgroup", f[2], "pids.max")
		default:
			continue
		}
		if _, err := readInt(p); err == nil { // "max" does not parse: no limit
			return p
		}
	}
	return ""
}

// countTasks counts the machine's tasks (threads included).
func countTasks() int {
	tasks, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*")
	return len(tasks)
}
