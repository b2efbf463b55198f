package playbooks

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

func names(hs []*inventory.Host) (out []string) {
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return
}

// fleet is a fake view of the hosts for the playbook.
type fleet struct {
	hosts   []*inventory.Host
	holder  string
	haproxy map[string]bool
	// keepalived lists the lbs whose keepalived runs.
	keepalived map[string]bool
	changing   map[string]bool   // "host/step"
	files      map[string]string // "host:path" → content
}

func (f fleet) Connected() []*inventory.Host { return f.hosts }
func (f fleet) Facts(string) facts.Facts     { return facts.Facts{Family: facts.FamilyDebian} }
func (f fleet) Active(h, u string) bool {
	return (u == "haproxy" && f.haproxy[h]) || (u == "keepalived" && f.keepalived[h])
}
func (f fleet) HoldsAddr(h, _ string) bool    { return h == f.holder }
func (f fleet) Changing(h, step string) bool  { return f.changing[h+"/"+step] }
func (f fleet) ChangingFile(h, p string) bool { return f.changing[h+":"+p] }
func (f fleet) Content(h, p string) ([]byte, bool) {
	c, ok := f.files[h+":"+p]
	return []byte(c), ok
}

func cluster(hs []*inventory.Host) *inventory.Cluster {
	c := &inventory.Cluster{Hosts: hs, VIPPrefix: netip.MustParsePrefix("10.0.0.100/24")}
	c.HAProxy.DefaultBackend = "web"
	c.HAProxy.CheckInter, c.HAProxy.Rise = 2000, 2
	c.HAProxy.Backends = []*inventory.Backend{{Name: "web", Servers: []*inventory.Server{{Host: "web1"}, {Host: "web2"}}}}
	c.Web.HealthCheck = "GET /index.html"
	return c
}

func TestPhasesPutVIPHolderLast(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100},
		{Name: "web1", Roles: []string{"web"}},
		{Name: "lb2", Roles: []string{"lb"}, Priority: 80},
		{Name: "web2", Roles: []string{"web"}},
		{Name: "both", Roles: []string{"web", "lb"}, Priority: 90},
	}
	c := cluster(hs)
	// Cold cluster: lowest priority first, would-be master last.
	ph := Cluster{}.Apply(c, hs, fleet{hosts: hs})
	if len(ph) != 2 || ph[0].Name != "web" || ph[1].Name != "lb" {
		t.Fatalf("phases %+v", ph)
	}
	if got := names(ph[0].Hosts); len(got) != 2 || got[0] != "web1" || got[1] != "web2" {
		t.Errorf("web order %v", got)
	}
	if got := names(ph[1].Hosts); got[0] != "lb2" || got[1] != "both" || got[2] != "lb1" {
		t.Errorf("cold lb order %v", got)
	}
	// lb2 holds the VIP after a failover: it goes last.
	ph = Cluster{}.Apply(c, hs, fleet{hosts: hs, holder: "lb2"})
	if got := names(ph[1].Hosts); got[0] != "both" || got[1] != "lb1" || got[2] != "lb2" {
		t.Errorf("holder-last order %v", got)
	}
	if !ph[0].Serial || !ph[1].Serial {
		t.Error("both phases must be serial")
	}
	// Rollback: load balancers first (holder last), web hosts in reverse.
	rb := Cluster{}.Rollback(c, hs, fleet{hosts: hs, holder: "lb2"})
	if len(rb) != 2 || rb[0].Name != "lb" || rb[1].Name != "web" {
		t.Fatalf("rollback phases %+v", rb)
	}
	if got := names(rb[1].Hosts); got[0] != "web2" || got[1] != "web1" {
		t.Errorf("rollback web order %v", got)
	}
}

