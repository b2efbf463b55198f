package verify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/transport"
)

// flipFleet moves the VIP like keepalived would: a stop on the master leaves
// it nowhere for 300 ms, then on lb2; a start brings it back to lb1 300 ms
// later. The VIP's web server fails while nobody holds it.
type flipFleet struct {
	mu     sync.Mutex
	holder string
}

func (f *flipFleet) set(h string) { f.mu.Lock(); f.holder = h; f.mu.Unlock() }
func (f *flipFleet) get() string  { f.mu.Lock(); defer f.mu.Unlock(); return f.holder }

func (f *flipFleet) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	p := s.String()
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fl.get() == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := labCluster(t)
	c.VIPPrefix = netip.MustParsePrefix("127.0.0.1/8")
	c.VIPList()[0].Prefix = c.VIPPrefix
	c.HAProxy.Port, _ = strconv.Atoi(port)
	f := &Failover{Cluster: c, Runner: fl, Rate: 20}

	r := f.scenario(context.Background(), Scenarios[1], c.VIPList()[0], "lb1", map[string][]string{"127.0.0.1": {"lb1"}})
	tl := r.Timeline
	if !r.OK || r.NewHolder != "lb2" {
		t.Fatalf("the scenario failed on a fleet that fails over: %+v", r)
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
