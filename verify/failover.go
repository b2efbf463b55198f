package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// Scenario is one failure the test injects on the current master.
type Scenario struct {
	ID      string // stable, in the JSON event's data.id
	Name    string
	Service string   // failed on the master, then started again
	Fail    []string // the systemctl verb and flags that fail it
	// Handover: keepalived hands the VIP over before it stops (its
	// drop-in), which takes the peer's master-down timer, not a skew time.
	Handover bool
}

// bound is how soon the VIP must have moved, from the rendered config.
func (sc Scenario) bound(c *inventory.Cluster, master string) time.Duration {
	if sc.Handover {
		return steps.MasterDownBound(c) + time.Second
	}
	if sc.Service == "haproxy" {
		// keepalived hears of it once systemd declares haproxy stopped,
		// within the drop-in's TimeoutStopSec at worst.
		return steps.FaultBound(c, master) + steps.HAProxyStopTimeout
	}
	return steps.FaultBound(c, master)
}

// Scenarios: keepalived stopping (it hands the VIP over first, then stops),
// haproxy stopped and haproxy killed (systemd's ExecStopPost puts keepalived
// in FAULT at once, then restarts a killed haproxy by itself: FaultBound).
var Scenarios = []Scenario{
	{ID: "keepalived-stop", Name: "stop keepalived on master", Service: "keepalived", Fail: []string{"stop"}, Handover: true},
	{ID: "haproxy-stop", Name: "stop haproxy on master", Service: "haproxy", Fail: []string{"stop"}},
	{ID: "haproxy-kill", Name: "kill -9 haproxy on master", Service: "haproxy", Fail: []string{"kill", "-s", "KILL"}},
}

// Result is one scenario's measurements.
type Result struct {
	ID         string        `json:"id"`
	Scenario   string        `json:"scenario"`
	Master     string        `json:"master"`
	NewHolder  string        `json:"new_holder"`
	Bound      time.Duration `json:"bound_ns"`
	Moved      time.Duration `json:"moved_ns"`    // stop → VIP on another lb
	FailBack   time.Duration `json:"failback_ns"` // start → VIP back on the master
	LongestGap time.Duration `json:"longest_gap_ns"`
	Requests   int           `json:"requests"`
	Failed     int           `json:"failed"`
	SplitBrain bool          `json:"split_brain"`
	OK         bool          `json:"ok"`
	Problem    string        `json:"problem,omitempty"`
	// Timeline is every request and holder sample, for the HTML report;
	// kept out of JSON, where it would be hundreds of entries per scenario.
	Timeline Timeline `json:"-"`
}

// Timeline is what a scenario saw, as offsets from its start (the moment
// the client and the sampler began).
type Timeline struct {
	LBs      []string       // every load balancer, so one that never held the VIP still shows
	Requests []RequestMark  // in time order
	Holders  []HolderSample // in time order
	Fail     time.Duration  // the failure was injected
	Start    time.Duration  // the service was started again
	End      time.Duration  // the client and the sampler stopped
}

// RequestMark is one request to the VIP: when its answer (or error) came.
type RequestMark struct {
	At time.Duration
	OK bool
}

// HolderSample is who held the VIP at one sample (more than one: split brain).
type HolderSample struct {
	At      time.Duration
	Holders []string
}

// Failover runs the scenarios while a bounded client loop sends requests to
// the VIP and a sampler watches which lb holds it.
type Failover struct {
	Cluster *inventory.Cluster
	Runner  Fleet
	// Rate is requests per second (about 20).
	Rate int
	// Log receives progress lines.
	Log func(string)
}

type sample struct {
	at      time.Time
	ok      bool
	holders []string
}

// Run performs every scenario and always restores the master's services.
func (f *Failover) Run(ctx context.Context) ([]Result, error) {
	c := f.Cluster
	holders, err := vipHolders(ctx, f.Runner, f.Cluster)
	if err != nil {
		return nil, err
	}
	if len(holders) != 1 {
		return nil, fmt.Errorf("before the test exactly one lb must hold the VIP %s; holders: %v (run verify)", c.VIPAddr(), holders)
	}
	master := holders[0]
	if len(c.HostsWithRole(inventory.RoleLB)) < 2 {
		return nil, fmt.Errorf("failover needs two or more load balancers")
	}
	var out []Result
	for _, sc := range Scenarios {
		r := f.scenario(ctx, sc, master)
		out = append(out, r)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	// The cluster must be back where it started.
	end, err := vipHolders(context.WithoutCancel(ctx), f.Runner, f.Cluster)
	if err != nil || len(end) != 1 || end[0] != master {
		return out, fmt.Errorf("after the test the VIP is on %v, expected it back on %s", end, master)
	}
	return out, nil
}

func (f *Failover) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(fmt.Sprintf(format, args...))
	}
}

