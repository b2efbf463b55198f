package steps

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

func tlsCluster() *inventory.Cluster {
	c := seedCluster()
	c.HAProxy.TLS = &inventory.TLS{Port: 443, RedirectHTTP: true, HSTSMaxAge: 31536000,
		CertPEM:     "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n",
		KeyPEM:      "-----BEGIN PRIVATE KEY-----\nS0VZS0VZS0VZS0VZS0VZS0VZ\n-----END PRIVATE KEY-----\n",
		Fingerprint: strings.Repeat("ab", 32), Subject: "CN=www.example.com",
		NotAfter: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)}
	c.HAProxy.Metrics = &inventory.Metrics{Port: 8405, Path: "/metrics"}
	return c
}

// TestHAProxyTLSAndMetrics pins the TLS and exporter frontends and the PEM
// file: first (live before haproxy -c checks the config naming it), secret,
// 0600 root, certificate then key, summarised without the key.
func TestHAProxyTLSAndMetrics(t *testing.T) {
	c := tlsCluster()
	h := c.Host("haproxy1")
	f := families["debian"]
	f.HAProxyVersion, f.HAProxyServices = "2.6.12-1+deb12u4", []string{PrometheusService}
	d, err := HAProxy{}.Desired(Target{Cluster: c, Host: h, Facts: f})
	if err != nil {
		t.Fatal(err)
	}
	pem := d.Files[0]
	if pem.Path != HAProxyTLSPEM || !pem.Secret || pem.Mode != 0o600 || pem.Owner != "root:root" {
		t.Errorf("pem file = %s secret %v mode %o owner %s", pem.Path, pem.Secret, pem.Mode, pem.Owner)
	}
	if string(pem.Content) != c.HAProxy.TLS.CertPEM+c.HAProxy.TLS.KeyPEM {
		t.Errorf("pem content is not certificate then key:\n%s", pem.Content)
	}
	if strings.Contains(pem.Summary, "S0VZ") || !strings.Contains(pem.Summary, c.HAProxy.TLS.Fingerprint) ||
		!strings.Contains(pem.Summary, "CN=www.example.com") || !strings.Contains(pem.Summary, "2027-03-01") {
		t.Errorf("summary = %q", pem.Summary)
	}
	if d.Files[1].Validate == "" {
		t.Errorf("haproxy.cfg must follow the pem and be validated: %+v", d.Files[1])
	}
	golden(t, filepath.Join("testdata", "golden", "tls", "haproxy1_haproxy.cfg"), d.Files[1].Content)

	// A build without the exporter is refused while planning, naming why.
	f.HAProxyServices = nil
	if _, err := (HAProxy{}).Desired(Target{Cluster: c, Host: h, Facts: f}); err == nil || !strings.Contains(err.Error(), "without the Prometheus exporter") {
		t.Errorf("want a refusal for a haproxy without prometheus-exporter, got %v", err)
	}
	// Not installed yet: nothing to tell (haproxy -c checks the candidate).
	f.HAProxyVersion = ""
	if _, err := (HAProxy{}).Desired(Target{Cluster: c, Host: h, Facts: f}); err != nil {
		t.Errorf("haproxy not installed yet: %v", err)
	}
}
