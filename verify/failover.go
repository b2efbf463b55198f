package verify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
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
	// Fault is FaultFreeze or FaultPartition (faults.go) instead of the
	// systemctl verb in Fail.
	Fault string
}

// bound is how soon the VIP must have moved, from the rendered config.
func (sc Scenario) bound(c *inventory.Cluster, v *inventory.VIP, master string) time.Duration {
	switch {
	case sc.Handover:
		return steps.MasterDownBound(c) + time.Second
	case sc.Fault == FaultFreeze:
		return steps.CrashBound(c, v, master)
	case sc.Fault == FaultPartition:
		// The backup stops hearing the master: its master-down timer.
		return steps.MasterDownBound(c)
	}
	if sc.Service == "haproxy" {
		// keepalived hears of it from the watcher, within one poll of
		// haproxy's main process exiting (not systemd's ExecStopPost, which
		// can lag by the drop-in's TimeoutStopSec).
		return steps.FaultBound(c, v, master) + steps.HAProxyWatchPoll
	}
	return steps.FaultBound(c, v, master)
}

// Scenarios: keepalived stopping (it hands the VIP over first, then stops),
// haproxy stopped and haproxy killed (the exit watcher puts keepalived in
// FAULT at once; systemd restarts a killed haproxy by itself).
var Scenarios = []Scenario{
	{ID: "keepalived-stop", Name: "stop keepalived on master", Service: "keepalived", Fail: []string{"stop"}, Handover: true},
	{ID: "haproxy-stop", Name: "stop haproxy on master", Service: "haproxy", Fail: []string{"stop"}},
	{ID: "haproxy-kill", Name: "kill -9 haproxy on master", Service: "haproxy", Fail: []string{"kill", "-s", "KILL"}},
}

// ExtraScenarios run when asked for (--scenario): the master frozen without
// a clean stop (SIGSTOP of keepalived and haproxy, thawed once the VIP
// moved), and the master's VRRP adverts dropped while clients still reach
// it (a split brain that must be seen, then heal once the adverts pass).
var ExtraScenarios = []Scenario{
	{ID: "master-crash", Name: "freeze the master (no clean stop)", Fault: FaultFreeze},
	{ID: "vrrp-partition", Name: "drop the master's VRRP adverts", Fault: FaultPartition},
}

// SelectScenarios returns the scenarios named by ids (any of Scenarios and
// ExtraScenarios, "all" for every one, "default" for Scenarios), in the
// order given; none means Scenarios.
func SelectScenarios(ids []string) ([]Scenario, error) {
	if len(ids) == 0 {
		return Scenarios, nil
	}
	all := append(append([]Scenario{}, Scenarios...), ExtraScenarios...)
	var out []Scenario
	seen := map[string]bool{}
	for _, id := range ids {
		var pick []Scenario
		switch id {
		case "all":
			pick = all
		case "default":
			pick = Scenarios
		default:
			for _, sc := range all {
				if sc.ID == id {
					pick = []Scenario{sc}
				}
			}
		}
		if pick == nil {
			var known []string
			for _, sc := range all {
				known = append(known, sc.ID)
			}
			return nil, fmt.Errorf("unknown scenario %q (known: %s, all, default)", id, strings.Join(known, ", "))
		}
		for _, sc := range pick {
			if !seen[sc.ID] {
				seen[sc.ID] = true
				out = append(out, sc)
			}
		}
	}
	return out, nil
}

// Result is one scenario's measurements.
type Result struct {
	ID string `json:"id"`
	// VIP is the address this scenario measured (its holder was failed).
	VIP        string        `json:"vip"`
	Scenario   string        `json:"scenario"`
	Master     string        `json:"master"`
	NewHolder  string        `json:"new_holder"`
	Bound      time.Duration `json:"bound_ns"`
	Moved      time.Duration `json:"moved_ns"`    // stop → VIP on another lb
	FailBack   time.Duration `json:"failback_ns"` // start → VIP back on the master
	LongestGap time.Duration `json:"longest_gap_ns"`
	Requests   int           `json:"requests"`
	Failed     int           `json:"failed"`
	// The fail-back on its own: requests sent after the master's return
	// that failed, and the longest time without a success from then on.
	FailBackFailed int           `json:"failback_failed"`
	FailBackGap    time.Duration `json:"failback_gap_ns"`
	SplitBrain     bool          `json:"split_brain"`
	// Detected is how a split brain was named while it lasted (the
	// vrrp-partition scenario expects one).
	Detected string `json:"detected,omitempty"`
	// Notified is what the new holder's notify script recorded for its
	// MASTER transition and each configured hook ("" if the VIP never moved).
	Notified string `json:"notified,omitempty"`
	OK       bool   `json:"ok"`
	Problem  string `json:"problem,omitempty"`
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
	// Scenarios to run for each VIP; none means Scenarios.
	Scenarios []Scenario
}

