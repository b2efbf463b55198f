package provision_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/transport"
)

// watched runs every program of the fake fleet one at a time and, after
// each, checks the contract between the two sides: every server line of a
// running haproxy points at a port its web host listens on, and the page its
// health check requests is there. Any moment where that fails is recorded.
type watched struct {
	fc         *cluster
	mu         sync.Mutex
	violations []string
}

type watchedConn struct {
	transport.Transport
	w    *watched
	name string
}

func (c watchedConn) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	b, _ := io.ReadAll(stdin)
	res, err := c.Transport.Run(ctx, cmd, strings.NewReader(string(b)))
	if v := c.w.check(); v != "" {
		first := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)[0]
		c.w.violations = append(c.w.violations, fmt.Sprintf("after a program on %s (%.60s…): %s", c.name, first, v))
	}
	return res, err
}

var (
	serverLine = regexp.MustCompile(`(?m)^\s*server (\S+) \S+:(\d+) `)
	checkLine  = regexp.MustCompile(`(?m)^\s*option httpchk \S+ (\S+)`)
	listenOn   = regexp.MustCompile(`(?m)^Listen (\d+)$`)
)

// check reads the fake hosts (no program runs meanwhile).
func (w *watched) check() string {
	var why []string
	for _, lb := range []string{"lb1", "lb2"} {
		h := w.fc.hosts[lb]
		if !strings.HasPrefix(h.Services["haproxy"], "active") {
			continue
		}
		cfg := h.Files["/etc/haproxy/haproxy.cfg"]
		paths := checkLine.FindAllStringSubmatch(cfg, -1)
		for _, m := range serverLine.FindAllStringSubmatch(cfg, -1) {
			web := w.fc.hosts[m[1]]
			var ports []string
			for _, l := range listenOn.FindAllStringSubmatch(web.Files["/etc/apache2/ports.conf"], -1) {
				ports = append(ports, l[1])
			}
			if !slices.Contains(ports, m[2]) {
				why = append(why, fmt.Sprintf("%s sends %s to port %s, it listens on %v", lb, m[1], m[2], ports))
			}
			for _, p := range paths {
				if _, ok := web.Files["/var/www/html"+p[1]]; !ok {
					why = append(why, fmt.Sprintf("%s checks %s on %s, which %s does not serve", lb, p[1], m[1], m[1]))
				}
			}
		}
	}
	return strings.Join(why, "; ")
}

// watch routes every program of the runner through the contract check.
func (fc *cluster) watch(r *provision.Runner) *watched {
	w := &watched{fc: fc}
	r.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return watchedConn{Transport: fc.hosts[h.Name].Transport(), w: w, name: h.Name}, nil
	}
	return w
}

// changed lists "host/step" for each step changed, in order.
func (fc *cluster) changed() []string {
	var out []string
	for _, e := range fc.events {
		if e.Type == events.EvStep && e.Status == events.StatusChanged && e.Step != "packages" && e.Step != "rollback" && e.Step != "timesync" {
			out = append(out, e.Host+"/"+e.Step)
		}
	}
	return out
}

// rolled lists the hosts rolled back, in order.
func (fc *cluster) rolled() []string {
	var out []string
	for _, e := range fc.events {
		if e.Step == "rollback" && e.Type == events.EvStep {
			out = append(out, e.Host)
		}
	}
	return out
}

func (fc *cluster) files(paths ...string) map[string]string {
	out := map[string]string{}
	for n, h := range fc.hosts {
		for _, p := range paths {
			out[n+":"+p] = h.Files[p]
		}
	}
	return out
}

var contractFiles = []string{"/etc/haproxy/haproxy.cfg", "/etc/apache2/ports.conf", "/etc/apache2/sites-available/000-default.conf"}

