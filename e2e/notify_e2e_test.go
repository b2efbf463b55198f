package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/steps"
)

// hookReceiver is the lab's end of vrrp.notify: socat on the lb whose
// address the webhook URL and smtp_server name (the haproxy step installs
// socat there), one transient systemd unit each, ending by themselves.
type hookReceiver struct {
	host, url, path string
}

const (
	hookLog = "/root/hadeploy-e2e-hook.log"
	mailLog = "/root/hadeploy-e2e-mail.log"
)

// One HTTP request per connection on stdin: it appends "PEER PATH BODY" to
// the log and answers 204. Every read is bounded; socat -T bounds the rest.
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

// One SMTP session per connection, the dialogue keepalived's mailer needs
// (220, 250 to HELO/MAIL/RCPT, 354 to DATA, 250 after the dot, 221): each
// line of the message is appended to the log as "PEER LINE".
const mailHandlerScript = `#!/bin/bash
printf '220 e2e ESMTP\r\n'
data=0
while IFS= read -r -t 10 l; do
	l=${l%$'\r'}
	if [ "$data" = 1 ]; then
		if [ "$l" = . ]; then data=0; printf '250 OK\r\n'; else printf '%s %s\n' "${SOCAT_PEERADDR:-?}" "$l" >> ` + mailLog + `; fi
		continue
	fi
	case "${l^^}" in
	HELO*|EHLO*|MAIL*|RCPT*|RSET*|NOOP*) printf '250 OK\r\n' ;;
	DATA*) data=1; printf '354 end with .\r\n' ;;
	QUIT*) printf '221 bye\r\n'; exit 0 ;;
	*) printf '500 unknown\r\n' ;;
	esac
done
`

// startReceiver runs handler for each connection to addr (host:port) on
// the lab host on, as a transient unit, and waits until it listens.
func startReceiver(t *testing.T, on, unit, addr, handler, log string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	bin := "/usr/local/sbin/" + unit
	inHost(t, on, "sh", "-c", "systemctl stop "+unit+" 2>/dev/null; systemctl reset-failed "+unit+" 2>/dev/null; rm -f "+log+
		"; printf %s "+shell.Quote(handler)+" > "+bin+" && chmod 755 "+bin+
		" && systemd-run --quiet --unit="+unit+" --property=RuntimeMaxSec=600 /usr/bin/socat -T 10 TCP-LISTEN:"+port+",bind="+host+",reuseaddr,fork EXEC:"+bin)
	t.Cleanup(func() { lab.Exec(context.Background(), on, "systemctl", "stop", unit) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := lab.Exec(context.Background(), on, "sh", "-c", "ss -Hltn "+shell.Quote("sport = :"+port))
		if strings.Contains(string(out), addr) {
			return
		}
		if time.Now().After(deadline) {
			st, _ := lab.Exec(context.Background(), on, "systemctl", "status", "--no-pager", unit)
			t.Fatalf("the receiver %s does not listen on %s:%s:\n%s", unit, on, addr, st)
		}
	}
}

// notifyBlock turns on every VRRP notification of the lab's inventory: each
// transition is POSTed to a webhook as JSON, and keepalived mails it (the
// article's alarm email), both to receivers on lb1's address; the token
// shows the URL is masked.
const notifyBlock = `  notify:
    email: [ops@lab.example]
    email_from: keepalived@lab.example
    smtp_server: 10.213.47.21:2525
    smtp_connect_timeout: 5
    webhook: http://10.213.47.21:9099/vrrp?token=lab-hook-token
`

// notifyVariant applies the lab inventory with notifyBlock (the webhook's
// token masked in plan and apply) and returns its path and cluster.
func notifyVariant(t *testing.T) (string, *inventory.Cluster) {
	t.Helper()
	p := variant(t, "notify", func(s string) string {
		return strings.Replace(s, "  check_weight: 25\n", "  check_weight: 25\n"+notifyBlock, 1)
	})
	c, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.VRRP.Notify.Webhook)
	if err != nil || u.RawQuery == "" {
		t.Fatalf("notify variant: webhook %v", err)
	}
	for _, cmd := range []string{"plan", "apply"} {
		r := run(t, cmd, p, "--output", "json")
		if cmd == "apply" {
			want(t, r, 0, "apply with vrrp.notify")
		}
		if strings.Contains(r.stdout+r.stderr, u.RawQuery) {
			t.Errorf("%s shows the webhook URL's token", cmd)
		}
	}
	return p, c
}

