package inventory

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a certificate valid from notBefore to notAfter and its
// key, both PEM.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "www.example.com"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"www.example.com"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

const tlsBlock = `haproxy:
  tls:
    certificate: tls/cert.pem
    key: tls/key.pem
    redirect_http: true
    hsts_max_age: 31536000
  metrics:
    port: 8405
`

// tlsInventory writes cert and key under dir/tls and returns the inventory
// path and text using them.
func tlsInventory(t *testing.T, cert, key []byte) (string, string) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), cert, 0o644)
	}
	if key != nil {
		os.WriteFile(filepath.Join(dir, "tls", "key.pem"), key, 0o600)
	}
	return filepath.Join(dir, "inventory.yaml"), strings.Replace(base, "haproxy:\n", tlsBlock, 1)
}

func TestTLSLoaded(t *testing.T) {
	cert, key := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	file, doc := tlsInventory(t, cert, key)
	c, err := Parse(file, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tl := c.HAProxy.TLS
	blk, _ := pem.Decode(cert)
	if tl.Port != DefaultTLSPort || !tl.RedirectHTTP || tl.HSTSMaxAge != 31536000 || tl.CertPEM != string(cert) || tl.KeyPEM != string(key) ||
		tl.Fingerprint != Fingerprint(blk.Bytes) || tl.Subject != "CN=www.example.com" {
		t.Errorf("tls = %+v", tl)
	}
	if m := c.HAProxy.Metrics; m.Port != 8405 || m.Path != DefaultMetricsPath {
		t.Errorf("metrics = %+v", m)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	// The key is a secret: masked wherever the inventory's secrets are.
	found := false
	for _, s := range c.Secrets() {
		found = found || s == string(key)
	}
	if !found {
		t.Error("the TLS key is not among the inventory's secrets")
	}
}

func TestTLSSoonExpiringWarns(t *testing.T) {
	cert, key := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(10*24*time.Hour))
	file, doc := tlsInventory(t, cert, key)
	c, err := Parse(file, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "expires on") || !strings.Contains(c.Warnings[0], "cert.pem") {
		t.Errorf("warnings = %q", c.Warnings)
	}
}

func TestTLSRefused(t *testing.T) {
	now := time.Now()
	cert, key := selfSigned(t, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	_, otherKey := selfSigned(t, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	expired, expiredKey := selfSigned(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	blk, _ := pem.Decode(key)
	//lint:ignore SA1019 builds a legacy passphrase-protected key to refuse.
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", blk.Bytes, []byte("pass"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	pkcs8Enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("opaque")})
	for _, tc := range []struct {
		name      string
		cert, key []byte
		field     string
		want      string
	}{
		{"key of another certificate", cert, otherKey, "haproxy.tls.key", "does not match the certificate"},
		{"expired", expired, expiredKey, "haproxy.tls.certificate", "expired on"},
		{"certificate missing", nil, key, "haproxy.tls.certificate", "cannot read it"},
		{"key missing", cert, nil, "haproxy.tls.key", "cannot read it"},
		{"certificate not PEM", []byte("hello"), key, "haproxy.tls.certificate", "is not PEM"},
		{"key not PEM", cert, []byte{0x30, 0x82, 0x01}, "haproxy.tls.key", "is not PEM"},
		{"legacy encrypted key", cert, pem.EncodeToMemory(legacy), "haproxy.tls.key", "passphrase"},
		{"PKCS#8 encrypted key", cert, pkcs8Enc, "haproxy.tls.key", "passphrase"},
		{"key in the certificate file", append(append([]byte{}, cert...), key...), key, "haproxy.tls.certificate", "holds a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, doc := tlsInventory(t, tc.cert, tc.key)
			es := parseErrors(t, file, doc)
			if len(es) != 1 || es[0].Field != tc.field || !strings.Contains(es[0].Msg, tc.want) || !strings.Contains(es[0].Msg, filepath.Dir(file)) {
				t.Fatalf("want one error on %s saying %q with the file's path, got:\n%v", tc.field, tc.want, es)
			}
			if ls := strings.Split(string(tc.key), "\n"); len(ls) > 2 && strings.Contains(es.Error(), ls[1]) {
				t.Errorf("the key shows in the message:\n%v", es)
			}
		})
	}
}

func TestTLSAndMetricsFields(t *testing.T) {
	cert, key := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	file, doc := tlsInventory(t, cert, key)
	for _, tc := range []struct{ from, to, field, want string }{
		{"    key: tls/key.pem\n", "", "haproxy.tls.key", "required"},
		{"    redirect_http: true\n", "    redirect_http: true\n    port: 80\n", "haproxy.tls.port", "already used by haproxy.port"},
		{"    port: 8405\n", "    port: 443\n", "haproxy.metrics.port", "already used by haproxy.tls.port"},
		{"    port: 8405\n", "    port: 8405\n    path: metrics\n", "haproxy.metrics.path", "must start with /"},
	} {
		es := parseErrors(t, file, strings.Replace(doc, tc.from, tc.to, 1))
		if len(es) != 1 || es[0].Field != tc.field || !strings.Contains(es[0].Msg, tc.want) {
			t.Errorf("%s: want one error saying %q, got:\n%v", tc.field, tc.want, es)
		}
	}
}
