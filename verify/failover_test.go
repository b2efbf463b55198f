package verify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

// flipFleet moves the VIP like keepalived would: a stop on the master leaves
// it nowhere for 300 ms, then on lb2; a start brings it back to lb1 300 ms
// later. The VIP's web server fails while nobody holds it.
// A new holder's notify script logs MASTER and a webhook that answered 204.
type flipFleet struct {
	mu     sync.Mutex
	holder string
	inst   string
	logs   map[string]string // each host's transition log
}

func (f *flipFleet) set(h string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h != "" && h != f.holder {
		if f.logs == nil {
			f.logs = map[string]string{}
		}
		f.logs[h] += masterLines(f.inst)
	}
	f.holder = h
}
func (f *flipFleet) get() string { f.mu.Lock(); defer f.mu.Unlock(); return f.holder }

var logOffsetRE = regexp.MustCompile(`; o=([0-9]+);`)

// fakeLogRead answers failover-test's two reads of a transition log: its
// size, and what follows an offset.
func fakeLogRead(p, log string) (transport.Result, bool) {
	if m := logOffsetRE.FindStringSubmatch(p); m != nil {
		o, _ := strconv.Atoi(m[1])
		return transport.Result{Stdout: []byte(log[min(o, len(log)):])}, true
	}
	if strings.Contains(p, "stat -c %s "+steps.TransitionLog) {
		return transport.Result{Stdout: []byte(strconv.Itoa(len(log)) + "\n")}, true
	}
	return transport.Result{}, false
}

// masterLines is what a new holder's notify script logs: MASTER, then a
// webhook that answered 204.
func masterLines(inst string) string {
	return "2026-12-02T00:00:00.000Z transition " + inst + " MASTER 80\n2026-12-02T00:00:00.100Z webhook " + inst + " MASTER http=204 exit=0\n"
}

func (f *flipFleet) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	p := s.String()
	f.mu.Lock()
	log := f.logs[host]
	f.mu.Unlock()
	if r, ok := fakeLogRead(p, log); ok {
		return r, ctx.Err()
	}
	switch {
	case strings.Contains(p, "systemctl stop") && host == "lb1" && f.get() == "lb1":
		f.set("")
		time.AfterFunc(300*time.Millisecond, func() { f.set("lb2") })
	case strings.Contains(p, "systemctl start") && host == "lb1" && f.get() == "lb2":
		time.AfterFunc(300*time.Millisecond, func() { f.set("lb1") })
	}
	return transport.Result{}, ctx.Err()
}
func (f *flipFleet) Facts(string) (facts.Facts, bool) { return facts.Facts{Family: "debian"}, true }
func (f *flipFleet) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	if h := f.get(); h != "" {
		return []string{h}, ctx.Err()
	}
	return nil, ctx.Err()
}

