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
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

// aaFleet moves each VIP like keepalived would in an active-active
// cluster: stopping a service on an lb leaves its VIPs nowhere for 300 ms,
// then on the other lb; starting it brings back, 300 ms later, the VIPs
// whose home it is. splitOn, when set, makes that VIP held by both lbs
// while the other is failed over (a broken instance).
type aaFleet struct {
	mu      sync.Mutex
	holder  map[string]string // VIP → lb ("" = nobody)
	home    map[string]string
	splitOn string
	split   bool
	logs    map[string]string // each lb's transition log
}

// take gives VIP v to lb h, whose notify script logs it (f.mu held).
func (f *aaFleet) take(v, h string) {
	f.holder[v] = h
	if f.logs == nil {
		f.logs = map[string]string{}
	}
	inst := map[string]string{"127.0.0.1": "VI_47", "127.0.0.2": "VI_48"}[v]
	f.logs[h] += masterLines(inst)
}

func other(lb string) string {
	if lb == "lb1" {
		return "lb2"
	}
	return "lb1"
}

func (f *aaFleet) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	p := s.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := fakeLogRead(p, f.logs[host]); ok {
		return r, ctx.Err()
	}
	switch {
	case strings.Contains(p, "systemctl stop"):
		for v, h := range f.holder {
			if h == host {
				f.holder[v] = ""
				time.AfterFunc(300*time.Millisecond, func() { f.mu.Lock(); f.take(v, other(host)); f.mu.Unlock() })
			}
		}
		f.split = f.splitOn != ""
	case strings.Contains(p, "systemctl start"):
		for v, h := range f.home {
			if h == host && f.holder[v] != host {
				time.AfterFunc(300*time.Millisecond, func() { f.mu.Lock(); f.take(v, host); f.mu.Unlock() })
			}
		}
		f.split = false
	}
	return transport.Result{}, ctx.Err()
}
func (f *aaFleet) Facts(string) (facts.Facts, bool) { return facts.Facts{Family: "debian"}, true }
func (f *aaFleet) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.split && addr == f.splitOn {
		return []string{"lb1", "lb2"}, ctx.Err()
	}
	if h := f.holder[addr]; h != "" {
		return []string{h}, ctx.Err()
	}
	return nil, ctx.Err()
}

// aaCluster is the lab cluster with two VIPs on loopback addresses, both
// served by one test server port.
func aaCluster(t *testing.T) *inventory.Cluster {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	l2, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	s2 := &http.Server{Handler: srv.Config.Handler}
	go s2.Serve(l2)
	t.Cleanup(func() { s2.Close() })
	c := labCluster(t)
	c.HAProxy.Port, _ = strconv.Atoi(port)
	c.VIPs = []*inventory.VIP{
		{Address: "127.0.0.1/8", VirtualRouterID: 47, Master: "lb1", Prefix: netip.MustParsePrefix("127.0.0.1/8")},
		{Address: "127.0.0.2/8", VirtualRouterID: 48, Master: "lb2", Prefix: netip.MustParsePrefix("127.0.0.2/8")},
	}
	c.VIPPrefix = c.VIPs[0].Prefix
	return c
}

// Failing the second VIP's master moves that VIP to lb1, where the first
// already is (both on the survivor), and both end where they started.
func TestScenarioSecondVIP(t *testing.T) {
	t.Parallel()
	c := aaCluster(t)
	fl := &aaFleet{holder: map[string]string{"127.0.0.1": "lb1", "127.0.0.2": "lb2"}, home: map[string]string{"127.0.0.1": "lb1", "127.0.0.2": "lb2"}}
	f := &Failover{Cluster: c, Runner: fl, Rate: 20}
	start := map[string][]string{"127.0.0.1": {"lb1"}, "127.0.0.2": {"lb2"}}
	r := f.scenario(context.Background(), Scenarios[1], c.VIPs[1], "lb2", start)
	if !r.OK || r.VIP != "127.0.0.2" || r.Master != "lb2" || r.NewHolder != "lb1" {
		t.Fatalf("second VIP's scenario: %+v", r)
	}
	// The bound is the second VIP's own: its best backup is lb1 at 80.
	if want := 1688*time.Millisecond + steps.HAProxyWatchPoll; r.Bound != want {
		t.Errorf("bound %s, want %s", r.Bound, want)
	}
}

// A split brain on the VIP not being measured still fails the scenario.
func TestScenarioSeesTheOtherVIPSplit(t *testing.T) {
	t.Parallel()
	c := aaCluster(t)
	fl := &aaFleet{holder: map[string]string{"127.0.0.1": "lb1", "127.0.0.2": "lb2"}, home: map[string]string{"127.0.0.1": "lb1", "127.0.0.2": "lb2"},
		splitOn: "127.0.0.1"}
	f := &Failover{Cluster: c, Runner: fl, Rate: 20}
	start := map[string][]string{"127.0.0.1": {"lb1"}, "127.0.0.2": {"lb2"}}
	r := f.scenario(context.Background(), Scenarios[1], c.VIPs[1], "lb2", start)
	if r.OK || !strings.Contains(r.Problem, "another VIP") {
		t.Fatalf("a split of the other VIP passed: %+v", r)
	}
}

func TestPlacement(t *testing.T) {
	vips := []*inventory.VIP{{Prefix: netip.MustParsePrefix("10.0.0.100/24")}, {Prefix: netip.MustParsePrefix("10.0.0.101/24")}}
	start := map[string][]string{"10.0.0.100": {"lb1"}, "10.0.0.101": {"lb2"}}
	for _, tc := range []struct {
		now   map[string][]string
		want  map[string][]string
		avoid string
		bad   string
	}{
		{now: map[string][]string{"10.0.0.100": {"lb2"}, "10.0.0.101": {"lb2"}}, avoid: "lb1"},
		{now: map[string][]string{"10.0.0.100": {"lb2"}, "10.0.0.101": {"lb1"}}, avoid: "lb1", bad: "10.0.0.101 still on lb1"},
		{now: map[string][]string{"10.0.0.100": {"lb1", "lb2"}, "10.0.0.101": {"lb2"}}, avoid: "lb1", bad: "10.0.0.100 held by [lb1 lb2]"},
		{now: map[string][]string{"10.0.0.100": nil, "10.0.0.101": {"lb2"}}, want: start, bad: "10.0.0.100 held by []"},
		{now: start, want: start},
		{now: map[string][]string{"10.0.0.100": {"lb1"}, "10.0.0.101": {"lb1"}}, want: start, bad: "10.0.0.101 on lb1, not lb2"},
	} {
		if got := placement(tc.now, vips, tc.want, tc.avoid); got != tc.bad {
			t.Errorf("placement(%v) = %q, want %q", tc.now, got, tc.bad)
		}
	}
}

// With several VIPs the report names each scenario's VIP and keeps the
// anchors unique (one scenario per VIP shares an ID).
func TestReportTwoVIPs(t *testing.T) {
	a := synthetic("haproxy-stop", "stop haproxy on master", 20, 500*ms, 600*ms, 450*ms, 200*ms, 800*ms, 200*ms)
	b := a
	a.VIP, b.VIP = "10.0.0.100", "10.0.0.101"
	page := render(t, "aa", []Result{a, b})
	ids := map[string]bool{}
	for _, m := range svgOpen.FindAllStringSubmatch(page, -1) {
		ids[m[1]] = true
	}
	if !ids["haproxy-stop-10-0-0-100"] || !ids["haproxy-stop-10-0-0-101"] || !strings.Contains(page, "10.0.0.101: stop haproxy on master") {
		t.Errorf("scenario ids %v", ids)
	}
}
