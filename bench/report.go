package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is one measured operation.
type Row struct {
	Tool      string  `json:"tool"`      // hadeploy, ansible or ansible+mitogen
	Op        string  `json:"operation"` // e.g. "no-op apply"
	Hosts     int     `json:"hosts"`
	WallMS    []int64 `json:"wall_ms"`        // one per repetition
	Median    int64   `json:"wall_median_ms"` // median of WallMS
	RTMax     int64   `json:"round_trips_max_per_host,omitempty"`
	RTMean    float64 `json:"round_trips_mean_per_host,omitempty"`
	TasksHost int     `json:"ansible_tasks_per_host,omitempty"` // ansible: tasks run per host (max)
	PkgMS     int64   `json:"packages_ms,omitempty"`            // cold apply: longest packages step
	OwnMS     int64   `json:"own_ms,omitempty"`                 // cold apply: wall minus packages
	Changes   int     `json:"changes"`
	Exit      int     `json:"exit"`
	Note      string  `json:"note,omitempty"`
	// CPU of the tool's process on the operator's machine, user + sys, one
	// per repetition (Ansible: with the workers and ssh clients it reaped).
	CPUMS      []float64 `json:"cpu_ms,omitempty"`
	CPUUserMS  []float64 `json:"cpu_user_ms,omitempty"`
	CPUSysMS   []float64 `json:"cpu_sys_ms,omitempty"`
	CPUMedian  float64   `json:"cpu_median_ms,omitempty"`
	CPUPerHost float64   `json:"cpu_ms_per_host,omitempty"` // CPUMedian / Hosts
	MaxRSSMB   float64   `json:"max_rss_mb,omitempty"`      // largest over the repetitions
	// The lab hosts' CPU for a no-op (sshd, shells, the programs run; idle
	// subtracted), one per repetition, and its median per host in the run.
	LabCPUMS      []float64 `json:"lab_hosts_cpu_ms,omitempty"`
	LabCPUPerHost float64   `json:"lab_hosts_cpu_ms_per_host,omitempty"`
	MirrorMB      float64   `json:"apt_cache_mirror_mb,omitempty"`
	ServedMB      float64   `json:"apt_cache_served_mb,omitempty"`
}

// addRun records one repetition's wall time and CPU.
func (r *Row) addRun(took time.Duration, c cpuUse) {
	r.WallMS = append(r.WallMS, took.Milliseconds())
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.CPUUserMS = append(r.CPUUserMS, ms(c.User))
	r.CPUSysMS = append(r.CPUSysMS, ms(c.Sys))
	r.CPUMS = append(r.CPUMS, ms(c.User+c.Sys))
	r.MaxRSSMB = max(r.MaxRSSMB, float64(c.MaxRSSKB)/1024)
}

// finish computes the medians once the repetitions are in.
func (r *Row) finish() {
	r.Median = median(r.WallMS)
	r.CPUMedian = median(r.CPUMS)
	r.CPUPerHost, r.LabCPUPerHost = 0, 0
	if r.Hosts > 0 {
		r.CPUPerHost = r.CPUMedian / float64(r.Hosts)
		r.LabCPUPerHost = median(r.LabCPUMS) / float64(r.Hosts)
	}
}