// A web port change on a serving cluster goes in three stages and the
// contract holds after every program: web hosts on both ports (one at a
// time), the load balancers switch (the VIP holder last, every web host in
// rotation through each), then web hosts drop the old port. And back.
func TestPortChangeIsStagedAndBothSidesAlwaysAgree(t *testing.T) {
	fc := appliedCluster(t)
	for _, port := range []int{8081, 8080} {
		fc.c.Web.Port = port
		r := fc.runner(fmt.Sprintf("R%d", port))
		w := fc.watch(r)
		if _, err := r.Apply(context.Background()); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if len(w.violations) > 0 {
			t.Errorf("port %d: the two sides disagreed:\n%s", port, strings.Join(w.violations, "\n"))
		}
		if got, want := strings.Join(fc.changed(), ","), "web1/web,web2/web,lb2/haproxy,lb1/haproxy,web1/web,web2/web"; got != want {
			t.Errorf("port %d: changes went %s, want %s", port, got, want)
		}
		// Each lb, once switched, saw every web host in rotation through it.
		through := map[string]bool{}
		for _, e := range fc.events {
			if e.Step == "rotation" && e.Type == events.EvInfo && strings.Contains(e.Message, "through") {
				through[e.Message+"/"+e.Host] = true
			}
		}
		if len(through) != 4 {
			t.Errorf("port %d: rotation through each lb after its switch: %v", port, through)
		}
		for _, n := range []string{"web1", "web2"} {
			if got := fc.hosts[n].Files["/etc/apache2/ports.conf"]; !strings.Contains(got, fmt.Sprintf("Listen %d\n", port)) || strings.Count(got, "\nListen 80") != 1 {
				t.Errorf("port %d: %s ports.conf:\n%s", port, n, got)
			}
		}
		if got := fc.hosts["lb1"].Files["/etc/haproxy/haproxy.cfg"]; strings.Count(got, fmt.Sprintf(":%d ", port)) != 4 {
			t.Errorf("port %d: lb1 haproxy.cfg server lines:\n%s", port, got)
		}
		// The stages were announced and journaled as runs of their own.
		var stages []string
		for _, e := range fc.events {
			if e.Step == "stage" && strings.Contains(e.Message, "(run ") {
				stages = append(stages, e.Message)
			}
		}
		if len(stages) != 3 || !strings.Contains(stages[1], fmt.Sprintf("R%d-stage2", port)) {
			t.Errorf("port %d: stages %q", port, stages)
		}
	}
	// Converged: nothing left to do, and nothing staged.
	sum, err := fc.runner("R3").Apply(context.Background())
	if err != nil || sum.Changes != 0 {
		t.Fatalf("after the change and back: %v, %d changes", err, sum.Changes)
	}
}

// The new port is taken on web2: stage 1 fails there, web2 then web1 are
// rolled back (drained), the load balancers are never touched, and the
// contract holds throughout.
func TestPortTakenOnOneWebHostFailsInStageOne(t *testing.T) {
	fc := appliedCluster(t)
	before := fc.files(contractFiles...)
	fc.hosts["web2"].FailIf = func(step string, w map[string]string) bool {
		return step == "web" && strings.Contains(w["/etc/apache2/ports.conf"], "Listen 8081")
	}
	fc.c.Web.Port = 8081
	r := fc.runner("R2")
	w := fc.watch(r)
	_, err := r.Apply(context.Background())
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack || !strings.Contains(err.Error(), "stage serve-both: web2: step web") {
		t.Fatalf("want a rolled back failure of stage serve-both on web2, got %v", err)
	}
	if got := strings.Join(fc.rolled(), ","); got != "web2,web1" {
		t.Errorf("rolled back %s, want web2,web1", got)
	}
	if got := strings.Join(fc.changed(), ","); got != "web1/web" {
		t.Errorf("changed %s before the failure, want web1/web only", got)
	}
	if len(w.violations) > 0 {
		t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
	}
	if after := fc.files(contractFiles...); !mapsEqual(before, after) {
		t.Error("files not restored")
	}
}

// A failure in a later stage undoes the stages newest first, so that each
// state passed through is one the apply passed through: lbs never point at a
// port the web hosts no longer serve.
func TestLaterStageFailureRollsBackStageByStage(t *testing.T) {
	for _, tc := range []struct {
		name, host, step, stage string
		fail                    func(w map[string]string) bool
		rolled                  string
	}{
		{"switch", "lb1", "haproxy", "switch",
			func(w map[string]string) bool { return strings.Contains(w["/etc/haproxy/haproxy.cfg"], ":8081 ") },
			"lb2,lb1,web2,web1"},
		{"drop-old", "web2", "web", "drop-old",
			func(w map[string]string) bool {
				p, ok := w["/etc/apache2/ports.conf"]
				return ok && !strings.Contains(p, "Listen 8080")
			},
			"web2,web1,lb2,lb1,web2,web1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := appliedCluster(t)
			before := fc.files(contractFiles...)
			fc.hosts[tc.host].FailIf = func(step string, w map[string]string) bool { return step == tc.step && tc.fail(w) }
			fc.c.Web.Port = 8081
			r := fc.runner("R2")
			w := fc.watch(r)
			_, err := r.Apply(context.Background())
			var ae *provision.ApplyError
			if !errors.As(err, &ae) || !ae.RolledBack || !strings.Contains(err.Error(), "stage "+tc.stage+": "+tc.host) {
				t.Fatalf("want a rolled back failure of stage %s on %s, got %v", tc.stage, tc.host, err)
			}
			if got := strings.Join(fc.rolled(), ","); got != tc.rolled {
				t.Errorf("rolled back %s, want %s", got, tc.rolled)
			}
			if len(w.violations) > 0 {
				t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
			}
			if after := fc.files(contractFiles...); !mapsEqual(before, after) {
				t.Error("files not restored")
			}
			for _, e := range fc.events {
				if e.Type == events.EvWarning {
					t.Errorf("warning: %s", e.Message)
				}
			}
		})
	}
}