// holdSample is how often the sampler asks every lb which VIPs it holds.
const holdSample = 200 * time.Millisecond

// splitRuns are the runs of consecutive samples with more than one holder
// that last longer than overlap (shorter ones are a handover).
func splitRuns(holds []sample, overlap time.Duration) [][]sample {
	var out [][]sample
	var run []sample
	flush := func() {
		if len(run) > 0 && run[len(run)-1].at.Sub(run[0].at) > overlap {
			out = append(out, run)
		}
		run = nil
	}
	for _, s := range holds {
		if len(s.holders) > 1 {
			run = append(run, s)
			continue
		}
		flush()
	}
	flush()
	return out
}

type sample struct {
	sent    time.Time // requests: when it was sent
	at      time.Time
	ok      bool
	holders []string
}

// Run performs every scenario for each VIP, failing that VIP's holder, and
// always restores the master's services. Every VIP is watched throughout:
// after a move none may be left on the failed lb, and at the end each is back
// where it started.
func (f *Failover) Run(ctx context.Context) ([]Result, error) {
	c := f.Cluster
	if len(c.HostsWithRole(inventory.RoleLB)) < 2 {
		return nil, fmt.Errorf("failover needs two or more load balancers")
	}
	start, err := f.holdersNow(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range c.VIPList() {
		if h := start[v.Addr()]; len(h) != 1 {
			return nil, fmt.Errorf("before the test exactly one lb must hold the VIP %s; holders: %v (run verify)", v.Addr(), h)
		}
	}
	scs := f.Scenarios
	if len(scs) == 0 {
		scs = Scenarios
	}
	var out []Result
	for _, v := range c.VIPList() {
		for _, sc := range scs {
			r := f.scenario(ctx, sc, v, start[v.Addr()][0], start)
			out = append(out, r)
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
		}
	}
	// The cluster must be back where it started.
	end, err := f.holdersNow(context.WithoutCancel(ctx))
	if err != nil {
		return out, err
	}
	for _, v := range c.VIPList() {
		if e := end[v.Addr()]; len(e) != 1 || e[0] != start[v.Addr()][0] {
			return out, fmt.Errorf("after the test the VIP %s is on %v, expected it back on %s", v.Addr(), e, start[v.Addr()][0])
		}
	}
	return out, nil
}

// holdersNow is who holds each VIP now, by address.
func (f *Failover) holdersNow(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range f.Cluster.VIPList() {
		h, err := vipHolders(ctx, f.Runner, f.Cluster, v)
		if err != nil {
			return nil, err
		}
		out[v.Addr()] = h
	}
	return out, nil
}

// settle polls every VIP's holders until problem reports none or deadline
// passes (VIPs failed together move within the same timers, not the same
// instant); it returns the last problem seen.
func (f *Failover) settle(ctx context.Context, deadline time.Time, problem func(map[string][]string) string) string {
	why := "holders could not be read"
	for {
		if now, err := f.holdersNow(context.WithoutCancel(ctx)); err == nil {
			if why = problem(now); why == "" {
				return ""
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return why
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// placement says what is wrong with where the VIPs are ("" = fine): each
// held by exactly one lb, and by want's lb where want names one, else by any
// lb but avoid.
func placement(now map[string][]string, vips []*inventory.VIP, want map[string][]string, avoid string) string {
	var why []string
	for _, v := range vips {
		h := now[v.Addr()]
		switch {
		case len(h) != 1:
			why = append(why, fmt.Sprintf("%s held by %v", v.Addr(), h))
		case want != nil && h[0] != want[v.Addr()][0]:
			why = append(why, fmt.Sprintf("%s on %s, not %s", v.Addr(), h[0], want[v.Addr()][0]))
		case want == nil && h[0] == avoid:
			why = append(why, fmt.Sprintf("%s still on %s", v.Addr(), avoid))
		}
	}
	return strings.Join(why, "; ")
}

// takenFrom says which VIPs no lb but master holds ("" = every VIP is held
// by another lb as well).
func takenFrom(now map[string][]string, vips []*inventory.VIP, master string) string {
	var why []string
	for _, v := range vips {
		if h := now[v.Addr()]; !slices.ContainsFunc(h, func(n string) bool { return n != master }) {
			why = append(why, fmt.Sprintf("%s held by %v", v.Addr(), h))
		}
	}
	return strings.Join(why, "; ")
}

func (f *Failover) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(fmt.Sprintf(format, args...))
	}
}

func (f *Failover) scenario(ctx context.Context, sc Scenario, vip *inventory.VIP, master string, start map[string][]string) Result {
	c := f.Cluster
	bound := sc.bound(c, vip, master)
	res := Result{ID: sc.ID, VIP: vip.Addr(), Scenario: sc.Name, Master: master, Bound: bound}
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
	base, _, cl := Front(c, vip.Addr(), NewHTTPClient(time.Second))
	url := base + c.HealthPath()
	// Two holders for a moment are a handover, not a split brain: the lbs
	// are sampled one after the other (one may be read before it dropped the
	// VIP, the next after it took it), and a make-before-break move overlaps
	// until the old master hears the new one's advert. A split brain is two
	// holders for longer than an advert interval plus two samples.
	overlap := c.VRRP.Advert() + 2*holdSample
	others := map[string][]sample{} // the other VIPs' holders, sampled alongside
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
			sent := time.Now()
			r, err := Get(loopCtx, cl, url, "", nil)
			if loopCtx.Err() != nil {
				return
			}
			mu.Lock()
			reqs = append(reqs, sample{sent: sent, at: time.Now(), ok: err == nil && r.Status == 200})
			mu.Unlock()
		}
	}()
	go func() { // sampler: who holds the VIP, every 200 ms
		defer wg.Done()
		for loopCtx.Err() == nil {
			all, err := f.holdersNow(loopCtx)
			if err == nil {
				now := time.Now()
				mu.Lock()
				holds = append(holds, sample{at: now, holders: all[vip.Addr()]})
				for _, o := range c.VIPList() {
					if o.Addr() != vip.Addr() {
						others[o.Addr()] = append(others[o.Addr()], sample{at: now, holders: all[o.Addr()]})
					}
				}
				mu.Unlock()
			}
			select {
			case <-loopCtx.Done():
			case <-time.After(holdSample):
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
	split := func(h []string) bool { return len(h) > 1 }
	// A frozen master keeps the address on its interface (keepalived never
	// removed it), as a crashed host's would seem to: the VIP moved once
	// another lb holds it too.
	taken := func(h []string) bool { return slices.ContainsFunc(h, func(n string) bool { return n != master }) }
	moveWant, moveWait, dwell := notMaster, 2*bound, 2*time.Second
	switch sc.Fault {
	case FaultFreeze:
		// Thawed as soon as the VIP moved, or once the bound (and a second
		// to say how late) passed: a frozen master must not linger.
		moveWant, moveWait, dwell = taken, bound+time.Second, 0
	case FaultPartition:
		moveWant, dwell = split, time.Second
	}
	host := c.Host(master)
	// The safety net undoes a freeze or a partition by itself should
	// hadeploy die before it does.
	net := moveWait + dwell + 5*time.Second

	// Always restore, also on Ctrl-C or a failure half-way.
	restoreCtx := context.WithoutCancel(ctx)
	defer f.run(restoreCtx, master, "restore", restoreScript(sc, host))

	// Where each possible new holder's transition log ends now: what the
	// notify script appends from here on is this scenario's.
	offsets := f.logOffsets(ctx, master)
	sleep(ctx, time.Second) // a baseline of good requests
	f.logf("%s: on %s", sc.Name, master)
	t0 := time.Now()
	if err := f.run(ctx, master, sc.Name, faultScript(sc, host, net)); err != nil {
		res.Problem = err.Error()
	}
	// Give a slow move twice the bound (a frozen master one second more)
	// before calling it a failure, so the report can say how late it was.
	at, h, moved := waitFor(t0, moveWait, moveWant)
	afterMove := ""
	if moved {
		res.Moved, res.NewHolder = at.Sub(t0), strings.Join(h, "+")
		if sc.Fault == FaultPartition {
			res.Detected = splitBrainSeen(h, vip.Addr())
			f.logf("%s: %s after %s", sc.Name, res.Detected, res.Moved.Round(time.Millisecond))
		} else {
			if sc.Fault == FaultFreeze { // the frozen master's stale address aside
				res.NewHolder = strings.Join(slices.DeleteFunc(slices.Clone(h), func(n string) bool { return n == master }), "+")
			}
			f.logf("%s: VIP moved to %s after %s", sc.Name, res.NewHolder, res.Moved.Round(time.Millisecond))
		}
	}
	// Every VIP is off the failed lb once it moved (active-active: both on
	// the survivor); taken by another lb when the master is frozen. A
	// partition leaves the master its VIPs: nothing to check.
	switch {
	case moved && sc.Fault == FaultFreeze:
		afterMove = f.settle(ctx, t0.Add(moveWait), func(now map[string][]string) string { return takenFrom(now, c.VIPList(), master) })
	case moved && sc.Fault == "":
		afterMove = f.settle(ctx, t0.Add(moveWait), func(now map[string][]string) string { return placement(now, c.VIPList(), nil, master) })
	}
	sleep(ctx, dwell) // traffic on the backup (on both, in a partition)
	f.logf("%s: restoring %s", sc.Name, master)
	t1 := time.Now()
	if err := f.run(restoreCtx, master, "restore", restoreScript(sc, host)); err != nil && res.Problem == "" {
		res.Problem = err.Error()
	}
	failBound := steps.MasterDownBound(c) + time.Duration(c.VRRP.CheckInterval*(c.VRRP.CheckRise+1))*time.Second
	if sc.Fault != "" {
		// keepalived on the master never stopped: it preempts (or, healed,
		// the backup hears it) within the master-down bound.
		failBound = steps.MasterDownBound(c)
	}
	at, _, back := waitFor(t1, 2*failBound, onMaster)
	if back {
		res.FailBack = at.Sub(t1)
		f.logf("%s: VIP back on %s after %s", sc.Name, master, res.FailBack.Round(time.Millisecond))
	}
	sleep(ctx, time.Second)
	// Every VIP is back where it started.
	afterBack := ""
	if back {
		afterBack = f.settle(ctx, t1.Add(2*failBound), func(now map[string][]string) string { return placement(now, c.VIPList(), start, "") })
	}
	stop()
	wg.Wait()
	end := time.Now()

	// Measure: requests, failures, the longest time without a success; the
	// fail-back's share of them (requests sent after t1), apart.
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].at.Before(reqs[j].at) })
	last := t0
	if len(reqs) > 0 && reqs[0].at.Before(t0) {
		last = reqs[0].at
	}
	lastBack := t1
	for _, r := range reqs {
		res.Requests++
		if !r.ok {
			res.Failed++
			if !r.sent.Before(t1) {
				res.FailBackFailed++
			}
			continue
		}
		if r.at.After(t0) && r.at.Sub(last) > res.LongestGap {
			res.LongestGap = r.at.Sub(last)
		}
		last = r.at
		if r.at.After(t1) {
			if r.at.Sub(lastBack) > res.FailBackGap {
				res.FailBackGap = r.at.Sub(lastBack)
			}
			lastBack = r.at
		}
	}
	// Two holders are the point of a partition, and a frozen master's stale
	// address until it is back alone; anywhere else they are a split brain.
	unexpected := false
	tolerate := overlap
	if sc.Fault == FaultPartition || sc.Fault == FaultFreeze {
		tolerate = -1 // every sample with two holders is the fault's
	}
	for _, run := range splitRuns(holds, tolerate) {
		res.SplitBrain = true
		for _, s := range run {
			expected := sc.Fault == FaultPartition ||
				sc.Fault == FaultFreeze && !s.at.Before(t0) && (!back || s.at.Before(t1.Add(res.FailBack)))
			unexpected = unexpected || !expected
		}
	}
	otherSplit := false // another VIP held by two lbs for longer than overlap
	for _, o := range others {
		otherSplit = otherSplit || len(splitRuns(o, overlap)) > 0
	}
	res.Timeline = timeline(c, begin, t0, t1, end, reqs, holds)
	partition := sc.Fault == FaultPartition
	notifyProblem := ""
	if moved {
		// The lb that became MASTER: the only holder, or the one beside a
		// frozen or partitioned master.
		taker := h[0]
		if k := slices.IndexFunc(h, func(n string) bool { return n != master }); k >= 0 {
			taker = h[k]
		}
		res.Notified, notifyProblem = f.notified(ctx, steps.VRRPInstance(vip), taker, offsets[taker])
	}
	switch {
	case res.Problem != "":
	case !moved && partition:
		res.Problem = fmt.Sprintf("no split brain seen within %s of dropping %s's VRRP adverts (are they still getting through?)", moveWait, master)
	case !moved:
		res.Problem = fmt.Sprintf("the VIP did not leave %s within %s", master, moveWait)
	case res.Moved > bound && partition:
		res.Problem = fmt.Sprintf("the backup took the VIP after %s, later than its master-down bound %s from the config", res.Moved.Round(time.Millisecond), bound)
	case res.Moved > bound:
		res.Problem = fmt.Sprintf("the VIP moved after %s, later than the bound %s from the config", res.Moved.Round(time.Millisecond), bound)
	case !back && partition:
		res.Problem = fmt.Sprintf("the split brain did not heal: %s is not the one holder within %s of the adverts passing again", master, 2*failBound)
	case !back:
		res.Problem = fmt.Sprintf("the VIP did not come back to %s within %s", master, 2*failBound)
	case partition && res.FailBack > failBound:
		res.Problem = fmt.Sprintf("the split brain healed after %s, later than the master-down bound %s", res.FailBack.Round(time.Millisecond), failBound)
	case unexpected:
		res.Problem = "two load balancers held the VIP at the same time"
	case otherSplit && sc.Fault == "":
		res.Problem = "two load balancers held another VIP at the same time"
	case afterMove != "":
		res.Problem = "after the move not every VIP had left " + master + ": " + afterMove
	case afterBack != "":
		res.Problem = "after the failback not every VIP was back where it started: " + afterBack
	case notifyProblem != "":
		res.Problem = notifyProblem
	}
	res.OK = res.Problem == ""
	return res
}

// logOffsets is the size of the transition log on every lb but the master.
func (f *Failover) logOffsets(ctx context.Context, master string) map[string]int64 {
	out := map[string]int64{}
	for _, h := range f.Cluster.HostsWithRole(inventory.RoleLB) {
		if h.Name == master {
			continue
		}
		s := &shell.Script{}
		s.Line(`stat -c %%s %s 2>/dev/null || echo 0`, steps.TransitionLog)
		if r, err := f.Runner.Exec(ctx, h.Name, s); err == nil {
			var n int64
			if _, err := fmt.Sscan(strings.TrimSpace(string(r.Stdout)), &n); err == nil {
				out[h.Name] = n
			}
		}
	}
	return out
}

// notified reads what host's notify script appended to its transition log
// since offset for instance inst, waiting up to steps.NotifyHookBound for the
// hooks' outcomes.
func (f *Failover) notified(ctx context.Context, inst, host string, offset int64) (string, string) {
	// Long only when a hook is slow or failing: the lines are there at once
	// when hooks answer, since the scenario ran for seconds after the move.
	deadline := time.Now().Add(steps.NotifyHookBound())
	for {
		s := &shell.Script{}
		s.Line(`f=%s; o=%s; n=$(stat -c %%s "$f" 2>/dev/null || echo 0); [ "$n" -ge "$o" ] || o=0; tail -c +$((o+1)) "$f" 2>/dev/null; true`, steps.TransitionLog, strconv.FormatInt(offset, 10))
		r, err := f.Runner.Exec(ctx, host, s)
		if err != nil {
			return "", fmt.Sprintf("%s: reading the VRRP transition log: %v", host, err)
		}
		summary, problem, done := NotifyVerdict(f.Cluster, inst, host, string(r.Stdout))
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			return summary, problem
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// NotifyVerdict judges the transition log lines a new holder wrote during a
// scenario: keepalived ran the notify script for MASTER of the scenario's
// vrrp_instance inst, and every hook the inventory configures succeeded. done
// is false while a line is missing (a hook still running); the problem then
// says what is missing.
func NotifyVerdict(c *inventory.Cluster, inst, host, log string) (summary, problem string, done bool) {
	n := c.VRRP.Notify
	var master bool
	hooks := map[string]*steps.Transition{}
	for _, t := range steps.ParseTransitions(log) {
		if t.Instance != inst || t.State != "MASTER" {
			continue
		}
		switch t.Kind {
		case "transition":
			master = true
		case "script", "webhook":
			t := t
			hooks[t.Kind] = &t
		}
	}
	if !master {
		return "", fmt.Sprintf("%s took the VIP but keepalived's notify script recorded no MASTER transition of %s in %s", host, inst, steps.TransitionLog), false
	}
	parts := []string{host + " MASTER"}
	type hook struct{ kind, field, what string }
	var want []hook
	if n.Script != "" {
		want = append(want, hook{"script", "vrrp.notify.script", n.Script})
	}
	if n.Webhook != "" {
		// The URL is a secret: named by its field only.
		want = append(want, hook{"webhook", "vrrp.notify.webhook", "the webhook"})
	}
	for _, w := range want {
		h := hooks[w.kind]
		if h == nil {
			return strings.Join(parts, ", "), fmt.Sprintf("%s: the notify hook %s (%s) has not finished for the MASTER transition within %s", host, w.what, w.field, steps.NotifyHookBound()), false
		}
		parts = append(parts, w.kind+" "+h.Detail)
		if !h.HookOK() {
			return strings.Join(parts, ", "), fmt.Sprintf("%s: the notify hook %s (%s) failed for the MASTER transition: %s", host, w.what, w.field, h.Detail), true
		}
	}
	return strings.Join(parts, ", "), "", true
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
