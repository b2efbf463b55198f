package provision_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/provision/fake"
	"github.com/hadeploy/hadeploy/transport"
)

type cluster struct {
	c      *inventory.Cluster
	hosts  map[string]*fake.Host
	mu     sync.Mutex
	events []events.Event
}

func newCluster(t testing.TB) *cluster {
	c, err := inventory.Load("../e2e/lab-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fc := &cluster{c: c, hosts: map[string]*fake.Host{}}
	for _, h := range c.Hosts {
		fc.hosts[h.Name] = fake.NewDebian(h.Name, h.Address+"/24")
		fc.hosts[h.Name].Backends = backends(c)
	}
	return fc
}

func (fc *cluster) runner(id string) *provision.Runner {
	fc.events = nil
	return &provision.Runner{
		Cluster: fc.c, Hosts: fc.c.Hosts, RunID: id, Meta: "tester",
		Sink: events.SinkFunc(func(e events.Event) { fc.mu.Lock(); fc.events = append(fc.events, e); fc.mu.Unlock() }),
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			return fc.hosts[h.Name].Transport(), nil
		},
	}
}

// giveVIP makes lb1 hold the VIP, as keepalived would after apply.
func (fc *cluster) giveVIP(name string) {
	h := fc.hosts[name]
	h.Addrs = append(h.Addrs, fc.c.VIPPrefix.String())
}

func TestApplyThenNoop(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	sum, err := fc.runner("R1").Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Changes == 0 {
		t.Fatal("cold apply changed nothing")
	}
	// Web hosts first, then lb2 (not holding the VIP) before lb1.
	var order []string
	for _, e := range fc.events {
		if e.Type == events.EvStep && e.Step != "packages" && e.Status == events.StatusChanged && (e.Step == "web" || e.Step == "haproxy") {
			order = append(order, e.Host)
		}
	}
	if strings.Join(order, ",") != "web1,web2,lb2,lb1" {
		t.Errorf("apply order %v, want web1,web2,lb2,lb1", order)
	}
	if fc.hosts["lb1"].Lock != "" {
		t.Error("lock not released")
	}
	sum, err = fc.runner("R2").Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Changes != 0 {
		t.Fatalf("second apply: %d changes", sum.Changes)
	}
	for _, h := range sum.Hosts {
		if h.RoundTrips > 2 { // + the SSH handshake in real life = 3
			t.Errorf("%s: %d round trips on a no-op apply", h.Host, h.RoundTrips)
		}
	}
}

func TestFailedStepRollsBackEveryTouchedHost(t *testing.T) {
	fc := appliedCluster(t)
	before := map[string]string{}
	for n, h := range fc.hosts {
		before[n] = h.Files["/etc/haproxy/haproxy.cfg"] + h.Files["/etc/apache2/ports.conf"]
	}
	// A new health page: web1 changes fine, web2's Apache then "fails to serve".
	fc.c.Web.HealthCheck = "GET /health.html"
	fc.hosts["web2"].FailStep = "web"
	_, err := fc.runner("R2").Apply(context.Background())
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack {
		t.Fatalf("want a rolled back ApplyError, got %v", err)
	}
	if !strings.Contains(err.Error(), "web2: step web") {
		t.Errorf("error does not name host and step: %v", err)
	}
	var rolled []string
	for _, e := range fc.events {
		if e.Step == "rollback" {
			rolled = append(rolled, e.Host)
		}
	}
	if strings.Join(rolled, ",") != "web2,web1" {
		t.Errorf("rolled back %v, want web2,web1 (reverse order; lbs untouched)", rolled)
	}
	for n, h := range fc.hosts {
		if got := h.Files["/etc/haproxy/haproxy.cfg"] + h.Files["/etc/apache2/ports.conf"]; got != before[n] {
			t.Errorf("%s not restored", n)
		}
		if h.Lock != "" {
			t.Errorf("%s still locked", n)
		}
	}
}

func TestLockedClusterIsRefusedAndUntouched(t *testing.T) {
	fc := newCluster(t)
	fc.hosts["lb2"].Lock = "run X by alice@laptop pid=1 cmd=apply"
	_, err := fc.runner("R1").Apply(context.Background())
	var le *provision.LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "alice@laptop") || !strings.Contains(err.Error(), "lb2") {
		t.Fatalf("want LockedError naming lb2 and alice, got %v", err)
	}
	for n, h := range fc.hosts {
		if len(h.Files) != 0 || len(h.Packages) != 0 {
			t.Errorf("%s was changed despite the lock", n)
		}
		if n != "lb2" && h.Lock != "" {
			t.Errorf("%s: our own lock was not released", n)
		}
	}
	if fc.hosts["lb2"].Lock == "" {
		t.Error("someone else's lock was removed")
	}
}