func TestGates(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "web1", Roles: []string{"web"}}, {Name: "web2", Roles: []string{"web"}},
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100}, {Name: "lb2", Roles: []string{"lb"}, Priority: 80},
	}
	c := cluster(hs)
	f := fleet{hosts: hs, holder: "lb1", haproxy: map[string]bool{"lb1": true, "lb2": true},
		changing: map[string]bool{"web1/web": true, "web1:/etc/apache2/ports.conf": true, "lb2/keepalived": true}}
	ph := Cluster{}.Apply(c, hs, f)
	gs := ph[0].After(hs[0])
	if len(gs) != 1 || gs[0].Name != "rotation" || len(gs[0].Observers) != 2 {
		t.Fatalf("web gates %+v", gs)
	}
	g := gs[0]
	// The bound comes from the rendered check settings.
	if want := 10*time.Second + 6*time.Second + 3*time.Second; g.Bound != want {
		t.Errorf("rotation bound %s, want %s", g.Bound, want)
	}
	probe := g.Probe(hs[2]).String()
	for _, s := range []string{"show stat", "sv=web1", "Cookie: SERVERID=web1", "/run/haproxy/admin.sock"} {
		if !strings.Contains(probe, s) {
			t.Errorf("probe lacks %q:\n%s", s, probe)
		}
	}
	up := "==stat web UP\n==reach web1\n"
	for _, tc := range []struct {
		lb1, lb2 string
		ok       bool
	}{
		{up, up, true},
		{"==stat web UP 2/3\n==reach web1\n", up, false}, // on its way down
		{"==stat web DOWN 1/2\n==reach web2\n", up, false},
		// UP, but the check has not run since the host stopped serving:
		// haproxy redispatches the pinned request to another server.
		{"==stat web UP\n==reach web2\n", up, false},
		{"", up, false}, // haproxy does not know web1 (yet)
	} {
		if ok, why := g.Passed(map[string]string{"lb1": tc.lb1, "lb2": tc.lb2}); ok != tc.ok {
			t.Errorf("Passed(%q) = %v (%s), want %v", tc.lb1, ok, why, tc.ok)
		}
	}
	// A host whose steps do not change passes no gate.
	if gs := ph[0].After(hs[1]); len(gs) != 0 {
		t.Errorf("gates for an unchanged host: %+v", gs)
	}
	// A new web port in one go (not staged): haproxy changes too, web hosts
	// cannot rotate before it.
	f.changing["lb1/haproxy"] = true
	c.Web.Port = 8081
	f.files = map[string]string{"lb1:/etc/haproxy/haproxy.cfg": "backend web\n\toption httpchk GET /index.html\n\tserver web1 10.0.0.1:8080 check\n"}
	if gs := (Cluster{}).Apply(c, hs, f)[0].After(hs[0]); len(gs) != 0 {
		t.Errorf("rotation gate while haproxy changes: %+v", gs)
	}
	c.Web.Port = 8080
	// A cold cluster: haproxy runs the package's own config (no server
	// lines) and changes in this run, so rotation waits for it (the web
	// hosts cannot be in rotation before haproxy knows them).
	cold := fleet{hosts: hs, holder: "lb1", haproxy: f.haproxy, changing: f.changing,
		files: map[string]string{"lb1:/etc/haproxy/haproxy.cfg": "global\n", "lb2:/etc/haproxy/haproxy.cfg": "global\n"}}
	if gs := (Cluster{}).Apply(c, hs, cold)[0].After(hs[0]); len(gs) != 0 {
		t.Errorf("rotation gate before a cold haproxy knows the host: %+v", gs)
	}
	// haproxy already serves web1 and only a weight changes: web1 must be
	// back in rotation all the same.
	warm := cold
	warm.files = map[string]string{}
	for _, lb := range []string{"lb1", "lb2"} {
		warm.files[lb+":/etc/haproxy/haproxy.cfg"] = "backend web\n\tserver web1 10.0.0.1:8080 check\n"
	}
	if gs := (Cluster{}).Apply(c, hs, warm)[0].After(hs[0]); len(gs) == 0 || gs[len(gs)-1].Name != "rotation" {
		t.Errorf("no rotation gate while haproxy only reweighs a server it has: %+v", gs)
	}
	// In a rollback every restored host passes its gates.
	if gs := (Cluster{}).Rollback(c, hs, f)[1].After(hs[1]); len(gs) != 1 || gs[0].Name != "rotation" {
		t.Errorf("rollback gates for web2: %+v", gs)
	}
	// Load balancers: one VIP holder after each, and at the end.
	lbph := Cluster{}.Apply(c, hs, f)[1]
	if gs := lbph.After(hs[3]); len(gs) != 1 || gs[0].Name != "vip" || len(lbph.Finally) != 1 {
		t.Fatalf("lb gates %+v / %+v", gs, lbph.Finally)
	}
	vip := lbph.Finally[0]
	if ok, _ := vip.Passed(map[string]string{"lb1": "==holds\n", "lb2": "==free\n"}); !ok {
		t.Error("one holder refused")
	}
	if ok, why := vip.Passed(map[string]string{"lb1": "==holds\n", "lb2": "==holds\n"}); ok || !strings.Contains(why, "split brain") {
		t.Errorf("split brain accepted: %s", why)
	}
	if ok, _ := vip.Passed(map[string]string{"lb1": "==free\n", "lb2": "==free\n"}); ok {
		t.Error("no holder accepted")
	}
	// Right after a cold apply lb2 may hold the VIP while lb1's tracker has
	// not risen yet: the final gate waits until lb1 preempts (the race the
	// e2e status check met under load), unless lb1 cannot take it.
	healthy := "==vrrp active active 0 0\n"
	for _, tc := range []struct {
		lb1, lb2 string
		ok       bool
	}{
		{"==free\n" + healthy, "==holds\n" + healthy, false},
		{"==holds\n" + healthy, "==free\n" + healthy, true},
		{"==free\n==vrrp active active 1 0\n", "==holds\n" + healthy, true},   // lb1 in FAULT
		{"==free\n==vrrp active failed 0 0\n", "==holds\n" + healthy, true},   // lb1's haproxy stopped
		{"==free\n==vrrp active active 0 30\n", "==holds\n" + healthy, true},  // switched over to lb2
		{"==holds\n==vrrp active active 0 30\n", "==free\n" + healthy, false}, // lb2 will take it back
	} {
		if ok, why := vip.Passed(map[string]string{"lb1": tc.lb1, "lb2": tc.lb2}); ok != tc.ok {
			t.Errorf("final VIP gate on lb1 %q, lb2 %q: %v (%s), want %v", tc.lb1, tc.lb2, ok, why, tc.ok)
		}
	}
	if p := vip.Probe(hs[2]).String(); !strings.Contains(p, "/var/lib/hadeploy/vrrp-priority") || !strings.Contains(p, "/var/lib/hadeploy/haproxy-down") {
		t.Errorf("final VIP probe reads no track files:\n%s", p)
	}
	// --limit: no final VIP gate.
	if ph := (Cluster{}).Apply(c, hs[2:3], fleet{hosts: hs[2:3], holder: "lb1", changing: f.changing}); len(ph[0].Finally) != 0 {
		t.Error("final VIP gate under --limit")
	}
}

