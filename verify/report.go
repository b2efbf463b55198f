package verify

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// The timeline's geometry, in CSS pixels: fixed so that the page renders the
// same in every browser and at every window size (the page is 1100 px wide).
const (
	svgWidth   = 1040
	plotLeft   = 96 // room for the row labels
	plotWidth  = 920
	labelTop   = 16 // baseline of the "fail" / "start" labels
	reqTop     = 26 // the requests lane: ok marks in its upper half, failed in its lower
	markHeight = 16
	markWidth  = 3
	laneGap    = 2
	bandTop    = reqTop + 2*markHeight + laneGap + 12
	bandHeight = 20
	bandStep   = 28
	axisGap    = 8
)

// Report writes failover-test's results as one self-contained HTML page:
// the summary table, then per scenario a timeline (every request a mark, the
// VIP holder per load balancer as bands, the fail and start moments) and its
// figures. Inline CSS and SVG only: no script and no external reference, so
// the file can be mailed, archived or opened offline as it is.
func Report(w io.Writer, cluster string, results []Result, when time.Time) error {
	page := reportPage{Cluster: cluster, When: when.Format("2006-01-02 15:04:05 MST")}
	vips := map[string]bool{}
	for _, r := range results {
		vips[r.VIP] = true
	}
	for _, r := range results {
		sv := scenarioView(r)
		if len(vips) > 1 {
			// Several VIPs: each scenario ran once per VIP; keep anchors unique.
			sv.ID, sv.Name = sv.ID+"-"+strings.ReplaceAll(r.VIP, ".", "-"), r.VIP+": "+sv.Name
		}
		page.Scenarios = append(page.Scenarios, sv)
		if !r.OK {
			page.Failed++
		}
	}
	// Render whole before writing, so an error leaves no half page behind
	// in w.
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, page); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

type reportPage struct {
	Cluster   string
	When      string
	Failed    int
	Scenarios []scenarioPage
}

type scenarioPage struct {
	ID, Name, FromTo            string
	Moved, Bound, FailBack, Gap string
	Failed, Requests            int
	// The fail-back's own share: failed requests sent after the start, and
	// the longest time without a success from then on.
	BackFailed int
	BackGap    string
	Detected   string // the split brain, as named while it lasted
	OK         bool
	Problem    string
	Notified   string // what the new holder's notify hooks recorded

	// Geometry, all in the svg's pixels.
	Width, Height, PlotLeft, PlotWidth, PlotRight   int
	LabelY, MarkOKY, MarkFailY, MarkH, MarkW, BandH int
	AxisY, TickY, AxisLabelY, AxisTitleX, LegY      int
	FailX, StartX                                   string
	HasStart                                        bool

	Marks []markView
	Bands []bandRow
	Ticks []tickView
}

type markView struct {
	N     int
	X     int
	Class string // ok or failed
	At    string // seconds, for the data attribute and the tooltip
}

type bandRow struct {
	LB    string
	Y     int
	TextY int
	Segs  []bandSeg
}

type bandSeg struct {
	X, W  string
	Split bool
	Title string
}

type tickView struct {
	X     string
	Label string
}

