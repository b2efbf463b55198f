package main

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

// TestTLSKeyNeverShown applies a TLS inventory to the fake lab: the plan
// names the certificate, never the key, in text, JSON and the debug log;
// the PEM lands 0600 root; a second apply changes nothing.
func TestTLSKeyNeverShown(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	hosts := fakeLab(t)
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "www.lab.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	b, err := os.ReadFile(labInv)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "haproxy:\n  port: 80\n", "haproxy:\n  port: 80\n  tls:\n    certificate: cert.pem\n    key: key.pem\n    redirect_http: true\n", 1)
	doc = strings.ReplaceAll(doc, "/var/lib/hadeploy-lab/", dir+"/")
	inv := filepath.Join(dir, "tls.yaml")
	os.WriteFile(inv, []byte(doc), 0o644)
	keyLine := strings.Split(string(keyPEM), "\n")[1]

	logs := t.TempDir()
	for _, args := range [][]string{{"plan", inv}, {"plan", inv, "--output", "json"}, {"apply", inv, "--output", "json"}} {
		root := newRoot()
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--log-dir", logs))
		err := root.Execute()
		if strings.Contains(out.String(), keyLine) {
			t.Errorf("%v shows the key", args)
		}
		if args[0] == "plan" && !strings.Contains(out.String(), "subject CN=www.lab.test") {
			t.Errorf("%v does not show the certificate (err %v):\n%s", args, err, out.String())
		}
		if args[0] == "apply" && exitCode(err) != 0 {
			t.Fatalf("apply: %v\n%s", err, out.String())
		}
	}
	filepath.WalkDir(logs, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), keyLine) {
				t.Errorf("debug log %s shows the key", p)
			}
		}
		return nil
	})
	for _, lb := range []string{"lb1", "lb2"} {
		h := hosts[lb]
		if !strings.Contains(h.Files["/etc/haproxy/hadeploy.pem"], keyLine) {
			t.Errorf("%s: hadeploy.pem lacks the key", lb)
		}
	}
	if out, code := hadeploy(t, "plan", inv); code != 0 {
		t.Errorf("plan after apply: exit %d\n%s", code, out)
	}
}
