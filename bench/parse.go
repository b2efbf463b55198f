package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/events"
)

// Parsing of what hadeploy, -v and ansible-playbook print.

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
	PkgMS   int64 // the package phase: first start to last end over the hosts
	Changes int
	Hosts   int
	Found   bool // a summary was found
}

func statsOf(evs []events.Event) runStats {
	var s runStats
	// The package phase's span, from the first host's start to the last
	// host's end: with --concurrency hosts install in turns, and the longest
	// single step is only one of them.
	var first, last time.Time
	for _, e := range evs {
		if e.Type != events.EvStep || e.Step != "packages" {
			continue
		}
		s.PkgMS = max(s.PkgMS, e.DurationMS)
		if e.Time.IsZero() {
			continue
		}
		if start := e.Time.Add(-time.Duration(e.DurationMS) * time.Millisecond); first.IsZero() || start.Before(first) {
			first = start
		}
		if e.Time.After(last) {
			last = e.Time
		}
	}
	if span := last.Sub(first).Milliseconds(); !first.IsZero() && span > s.PkgMS {
		s.PkgMS = span
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