// A scenario keeps what it saw, as offsets from its start: every request
// it counted, the holder samples, fail < start < end; and the page drawn
// from it has one mark per request.
func TestScenarioKeepsItsTimeline(t *testing.T) {
	t.Parallel()
	fl := &flipFleet{holder: "lb1"}
	c := loopbackCluster(t, func(w http.ResponseWriter, r *http.Request) {
		if fl.get() == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	c.VRRP.Notify.Webhook = "http://10.213.47.21:9099/vrrp?token=x" // the hook must be seen to fire
	fl.inst = steps.VRRPInstance(c.VIPList()[0])
	fl.set("lb2") // an earlier failover: its lines are not this scenario's
	fl.set("lb1")
	f := &Failover{Cluster: c, Runner: fl, Rate: 20}

	r := f.scenario(context.Background(), Scenarios[1], c.VIPList()[0], "lb1", map[string][]string{"127.0.0.1": {"lb1"}})
	tl := r.Timeline
	if !r.OK || r.NewHolder != "lb2" {
		t.Fatalf("the scenario failed on a fleet that fails over: %+v", r)
	}
	if r.Notified != "lb2 MASTER, webhook http=204 exit=0" {
		t.Errorf("notified = %q", r.Notified)
	}
	failed := 0
	for i, q := range tl.Requests {
		if !q.OK {
			failed++
		}
		if i > 0 && q.At < tl.Requests[i-1].At {
			t.Fatalf("requests out of order at %d", i)
		}
	}
	if len(tl.Requests) != r.Requests || failed != r.Failed || r.Requests < 50 {
		t.Errorf("timeline: %d requests, %d failed; result: %d, %d", len(tl.Requests), failed, r.Requests, r.Failed)
	}
	if failed == 0 {
		t.Error("no request failed in the 300 ms without a VIP holder")
	}
	if !(tl.Fail > 900*time.Millisecond && tl.Fail < tl.Start && tl.Start < tl.End) {
		t.Errorf("fail %s, start %s, end %s: want the 1 s baseline, then fail < start < end", tl.Fail, tl.Start, tl.End)
	}
	seen := map[string]bool{}
	for _, h := range tl.Holders {
		if h.At > tl.End {
			t.Errorf("a holder sample at %s, after the end %s", h.At, tl.End)
		}
		for _, n := range h.Holders {
			seen[n] = true
		}
	}
	if !seen["lb1"] || !seen["lb2"] || strings.Join(tl.LBs, ",") != "lb1,lb2" {
		t.Errorf("holders seen %v, lbs %v", seen, tl.LBs)
	}
	page := render(t, "lab", []Result{r})
	if got := len(reqMark.FindAllString(page, -1)); got != r.Requests {
		t.Errorf("the page has %d marks for %d requests", got, r.Requests)
	}
}

// NotifyVerdict: MASTER recorded and every configured hook succeeded; a
// missing line means "still waiting", a failed hook is final, and the
// webhook is never named by its URL.
func TestNotifyVerdict(t *testing.T) {
	c := labCluster(t)
	inst := steps.VRRPInstance(c.VIPList()[0])
	c.VRRP.Notify.Script = "/usr/local/bin/alert"
	c.VRRP.Notify.Webhook = "http://10.0.0.9/hook?token=s3cr3t"
	line := func(kind, state, detail string) string {
		return "2026-12-02T00:00:00.000Z " + kind + " " + inst + " " + state + " " + detail + "\n"
	}
	master := line("transition", "MASTER", "80")
	for _, tc := range []struct {
		name, log, summary, problem string
		done                        bool
	}{
		{"nothing", "", "", "recorded no MASTER transition", false},
		{"backup only", line("transition", "BACKUP", "80"), "", "recorded no MASTER transition", false},
		{"other instance", strings.ReplaceAll(master, inst, "VI_9"), "", "recorded no MASTER transition", false},
		{"hooks running", master, "lb2 MASTER", "the notify hook /usr/local/bin/alert (vrrp.notify.script) has not finished", false},
		{"script failed", master + line("script", "MASTER", "exit=127"), "lb2 MASTER, script exit=127", "failed for the MASTER transition: exit=127", true},
		{"webhook down", master + line("script", "MASTER", "exit=0") + line("webhook", "MASTER", "http=000 exit=7"), "lb2 MASTER, script exit=0, webhook http=000 exit=7", "the webhook (vrrp.notify.webhook) failed", true},
		{"webhook 500", master + line("script", "MASTER", "exit=0") + line("webhook", "MASTER", "http=500 exit=0"), "lb2 MASTER, script exit=0, webhook http=500 exit=0", "failed", true},
		{"all good", line("transition", "BACKUP", "80") + master + line("webhook", "MASTER", "http=200 exit=0") + line("script", "MASTER", "exit=0"), "lb2 MASTER, script exit=0, webhook http=200 exit=0", "", true},
	} {
		summary, problem, done := NotifyVerdict(c, inst, "lb2", tc.log)
		if summary != tc.summary || done != tc.done || (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("%s: got %q, %q, %v; want %q, %q, %v", tc.name, summary, problem, done, tc.summary, tc.problem, tc.done)
		}
		if strings.Contains(problem+summary, "s3cr3t") {
			t.Errorf("%s: the webhook URL is shown: %s", tc.name, problem)
		}
	}
}

// loopbackCluster is the lab's cluster with its VIP on 127.0.0.1, served by
// h on a test server that stops with the test.
func loopbackCluster(t *testing.T, h http.HandlerFunc) *inventory.Cluster {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := labCluster(t)
	c.VIPPrefix = netip.MustParsePrefix("127.0.0.1/8")
	c.VIPList()[0].Prefix = c.VIPPrefix
	c.HAProxy.Port, _ = strconv.Atoi(port)
	return c
}

// overlapFleet is a flipFleet whose lbs, sampled one after the other, both
// report the VIP for a while after each move (a make-before-break handover,
// or the old holder read before it dropped the address).
type overlapFleet struct {
	*flipFleet
	mu   sync.Mutex
	last string
	both time.Time // until when both report it
	hold time.Duration
}

func (f *overlapFleet) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	h := f.get()
	f.mu.Lock()
	defer f.mu.Unlock()
	if h != "" && f.last != "" && h != f.last {
		f.both = time.Now().Add(f.hold)
	}
	if h != "" {
		f.last = h
	}
	switch {
	case h == "":
		return nil, ctx.Err()
	case time.Now().Before(f.both):
		return []string{"lb1", "lb2"}, ctx.Err()
	}
	return []string{h}, ctx.Err()
}

// Two holders for a moment at a move are a handover, not a split brain
// (the bench's failover-test right after a cold apply failed on one such
// sample); two holders for longer than an advert interval are.
func TestHandoverOverlapIsNoSplitBrain(t *testing.T) {
	for _, tc := range []struct {
		hold time.Duration
		ok   bool
	}{{250 * time.Millisecond, true}, {3 * time.Second, false}} {
		c := loopbackCluster(t, func(http.ResponseWriter, *http.Request) {})
		fl := &overlapFleet{flipFleet: &flipFleet{holder: "lb1", inst: steps.VRRPInstance(c.VIPList()[0])}, hold: tc.hold}
		f := &Failover{Cluster: c, Runner: fl, Rate: 20}
		r := f.scenario(context.Background(), Scenarios[1], c.VIPList()[0], "lb1", map[string][]string{"127.0.0.1": {"lb1"}})
		if r.OK != tc.ok || r.SplitBrain == tc.ok {
			t.Errorf("two holders for %s after each move: ok %v, split brain %v (%s), want ok %v", tc.hold, r.OK, r.SplitBrain, r.Problem, tc.ok)
		}
	}
}

// Two holders for up to the overlap are a handover; longer, or a run still
// open when sampling ends, is a split brain. A sample with no holder ends a run.
func TestSplitRuns(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int, holders ...string) sample {
		return sample{at: t0.Add(time.Duration(ms) * time.Millisecond), holders: holders}
	}
	overlap := time.Second
	for _, tc := range []struct {
		name  string
		holds []sample
		runs  int
	}{
		{"one holder throughout", []sample{at(0, "lb1"), at(200, "lb1"), at(400, "lb2")}, 0},
		{"a handover", []sample{at(0, "lb1"), at(200, "lb1", "lb2"), at(400, "lb1", "lb2"), at(600, "lb2")}, 0},
		{"longer than the overlap", []sample{at(0, "lb1", "lb2"), at(600, "lb1", "lb2"), at(1200, "lb1", "lb2"), at(1400, "lb2")}, 1},
		{"open at the end", []sample{at(0, "lb1"), at(200, "lb1", "lb2"), at(1300, "lb1", "lb2")}, 1},
		{"no holder ends a run", []sample{at(0, "lb1", "lb2"), at(600, "lb1", "lb2"), at(800), at(1200, "lb1", "lb2"), at(1600, "lb1", "lb2")}, 0},
		{"two runs", []sample{at(0, "a", "b"), at(1100, "a", "b"), at(1300, "a"), at(1500, "a", "b"), at(2600, "a", "b")}, 2},
	} {
		if got := len(splitRuns(tc.holds, overlap)); got != tc.runs {
			t.Errorf("%s: %d split runs, want %d", tc.name, got, tc.runs)
		}
	}
	// -1 tolerates nothing: every sample with two holders is a run.
	if got := len(splitRuns([]sample{at(0, "a", "b"), at(200, "a")}, -1)); got != 1 {
		t.Errorf("overlap -1: %d runs, want 1", got)
	}
}