func TestInterruptedRunIsRolledBackBeforeTheNextApply(t *testing.T) {
	fc := appliedCluster(t)
	good := fc.hosts["lb2"].Files["/etc/haproxy/haproxy.cfg"]
	// R2 changes a weight but "dies" on lb2 mid-run: its file is written,
	// its run stays "running" and the lock is left behind by a dead process.
	fc.c.HAProxy.Backends[0].Servers[0].Weight = 7
	fc.hosts["lb2"].FailStep = "haproxy"
	fc.runner("R2").Apply(context.Background())
	fc.hosts["lb2"].FailStep = ""
	// Simulate the crash: the rollback never happened.
	fc.hosts["lb2"].Files["/etc/haproxy/haproxy.cfg"] = strings.Replace(good, "weight 1", "weight 7", 1)
	fc.hosts["lb2"].SetStatus("running")
	fc.c.HAProxy.Backends[0].Servers[0].Weight = 1
	if _, err := fc.runner("R3").Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, e := range fc.events {
		warned = warned || (e.Type == events.EvWarning && e.Host == "lb2" && strings.Contains(e.Message, "interrupted"))
	}
	if !warned {
		t.Error("no warning about the interrupted run")
	}
	if got := fc.hosts["lb2"].Files["/etc/haproxy/haproxy.cfg"]; got != good {
		t.Errorf("lb2 haproxy.cfg not back to the converged state:\n%s", got)
	}
}

func TestLimitActsOnNamedHostsOnly(t *testing.T) {
	fc := newCluster(t)
	r := fc.runner("R1")
	hosts, err := fc.c.Limit([]string{"web2"})
	if err != nil {
		t.Fatal(err)
	}
	r.Hosts = hosts
	if _, err := r.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	for n, h := range fc.hosts {
		if (len(h.Files) > 0) != (n == "web2") {
			t.Errorf("%s: files %d after --limit web2", n, len(h.Files))
		}
	}
	if _, err := fc.c.Limit([]string{"nope"}); err == nil {
		t.Error("--limit with an unknown host must fail")
	}
}

func TestDebugLogNeverHoldsSecrets(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	var log strings.Builder
	var mu sync.Mutex
	r := fc.runner("R1")
	r.Log = func(format string, args ...any) { mu.Lock(); fmt.Fprintf(&log, format+"\n", args...); mu.Unlock() }
	if _, err := r.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = fc.runner("R2")
	r.Log = func(format string, args ...any) { mu.Lock(); fmt.Fprintf(&log, format+"\n", args...); mu.Unlock() }
	if _, err := r.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	secret := fc.c.VRRP.AuthPass
	enc := base64.StdEncoding.EncodeToString([]byte(fc.hosts["lb1"].Files["/etc/keepalived/keepalived.conf"]))
	if strings.Contains(log.String(), secret) || strings.Contains(log.String(), enc[:40]) {
		t.Error("the debug log holds the VRRP password (plain or base64)")
	}
	if !strings.Contains(log.String(), "[content elided]") {
		t.Error("expected elided contents in the log")
	}
}

// Issue 12: after a failed apply, rollback said "back in rotation" while a
// load balancer's haproxy still reported the restored host UP from before but
// redispatched every request to the other server. The gate must wait until a
// request pinned to the host is answered by the host, on every lb.
func TestRollbackWaitsUntilTheHostReallyServes(t *testing.T) {
	fc := appliedCluster(t)
	var mu sync.Mutex
	probes := 0
	fc.hosts["lb1"].Rotation = func(sv string) (string, string) {
		if sv != "web1" {
			return "UP", sv
		}
		mu.Lock()
		defer mu.Unlock()
		probes++
		if probes <= 3 {
			return "UP", "web2" // UP by its last check, but not serving: redispatched
		}
		return "UP", "web1"
	}
	fc.c.Web.HealthCheck = "GET /health.html"
	fc.hosts["web2"].FailStep = "web"
	_, err := fc.runner("R2").Apply(context.Background())
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack {
		t.Fatalf("want a rolled back ApplyError, got %v", err)
	}
	back := map[string]bool{}
	for _, e := range fc.events {
		if e.Step == "rotation" && e.Type == events.EvInfo {
			back[e.Host] = true
		}
		if e.Type == events.EvWarning {
			t.Errorf("warning: %s", e.Message)
		}
	}
	if !back["web1"] || !back["web2"] {
		t.Errorf("rotation reported for %v, want web1 and web2", back)
	}
	if probes < 4 {
		t.Errorf("web1 declared back in rotation after %d probes, while lb1 still redispatched its requests", probes)
	}
}