func TestStepsFor(t *testing.T) {
	web := StepsFor(&inventory.Host{Roles: []string{"web"}})
	lb := StepsFor(&inventory.Host{Roles: []string{"lb"}})
	if len(web) != 2 || web[0].Name() != "web" || web[1].Name() != "timesync" {
		t.Errorf("web steps %v", web)
	}
	if len(lb) != 4 || lb[0].Name() != "rsyslog" || lb[1].Name() != "haproxy" || lb[2].Name() != "keepalived" {
		t.Errorf("lb steps %v", lb)
	}
}

// A port and health check change on a serving cluster is three stages: web
// hosts serve both, the lbs switch, web hosts drop the old; nothing is
// staged on a cold cluster, under --limit or when the contract stays.
func TestStagesOfAContractChange(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "web1", Roles: []string{"web"}}, {Name: "web2", Roles: []string{"web"}},
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100}, {Name: "lb2", Roles: []string{"lb"}, Priority: 80},
	}
	c := cluster(hs)
	c.Web.Port = 8081
	c.Web.HealthCheck = "GET /health.html"
	cfg := "backend web\n\toption httpchk GET /index.html\n\tserver web1 10.0.0.1:8080 cookie web1 check\n\tserver web2 10.0.0.2:8080 cookie web2 check\n"
	f := fleet{hosts: hs, holder: "lb1", haproxy: map[string]bool{"lb1": true, "lb2": true},
		files: map[string]string{"lb1:/etc/haproxy/haproxy.cfg": cfg, "lb2:/etc/haproxy/haproxy.cfg": cfg}}
	st := Cluster{}.Stages(c, hs, f)
	if len(st) != 3 {
		t.Fatalf("stages %+v", st)
	}
	s1, s2, s3 := st[0].Cluster, st[1].Cluster, st[2].Cluster
	if s1.Web.Port != 8080 || s1.HealthCheck() != "GET /index.html" || !slices.Equal(s1.WebPorts(), []int{8080, 8081}) || !slices.Equal(s1.Web.Transition.HealthPaths, []string{"/index.html", "/health.html"}) {
		t.Errorf("stage 1 (web hosts serve both, lbs stay): %+v %+v", s1.Web, s1.Web.Transition)
	}
	if s2.Web.Port != 8081 || s2.HealthCheck() != "GET /health.html" || !slices.Equal(s2.WebPorts(), []int{8080, 8081}) {
		t.Errorf("stage 2 (lbs switch, web hosts still serve both): %+v %+v", s2.Web, s2.Web.Transition)
	}
	if s3 != c {
		t.Error("stage 3 is not the inventory's cluster")
	}
	if c.Web.Transition != nil || c.Web.Port != 8081 {
		t.Error("staging changed the inventory's cluster")
	}
	for _, want := range []string{"8080 and 8081", "/index.html and /health.html"} {
		if !strings.Contains(st[0].Says, want) {
			t.Errorf("stage 1 says %q, lacks %q", st[0].Says, want)
		}
	}
	// Nothing staged: --limit, a cold cluster, an unchanged contract.
	if st := (Cluster{}).Stages(c, hs[:3], f); st != nil {
		t.Errorf("staged under --limit: %+v", st)
	}
	if st := (Cluster{}).Stages(c, hs, fleet{hosts: hs}); st != nil {
		t.Errorf("staged on a cold cluster: %+v", st)
	}
	c.Web.Port, c.Web.HealthCheck = 8080, "GET /index.html"
	if st := (Cluster{}).Stages(c, hs, f); st != nil {
		t.Errorf("staged without a contract change: %+v", st)
	}
}

