// Package ui renders the events of a command: live lines and a summary table
// on a terminal (lipgloss), plain text when stdout is not a terminal or
// NO_COLOR is set, or one JSON object per line with --output json.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/hadeploy/hadeploy/events"
	"golang.org/x/term"
)

// Renderer is a events.Sink that writes to one stream, one whole line at a
// time, so hosts running in parallel never interleave.
type Renderer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	color bool
	diffs bool
	// Now is replaced in tests for stable output.
	Now func() time.Time

	ok, changed, failed, muted style
	add, del, hdr              style
}

// style paints only when colour is on: plain output must be byte-exact
// (lipgloss would also expand tabs).
type style struct {
	on bool
	s  lipgloss.Style
}

func (st style) Render(s string) string {
	if !st.on || s == "" {
		return s
	}
	return st.s.Render(s)
}

// Options choose the output form.
type Options struct {
	JSON  bool
	Color bool
	Diffs bool // print file diffs in change events
}

// New returns a renderer for w.
func New(w io.Writer, o Options) *Renderer {
	r := &Renderer{w: w, json: o.JSON, color: o.Color && !o.JSON, diffs: o.Diffs}
	st := func(c string) style {
		return style{on: r.color, s: lipgloss.NewStyle().Foreground(lipgloss.Color(c))}
	}
	r.ok, r.changed, r.failed, r.muted = st("2"), st("3"), st("1"), st("8")
	r.add, r.del, r.hdr = st("2"), st("1"), st("6")
	return r
}

// ColorWanted reports whether f is a terminal and NO_COLOR is unset.
func ColorWanted(f *os.File) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Emit renders one event.
func (r *Renderer) Emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.json {
		if r.Now != nil {
			e.Time = r.Now()
		}
		b, _ := json.Marshal(e)
		r.w.Write(append(b, '\n'))
		return
	}
	switch e.Type {
	case events.EvRunStarted:
		fmt.Fprintf(r.w, "%s %s\n", r.hdr.Render("==>"), e.Message+runSuffix(e.Run))
	case events.EvHostConnected:
		fmt.Fprintf(r.w, "%-12s %-11s %s\n", e.Host, "connect", r.ok.Render("ok")+r.muted.Render(dur(e.DurationMS)))
	case events.EvStep:
		st := e.Status
		switch e.Status {
		case events.StatusOK:
			st = r.ok.Render(st)
		case events.StatusChanged:
			st = r.changed.Render(st)
		case events.StatusFailed:
			st = r.failed.Render(st)
		}
		line := fmt.Sprintf("%-12s %-11s %s%s", e.Host, e.Step, st, r.muted.Render(dur(e.DurationMS)))
		if e.Message != "" {
			msg := e.Message
			if e.Status == events.StatusFailed {
				msg = indent(msg)
				line += "\n" + msg
			} else {
				line += "  " + r.muted.Render(msg)
			}
		}
		fmt.Fprintln(r.w, line)
	case events.EvChange:
		if r.diffs && e.Diff != "" {
			fmt.Fprintf(r.w, "%-12s %-11s %s\n%s", e.Host, e.Step, "diff "+e.Path, r.colorDiff(e.Diff))
		}
	case events.EvWarning:
		fmt.Fprintf(r.w, "%s %s\n", r.changed.Render("warning:"), prefixHost(e.Host, e.Message))
	case events.EvError:
		fmt.Fprintf(r.w, "%s %s\n", r.failed.Render("error:"), prefixHost(e.Host, e.Message))
	case events.EvInfo:
		fmt.Fprintf(r.w, "%-12s %-11s %s\n", e.Host, e.Step, r.muted.Render(e.Message))
	case events.EvSummary:
		r.summary(e.Summary)
	}
}

// Print writes free text under the renderer's lock (ignored in JSON mode).
func (r *Renderer) Print(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.json {
		io.WriteString(r.w, s)
	}
}

// JSONMode reports whether events are JSON lines.
func (r *Renderer) JSONMode() bool { return r.json }

// ColorDiff colours a unified diff (plain when colour is off).
func (r *Renderer) colorDiff(d string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(d, "\n") {
		if l == "" {
			continue
		}
		t := strings.TrimRight(l, "\n")
		switch {
		case strings.HasPrefix(t, "+++"), strings.HasPrefix(t, "---"), strings.HasPrefix(t, "@@"):
			t = r.hdr.Render(t)
		case strings.HasPrefix(t, "+"):
			t = r.add.Render(t)
		case strings.HasPrefix(t, "-"):
			t = r.del.Render(t)
		}
		b.WriteString("    " + t + "\n")
	}
	return b.String()
}

// Diff renders a diff block for plan output.
func (r *Renderer) Diff(d string) string { return r.colorDiff(d) }

func (r *Renderer) summary(s *events.Summary) {
	if s == nil {
		return
	}
	rows := [][]string{{"host", "ok", "changed", "failed", "time", "round trips"}}
	for _, h := range s.Hosts {
		f := fmt.Sprint(h.Failed)
		if h.RolledBack {
			f += " (rolled back)"
		}
		rows = append(rows, []string{h.Host, fmt.Sprint(h.OK), fmt.Sprint(h.Changed), f, fmt.Sprintf("%.2fs", float64(h.DurationMS)/1000), fmt.Sprint(h.RoundTrips)})
	}
	fmt.Fprintln(r.w)
	fmt.Fprint(r.w, Table(rows, r.color))
	status := r.ok.Render("succeeded")
	if s.Failed {
		status = r.failed.Render("FAILED")
		if s.RolledBack {
			status += " and was rolled back"
		}
	}
	fmt.Fprintf(r.w, "%s %s in %.2fs", s.Command, status, float64(s.DurationMS)/1000)
	if s.Run != "" {
		fmt.Fprintf(r.w, " — run %s", s.Run)
	}
	fmt.Fprintf(r.w, ", %d change(s)\n", s.Changes)
	if s.Backups != "" && s.Changes > 0 {
		fmt.Fprintf(r.w, "backups: %s on each changed host\n", s.Backups)
	}
	if s.Next != "" {
		fmt.Fprintf(r.w, "next: %s\n", s.Next)
	}
}

// Table renders rows (the first is the header) as an aligned table with a
// rule under the header.
func Table(rows [][]string, color bool) string {
	if len(rows) == 0 {
		return ""
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			if i < len(widths) && lipgloss.Width(c) > widths[i] {
				widths[i] = lipgloss.Width(c)
			}
		}
	}
	head := lipgloss.NewStyle()
	if color {
		head = head.Bold(true)
	}
	var b strings.Builder
	for ri, row := range rows {
		var cells []string
		for i, c := range row {
			cell := c + strings.Repeat(" ", widths[i]-lipgloss.Width(c))
			if ri == 0 {
				cell = head.Render(cell)
			}
			cells = append(cells, cell)
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, "  "), " ") + "\n")
		if ri == 0 {
			total := 0
			for _, w := range widths {
				total += w
			}
			b.WriteString(strings.Repeat("─", total+2*(len(widths)-1)) + "\n")
		}
	}
	return b.String()
}

func dur(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2fs)", float64(ms)/1000)
}

func runSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (run " + id + ")"
}

func prefixHost(h, m string) string {
	if h == "" {
		return m
	}
	return h + ": " + m
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}
