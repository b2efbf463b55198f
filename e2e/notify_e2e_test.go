package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// hookReceiver is the lab's end of vrrp.notify.webhook: socat on the host
// whose address the URL names (an lb: the haproxy step installs socat
// there), run as a transient systemd unit that ends by itself.
type hookReceiver struct {
	host, url, path string
}

const (
	hookUnit    = "hadeploy-e2e-hook"
	hookHandler = "/usr/local/sbin/hadeploy-e2e-hook"
	hookLog     = "/root/hadeploy-e2e-hook.log"
)

// One request per connection on stdin: it appends "PEER PATH BODY" to the
// log and answers 204. Every read is bounded; socat -T bounds the rest.
const hookHandlerScript = `#!/bin/bash
IFS= read -r -t 5 req || exit 0
read -r method path proto <<<"${req%$'\r'}"
n=0
while IFS= read -r -t 5 l; do
	l=${l%$'\r'}
	[ -z "$l" ] && break
	case "${l,,}" in content-length:*) n=${l#*:}; n=${n//[^0-9]/} ;; esac
done
body=$(head -c "${n:-0}" | tr -d '\n')
printf '%s %s %s\n' "${SOCAT_PEERADDR:-?}" "$path" "$body" >> ` + hookLog + `
printf 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
`

// startHookReceiver starts the receiver for the inventory's webhook and
// proves it answers (a probe POST from another lb, with curl, which apply
// installed because a webhook is configured) before anything relies on it.
func startHookReceiver(t *testing.T, c *inventory.Cluster) *hookReceiver {
	t.Helper()
	u, err := url.Parse(c.VRRP.Notify.Webhook)
	if err != nil || u.Scheme != "http" {
		t.Fatalf("the lab inventory's vrrp.notify.webhook must be an http URL on a lab host")
	}
	var on, from string
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		if h.Address == u.Hostname() {
			on = h.Name
		} else if from == "" {
			from = h.Name
		}
	}
	if on == "" || from == "" {
		t.Fatalf("the webhook's host %s is not one of the lab's lbs", u.Hostname())
	}
	r := &hookReceiver{host: on, url: c.VRRP.Notify.Webhook, path: u.RequestURI()}
	listen := "TCP-LISTEN:" + u.Port() + ",bind=" + u.Hostname() + ",reuseaddr,fork"
	inHost(t, on, "sh", "-c", "systemctl stop "+hookUnit+" 2>/dev/null; systemctl reset-failed "+hookUnit+" 2>/dev/null; rm -f "+hookLog+
		"; printf %s "+shell.Quote(hookHandlerScript)+" > "+hookHandler+" && chmod 755 "+hookHandler+
		" && systemd-run --quiet --unit="+hookUnit+" --property=RuntimeMaxSec=600 /usr/bin/socat -T 10 "+listen+" EXEC:"+hookHandler)
	t.Cleanup(func() { lab.Exec(context.Background(), on, "systemctl", "stop", hookUnit) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := lab.Exec(context.Background(), on, "sh", "-c", "ss -Hltn "+shell.Quote("sport = :"+u.Port()))
		if strings.Contains(string(out), net.JoinHostPort(u.Hostname(), u.Port())) {
			break
		}
		if time.Now().After(deadline) {
			st, _ := lab.Exec(context.Background(), on, "systemctl", "status", "--no-pager", hookUnit)
			t.Fatalf("the webhook receiver does not listen on %s:%s:\n%s", on, u.Port(), st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code := inHost(t, from, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--noproxy", "*",
		"-H", "Content-Type: application/json", "--data-binary", `{"probe":true}`, r.url)
	if code = strings.TrimSpace(code); code != "204" {
		t.Fatalf("the webhook receiver on %s answered a probe from %s with %q, want 204", on, from, code)
	}
	return r
}

// hookPost is one POST the receiver got.
type hookPost struct {
	Peer, Path string
	Body       struct {
		Host, Instance, State, Time string
		Priority                    int
	}
}

// posts reads the transitions the receiver got (the probe left out).
func (r *hookReceiver) posts(t *testing.T) []hookPost {
	t.Helper()
	var out []hookPost
	for _, line := range strings.Split(inHost(t, r.host, "sh", "-c", "cat "+hookLog+" 2>/dev/null; true"), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 || strings.Contains(f[2], `"probe"`) {
			continue
		}
		p := hookPost{Peer: f[0], Path: f[1]}
		if err := json.Unmarshal([]byte(f[2]), &p.Body); err != nil {
			t.Errorf("the webhook got a body that is not the transition's JSON: %q (%v)", f[2], err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// checkHookFired: failover-test saw each new holder's MASTER transition and
// its webhook answered 204; the receiver got, from each new holder's own
// address, on the inventory's path (token included), the transition as JSON.
func checkHookFired(t *testing.T, c *inventory.Cluster, hook *hookReceiver, r result) {
	t.Helper()
	want := map[string]int{} // new holder → scenarios it took the VIP in
	for _, e := range r.events {
		if e.Step != "failover" || e.Type != events.EvStep {
			continue
		}
		n, _ := e.Data["notified"].(string)
		holder, _ := e.Data["new_holder"].(string)
		if holder == "" || !strings.Contains(n, holder+" MASTER") || !strings.Contains(n, "webhook http=204 exit=0") {
			t.Errorf("%s: failover-test reports notified %q for new holder %q, want its MASTER and the webhook's 204", e.Message, n, holder)
			continue
		}
		want[holder]++
	}
	if len(want) == 0 {
		t.Fatal("failover-test reported no scenario")
	}
	got := map[string]int{}
	for _, p := range hook.posts(t) {
		h := c.Host(p.Body.Host)
		// Any state (FAULT may carry priority 0); MASTER has a real priority.
		if h == nil || p.Peer != h.Address || p.Path != hook.path || p.Body.Instance != steps.VRRPInstance(c) || (p.Body.State == "MASTER" && p.Body.Priority < 1) {
			t.Errorf("unexpected POST: %+v", p)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, p.Body.Time); err != nil {
			t.Errorf("POST with a bad time: %+v", p)
		}
		if p.Body.State == "MASTER" {
			got[p.Body.Host]++
		}
	}
	for holder, n := range want {
		if got[holder] < n {
			t.Errorf("the webhook got %d MASTER POSTs from %s, want at least %d (one per scenario it took the VIP in); all MASTER POSTs: %v", got[holder], holder, n, got)
		}
	}
}
