package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/status"
)

// Status prints the report as one screen of text, or emits it through sink
// as JSON events (so they are logged too): one per load balancer ("vrrp"),
// per server on each load balancer ("server"), per host ("host"), the VIP
// ("vip") and a summary whose changes are the drift.
func (r *Renderer) Status(rep *status.Report, sink events.Sink) {
	if !r.json {
		r.Print(StatusText(rep, r.color))
		return
	}
	now := time.Now().UTC()
	emit := func(e events.Event) {
		e.Time = now
		sink.Emit(e)
	}
	emit(events.Event{Type: events.EvInfo, Step: "vip", Message: vipLine(rep), Data: map[string]any{"vip": rep.VIP, "holders": rep.Holders, "vips": rep.VIPs}})
	for _, lb := range rep.LBs {
		emit(events.Event{Type: events.EvInfo, Step: "vrrp", Host: lb.Host, Message: vrrpCell(lb) + ", priority " + priorityCell(lb), Data: map[string]any{
			"state": lb.State, "priority": lb.Priority, "base_priority": lb.Base, "configured_priority": lb.Configured,
			"vip": lb.VIP, "why": lb.Why, "stats_why": lb.StatsWhy, "instances": lb.Instances, "last_change": lb.LastChange}})
	}
	for _, sv := range rep.Servers {
		emit(events.Event{Type: events.EvInfo, Step: "server", Host: sv.LB, Message: sv.Backend + "/" + sv.Server + " " + serverCell(sv), Data: map[string]any{
			"backend": sv.Backend, "server": sv.Server, "status": sv.Status, "sessions": sv.Sessions}})
	}
	sum := &events.Summary{Command: "status", Changes: rep.Changes, Failed: len(rep.Problems) > 0}
	for _, h := range rep.Hosts {
		versions := map[string]string{}
		for _, v := range h.Versions {
			versions[v.Program] = v.Version
		}
		data := map[string]any{"roles": h.Roles, "versions": versions, "changes": h.Changes, "drift_problem": h.DriftWhy, "lock": h.Lock}
		if h.LastRun != nil {
			data["last_run"] = map[string]any{"id": h.LastRun.ID, "status": h.LastRun.Status, "by": h.LastRun.By}
		}
		emit(events.Event{Type: events.EvInfo, Step: "host", Host: h.Host, Message: driftCell(h), Data: data})
		sum.Hosts = append(sum.Hosts, events.HostSummary{Host: h.Host, Changed: h.Changes, RoundTrips: h.RoundTrips})
	}
	emit(events.Event{Type: events.EvSummary, Summary: sum})
}

