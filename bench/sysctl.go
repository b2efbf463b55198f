package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