// startHookReceiver starts the receivers for the inventory's webhook and
// smtp_server, and proves the webhook's answers (a probe POST from another
// lb, with the curl apply installed because a webhook is configured) before
// anything relies on it.
func startHookReceiver(t *testing.T, c *inventory.Cluster) *hookReceiver {
	t.Helper()
	n := c.VRRP.Notify
	if n.Webhook == "" && len(n.Email) == 0 {
		return nil // no notifications configured: nothing to receive
	}
	u, err := url.Parse(n.Webhook)
	if err != nil || u.Scheme != "http" || len(n.Email) == 0 || n.SMTPHost != u.Hostname() {
		t.Fatalf("the lab inventory's vrrp.notify must have an http webhook and an smtp_server on the same lab host")
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
	r := &hookReceiver{host: on, url: n.Webhook, path: u.RequestURI()}
	startReceiver(t, on, "hadeploy-e2e-hook", u.Host, hookHandlerScript, hookLog)
	startReceiver(t, on, "hadeploy-e2e-mail", net.JoinHostPort(n.SMTPHost, strconv.Itoa(n.SMTPPort)), mailHandlerScript, mailLog)
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

// checkHookFired: failover-test saw each new holder's MASTER transition of
// the scenario's VIP and its webhook answered 204; the receiver got, from each
// new holder's own address, on the inventory's path (token included), the
// transition as JSON; keepalived mailed it.
func checkHookFired(t *testing.T, c *inventory.Cluster, hook *hookReceiver, r result) {
	t.Helper()
	if hook == nil {
		return
	}
	instOf := map[string]string{} // VIP address → its vrrp_instance
	for _, v := range c.VIPList() {
		instOf[v.Addr()] = steps.VRRPInstance(v)
	}
	want := map[[2]string]int{} // {new holder, instance} → scenarios
	for _, e := range r.events {
		if e.Step != "failover" || e.Type != events.EvStep {
			continue
		}
		n, _ := e.Data["notified"].(string)
		holder, _ := e.Data["new_holder"].(string)
		vip, _ := e.Data["vip"].(string)
		inst := instOf[vip]
		if holder == "" || inst == "" || !strings.Contains(n, holder+" MASTER") || !strings.Contains(n, "webhook http=204 exit=0") {
			t.Errorf("%s (VIP %s): failover-test reports notified %q for new holder %q, want its MASTER and the webhook's 204", e.Message, vip, n, holder)
			continue
		}
		want[[2]string{holder, inst}]++
	}
	if len(want) == 0 {
		t.Fatal("failover-test reported no scenario")
	}
	got := map[[2]string]int{}
	for _, p := range hook.posts(t) {
		h := c.Host(p.Body.Host)
		known := false
		for _, in := range instOf {
			known = known || in == p.Body.Instance
		}
		// Any state (FAULT may carry priority 0); MASTER has a real priority.
		if h == nil || p.Peer != h.Address || p.Path != hook.path || !known || (p.Body.State == "MASTER" && p.Body.Priority < 1) {
			t.Errorf("unexpected POST: %+v", p)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, p.Body.Time); err != nil {
			t.Errorf("POST with a bad time: %+v", p)
		}
		if p.Body.State == "MASTER" {
			got[[2]string{p.Body.Host, p.Body.Instance}]++
		}
	}
	for k, n := range want {
		if got[k] < n {
			t.Errorf("the webhook got %d MASTER POSTs of %s from %s, want at least %d (one per scenario); all MASTER POSTs: %v", got[k], k[1], k[0], n, got)
		}
	}
	// keepalived's own mail (smtp_alert): a "[lb2] VRRP Instance VI_47 -
	// Entering MASTER state" subject from each new holder's address. It is
	// sent from keepalived's event loop at the transition; allow a few seconds.
	for k, n := range want {
		addr := c.Host(k[0]).Address
		mails := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			mails = 0
			for _, l := range strings.Split(inHost(t, hook.host, "sh", "-c", "cat "+mailLog+" 2>/dev/null; true"), "\n") {
				if strings.HasPrefix(l, addr+" Subject:") && strings.Contains(l, " "+k[1]+" ") && strings.Contains(l, "MASTER") {
					mails++
				}
			}
			if mails >= n || time.Now().After(deadline) {
				break
			}
		}
		if mails < n {
			log := inHost(t, hook.host, "sh", "-c", "tail -n 30 "+mailLog+" 2>/dev/null; true")
			t.Errorf("keepalived mailed %d MASTER alerts of %s from %s, want at least %d; the SMTP receiver's log ends:\n%s", mails, k[1], k[0], n, log)
		}
	}
}