// StatusText renders the report (data in, text out): the VIP, the load
// balancers' VRRP, every backend server on every haproxy, every host's
// versions, last run and drift.
func StatusText(rep *status.Report, color bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s (%s): %s\n", rep.Cluster, rep.File, vipLine(rep))
	for _, l := range locks(rep) {
		b.WriteString(l + "\n")
	}
	if len(rep.LBs) > 0 {
		rows := [][]string{{"lb", "vrrp", "priority", "VIP", "last change"}}
		for _, lb := range rep.LBs {
			last := lb.LastChange
			if last == "" {
				last = "-"
			}
			rows = append(rows, []string{lb.Host, vrrpCell(lb), priorityCell(lb), lb.VIP, last})
			for _, in := range lb.Instances {
				cell := status.LB{State: in.State, Why: in.Why, Priority: in.Priority, Configured: in.Configured}
				rows = append(rows, []string{lb.Host + " " + in.VIP, vrrpCell(cell), priorityCell(cell), in.Held, ""})
			}
		}
		b.WriteString("\n" + Table(rows, color))
		rows = [][]string{{"backend", "server"}}
		for _, lb := range rep.LBs {
			rows[0] = append(rows[0], "on "+lb.Host)
		}
		var row []string
		for _, sv := range rep.Servers {
			if row == nil || row[0] != sv.Backend || row[1] != sv.Server {
				if row != nil {
					rows = append(rows, row)
				}
				row = []string{sv.Backend, sv.Server}
			}
			for len(row) < 2+lbIndex(rep, sv.LB) {
				row = append(row, "-")
			}
			row = append(row, serverCell(sv))
		}
		if row != nil {
			rows = append(rows, row)
		}
		b.WriteString("\n" + Table(rows, color))
		for _, lb := range rep.LBs {
			if lb.StatsWhy != "" {
				fmt.Fprintf(&b, "%s: haproxy's servers unknown: %s\n", lb.Host, lb.StatsWhy)
			}
		}
	}
	rows := [][]string{{"host", "roles", "haproxy", "keepalived", "apache", "last run", "drift", "round trips"}}
	for _, h := range rep.Hosts {
		v := map[string]string{"haproxy": "-", "keepalived": "-", "apache": "-"}
		for _, x := range h.Versions {
			v[x.Program] = x.Version
		}
		last := "none"
		if h.LastRun != nil {
			last = h.LastRun.ID + " " + h.LastRun.Status
		}
		rows = append(rows, []string{h.Host, strings.Join(h.Roles, ","), v["haproxy"], v["keepalived"], v["apache"], last, driftCell(h), fmt.Sprint(h.RoundTrips)})
	}
	b.WriteString("\n" + Table(rows, color))
	var drifted, unknown []string
	for _, h := range rep.Hosts {
		switch {
		case h.DriftWhy != "":
			unknown = append(unknown, h.Host+" ("+h.DriftWhy+")")
		case h.Changes > 0:
			drifted = append(drifted, h.Host)
		}
	}
	switch {
	case len(drifted) > 0:
		fmt.Fprintf(&b, "plan: %d change(s) pending on %s; `hadeploy plan %s` shows them\n", rep.Changes, strings.Join(drifted, ", "), rep.File)
	case len(unknown) == 0:
		b.WriteString("plan: nothing to change\n")
	}
	if len(unknown) > 0 {
		fmt.Fprintf(&b, "plan: unknown on %s\n", strings.Join(unknown, "; "))
	}
	return b.String()
}

// vipLine says who holds each VIP (one line part per VIP with vips:).
func vipLine(rep *status.Report) string {
	if len(rep.VIPs) <= 1 {
		return oneVIPLine(rep.VIP, rep.Holders)
	}
	var parts []string
	for _, v := range rep.VIPs {
		parts = append(parts, oneVIPLine(v.VIP, v.Holders))
	}
	return strings.Join(parts, "; ")
}

func oneVIPLine(vip string, holders []string) string {
	switch len(holders) {
	case 0:
		return "VIP " + vip + " held by no load balancer"
	case 1:
		return "VIP " + vip + " on " + holders[0]
	}
	return "VIP " + vip + " held by " + strings.Join(holders, ", ") + ": SPLIT BRAIN"
}

// locks says who holds the cluster lock, once per holder.
func locks(rep *status.Report) []string {
	var order []string
	on := map[string][]string{}
	for _, h := range rep.Hosts {
		if h.Lock != "" {
			if on[h.Lock] == nil {
				order = append(order, h.Lock)
			}
			on[h.Lock] = append(on[h.Lock], h.Host)
		}
	}
	var out []string
	for _, l := range order {
		out = append(out, "lock: held on "+strings.Join(on[l], ", ")+" by "+l)
	}
	return out
}

func lbIndex(rep *status.Report, name string) int {
	for i, lb := range rep.LBs {
		if lb.Host == name {
			return i
		}
	}
	return len(rep.LBs)
}

func vrrpCell(lb status.LB) string {
	if lb.State == status.Unknown && lb.Why != "" {
		return status.Unknown + " (" + lb.Why + ")"
	}
	return lb.State
}

func priorityCell(lb status.LB) string {
	if lb.Priority == 0 {
		return "-"
	}
	if lb.Configured != 0 && lb.Priority != lb.Configured {
		return fmt.Sprintf("%d (inventory: %d)", lb.Priority, lb.Configured)
	}
	return fmt.Sprint(lb.Priority)
}

func serverCell(sv status.Server) string {
	if sv.Status == status.Unknown {
		return sv.Status
	}
	if sv.Sessions == 1 {
		return sv.Status + ", 1 session"
	}
	return fmt.Sprintf("%s, %d sessions", sv.Status, sv.Sessions)
}

func driftCell(h status.Host) string {
	switch {
	case h.DriftWhy != "":
		return status.Unknown
	case h.Changes == 0:
		return "none"
	}
	return fmt.Sprintf("%d change(s)", h.Changes)
}
