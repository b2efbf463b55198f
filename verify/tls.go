package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

// Front is where requests through the VIP go: plain HTTP, or HTTPS with a
// client pinned to the inventory's certificate once plain HTTP only
// redirects there.
func Front(c *inventory.Cluster, cl *http.Client) (base string, port int, client *http.Client) {
	t := c.HAProxy.TLS
	if t == nil || !t.RedirectHTTP {
		return "http://" + net.JoinHostPort(c.VIPAddr(), fmt.Sprint(c.HAProxy.Port)), c.HAProxy.Port, cl
	}
	return "https://" + net.JoinHostPort(c.VIPAddr(), fmt.Sprint(t.Port)), t.Port, PinnedClient(cl, t.Fingerprint)
}

// PinnedClient is cl speaking TLS to a server that must present the
// certificate with this fingerprint. The name is not checked: the VIP is an
// address the certificate need not name, and the pin is stronger.
func PinnedClient(cl *http.Client, fingerprint string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t, ok := cl.Transport.(*http.Transport); ok {
		tr = t.Clone()
	}
	tr.TLSClientConfig = pinnedConfig(fingerprint)
	out := *cl
	out.Transport = tr
	return &out
}

func pinnedConfig(fingerprint string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate presented")
			}
			if got := inventory.Fingerprint(cs.PeerCertificates[0].Raw); got != fingerprint {
				return fmt.Errorf("certificate sha256 %s is not the inventory's %s", short(got), short(fingerprint))
			}
			return nil
		},
	}
}

func short(fp string) string { return trunc(fp, 16) }

// tlsChecks: a handshake through the VIP presents the inventory's
// certificate (and warns when it expires soon), plain HTTP redirects to
// HTTPS, HSTS is sent.
func (v *Verifier) tlsChecks(ctx context.Context) {
	c := v.Cluster
	t := c.HAProxy.TLS
	addr := net.JoinHostPort(c.VIPAddr(), fmt.Sprint(t.Port))
	cert, err := handshake(ctx, addr)
	ck := Check{Name: "TLS certificate through the VIP", Host: addr, Expected: "sha256 " + short(t.Fingerprint)}
	if err != nil {
		ck.Seen = err.Error()
	} else {
		fp := inventory.Fingerprint(cert.Raw)
		ck.Seen, ck.OK = "sha256 "+short(fp)+" "+cert.Subject.String(), fp == t.Fingerprint
	}
	v.add(ck)
	if err == nil {
		v.add(expiryCheck(cert, time.Now()))
	}
	if t.RedirectHTTP {
		url := "http://" + net.JoinHostPort(c.VIPAddr(), fmt.Sprint(c.HAProxy.Port)) + c.HealthPath()
		want := "https://" + c.VIPAddr()
		if t.Port != 443 {
			want += ":" + fmt.Sprint(t.Port)
		}
		want += c.HealthPath()
		status, loc, err := head(ctx, v.HTTP, url, "")
		ck := Check{Name: "HTTP redirects to HTTPS", Expected: "301/302 to " + want}
		if err != nil {
			ck.Seen = err.Error()
		} else {
			ck.Seen = fmt.Sprintf("%d %s", status, orNone(loc))
			ck.OK = (status == 301 || status == 302) && loc == want
		}
		v.add(ck)
	}
	if t.HSTSMaxAge > 0 {
		url := "https://" + addr + c.HealthPath()
		want := fmt.Sprintf("max-age=%d", t.HSTSMaxAge)
		status, hsts, err := head(ctx, PinnedClient(v.HTTP, t.Fingerprint), url, "Strict-Transport-Security")
		ck := Check{Name: "HSTS header over HTTPS", Expected: "200 with Strict-Transport-Security: " + want}
		if err != nil {
			ck.Seen = err.Error()
		} else {
			ck.Seen = fmt.Sprintf("%d %s", status, orNone(hsts))
			ck.OK = status == 200 && strings.HasPrefix(hsts, want)
		}
		v.add(ck)
	}
}

// expiryCheck warns (it does not fail) when the served certificate expires
// within inventory.TLSExpiryWarning.
func expiryCheck(cert *x509.Certificate, now time.Time) Check {
	left := cert.NotAfter.Sub(now)
	ck := Check{Name: "TLS certificate expiry", Expected: fmt.Sprintf("more than %d days left", int(inventory.TLSExpiryWarning.Hours()/24)),
		Seen: fmt.Sprintf("expires %s, in %d days", cert.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24)), OK: left > 0}
	if left > 0 && left < inventory.TLSExpiryWarning {
		ck.Warning = true
		ck.Seen += ": renew it"
	}
	return ck
}

// handshake returns the leaf certificate the server at addr presents.
func handshake(ctx context.Context, addr string) (*x509.Certificate, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} // only read, compared to the pin
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("no certificate presented")
	}
	return cs.PeerCertificates[0], nil
}

// head sends a GET and returns the status and one header (Location when
// header is empty); the client follows no redirect.
func head(ctx context.Context, cl *http.Client, url, header string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if header == "" {
		header = "Location"
	}
	return resp.StatusCode, resp.Header.Get(header), nil
}

// metricsChecks scrapes haproxy's Prometheus exporter on each lb's own
// address.
func (v *Verifier) metricsChecks(ctx context.Context, lbs []*inventory.Host) {
	m := v.Cluster.HAProxy.Metrics
	for _, lb := range lbs {
		url := "http://" + net.JoinHostPort(lb.Address, fmt.Sprint(m.Port)) + m.Path
		r, err := Get(ctx, v.HTTP, url, "", nil)
		ck := Check{Name: "Prometheus metrics scraped", Host: lb.Name, Expected: "200 with haproxy_process_ lines from " + url}
		if err != nil {
			ck.Seen = err.Error()
		} else {
			ck.Seen = fmt.Sprintf("%d, %d bytes", r.Status, len(r.Body))
			ck.OK = r.Status == 200 && strings.Contains(r.Body, "\nhaproxy_process_")
		}
		v.add(ck)
	}
}