// brokenConn fails every Run like a dropped SSH connection: with an error that
// does not name the host, as transport errors never do.
type brokenConn struct{ transport.Transport }

func (brokenConn) Run(context.Context, string, io.Reader) (transport.Result, error) {
	return transport.Result{}, fmt.Errorf("ssh: running command: %w", io.EOF)
}

// The runner names the host in a transport error once, with the stage.
func TestTransportErrorsNameTheHostOnce(t *testing.T) {
	fc := newCluster(t)
	ctx := context.Background()
	dial := func(fail string, dialErr error) provision.DialFunc {
		return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			tr := fc.hosts[h.Name].Transport()
			switch {
			case h.Name != fail:
				return tr, nil
			case dialErr != nil:
				return nil, dialErr
			}
			return brokenConn{tr}, nil
		}
	}
	cases := []struct {
		name string
		dial provision.DialFunc
		run  func(r *provision.Runner) error
		want string
	}{
		{"connect", dial("web2", errors.New("ssh root@10.213.47.12:22: connect: connection refused")),
			func(r *provision.Runner) error { _, err := r.Plan(ctx); return err },
			"web2: ssh root@10.213.47.12:22: connect: connection refused"},
		{"snapshot", dial("lb1", nil),
			func(r *provision.Runner) error { _, err := r.Plan(ctx); return err },
			"lb1: read host state: ssh: running command: EOF"},
		{"lock release", dial("lb2", nil),
			func(r *provision.Runner) error { return r.LockRelease(ctx) },
			"lb2: release lock: ssh: running command: EOF"},
	}
	for _, c := range cases {
		r := fc.runner("R1")
		r.Dial = c.dial
		err := c.run(r)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %q, want %q", c.name, err, c.want)
		}
	}
}

// What the snapshot reads is derived from the steps for every family: on
// RPM hosts too, a second apply finds nothing to change (a file the snapshot
// did not read would look absent and be rewritten on every apply).
func TestSnapshotCoversEveryFamily(t *testing.T) {
	fc := newCluster(t)
	for _, h := range fc.c.Hosts {
		fc.hosts[h.Name] = fake.NewRocky(h.Name, h.Address+"/24")
	}
	fc.giveVIP("lb1")
	sum, err := fc.runner("R1").Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Changes == 0 {
		t.Fatal("cold apply changed nothing")
	}
	if _, ok := fc.hosts["web1"].Files["/etc/httpd/conf/httpd.conf"]; !ok {
		t.Fatal("httpd.conf not managed on the RPM host")
	}
	sum, err = fc.runner("R2").Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Changes != 0 {
		for _, e := range fc.events {
			if e.Type == events.EvStep && e.Status == events.StatusChanged {
				t.Logf("%s %s: %s", e.Host, e.Step, e.Message)
			}
		}
		t.Fatalf("second apply on RPM hosts: %d changes", sum.Changes)
	}
}

// backends is the inventory's haproxy config as the fake haproxy knows it.
func backends(c *inventory.Cluster) map[string][]string {
	out := map[string][]string{}
	for _, b := range c.HAProxy.Backends {
		for _, s := range b.Servers {
			out[b.Name] = append(out[b.Name], s.Host)
		}
	}
	return out
}