// The switched gate compares haproxy's runtime ports with its configuration:
// a restored package configuration has no servers and passes; an unreadable
// one does not.
func TestSwitchedGate(t *testing.T) {
	lb := &inventory.Host{Name: "lb1", Roles: []string{"lb"}}
	g := steps.Switched(lb, fleet{hosts: []*inventory.Host{lb}})
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{"==cfgread\n==cfg web web1 8081\n==port web web1 8081\n", true},
		{"==cfgread\n==cfg web web1 8081\n==port web web1 8080\n", false}, // the state file kept the old port
		{"==cfgread\n", true}, // no server lines
		{"", false},           // configuration not readable
	} {
		if ok, why := g.Passed(map[string]string{"lb1": tc.out}); ok != tc.ok {
			t.Errorf("Passed(%q) = %v (%s), want %v", tc.out, ok, why, tc.ok)
		}
	}
}

// drain-check refuses only what would empty a backend: draining the last
// server that is UP. A host already DOWN (rebuilt, its Apache stopped) takes
// nothing away, even when no server of the backend is UP (the mixed-release
// e2e rebuilt both web hosts under running load balancers).
func TestDrainCheckRefusesOnlyTheLastServingServer(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "web1", Roles: []string{"web"}}, {Name: "web2", Roles: []string{"web"}},
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100},
	}
	c := cluster(hs)
	for _, s := range c.HAProxy.Backends[0].Servers {
		s.Weight = 1
	}
	var look steps.Gate
	for _, g := range steps.DrainGates(c, hs[0], hs[2:], fleet{hosts: hs}, time.Second, false) {
		if g.Name == "drain-check" {
			look = g
		}
	}
	if look.Refuse == nil {
		t.Fatal("no drain-check refusal")
	}
	for _, tc := range []struct {
		out    string
		refuse bool
	}{
		{"==srv web web1 0 UP\n==srv web web2 0 UP\n", false},
		{"==srv web web1 0 UP\n==srv web web2 0 DOWN\n", true},
		{"==srv web web1 0 DOWN\n==srv web web2 0 DOWN\n", false},
		{"==srv web web1 0 DOWN\n==srv web web2 0 UP\n", false},
	} {
		if why := look.Refuse(map[string]string{"lb1": tc.out}); (why != "") != tc.refuse {
			t.Errorf("Refuse(%q) = %q, want refusal %v", tc.out, why, tc.refuse)
		}
	}
}