// The rollback command undoes a staged apply run by run, newest first (not
// host by host, which would switch the lbs back while web hosts serve the
// new port only), and by default the whole apply, not its last stage.
func TestRollbackCommandUndoesAStagedApplyStageByStage(t *testing.T) {
	fc := appliedCluster(t)
	before := fc.files(contractFiles...)
	fc.c.Web.Port = 8081
	if _, err := fc.runner("R2").Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	fc.c.Web.Port = 8080
	r := fc.runner("R3")
	w := fc.watch(r)
	if _, err := r.Rollback(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if len(w.violations) > 0 {
		t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
	}
	if got := strings.Join(fc.rolled(), ","); got != "web2,web1,lb2,lb1,web2,web1" {
		t.Errorf("rolled back %s", got)
	}
	switched := 0
	for _, e := range fc.events {
		if e.Type == events.EvWarning {
			t.Errorf("warning: %s", e.Message)
		}
		if e.Step == "switched" && e.Type == events.EvInfo {
			switched++
		}
	}
	if switched != 2 {
		t.Errorf("%d lbs passed the switch gate once restored, want 2", switched)
	}
	if after := fc.files(contractFiles...); !mapsEqual(before, after) {
		t.Error("files not restored to before the staged apply")
	}
}

// A health check path change is staged too: web hosts serve the new page
// before any lb checks it, and a rollback removes it only once no lb does.
func TestHealthPathChangeIsStaged(t *testing.T) {
	fc := appliedCluster(t)
	fc.c.Web.HealthCheck = "GET /health.html"
	if _, err := fc.runner("R2").Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	// From /health.html to /ping.html: /health.html must stay read and
	// served until the lbs check /ping.html, and a failure must not remove it.
	fc.hosts["lb1"].FailIf = func(step string, w map[string]string) bool {
		return step == "haproxy" && strings.Contains(w["/etc/haproxy/haproxy.cfg"], "/ping.html")
	}
	fc.c.Web.HealthCheck = "GET /ping.html"
	r := fc.runner("R3")
	w := fc.watch(r)
	if _, err := r.Apply(context.Background()); err == nil {
		t.Fatal("lb1 should have failed")
	}
	for _, e := range fc.events {
		if e.Type == events.EvChange && e.Path == "/var/www/html/health.html" {
			t.Errorf("%s: the page the lbs check now was rewritten (not read before the stages?)", e.Host)
		}
	}
	if len(w.violations) > 0 {
		t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
	}
	for _, n := range []string{"web1", "web2"} {
		if _, ok := fc.hosts[n].Files["/var/www/html/health.html"]; !ok {
			t.Errorf("%s lost the page the lbs check", n)
		}
		if _, ok := fc.hosts[n].Files["/var/www/html/ping.html"]; ok {
			t.Errorf("%s keeps the page of the rolled back run", n)
		}
	}
	fc.hosts["lb1"].FailIf = nil
	r = fc.runner("R4")
	w = fc.watch(r)
	if _, err := r.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(w.violations) > 0 {
		t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// An lb whose haproxy keeps reaching the servers on the old port after its
// reload (a saved server state applied over the new configuration) fails
// the switch gate: the change stops and is rolled back before any web host
// drops the old port.
func TestSwitchGateCatchesAnOldPortKeptAtRuntime(t *testing.T) {
	fc := appliedCluster(t)
	fc.hosts["lb2"].ServerPort = func(sv, configured string) string { return "8080" }
	fc.c.Web.Port = 8081
	r := fc.runner("R2")
	w := fc.watch(r)
	_, err := r.Apply(context.Background())
	if err == nil || !strings.Contains(err.Error(), "stage switch: lb2: after its change: switched") || !strings.Contains(err.Error(), "web/web1 on port 8080, configured 8081") {
		t.Fatalf("want the switch gate to stop the run on lb2, got %v", err)
	}
	if got := strings.Join(fc.rolled(), ","); got != "lb2,web2,web1" {
		t.Errorf("rolled back %s, want lb2,web2,web1", got)
	}
	if len(w.violations) > 0 {
		t.Errorf("the two sides disagreed:\n%s", strings.Join(w.violations, "\n"))
	}
}
