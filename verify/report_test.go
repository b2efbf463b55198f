package verify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

const ms = time.Millisecond

// synthetic is a scenario as failover-test would measure it: n requests
// every 50 ms from 0, those answered in [failFrom, failTo) failed; the VIP
// on lb1, gone at fail+moved (one empty sample), on lb2 until
// start+failback, then back on lb1; samples every 200 ms.
func synthetic(id, name string, n int, failFrom, failTo, fail, moved, start, failback time.Duration) Result {
	end := time.Duration(n) * 50 * ms
	r := Result{ID: id, Scenario: name, Master: "lb1", NewHolder: "lb2", Bound: 3 * time.Second,
		Moved: moved, FailBack: failback, OK: true, Requests: n}
	r.Timeline = Timeline{LBs: []string{"lb1", "lb2"}, Fail: fail, Start: start, End: end}
	for i := 0; i < n; i++ {
		at := time.Duration(i+1) * 50 * ms
		ok := at < failFrom || at >= failTo
		if !ok {
			r.Failed++
		}
		r.Timeline.Requests = append(r.Timeline.Requests, RequestMark{At: at, OK: ok})
	}
	r.LongestGap = failTo - failFrom + 50*ms
	for at := time.Duration(0); at < end; at += 200 * ms {
		var h []string
		switch {
		case at < fail+moved-200*ms:
			h = []string{"lb1"}
		case at < fail+moved:
			h = nil // between the holders: nobody answers ARP
		case at < start+failback:
			h = []string{"lb2"}
		default:
			h = []string{"lb1"}
		}
		r.Timeline.Holders = append(r.Timeline.Holders, HolderSample{At: at, Holders: h})
	}
	return r
}

// three scenarios of 150 requests with 5, 12 and 7 failures; the last one
// failed, with a split-brain sample, so the page shows a failed run too.
func threeScenarios() []Result {
	s := ms
	rs := []Result{
		synthetic("keepalived-stop", "stop keepalived on master", 150, 1050*s, 1300*s, 1000*s, 400*s, 4000*s, 1400*s),
		synthetic("haproxy-stop", "stop haproxy on master", 150, 1050*s, 1650*s, 1000*s, 800*s, 4200*s, 1800*s),
		synthetic("haproxy-kill", "kill -9 haproxy on master", 150, 1050*s, 1400*s, 1000*s, 1200*s, 4000*s, 1000*s),
	}
	last := &rs[2]
	last.Timeline.Holders[25].Holders = []string{"lb1", "lb2"}
	last.SplitBrain, last.OK, last.Problem = true, false, "two load balancers held the VIP at the same time"
	return rs
}

var (
	reqMark    = regexp.MustCompile(`<rect class="req (ok|failed)" data-req="\d+"`)
	failedMark = regexp.MustCompile(`<rect class="req failed" data-req="\d+"`)
	svgOpen    = regexp.MustCompile(`<svg class="timeline" data-scenario="([^"]+)"`)
)

func render(t *testing.T, cluster string, rs []Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := Report(&b, cluster, rs, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// One mark per request, one failed mark per failed request, in each
// scenario's own svg; and nothing the page would fetch.
func TestReportMarksEveryRequest(t *testing.T) {
	rs := threeScenarios()
	page := render(t, "lab", rs)
	parts := svgOpen.Split(page, -1)[1:] // parts[i] starts inside scenario i's svg
	if len(parts) != len(rs) {
		t.Fatalf("%d timelines for %d scenarios", len(parts), len(rs))
	}
	for i, r := range rs {
		svg := parts[i][:strings.Index(parts[i], "</svg>")]
		if got := len(reqMark.FindAllString(svg, -1)); got != r.Requests {
			t.Errorf("%s: %d request marks, want %d", r.ID, got, r.Requests)
		}
		if got := len(failedMark.FindAllString(svg, -1)); got != r.Failed {
			t.Errorf("%s: %d failed marks, want %d", r.ID, got, r.Failed)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script", "url(", "@import", "src=", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must be self-contained", bad)
		}
	}
	for _, want := range []string{`class="hold split"`, `>fail</text>`, `>start</text>`, "VIP on lb1", "VIP on lb2",
		"two load balancers held the VIP at the same time", `href="#haproxy-kill"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// The bands follow the samples: lb1, nobody, lb2, lb1 back.
func TestHoldSegments(t *testing.T) {
	tl := synthetic("x", "x", 100, 0, 0, 1000*ms, 400*ms, 3000*ms, 1000*ms).Timeline
	got := map[string][]segment{"lb1": holdSegments(tl, "lb1"), "lb2": holdSegments(tl, "lb2")}
	want := map[string][]segment{
		"lb1": {{0, 1200 * ms, false}, {4000 * ms, 5000 * ms, false}},
		"lb2": {{1400 * ms, 4000 * ms, false}},
	}
	for lb := range want {
		if len(got[lb]) != len(want[lb]) {
			t.Fatalf("%s: segments %v, want %v", lb, got[lb], want[lb])
		}
		for i := range want[lb] {
			if got[lb][i] != want[lb][i] {
				t.Errorf("%s: segments %v, want %v", lb, got[lb], want[lb])
			}
		}
	}
}

// The timeline stays out of the JSON of a Result: hundreds of samples.
func TestTimelineNotInJSON(t *testing.T) {
	b, err := json.Marshal(threeScenarios()[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "Timeline") || strings.Contains(s, "Requests\":[") || len(s) > 400 {
		t.Errorf("the timeline leaked into JSON (%d bytes): %s", len(s), s)
	}
}

// A small page, whole, with values that need escaping.
func TestReportGolden(t *testing.T) {
	ok := synthetic("keepalived-stop", "stop keepalived on master", 12, 250*ms, 350*ms, 200*ms, 200*ms, 400*ms, 200*ms)
	bad := synthetic("haproxy-stop", "stop haproxy on master", 8, 150*ms, 250*ms, 100*ms, 0, 300*ms, 0)
	ok.Notified = "lb2 MASTER, webhook http=204 exit=0"
	bad.NewHolder, bad.Moved, bad.OK, bad.Problem = "", 0, false, `the VIP did not leave lb1 within 6s <"&'>`
	got := render(t, `lab <"&'>`, []Result{ok, bad})
	p := filepath.Join("testdata", "report.golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./verify -run Golden -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("the page differs from %s (go test ./verify -run Golden -update rewrites it; read the diff)", p)
	}
	if strings.Contains(got, `<"&'>`) {
		t.Error("a value reached the page unescaped")
	}
}