// A new VRRP version or advert_int goes to every running lb at once; the
// same apply with the timing unchanged stays one lb at a time, and under
// --limit it is refused while another lb's keepalived runs.
func TestVRRPTimingChangesTogether(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "web1", Roles: []string{"web"}}, {Name: "web2", Roles: []string{"web"}},
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100}, {Name: "lb2", Roles: []string{"lb"}, Priority: 80},
	}
	c := cluster(hs)
	c.VRRP.Version, c.VRRP.AdvertInt = 3, 0.2
	v2 := "global_defs {\n}\nvrrp_instance VI_1 {\n\tadvert_int 1\n}\n"
	v3 := "global_defs {\n\tvrrp_version 3\n}\nvrrp_instance VI_1 {\n\tadvert_int 0.2\n}\n"
	f := fleet{hosts: hs, holder: "lb1", keepalived: map[string]bool{"lb1": true, "lb2": true},
		files: map[string]string{"lb1:/etc/keepalived/keepalived.conf": v2, "lb2:/etc/keepalived/keepalived.conf": v2}}
	ph := Cluster{}.Apply(c, hs, f)
	if lb := ph[len(ph)-1]; lb.Serial || !strings.Contains(lb.Says, "together") {
		t.Errorf("v2 → v3: lb phase %q serial=%v, want together", lb.Says, lb.Serial)
	}
	if err := (Cluster{}).Refuse(c, hs[:3], f); err == nil || !strings.Contains(err.Error(), "lb lb2 is not in this run") {
		t.Errorf("--limit lb1 with the timing changing: %v", err)
	}
	f.files["lb1:/etc/keepalived/keepalived.conf"], f.files["lb2:/etc/keepalived/keepalived.conf"] = v3, v3
	if lb := (Cluster{}).Apply(c, hs, f)[len(ph)-1]; !lb.Serial {
		t.Error("timing unchanged: the lbs must go one at a time")
	}
	if err := (Cluster{}).Refuse(c, hs[:3], f); err != nil {
		t.Errorf("--limit with the timing unchanged: %v", err)
	}
	// One running keepalived (a cold peer): nothing to keep in step with.
	f.files["lb1:/etc/keepalived/keepalived.conf"] = v2
	f.keepalived = map[string]bool{"lb1": true}
	if lb := (Cluster{}).Apply(c, hs, f)[len(ph)-1]; !lb.Serial {
		t.Error("one keepalived running: the lbs must go one at a time")
	}
}