// median of v (the mean of the middle two for an even count; 0 when empty).
func median[T int64 | float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(ms int64) string { return fmt.Sprintf("%.2f s", float64(ms)/1000) }

// msStr is a CPU time in milliseconds, "-" when not measured.
func msStr(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	if ms >= 10000 {
		return secs(int64(ms))
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// table renders rows as a Markdown table (also readable in a terminal).
func table(rows []Row) string {
	head := []string{"tool", "operation", "hosts", "wall (median)", "CPU user+sys (median)", "CPU/host", "lab hosts' CPU/host", "runs", "round trips/host (max / mean)", "packages", "own time", "changes", "note"}
	lines := [][]string{head}
	for _, r := range rows {
		rt := "-"
		if r.RTMax > 0 {
			rt = fmt.Sprintf("%d / %.1f", r.RTMax, r.RTMean)
		} else if r.TasksHost > 0 {
			rt = fmt.Sprintf("≈%d tasks", r.TasksHost)
		}
		pkg, own := "-", "-"
		if r.PkgMS > 0 {
			pkg, own = secs(r.PkgMS), secs(r.OwnMS)
		}
		perHost := "-"
		if r.CPUPerHost > 0 {
			perHost = fmt.Sprintf("%.1f ms", r.CPUPerHost)
		}
		labHost := "-"
		if r.LabCPUPerHost > 0 {
			labHost = fmt.Sprintf("%.0f ms", r.LabCPUPerHost)
		}
		lines = append(lines, []string{r.Tool, r.Op, strconv.Itoa(r.Hosts), secs(r.Median), msStr(r.CPUMedian), perHost, labHost, strconv.Itoa(len(r.WallMS)), rt, pkg, own, strconv.Itoa(r.Changes), r.Note})
	}
	w := make([]int, len(head))
	for _, l := range lines {
		for i, c := range l {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for li, l := range lines {
		b.WriteString("|")
		for i, c := range l {
			b.WriteString(" " + c + strings.Repeat(" ", w[i]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
		if li == 0 {
			b.WriteString("|")
			for i := range l {
				b.WriteString(strings.Repeat("-", w[i]+2) + "|")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Target is one goal of issues 8 and 20 and how the run did against it.
type Target struct {
	Goal  string `json:"goal"`
	Value string `json:"value"`
	Met   *bool  `json:"met"` // nil: not measured
}

func find(rows []Row, tool, op string, hosts int) *Row {
	for i := range rows {
		if rows[i].Tool == tool && rows[i].Op == op && (hosts == 0 || rows[i].Hosts == hosts) {
			return &rows[i]
		}
	}
	return nil
}

// largest is the row of tool and op with the most hosts.
func largest(rows []Row, tool, op string) *Row {
	var best *Row
	for i := range rows {
		if rows[i].Tool == tool && rows[i].Op == op && (best == nil || rows[i].Hosts > best.Hosts) {
			best = &rows[i]
		}
	}
	return best
}

// targets checks the rows against the issues' goals (reported, never
// asserted). mc says why Mitogen did not run, if it did not.
func targets(rows []Row, mc *MitogenCheck) []Target {
	b := func(v bool) *bool { return &v }
	var out []Target
	noop := find(rows, toolHadeploy, "no-op apply", 4)
	ans := find(rows, toolAnsible, "no-op playbook", 4)
	cold := find(rows, toolHadeploy, "cold apply", 4)
	t := Target{Goal: "no-op apply, 4-host lab: ≤ 0.5 s wall"}
	if noop != nil {
		t.Value, t.Met = secs(noop.Median), b(noop.Median <= 500)
	}
	out = append(out, t)
	t = Target{Goal: "no-op apply ≥ 20× faster than Ansible's no-op"}
	if noop != nil && ans != nil && noop.Median > 0 {
		r := float64(ans.Median) / float64(noop.Median)
		t.Value, t.Met = fmt.Sprintf("%.1f×", r), b(r >= 20)
	}
	out = append(out, t)
	t = Target{Goal: "no-op apply ≥ 10× faster than Ansible + Mitogen's no-op (4 hosts)"}
	if mit := find(rows, toolMitogen, "no-op playbook", 4); noop != nil && mit != nil && noop.Median > 0 {
		r := float64(mit.Median) / float64(noop.Median)
		t.Value, t.Met = fmt.Sprintf("%.1f× (%s vs %s)", r, secs(mit.Median), secs(noop.Median)), b(r >= 10)
	} else if mc != nil && !mc.OK {
		t.Value = "Mitogen did not load: " + firstLine(mc.Error)
	}
	out = append(out, t)
	t = Target{Goal: "no-op apply ≤ 3 round trips per host"}
	if noop != nil {
		t.Value, t.Met = strconv.FormatInt(noop.RTMax, 10), b(noop.RTMax > 0 && noop.RTMax <= 3)
	}
	out = append(out, t)
	t = Target{Goal: "cold apply: time beyond package installs ≤ 20% of package time"}
	if cold != nil && cold.PkgMS > 0 {
		r := float64(cold.OwnMS) / float64(cold.PkgMS)
		t.Value, t.Met = fmt.Sprintf("%.0f%% (%s own / %s packages)", 100*r, secs(cold.OwnMS), secs(cold.PkgMS)), b(r <= 0.2)
	}
	out = append(out, t)
	t = Target{Goal: "no-op apply, 32 hosts: ≤ 2 s"}
	if r := find(rows, toolHadeploy, "no-op apply", 32); r != nil {
		t.Value, t.Met = secs(r.Median), b(r.Median <= 2000)
	}
	out = append(out, t)
	t = Target{Goal: "no-op apply, 100 hosts: ≤ 3 s wall"}
	if r := find(rows, toolHadeploy, "no-op apply", 100); r != nil {
		t.Value, t.Met = secs(r.Median), b(r.Median <= 3000)
	}
	out = append(out, t)
	for _, op := range []string{"no-op plan", "no-op apply"} {
		r := largest(rows, toolHadeploy, op)
		t = Target{Goal: fmt.Sprintf("hadeploy CPU ≤ 10 ms per host, %s (largest host count)", op)}
		if r != nil && r.CPUMedian > 0 {
			t.Value, t.Met = fmt.Sprintf("%.1f ms/host (%s for %d hosts)", r.CPUPerHost, msStr(r.CPUMedian), r.Hosts), b(r.CPUPerHost <= 10)
		}
		out = append(out, t)
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func targetTable(ts []Target) string {
	var b strings.Builder
	b.WriteString("| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		met, v := "not measured", t.Value
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, v, met)
	}
	return b.String()
}

// ratios compares hadeploy with Ansible on the same operation.
func ratios(rows []Row) map[string]float64 {
	out := map[string]float64{}
	pair := func(name, tool, hop, aop string) {
		h, a := find(rows, toolHadeploy, hop, 4), find(rows, tool, aop, 4)
		if h != nil && a != nil && h.Median > 0 {
			out[name] = float64(a.Median) / float64(h.Median)
		}
		if h != nil && a != nil && h.CPUMedian > 0 && a.CPUMedian > 0 {
			out[name+"_cpu"] = a.CPUMedian / h.CPUMedian
		}
	}
	pair("ansible_noop_over_hadeploy_noop_apply", toolAnsible, "no-op apply", "no-op playbook")
	pair("ansible_cold_over_hadeploy_cold_apply", toolAnsible, "cold apply", "cold playbook")
	pair("mitogen_noop_over_hadeploy_noop_apply", toolMitogen, "no-op apply", "no-op playbook")
	pair("mitogen_cold_over_hadeploy_cold_apply", toolMitogen, "cold apply", "cold playbook")
	return out
}

// Results is bench/results.json.
type Results struct {
	Started  time.Time          `json:"started"`
	Finished time.Time          `json:"finished,omitzero"`
	Machine  map[string]string  `json:"machine"`
	Rows     []Row              `json:"rows"`
	Ratios   map[string]float64 `json:"ratios_ansible_over_hadeploy"`
	Targets  []Target           `json:"targets"`
	Notes    []string           `json:"notes,omitempty"`
	Tools    map[string]string  `json:"tools,omitempty"`   // versions of what is compared
	Mitogen  *MitogenCheck      `json:"mitogen,omitempty"` // does Mitogen load with this Ansible
	Memory   []LabMemory        `json:"lab_memory,omitempty"`
}
