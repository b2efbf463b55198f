package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LabMemory is the lab's memory at one stage of the scale phase, two ways:
// the machine's MemAvailable drop since before the lab was booted, per
// host (includes the kernel's share: page cache of the overlay roots,
// network namespaces), and the proportional set size (PSS) of the processes
// in each host's cgroup (systemd-nspawn's and the container's), which
// splits shared pages fairly between hosts.
type LabMemory struct {
	Stage            string  `json:"stage"` // "booted", "applied"
	Hosts            int     `json:"hosts"`
	LabUpS           float64 `json:"lab_up_s,omitempty"`  // booted: lab.Up, until every sshd answered
	SettledS         float64 `json:"settled_s,omitempty"` // booted: then until every systemd finished booting
	AvailBeforeMB    float64 `json:"mem_available_before_mb"`
	AvailNowMB       float64 `json:"mem_available_mb"`
	AvailDropPerHost float64 `json:"mem_available_drop_per_host_mb"`
	PSSMeanMB        float64 `json:"pss_mean_per_host_mb,omitempty"`
	PSSMaxMB         float64 `json:"pss_max_per_host_mb,omitempty"`
	PSSMaxHost       string  `json:"pss_max_host,omitempty"`
	Procs            int     `json:"processes,omitempty"` // in the lab hosts' cgroups
	Note             string  `json:"note,omitempty"`
}

// meminfoKB reads one field of /proc/meminfo-formatted text, in kB.
func meminfoKB(s, field string) (int64, bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

func memAvailableKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	n, _ := meminfoKB(string(b), "MemAvailable")
	return n
}

// pssKB is a process's proportional set size, from smaps_rollup text.
func pssKB(smapsRollup string) int64 {
	n, _ := meminfoKB(smapsRollup, "Pss")
	return n
}

// cgroup2RootHere is where this process's mount namespace has the cgroup v2
// hierarchy ("" when it has none).
func cgroup2RootHere() string {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	return cgroup2Root(string(mi))
}

// cgroup2Root is where this mount namespace has the cgroup v2 hierarchy
// (the lab's per-host cgroups live in it), from mountinfo text.
func cgroup2Root(mountinfo string) string {
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(p) >= 1 && p[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// cgroupPIDs lists the processes in a cgroup and its descendants.
func cgroupPIDs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids
}

// labMemory measures the lab's hosts now; availBeforeKB is MemAvailable
// before they were booted.
func labMemory(stage string, hosts []string, availBeforeKB int64) LabMemory {
	m := LabMemory{Stage: stage, Hosts: len(hosts), AvailBeforeMB: mb(availBeforeKB)}
	now := memAvailableKB()
	m.AvailNowMB = mb(now)
	if len(hosts) > 0 && availBeforeKB > 0 {
		m.AvailDropPerHost = mb(availBeforeKB-now) / float64(len(hosts))
	}
	root := cgroup2RootHere()
	if root == "" {
		m.Note = "no cgroup v2 hierarchy mounted here: PSS per host not measured"
		return m
	}
	var total int64
	counted := 0
	for _, h := range hosts {
		pids := cgroupPIDs(filepath.Join(root, "hadeploy-lab", h))
		if len(pids) == 0 {
			continue
		}
		var kb int64
		for _, pid := range pids {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
			if err == nil {
				kb += pssKB(string(b))
			}
		}
		m.Procs += len(pids)
		total += kb
		counted++
		if mb(kb) > m.PSSMaxMB {
			m.PSSMaxMB, m.PSSMaxHost = mb(kb), h
		}
	}
	if counted > 0 {
		m.PSSMeanMB = mb(total) / float64(counted)
	}
	if counted < len(hosts) {
		m.Note = fmt.Sprintf("PSS from %d of %d hosts' cgroups (%s/hadeploy-lab/NAME)", counted, len(hosts), root)
	}
	return m
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// memoryTable renders the memory measurements as a Markdown table.
func memoryTable(ms []LabMemory) string {
	if len(ms) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| lab memory | hosts | lab up + settled | MemAvailable drop per host | PSS per host (mean / max) | processes | note |\n|---|---|---|---|---|---|---|\n")
	for _, m := range ms {
		pss := "-"
		if m.PSSMeanMB > 0 {
			pss = fmt.Sprintf("%.1f MB / %.1f MB (%s)", m.PSSMeanMB, m.PSSMaxMB, m.PSSMaxHost)
		}
		up := "-"
		if m.LabUpS > 0 {
			up = fmt.Sprintf("%.0f s + %.0f s", m.LabUpS, m.SettledS)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.1f MB | %s | %d | %s |\n", m.Stage, m.Hosts, up, m.AvailDropPerHost, pss, m.Procs, m.Note)
	}
	return b.String()
}
