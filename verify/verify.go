// Package verify proves the cluster works end to end: from the machine running
// hadeploy (HTTP to every web host and through the VIP) and from the hosts
// (each load balancer reaches every web host, stats socket, VIP ownership,
// log lines, services, time sync). It also runs the failover test.
package verify

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/transport"
)

// Check is one verified fact.
type Check struct {
	Name     string `json:"name"`
	Host     string `json:"host,omitempty"`
	OK       bool   `json:"ok"`
	Expected string `json:"expected"`
	Seen     string `json:"seen"`
	// Warning: passed, but the operator should act (a certificate that
	// expires soon).
	Warning bool `json:"warning,omitempty"`
}

// Fleet is what verify needs of the engine's open connections: run one
// program on a host, the facts read when it connected, who holds an address.
// provision.Runner is one.
type Fleet interface {
	Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error)
	Facts(host string) (facts.Facts, bool)
	Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error)
}

// Verifier runs checks over an opened runner's connections.
type Verifier struct {
	Cluster *inventory.Cluster
	Runner  Fleet
	Hosts   []*inventory.Host
	// HTTP is the client for requests from this machine. It never uses a
	// proxy: the only targets are the cluster's own addresses.
	HTTP *http.Client

	mu     sync.Mutex
	checks []Check
}

// NewHTTPClient returns a client with short timeouts and no proxy or cookies.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (v *Verifier) add(c Check) {
	v.mu.Lock()
	v.checks = append(v.checks, c)
	v.mu.Unlock()
}

// Response is what one HTTP request saw.
type Response struct {
	Status int
	Body   string
	Server string // the SERVERID cookie haproxy inserted: which server answered
}

// Get sends one request from this machine with an optional Host header.
func Get(ctx context.Context, cl *http.Client, url, host string, auth *inventory.StatsAuth) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, err
	}
	if host != "" {
		req.Host = host
	}
	if auth != nil {
		req.SetBasicAuth(auth.User, auth.Password)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	r := Response{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	for _, c := range resp.Cookies() {
		if c.Name == "SERVERID" {
			r.Server = c.Value
		}
	}
	return r, nil
}

// Run performs every check and returns them all (failed ones included).
func (v *Verifier) Run(ctx context.Context) []Check {
	c := v.Cluster
	if v.HTTP == nil {
		v.HTTP = NewHTTPClient(3 * time.Second)
	}
	var lbs, webs []*inventory.Host
	for _, h := range v.Hosts {
		if h.HasRole(inventory.RoleLB) {
			lbs = append(lbs, h)
		}
		if h.HasRole(inventory.RoleWeb) {
			webs = append(webs, h)
		}
	}
	var wg sync.WaitGroup
	// From this machine: each web host answers its health check with its own page.
	for _, w := range webs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s%s", net.JoinHostPort(w.Address, fmt.Sprint(c.Web.Port)), c.HealthPath())
			r, err := Get(ctx, v.HTTP, url, "", nil)
			ck := Check{Name: "web answers health check", Host: w.Name, Expected: "200 with body " + w.Name}
			ck.Seen, ck.OK = seen(r, err), err == nil && r.Status == 200 && r.Body == w.Name
			v.add(ck)
		}()
	}
	wg.Wait()
	healthy := map[string]bool{}
	for _, ck := range v.checks {
		if ck.Name == "web answers health check" && ck.OK {
			healthy[ck.Host] = true
		}
	}
	// On every host: services enabled and running, time sync in place, and
	// on lbs the stats socket. haproxy needs rise×inter to see a server that
	// just came back: while a server that answers us is not UP yet, look
	// again, within that bound.
	settle := time.Duration(c.HAProxy.CheckInter*(c.HAProxy.Rise+1))*time.Millisecond + 2*time.Second
	deadline := time.Now().Add(settle)
	for _, h := range v.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var got []Check
				v.hostChecks(ctx, h, webs, func(ck Check) { got = append(got, ck) })
				if !catchingUp(got, healthy) || time.Now().After(deadline) || ctx.Err() != nil {
					for _, ck := range got {
						v.add(ck)
					}
					return
				}
				sleep(ctx, 500*time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if len(lbs) > 0 {
		v.add(haproxyAnywhere(v.checks, lbs))
		v.vipChecks(ctx, lbs)
		if c.HAProxy.TLS != nil {
			v.tlsChecks(ctx)
		}
		if c.HAProxy.Metrics != nil {
			v.metricsChecks(ctx, lbs)
		}
	}
	sort.SliceStable(v.checks, func(i, j int) bool { return v.checks[i].Name < v.checks[j].Name })
	return v.checks
}

// catchingUp reports a stats check that failed for a web host that answers
// its health check: haproxy has not yet seen it come back.
func catchingUp(cs []Check, healthy map[string]bool) bool {
	for _, ck := range cs {
		if ck.Name == "stats socket: show info" && !ck.OK {
			return false // haproxy itself is down: waiting cannot help
		}
	}
	for _, ck := range cs {
		if ck.Name == "stats socket: server UP" && !ck.OK {
			if i := strings.LastIndex(ck.Host, "/"); i >= 0 && healthy[ck.Host[i+1:]] {
				return true
			}
		}
	}
	return false
}

