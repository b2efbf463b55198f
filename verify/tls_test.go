package verify

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

func port(t *testing.T, url string) int {
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// tlsFixture: an HTTPS server (the VIP's TLS port, HSTS on), an HTTP one
// redirecting to it, and a metrics endpoint, all on 127.0.0.1.
func tlsFixture(t *testing.T, hsts string, redirectTo func(tlsPort int) string) (*inventory.Cluster, *httptest.Server) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hsts != "" {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		w.Write([]byte("web1"))
	}))
	t.Cleanup(s.Close)
	tlsPort := port(t, s.URL)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, redirectTo(tlsPort)+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(h.Close)
	m := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# HELP haproxy_process_nbthread Number of started threads\n# TYPE haproxy_process_nbthread gauge\nhaproxy_process_nbthread 2\n")
	}))
	t.Cleanup(m.Close)
	c := &inventory.Cluster{VIPPrefix: netip.MustParsePrefix("127.0.0.1/32"),
		Hosts: []*inventory.Host{{Name: "lb1", Address: "127.0.0.1", Roles: []string{"lb"}}},
		Web:   inventory.Web{HealthCheck: "GET /index.html"},
		HAProxy: inventory.HAProxy{Port: port(t, h.URL),
			TLS:     &inventory.TLS{Port: tlsPort, RedirectHTTP: true, HSTSMaxAge: 600, Fingerprint: inventory.Fingerprint(s.Certificate().Raw)},
			Metrics: &inventory.Metrics{Port: port(t, m.URL), Path: "/metrics"}}}
	return c, s
}

func results(v *Verifier) map[string]Check {
	out := map[string]Check{}
	for _, ck := range v.checks {
		out[ck.Name] = ck
	}
	return out
}

func TestTLSChecksPass(t *testing.T) {
	c, _ := tlsFixture(t, "max-age=600", func(p int) string { return fmt.Sprintf("https://127.0.0.1:%d", p) })
	v := &Verifier{Cluster: c, HTTP: NewHTTPClient(2 * time.Second)}
	v.tlsChecks(context.Background())
	v.metricsChecks(context.Background(), c.Hosts)
	for _, ck := range v.checks {
		if !ck.OK || ck.Warning {
			t.Errorf("%s: %+v", ck.Name, ck)
		}
	}
	if len(v.checks) != 5 {
		t.Errorf("want 5 checks (certificate, expiry, redirect, HSTS, metrics), got %+v", v.checks)
	}
}

func TestTLSChecksFail(t *testing.T) {
	c, _ := tlsFixture(t, "", func(int) string { return "http://elsewhere" })
	c.HAProxy.TLS.Fingerprint = strings.Repeat("0", 64)
	c.HAProxy.Metrics.Path = "/nothing"
	v := &Verifier{Cluster: c, HTTP: NewHTTPClient(2 * time.Second)}
	v.tlsChecks(context.Background())
	v.metricsChecks(context.Background(), c.Hosts)
	got := results(v)
	for _, name := range []string{"TLS certificate through the VIP", "HTTP redirects to HTTPS", "HSTS header over HTTPS", "Prometheus metrics scraped"} {
		if got[name].OK {
			t.Errorf("%s passed: %+v", name, got[name])
		}
	}
	// The pin refuses the server's certificate, so HSTS is never read from it.
	if !strings.Contains(got["HSTS header over HTTPS"].Seen, "is not the inventory's") {
		t.Errorf("HSTS check seen %q", got["HSTS header over HTTPS"].Seen)
	}
}

func TestExpiryWarns(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		left       time.Duration
		ok, warned bool
	}{{90 * 24 * time.Hour, true, false}, {20 * 24 * time.Hour, true, true}, {-time.Hour, false, false}} {
		ck := expiryCheck(&x509.Certificate{NotAfter: now.Add(tc.left)}, now)
		if ck.OK != tc.ok || ck.Warning != tc.warned {
			t.Errorf("%s left: %+v", tc.left, ck)
		}
	}
}
