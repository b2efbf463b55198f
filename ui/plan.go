package ui

import (
	"fmt"
	"strings"

	"github.com/hadeploy/hadeploy/events"
)

// PlanHost is one host's part of a plan, as data: the engine's plan turned
// into what is shown (diffs already masked).
type PlanHost struct {
	Name, OS, Roles string
	Changes         int
	RoundTrips      int64
	Packages        []string
	Items           []PlanItem
}

// PlanItem is one change: a file diff (Path, Diff) or a service action
// (Message).
type PlanItem struct {
	Step, Path, Diff, Message string
}

// Stages prints the stages apply will go through for a change of the
// contract between web hosts and load balancers (JSON: one info event each).
func (r *Renderer) Stages(stages []string, sink events.Sink) {
	if len(stages) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("\nstaged change, so that web hosts and load balancers agree at every moment:\n")
	for i, st := range stages {
		fmt.Fprintf(&b, "  stage %d/%d %s\n", i+1, len(stages), st)
		if r.json {
			sink.Emit(events.Event{Type: events.EvInfo, Step: "stage", Message: fmt.Sprintf("stage %d/%d %s", i+1, len(stages), st)})
		}
	}
	b.WriteString("(each stage is a run of its own; a failure rolls back stage by stage, newest first; the diffs below go from now to the end)\n")
	r.Print(b.String())
}

// Plan prints every host's changes (or emits them as JSON events, then a
// summary, through sink so they are logged too) and returns the total number
// of changes. file names the inventory in the closing hint.
func (r *Renderer) Plan(hosts []PlanHost, file string, sink events.Sink) int {
	total := 0
	sum := &events.Summary{Command: "plan"}
	for _, hp := range hosts {
		total += hp.Changes
		sum.Hosts = append(sum.Hosts, events.HostSummary{Host: hp.Name, Changed: hp.Changes, RoundTrips: hp.RoundTrips})
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s (%s, %s): %d change(s)\n", hp.Name, hp.OS, hp.Roles, hp.Changes)
		if len(hp.Packages) > 0 {
			fmt.Fprintf(&b, "  install packages: %s\n", strings.Join(hp.Packages, " "))
			sink.Emit(events.Event{Type: events.EvChange, Host: hp.Name, Step: "packages", Message: "install " + strings.Join(hp.Packages, " ")})
		}
		for _, it := range hp.Items {
			if it.Path != "" {
				fmt.Fprintf(&b, "  [%s] %s\n%s", it.Step, it.Path, r.Diff(it.Diff))
			} else {
				fmt.Fprintf(&b, "  [%s] %s\n", it.Step, it.Message)
			}
			if r.json {
				sink.Emit(events.Event{Type: events.EvChange, Host: hp.Name, Step: it.Step, Path: it.Path, Diff: it.Diff, Message: it.Message})
			}
		}
		r.Print(b.String())
		sum.Changes += hp.Changes
	}
	r.Print("\n")
	rows := [][]string{{"host", "changes", "round trips"}}
	for _, h := range sum.Hosts {
		rows = append(rows, []string{h.Host, fmt.Sprint(h.Changed), fmt.Sprint(h.RoundTrips)})
	}
	r.Print(Table(rows, false))
	if total == 0 {
		r.Print("plan: nothing to change\n")
	} else {
		r.Print(fmt.Sprintf("plan: %d change(s) pending; run `hadeploy apply %s` to make them\n", total, file))
	}
	if r.json {
		sink.Emit(events.Event{Type: events.EvSummary, Summary: sum})
	}
	return total
}