// A web change drains the host on every haproxy, waits for its sessions,
// puts it in maintenance, changes it, readies it and waits until it serves.
func TestWebChangeIsDrainedAndReadied(t *testing.T) {
	fc := appliedCluster(t)
	fc.c.Web.HealthCheck = "GET /health.html" // a web-only change: the page
	r := fc.runner("R2")
	if _, err := r.Apply(context.Background()); err != nil {
		// The health path is part of the haproxy config too: lbs change.
		t.Fatal(err)
	}
	var seq []string
	for _, e := range fc.events {
		if e.Host == "web1" && (e.Type == events.EvInfo && e.Step != "timesync" || e.Type == events.EvStep && e.Step == "web") {
			seq = append(seq, e.Step)
		}
	}
	if got := strings.Join(seq, ","); !strings.HasPrefix(got, "drain-check,drain,maint,web,ready") {
		t.Errorf("web1's change went %s, want drain-check,drain,maint,web,ready,…", got)
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if st := fc.hosts[lb].Admin["web/web1"]; st != "ready" {
			t.Errorf("%s: web/web1 left %q", lb, st)
		}
		if _, set := fc.hosts[lb].Admin["www1/web1"]; set {
			t.Errorf("%s: web1 drained in www1, where it is the only server", lb)
		}
	}
}

// Draining the last server in rotation of a backend is refused at once, and
// the host is put back.
func TestDrainRefusedWhenNoOtherServerServes(t *testing.T) {
	fc := appliedCluster(t)
	for _, lb := range []string{"lb1", "lb2"} {
		fc.hosts[lb].Rotation = func(sv string) (string, string) {
			if sv == "web2" {
				return "DOWN", "web1"
			}
			return "UP", sv
		}
	}
	fc.c.Web.HealthCheck = "GET /health.html"
	_, err := fc.runner("R2").Apply(context.Background())
	if err == nil || !strings.Contains(err.Error(), "would leave backend web with no server in rotation") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if fc.hosts["web1"].Files["/var/www/html/health.html"] != "" {
		t.Error("web1 changed although its drain was refused")
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if st, set := fc.hosts[lb].Admin["web/web1"]; set && st != "ready" {
			t.Errorf("%s: web1 was set %s although the drain was refused", lb, st)
		}
	}
}