func seen(r Response, err error) string {
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("%d %q", r.Status, trunc(r.Body, 40))
	if r.Server != "" {
		s += " from " + r.Server
	}
	return s
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// hostChecks runs one program on the host that reports every service, the
// time-sync cron, and (on lbs) each web host's reachability and the stats socket.
func (v *Verifier) hostChecks(ctx context.Context, h *inventory.Host, webs []*inventory.Host, add func(Check)) {
	c := v.Cluster
	sn, ok := v.Runner.Facts(h.Name)
	if !ok {
		add(Check{Name: "host reachable", Host: h.Name, Expected: "connected", Seen: "no connection"})
		return
	}
	var svcs []string
	var stepChecks []steps.Check
	for _, st := range playbooks.StepsFor(h) {
		t := steps.Target{Cluster: c, Host: h, Facts: sn}
		d, err := st.Desired(t)
		if err != nil {
			add(Check{Name: "desired state", Host: h.Name, Expected: "computable", Seen: err.Error()})
			return
		}
		for _, s := range d.Services {
			svcs = append(svcs, s.Name)
		}
		if ck, ok := st.(steps.Checker); ok {
			stepChecks = append(stepChecks, ck.Checks(t)...)
		}
	}
	s := &shell.Script{}
	for _, u := range svcs {
		s.Line(`printf '==svc %%s %%s %%s\n' %s "$(systemctl is-active %s 2>/dev/null)" "$(systemctl is-enabled %s 2>/dev/null)"`, u, u, u)
	}
	// Each step's own checks: one line of output each, read by its Judge.
	for i, ck := range stepChecks {
		s.Raw(fmt.Sprintf(`printf '==check %d %%s\n' "$( { %s; } 2>&1 | head -n 1)"`, i, ck.Command))
	}
	if h.HasRole(inventory.RoleLB) {
		for _, w := range webs {
			req := fmt.Sprintf("%s %s HTTP/1.0\r\nHost: %s\r\n\r\n", c.HealthMethod(), c.HealthPath(), w.Address)
			s.Line(`printf '==reach %%s %%s\n' %s "$(timeout 3 bash -c 'exec 3<>/dev/tcp/$0/$1; printf "%%s" "$2" >&3; head -n1 <&3' %s %s %s 2>&1 | tr -d '\r')"`,
				w.Name, w.Address, fmt.Sprint(c.Web.Port), req)
		}
		sock := steps.StatsSocket(sn.Family)
		s.Line(`printf '==info %%s\n' "$(echo 'show info' | timeout 3 socat stdio %s 2>&1 | grep -E '^(Name|Version):' | tr '\n' ' ')"`, "UNIX-CONNECT:"+sock)
		s.Line(`echo 'show stat' | timeout 3 socat stdio %s 2>&1 | while IFS=, read -r px sv _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ st _; do case "$sv" in FRONTEND|BACKEND|svname|"") ;; *) echo "==stat $px $sv $st";; esac; done`, "UNIX-CONNECT:"+sock)
	}
	res, err := v.Runner.Exec(ctx, h.Name, s)
	if err != nil {
		add(Check{Name: "host checks", Host: h.Name, Expected: "ran", Seen: err.Error()})
		return
	}
	stats := map[string]string{}
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		tag, rest, _ := strings.Cut(l, " ")
		switch tag {
		case "==svc":
			f := strings.Fields(rest + " - -")
			add(Check{Name: "service running and enabled", Host: h.Name, Expected: f[0] + " active enabled",
				Seen: strings.Join(f[:3], " "), OK: f[1] == "active" && f[2] == "enabled"})
		case "==check":
			n, out, _ := strings.Cut(rest, " ")
			if i, err := strconv.Atoi(n); err == nil && i < len(stepChecks) {
				ck := stepChecks[i]
				add(Check{Name: ck.Name, Host: h.Name, Expected: ck.Expected, Seen: orNone(out), OK: ck.Judge(out)})
			}
		case "==reach":
			name, line, _ := strings.Cut(rest, " ")
			add(Check{Name: "lb reaches web host", Host: h.Name + "→" + name, Expected: "HTTP 200", Seen: orNone(line),
				OK: strings.HasPrefix(line, "HTTP/") && strings.Contains(line, " 200")})
		case "==info":
			add(Check{Name: "stats socket: show info", Host: h.Name, Expected: "Name: HAProxy", Seen: orNone(strings.TrimSpace(rest)), OK: strings.Contains(rest, "Name: HAProxy")})
		case "==stat":
			f := strings.Fields(rest)
			if len(f) == 3 {
				stats[f[0]+"/"+f[1]] = f[2]
			}
		}
	}
	if h.HasRole(inventory.RoleLB) {
		for _, b := range c.HAProxy.Backends {
			for _, srv := range b.Servers {
				k := b.Name + "/" + srv.Host
				add(Check{Name: "stats socket: server UP", Host: h.Name + " " + k, Expected: "UP", Seen: orNone(stats[k]), OK: stats[k] == "UP"})
			}
		}
	}
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(nothing)"
	}
	return s
}

// sleep waits for d or until ctx is done, so that Ctrl-C is never held up
// by a pause.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Failed counts failed checks.
func Failed(cs []Check) int {
	n := 0
	for _, c := range cs {
		if !c.OK {
			n++
		}
	}
	return n
}
