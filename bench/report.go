package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/events"
)

// Row is one measured operation.
type Row struct {
	Tool      string  `json:"tool"`      // hadeploy or ansible
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
}

func median(v []int64) int64 {
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

// parseEvents reads hadeploy's --output json lines.
func parseEvents(stdout string) []events.Event {
	var out []events.Event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e events.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type != "" {
			out = append(out, e)
		}
	}
	return out
}

// runStats is what one hadeploy invocation's events say.
type runStats struct {
	RTMax   int64
	RTMean  float64
	PkgMS   int64 // longest packages step (hosts install in parallel)
	Changes int
	Hosts   int
	Found   bool // a summary was found
}

func statsOf(evs []events.Event) runStats {
	var s runStats
	for _, e := range evs {
		if e.Type == events.EvStep && e.Step == "packages" && e.DurationMS > s.PkgMS {
			s.PkgMS = e.DurationMS
		}
	}
	for i := len(evs) - 1; i >= 0; i-- {
		sum := evs[i].Summary
		if evs[i].Type != events.EvSummary || sum == nil {
			continue
		}
		s.Found = true
		s.Changes = sum.Changes
		s.Hosts = len(sum.Hosts)
		var tot int64
		for _, h := range sum.Hosts {
			tot += h.RoundTrips
			s.RTMax = max(s.RTMax, h.RoundTrips)
		}
		if len(sum.Hosts) > 0 {
			s.RTMean = float64(tot) / float64(len(sum.Hosts))
		}
		break
	}
	return s
}

// recapLine matches one host line of Ansible's PLAY RECAP.
var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)`)

// recap sums Ansible's PLAY RECAP: changed tasks over all hosts, the most
// tasks any host ran (ok, which includes changed, plus skipped and failed),
// and failures (failed + unreachable).
func recap(out string) (changed, tasksMax, failed, hosts int) {
	for _, m := range recapLine.FindAllStringSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		hosts++
		changed += n(3)
		failed += n(4) + n(5)
		tasksMax = max(tasksMax, n(2)+n(5)+n(6))
	}
	return
}

func secs(ms int64) string { return fmt.Sprintf("%.2f s", float64(ms)/1000) }

// table renders rows as a Markdown table (also readable in a terminal).
func table(rows []Row) string {
	head := []string{"tool", "operation", "hosts", "wall (median)", "runs", "round trips/host (max / mean)", "packages", "own time", "changes", "note"}
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
		lines = append(lines, []string{r.Tool, r.Op, strconv.Itoa(r.Hosts), secs(r.Median), strconv.Itoa(len(r.WallMS)), rt, pkg, own, strconv.Itoa(r.Changes), r.Note})
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

// Target is one goal of issue 8 and how the run did against it.
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

// targets checks the rows against the goals.
func targets(rows []Row) []Target {
	b := func(v bool) *bool { return &v }
	var out []Target
	noop := find(rows, "hadeploy", "no-op apply", 4)
	ans := find(rows, "ansible", "no-op playbook", 4)
	cold := find(rows, "hadeploy", "cold apply", 4)
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
	if r := find(rows, "hadeploy", "no-op apply", 32); r != nil {
		t.Value, t.Met = secs(r.Median), b(r.Median <= 2000)
	}
	out = append(out, t)
	return out
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
	pair := func(name, hop, aop string) {
		h, a := find(rows, "hadeploy", hop, 4), find(rows, "ansible", aop, 4)
		if h != nil && a != nil && h.Median > 0 {
			out[name] = float64(a.Median) / float64(h.Median)
		}
	}
	pair("ansible_noop_over_hadeploy_noop_apply", "no-op apply", "no-op playbook")
	pair("ansible_cold_over_hadeploy_cold_apply", "cold apply", "cold playbook")
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
}

// remoteRun matches the line `hadeploy -v` prints before each remote program
// (then comes the program, then "HOST: run: /bin/sh", the command it feeds).
var remoteRun = regexp.MustCompile(`(?m)^(\S+): run:$`)

// remotePrograms counts the remote programs `hadeploy -v` logged per host,
// as "host=N" in order of first appearance.
func remotePrograms(out string) string {
	count := map[string]int{}
	var order []string
	for _, m := range remoteRun.FindAllStringSubmatch(out, -1) {
		if count[m[1]] == 0 {
			order = append(order, m[1])
		}
		count[m[1]]++
	}
	var parts []string
	for _, h := range order {
		parts = append(parts, fmt.Sprintf("%s=%d", h, count[h]))
	}
	return strings.Join(parts, " ")
}