// A web port change under --limit cannot be staged (a load balancer is not
// in the run) and would empty backend web: it is refused before any host is
// touched.
func TestPortChangeUnderLimitRefusedBeforeAnyChange(t *testing.T) {
	fc := appliedCluster(t)
	before := fc.hosts["web1"].Files["/etc/apache2/ports.conf"]
	fc.c.Web.Port = 8081
	r := fc.runner("R2")
	hosts, err := fc.c.Limit([]string{"web1", "web2", "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	r.Hosts = hosts
	_, err = r.Apply(context.Background())
	var re *provision.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "backend web") {
		t.Fatalf("want a RefusedError naming backend web, got %v", err)
	}
	if fc.hosts["web1"].Files["/etc/apache2/ports.conf"] != before {
		t.Error("web1 changed although the plan was refused")
	}
	for n, h := range fc.hosts {
		if h.Lock != "" {
			t.Errorf("%s still locked", n)
		}
	}
}

// A rollback drains each web host before restoring it, like an apply.
func TestRollbackDrainsWebHostsFirst(t *testing.T) {
	fc := appliedCluster(t)
	fc.c.Web.HealthCheck = "GET /health.html"
	fc.hosts["web2"].FailStep = "web"
	_, err := fc.runner("R2").Apply(context.Background())
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack {
		t.Fatalf("want a rolled back ApplyError, got %v", err)
	}
	var seq []string
	after := false
	for _, e := range fc.events {
		after = after || e.Type == events.EvError
		if after && e.Host == "web1" && (e.Type == events.EvInfo || e.Step == "rollback") {
			seq = append(seq, e.Step)
		}
	}
	if got := strings.Join(seq, ","); got != "drain-check,drain,maint,rollback,ready,rotation" {
		t.Errorf("web1's rollback went %s", got)
	}
}

// A drain that does not finish within the timeout stops the run (it never
// carries on) and puts the host back in service.
func TestDrainTimeoutAborts(t *testing.T) {
	fc := appliedCluster(t)
	fc.hosts["lb2"].Sessions = func(sv string) int {
		if sv == "web1" {
			return 3 // a long download that never ends
		}
		return 0
	}
	fc.c.Web.HealthCheck = "GET /health.html"
	r := fc.runner("R2")
	r.DrainTimeout = 300 * time.Millisecond
	_, err := r.Apply(context.Background())
	if err == nil || !strings.Contains(err.Error(), "drain: not passed after 300ms") || !strings.Contains(err.Error(), "3 session(s)") {
		t.Fatalf("want a drain timeout naming the sessions, got %v", err)
	}
	if fc.hosts["web1"].Files["/var/www/html/health.html"] != "" {
		t.Error("web1 changed although its drain timed out")
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if st := fc.hosts[lb].Admin["web/web1"]; st != "ready" {
			t.Errorf("%s: web1 left %q after the aborted drain", lb, st)
		}
	}
}

// A web host whose checks already fail (its Apache was stopped) shows DOWN
// once drained, not DRAIN: it is drained at once, and the repairing apply goes
// on (a race on the lab: whether haproxy had marked it DOWN yet).
func TestDrainingADownServerPassesAtOnce(t *testing.T) {
	fc := appliedCluster(t)
	var down atomic.Bool
	down.Store(true)
	fc.hosts["lb1"].Rotation = func(sv string) (string, string) {
		if sv == "web1" && down.Load() {
			return "DOWN", "web2"
		}
		return "UP", sv
	}
	fc.hosts["web1"].Services["apache2"] = "inactive enabled" // stopped: apply starts it
	r := fc.runner("R2")
	r.DrainTimeout = 2 * time.Second
	// Its checks pass again a while after Apache is started, later than the
	// drain timeout: a drain that waited for "DRAIN" would time out.
	go func() { time.Sleep(2500 * time.Millisecond); down.Store(false) }()
	if _, err := r.Apply(context.Background()); err != nil {
		t.Fatalf("repairing apply: %v", err)
	}
}

// appliedCluster is the fake lab after a first, successful apply, lb1
// holding the VIP.
func appliedCluster(t testing.TB) *cluster {
	t.Helper()
	fc := newCluster(t)
	fc.giveVIP("lb1")
	if _, err := fc.runner("R1").Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fc
}

// An OS without a profile on two hosts: apply names both, with what their
// os-release says, and changes nothing on any host (not even the known ones),
// leaving no lock behind.
func TestApplyRefusesUnknownOS(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	fc.hosts["web2"].OSRelease = "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n"
	fc.hosts["lb2"].OSRelease = "ID=alpine\nVERSION_ID=3.20.0\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"
	before := map[string]string{}
	for n, h := range fc.hosts {
		before[n] = fmt.Sprint(h.Files)
	}
	_, err := fc.runner("R1").Apply(context.Background())
	if err == nil {
		t.Fatal("apply on an unknown OS succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`web2: unsupported OS: /etc/os-release says ID="arch"`, `PRETTY_NAME="Arch Linux"`,
		`lb2: unsupported OS: /etc/os-release says ID="alpine" VERSION_ID="3.20.0"`, "nothing was changed on any host"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "web1:") || strings.Contains(msg, "lb1:") {
		t.Errorf("error names a supported host:\n%s", msg)
	}
	for n, h := range fc.hosts {
		if fmt.Sprint(h.Files) != before[n] {
			t.Errorf("%s changed: %v", n, h.Files)
		}
		if h.Lock != "" {
			t.Errorf("%s: lock left behind: %s", n, h.Lock)
		}
	}
	for _, e := range fc.events {
		if e.Type == events.EvStep && e.Status == events.StatusChanged {
			t.Errorf("a step ran: %+v", e)
		}
	}
}

// holdingTransport counts the package programs running at once, holding
// each for a moment so uncapped ones overlap.
type holdingTransport struct {
	transport.Transport
	running, most *atomic.Int32
}

func (t holdingTransport) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	b, _ := io.ReadAll(stdin)
	if strings.Contains(string(b), "apt-get -q update") {
		n := t.running.Add(1)
		for m := t.most.Load(); n > m && !t.most.CompareAndSwap(m, n); m = t.most.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		defer t.running.Add(-1)
	}
	return t.Transport.Run(ctx, cmd, strings.NewReader(string(b)))
}

// --concurrency caps how many hosts install packages at once.
func TestPackageConcurrencyCap(t *testing.T) {
	for _, limit := range []int{1, 2} {
		fc := newCluster(t)
		fc.giveVIP("lb1")
		var running, most atomic.Int32
		r := fc.runner("R1")
		r.PackageConcurrency = limit
		r.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			return holdingTransport{fc.hosts[h.Name].Transport(), &running, &most}, nil
		}
		if _, err := r.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := most.Load(); got > int32(limit) || got == 0 {
			t.Errorf("--concurrency %d: %d hosts installed packages at once", limit, got)
		}
	}
}