func scenarioView(r Result) scenarioPage {
	tl := r.Timeline
	span := tl.End
	for _, q := range tl.Requests {
		span = max(span, q.At)
	}
	for _, h := range tl.Holders {
		span = max(span, h.At)
	}
	if span <= 0 {
		span = time.Second
	}
	x := func(d time.Duration) float64 { return plotLeft + float64(d)/float64(span)*plotWidth }

	sp := scenarioPage{
		ID: r.ID, Name: r.Scenario, FromTo: r.Master + " → " + orDash(r.NewHolder),
		Moved: secs(r.Moved), Bound: secs(r.Bound), FailBack: secs(r.FailBack), Gap: secs(r.LongestGap),
		Failed: r.Failed, Requests: r.Requests, BackFailed: r.FailBackFailed, BackGap: secs(r.FailBackGap), Detected: r.Detected,
		OK: r.OK, Problem: r.Problem, Notified: orDash(r.Notified),
		Width: svgWidth, PlotLeft: plotLeft, PlotWidth: plotWidth, PlotRight: plotLeft + plotWidth,
		LabelY: labelTop, MarkOKY: reqTop, MarkFailY: reqTop + markHeight + laneGap, MarkH: markHeight, MarkW: markWidth, BandH: bandHeight,
		FailX: px(x(tl.Fail)), StartX: px(x(tl.Start)), HasStart: tl.Start > tl.Fail,
	}
	for i, q := range tl.Requests {
		m := markView{N: i + 1, Class: "ok", At: fmt.Sprintf("%.3f", q.At.Seconds())}
		if !q.OK {
			m.Class = "failed"
		}
		// Whole pixels keep each mark crisp instead of two half-blended columns.
		m.X = int(math.Round(x(q.At) - markWidth/2.0))
		sp.Marks = append(sp.Marks, m)
	}
	for i, lb := range bandLBs(tl) {
		row := bandRow{LB: lb, Y: bandTop + i*bandStep}
		row.TextY = row.Y + bandHeight/2 + 4
		for _, s := range holdSegments(tl, lb) {
			row.Segs = append(row.Segs, bandSeg{X: px(x(s.from)), W: px(max(x(s.to)-x(s.from), 1)), Split: s.split,
				Title: fmt.Sprintf("%s held the VIP %.2f–%.2f s", lb, s.from.Seconds(), s.to.Seconds())})
		}
		sp.Bands = append(sp.Bands, row)
	}
	sp.AxisY = bandTop + len(sp.Bands)*bandStep - (bandStep - bandHeight) + axisGap
	sp.TickY = sp.AxisY + 5
	sp.AxisLabelY = sp.AxisY + 18
	sp.AxisTitleX = plotLeft + plotWidth/2
	sp.LegY = sp.AxisY + 52
	sp.Height = sp.LegY + 14
	step := tickStep(span)
	for t := time.Duration(0); t <= span; t += step {
		sp.Ticks = append(sp.Ticks, tickView{X: px(x(t)), Label: trimSecs(t)})
	}
	return sp
}

