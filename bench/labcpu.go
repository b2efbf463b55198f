package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The lab hosts' own CPU for a run: what their sshd, shells and the
// programs hadeploy runs cost, apart from hadeploy's CPU on the operator's
// side. It is read from each host's cgroup v2 cpu.stat (kept even without
// the cpu controller), minus the hosts' idle rate (keepalived, haproxy's
// checks, cron) measured just before.

// labCPUIdleWindow is how long the idle rate is sampled before a run, and
// labCPUSettle how long after it the hosts' sshd get to finish closing.
const (
	labCPUIdleWindow = 2 * time.Second
	labCPUSettle     = time.Second
)

// cpuStatUsec reads usage_usec from cpu.stat text.
func cpuStatUsec(s string) (int64, bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "usage_usec" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// labCPUUsec is the CPU every lab host used so far, in µs; ok is false when
// there is no cgroup v2 hierarchy or no host cgroup.
func labCPUUsec() (int64, bool) {
	root := cgroup2RootHere()
	if root == "" {
		return 0, false
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "hadeploy-lab", "*", "cpu.stat"))
	var sum int64
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		if n, ok := cpuStatUsec(string(b)); ok {
			sum += n
		}
	}
	return sum, len(dirs) > 0
}

// labCPUMeter measures one run: start samples the idle rate and begins,
// stop returns the hosts' CPU for the run in ms, idle subtracted.
type labCPUMeter struct {
	idlePerSec float64 // µs per second
	start      int64
	t0         time.Time
	ok         bool
}

func startLabCPU() *labCPUMeter {
	m := &labCPUMeter{}
	a, ok := labCPUUsec()
	if !ok {
		return m
	}
	t := time.Now()
	time.Sleep(labCPUIdleWindow)
	b, _ := labCPUUsec()
	m.idlePerSec = float64(b-a) / time.Since(t).Seconds()
	m.start, m.t0, m.ok = b, time.Now(), true
	return m
}

func (m *labCPUMeter) stop() float64 {
	if !m.ok {
		return 0
	}
	time.Sleep(labCPUSettle)
	end, _ := labCPUUsec()
	used := float64(end-m.start) - m.idlePerSec*time.Since(m.t0).Seconds()
	return max(used, 0) / 1000
}