func (f *Failover) systemctl(ctx context.Context, host, verb, unit string) error {
	s := &shell.Script{}
	s.Raw(`systemctl ` + verb + ` ` + shell.Quote(unit))
	res, err := f.Runner.Exec(ctx, host, s)
	if err != nil {
		return fmt.Errorf("%s: systemctl %s %s: %w", host, verb, unit, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: systemctl %s %s: %s", host, verb, unit, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

func (f *Failover) scenario(ctx context.Context, sc Scenario, master string) Result {
	c := f.Cluster
	bound := sc.bound(c, master)
	res := Result{ID: sc.ID, Scenario: sc.Name, Master: master, Bound: bound}
	rate := f.Rate
	if rate <= 0 {
		rate = 20
	}
	// Hard limits so the loop always ends by itself.
	maxDur := 3*bound + 40*time.Second
	loopCtx, stop := context.WithTimeout(ctx, maxDur)
	defer stop()

	var mu sync.Mutex
	var reqs []sample
	var holds []sample
	var wg sync.WaitGroup
	begin := time.Now()
	base, _, cl := Front(c, NewHTTPClient(time.Second))
	url := base + c.HealthPath()
	wg.Add(2)
	go func() { // client: ~rate requests per second, at most rate*maxDur requests
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		limit := rate * int(maxDur/time.Second)
		for i := 0; i < limit; i++ {
			select {
			case <-loopCtx.Done():
				return
			case <-tick.C:
			}
			r, err := Get(loopCtx, cl, url, "", nil)
			if loopCtx.Err() != nil {
				return
			}
			mu.Lock()
			reqs = append(reqs, sample{at: time.Now(), ok: err == nil && r.Status == 200})
			mu.Unlock()
		}
	}()
	go func() { // sampler: who holds the VIP, every 200 ms
		defer wg.Done()
		for loopCtx.Err() == nil {
			h, err := vipHolders(loopCtx, f.Runner, f.Cluster)
			if err == nil {
				mu.Lock()
				holds = append(holds, sample{at: time.Now(), holders: h})
				mu.Unlock()
			}
			select {
			case <-loopCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	holderAfter := func(t time.Time, want func([]string) bool) (time.Time, []string, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range holds {
			if s.at.After(t) && want(s.holders) {
				return s.at, s.holders, true
			}
		}
		return time.Time{}, nil, false
	}
	waitFor := func(t time.Time, limit time.Duration, want func([]string) bool) (time.Time, []string, bool) {
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) && loopCtx.Err() == nil {
			if at, h, ok := holderAfter(t, want); ok {
				return at, h, true
			}
			sleep(loopCtx, 100*time.Millisecond)
		}
		return holderAfter(t, want)
	}
	notMaster := func(h []string) bool { return len(h) == 1 && h[0] != master }
	onMaster := func(h []string) bool { return len(h) == 1 && h[0] == master }

	// Always restore, also on Ctrl-C or a failure half-way.
	restoreCtx := context.WithoutCancel(ctx)
	defer f.systemctl(restoreCtx, master, "start", sc.Service)

	sleep(ctx, time.Second) // a baseline of good requests
	f.logf("%s: %s %s on %s", sc.Name, strings.Join(sc.Fail, " "), sc.Service, master)
	t0 := time.Now()
	if err := f.systemctl(ctx, master, shell.Join(sc.Fail...), sc.Service); err != nil {
		res.Problem = err.Error()
	}
	// Give a slow move twice the bound before calling it a failure, so the
	// report can say how late it was.
	at, h, moved := waitFor(t0, 2*bound, notMaster)
	if moved {
		res.Moved, res.NewHolder = at.Sub(t0), h[0]
		f.logf("%s: VIP moved to %s after %s", sc.Name, h[0], res.Moved.Round(time.Millisecond))
	}
	sleep(ctx, 2*time.Second) // traffic on the backup
	f.logf("%s: starting %s on %s", sc.Name, sc.Service, master)
	t1 := time.Now()
	if err := f.systemctl(restoreCtx, master, "start", sc.Service); err != nil && res.Problem == "" {
		res.Problem = err.Error()
	}
	failBound := steps.MasterDownBound(c) + time.Duration(c.VRRP.CheckInterval*(c.VRRP.CheckRise+1))*time.Second
	at, _, back := waitFor(t1, 2*failBound, onMaster)
	if back {
		res.FailBack = at.Sub(t1)
		f.logf("%s: VIP back on %s after %s", sc.Name, master, res.FailBack.Round(time.Millisecond))
	}
	sleep(ctx, time.Second)
	stop()
	wg.Wait()
	end := time.Now()

	// Measure: requests, failures, the longest time without a success.
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].at.Before(reqs[j].at) })
	last := t0
	if len(reqs) > 0 && reqs[0].at.Before(t0) {
		last = reqs[0].at
	}
	for _, r := range reqs {
		res.Requests++
		if !r.ok {
			res.Failed++
			continue
		}
		if r.at.After(t0) && r.at.Sub(last) > res.LongestGap {
			res.LongestGap = r.at.Sub(last)
		}
		last = r.at
	}
	for _, s := range holds {
		if len(s.holders) > 1 {
			res.SplitBrain = true
		}
	}
	res.Timeline = timeline(c, begin, t0, t1, end, reqs, holds)
	switch {
	case res.Problem != "":
	case !moved:
		res.Problem = fmt.Sprintf("the VIP did not leave %s within %s", master, 2*bound)
	case res.Moved > bound:
		res.Problem = fmt.Sprintf("the VIP moved after %s, later than the bound %s from the config", res.Moved.Round(time.Millisecond), bound)
	case !back:
		res.Problem = fmt.Sprintf("the VIP did not come back to %s within %s", master, 2*failBound)
	case res.SplitBrain:
		res.Problem = "two load balancers held the VIP at the same time"
	}
	res.OK = res.Problem == ""
	return res
}

// timeline turns the samples (reqs sorted, holds in sampling order) into
// offsets from begin.
func timeline(c *inventory.Cluster, begin, t0, t1, end time.Time, reqs, holds []sample) Timeline {
	tl := Timeline{Fail: t0.Sub(begin), Start: t1.Sub(begin), End: end.Sub(begin)}
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		tl.LBs = append(tl.LBs, h.Name)
	}
	for _, r := range reqs {
		tl.Requests = append(tl.Requests, RequestMark{At: r.at.Sub(begin), OK: r.ok})
	}
	for _, h := range holds {
		tl.Holders = append(tl.Holders, HolderSample{At: h.at.Sub(begin), Holders: h.holders})
	}
	return tl
}