// bandLBs: every load balancer of the inventory, plus any other name a
// sample reported, so nothing seen holding the VIP is left out.
func bandLBs(tl Timeline) []string {
	seen := map[string]bool{}
	out := append([]string(nil), tl.LBs...)
	for _, lb := range out {
		seen[lb] = true
	}
	var extra []string
	for _, h := range tl.Holders {
		for _, n := range h.Holders {
			if !seen[n] {
				seen[n] = true
				extra = append(extra, n)
			}
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

type segment struct {
	from, to time.Duration
	split    bool
}

// holdSegments: the spans during which lb held the VIP. A sample stands for
// the time until the next one (the last until the end); consecutive samples
// with the same state merge into one band.
func holdSegments(tl Timeline, lb string) []segment {
	var out []segment
	for i, h := range tl.Holders {
		to := tl.End
		if i+1 < len(tl.Holders) {
			to = tl.Holders[i+1].At
		}
		held := false
		for _, n := range h.Holders {
			held = held || n == lb
		}
		if !held || to <= h.At {
			continue
		}
		split := len(h.Holders) > 1
		if k := len(out) - 1; k >= 0 && out[k].to == h.At && out[k].split == split {
			out[k].to = to
			continue
		}
		out = append(out, segment{from: h.At, to: to, split: split})
	}
	return out
}

// tickStep keeps the axis at 10 labels or fewer.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second} {
		if span/s <= 10 {
			return s
		}
	}
	return time.Minute
}

func px(f float64) string { return fmt.Sprintf("%.1f", f) }

func trimSecs(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", d.Seconds()), "0"), ".")
}

// secs is the table's duration: "-" when nothing was measured.
func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The page. No xmlns on the svg elements: inline SVG in HTML needs none,
// and it would be the one URL in the file.
var reportTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>failover-test {{.Cluster}} {{.When}}</title>
<style>
body { margin: 0; background: #ffffff; color: #1f2328; font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { width: 1060px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 17px; margin: 0 0 8px; font-weight: 600; }
h2 .id { color: #656d76; font-weight: 400; font-size: 14px; margin-left: 8px; }
.sub { color: #656d76; margin: 0 0 18px; }
table { border-collapse: collapse; width: 100%; margin: 0 0 24px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #d8dee4; vertical-align: top; white-space: nowrap; }
td.result { white-space: normal; }
th { background: #f3f5f7; font-weight: 600; font-size: 13px; color: #424a53; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.res-ok { color: #116329; font-weight: 600; }
.res-failed { color: #a40e26; font-weight: 600; }
section { border: 1px solid #d8dee4; border-radius: 6px; padding: 14px 16px 10px; margin: 0 0 20px; }
svg { display: block; }
svg text { font-family: system-ui, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: #424a53; }
.req.ok, .swatch.ok { fill: #1a9e4b; }
.req.failed, .swatch.failed { fill: #e0262b; }
.track { fill: #eef1f4; }
.hold, .swatch.hold { fill: #4e79a7; }
.hold.split, .swatch.split { fill: #b8327f; }
.lane { fill: #f7f8fa; }
.axis { stroke: #8c959f; stroke-width: 1; }
.grid { stroke: #e4e8ec; stroke-width: 1; }
.fail { stroke: #e08214; stroke-width: 2; }
.start { stroke: #6a3d9a; stroke-width: 2; stroke-dasharray: 5 3; }
text.fail { fill: #b35c00; font-weight: 600; stroke: none; }
text.start { fill: #6a3d9a; font-weight: 600; stroke: none; }
.figures { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 8px 0 4px; padding: 0; list-style: none; }
.figures b { font-weight: 600; }
.figures .k { color: #656d76; margin-right: 4px; }
</style>
</head>
<body>
<main>
<h1>failover-test: {{.Cluster}}</h1>
<p class="sub">{{.When}} · {{len .Scenarios}} scenario(s){{if .Failed}} · <span class="res-failed">{{.Failed}} failed</span>{{else if .Scenarios}} · <span class="res-ok">all passed</span>{{end}}</p>
<table class="summary">
<tr><th>scenario</th><th>from → to</th><th>moved</th><th>bound</th><th>fail-back</th><th>longest gap</th><th>failed/requests</th><th>fail-back failed, gap</th><th>result</th></tr>
{{- range .Scenarios}}
<tr><td><a href="#{{.ID}}">{{.Name}}</a></td><td>{{.FromTo}}</td><td class="num">{{.Moved}}</td><td class="num">{{.Bound}}</td><td class="num">{{.FailBack}}</td><td class="num">{{.Gap}}</td><td class="num">{{.Failed}}/{{.Requests}}</td><td class="num">{{.BackFailed}}, {{.BackGap}}</td><td class="result">{{template "result" .}}</td></tr>
{{- end}}
</table>
{{- range .Scenarios}}
<section id="{{.ID}}">
<h2>{{.Name}}<span class="id">{{.ID}}</span></h2>
<svg class="timeline" data-scenario="{{.ID}}" data-requests="{{.Requests}}" data-failed="{{.Failed}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="timeline of {{.Name}}">
{{- $s := .}}
<rect class="lane" x="{{.PlotLeft}}" y="{{.MarkOKY}}" width="{{$s.PlotWidth}}" height="{{.MarkH}}"/>
<rect class="lane" x="{{.PlotLeft}}" y="{{.MarkFailY}}" width="{{$s.PlotWidth}}" height="{{.MarkH}}"/>
<text x="8" y="{{.MarkOKY}}" dy="12" font-size="12">requests ok</text>
<text x="8" y="{{.MarkFailY}}" dy="12" font-size="12">failed</text>
{{- range .Ticks}}
<line class="grid" x1="{{.X}}" y1="{{$s.MarkOKY}}" x2="{{.X}}" y2="{{$s.AxisY}}"/>
{{- end}}
{{- range .Bands}}
<text x="8" y="{{.TextY}}" font-size="12">VIP on {{.LB}}</text>
<rect class="track" x="{{$s.PlotLeft}}" y="{{.Y}}" width="{{$s.PlotWidth}}" height="{{$s.BandH}}"/>
{{- $lb := .}}
{{- range .Segs}}
<rect class="hold{{if .Split}} split{{end}}" x="{{.X}}" y="{{$lb.Y}}" width="{{.W}}" height="{{$s.BandH}}"><title>{{.Title}}</title></rect>
{{- end}}
{{- end}}
{{- range .Marks}}
<rect class="req {{.Class}}" data-req="{{.N}}" data-at="{{.At}}" x="{{.X}}" y="{{if eq .Class "ok"}}{{$s.MarkOKY}}{{else}}{{$s.MarkFailY}}{{end}}" width="{{$s.MarkW}}" height="{{$s.MarkH}}"><title>request {{.N}} at {{.At}} s: {{.Class}}</title></rect>
{{- end}}
<line class="fail" x1="{{.FailX}}" y1="20" x2="{{.FailX}}" y2="{{.AxisY}}"/>
<text class="fail" x="{{.FailX}}" y="{{.LabelY}}" font-size="12" text-anchor="middle">fail</text>
{{- if .HasStart}}
<line class="start" x1="{{.StartX}}" y1="20" x2="{{.StartX}}" y2="{{.AxisY}}"/>
<text class="start" x="{{.StartX}}" y="{{.LabelY}}" font-size="12" text-anchor="middle">start</text>
{{- end}}
<line class="axis" x1="{{.PlotLeft}}" y1="{{.AxisY}}" x2="{{.PlotRight}}" y2="{{.AxisY}}"/>
{{- range .Ticks}}
<line class="axis" x1="{{.X}}" y1="{{$s.AxisY}}" x2="{{.X}}" y2="{{$s.TickY}}"/>
<text x="{{.X}}" y="{{$s.AxisLabelY}}" font-size="11" text-anchor="middle">{{.Label}}</text>
{{- end}}
<text x="{{.AxisTitleX}}" y="{{.AxisLabelY}}" dy="16" font-size="11" text-anchor="middle">seconds since the scenario began</text>
<g transform="translate({{.PlotLeft}} {{.LegY}})" font-size="12">
<rect class="swatch ok" x="0" y="-10" width="10" height="10"/><text x="16" y="0">request ok (200)</text>
<rect class="swatch failed" x="140" y="-10" width="10" height="10"/><text x="156" y="0">request failed</text>
<rect class="swatch hold" x="260" y="-10" width="18" height="10"/><text x="284" y="0">holds the VIP</text>
<rect class="swatch split" x="390" y="-10" width="18" height="10"/><text x="414" y="0">two holders (split brain)</text>
<line class="fail" x1="580" y1="-12" x2="580" y2="2"/><text x="588" y="0">fail: failure injected</text>
<line class="start" x1="740" y1="-12" x2="740" y2="2"/><text x="748" y="0">start: fault undone</text>
</g>
</svg>
<ul class="figures">
<li><span class="k">from → to</span><b>{{.FromTo}}</b></li>
<li><span class="k">moved</span><b>{{.Moved}}</b></li>
<li><span class="k">bound</span><b>{{.Bound}}</b></li>
<li><span class="k">fail-back</span><b>{{.FailBack}}</b></li>
<li><span class="k">longest gap</span><b>{{.Gap}}</b></li>
<li><span class="k">failed/requests</span><b>{{.Failed}}/{{.Requests}}</b></li>
<li><span class="k">fail-back failed, gap</span><b>{{.BackFailed}}, {{.BackGap}}</b></li>
{{- if .Detected}}
<li><span class="k">detected</span><b>{{.Detected}}</b></li>
{{- end}}
<li><span class="k">notified</span><b>{{.Notified}}</b></li>
<li><span class="k">result</span>{{template "result" .}}</li>
</ul>
</section>
{{- end}}
</main>
</body>
</html>
{{define "result"}}{{if .OK}}<span class="res-ok">ok</span>{{else}}<span class="res-failed">FAILED</span>{{if .Problem}}: {{.Problem}}{{end}}{{end}}{{end}}`))
