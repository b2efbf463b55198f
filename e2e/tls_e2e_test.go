package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
)

// labVIP is the lab's VIP without its prefix (lab-cluster.yaml).
const labVIP = "10.213.47.100"

// selfSignedVIP writes a certificate for the VIP (SAN = its address, valid
// 90 days) and its key into dir; it returns the certificate's SHA-256 and
// one base64 line of the key, to look for in hadeploy's output.
func selfSignedVIP(t *testing.T, dir string) (fingerprint, keyLine string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: labVIP},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(labVIP)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), strings.Split(string(keyPEM), "\n")[1]
}

// servedOrRedirected: once redirect_http is on, plain HTTP answers with a
// redirect to HTTPS; either that or the page is a served request.
func servedOrRedirected(resp *http.Response, body string) bool {
	if resp.StatusCode == 301 || resp.StatusCode == 302 {
		return strings.HasPrefix(resp.Header.Get("Location"), "https://"+labVIP+"/")
	}
	return servedPage(resp, body)
}

// testTLS turns on TLS termination (redirect, HSTS) and the Prometheus
// exporter on the applied cluster, with a client through the VIP all along,
// verifies it, and puts the standard cluster back.
func testTLS(t *testing.T) {
	p := variant(t, "tls", func(s string) string {
		return strings.Replace(s, "haproxy:\n  port: 80\n", "haproxy:\n  port: 80\n  tls:\n    certificate: cert.pem\n    key: key.pem\n    redirect_http: true\n    hsts_max_age: 600\n  metrics:\n    port: 8405\n    path: /metrics\n", 1)
	})
	fp, keyLine := selfSignedVIP(t, filepath.Dir(p))
	logs := t.TempDir()
	noKey := func(what string, r result) {
		t.Helper()
		if strings.Contains(r.stdout, keyLine) || strings.Contains(r.stderr, keyLine) {
			t.Errorf("%s shows the TLS key", what)
		}
	}

	r := run(t, "plan", p, "--log-dir", logs)
	want(t, r, 2, "plan with tls")
	noKey("plan", r)
	for _, s := range []string{"/etc/haproxy/hadeploy.pem", "certificate sha256 " + fp, "subject CN=" + labVIP, "+\tbind *:443 ssl crt /etc/haproxy/hadeploy.pem", "+frontend prometheus"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan lacks %q\n%s", s, tail(r.stdout))
		}
	}

	var ra result
	a := duringAccept(t, "tls apply", servedOrRedirected, func() { ra = run(t, "apply", p, "--output", "json", "--log-dir", logs) })
	want(t, ra, 0, "apply with tls")
	noKey("apply", ra)
	noFailures(t, "tls apply", a)
	for _, e := range ra.events {
		if e.Type == events.EvChange && e.Path == "/etc/haproxy/hadeploy.pem" && strings.Contains(e.Diff, keyLine) {
			t.Errorf("%s: the change event shows the key", e.Host)
		}
	}
	for _, h := range []string{"lb1", "lb2"} {
		if got := inHost(t, h, "stat", "-c", "%a %U:%G", "/etc/haproxy/hadeploy.pem"); strings.TrimSpace(got) != "600 root:root" {
			t.Errorf("%s: hadeploy.pem is %s, want 600 root:root", h, got)
		}
	}

	r = run(t, "verify", p, "--output", "json")
	if r.code != 0 {
		t.Fatalf("verify with tls failed: %v\n%s", failedChecks(r), tail(r.stdout))
	}
	seenChecks := map[string]int{}
	for _, e := range r.events {
		if e.Type == events.EvStep && e.Status != events.StatusFailed {
			seenChecks[e.Message]++
		}
	}
	for _, name := range []string{"TLS certificate through the VIP", "HTTP redirects to HTTPS", "HSTS header over HTTPS"} {
		if seenChecks[name] != 1 {
			t.Errorf("verify did not pass %q", name)
		}
	}
	if seenChecks["Prometheus metrics scraped"] != 2 {
		t.Errorf("metrics scraped on %d lbs, want 2", seenChecks["Prometheus metrics scraped"])
	}

	r = run(t, "apply", p, "--output", "json", "--log-dir", logs)
	want(t, r, 0, "no-op apply with tls")
	if s := r.summary(); s == nil || s.Changes != 0 {
		t.Errorf("no-op apply with tls reported changes: %+v", s)
	}
	noKey("no-op apply", r)
	filepath.WalkDir(logs, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), keyLine) {
				t.Errorf("debug log %s shows the TLS key", path)
			}
		}
		return nil
	})

	// Back to the standard cluster for the subtests that follow.
	a = duringAccept(t, "tls removed", servedOrRedirected, func() { r = run(t, "apply", inv, "--output", "json") })
	want(t, r, 0, "apply the standard inventory again")
	noFailures(t, "tls removed", a)
}
