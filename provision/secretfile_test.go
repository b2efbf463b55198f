package provision

import (
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
)

// A TLS key is masked whole and line by line (a cut or quoted piece of it
// too); a secret file's diff shows its summary and fingerprints only.
func TestTLSKeyMasked(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ2xvc2VseUd1YXJk\nZWRTZWNyZXRLZXlCeXRlcw==\n-----END PRIVATE KEY-----\n"
	c := &inventory.Cluster{HAProxy: inventory.HAProxy{TLS: &inventory.TLS{KeyPEM: key}}}
	r := NewRedactor(c)
	line := strings.Split(key, "\n")[1]
	for _, s := range []string{key, "error near " + line + " in output", line[:40]} {
		got := r.Redact(s)
		if strings.Contains(got, line[:16]) {
			t.Errorf("key shows in %q", got)
		}
	}
	fc := FileChange{Path: "/etc/haproxy/hadeploy.pem", New: []byte("CERT\n" + key), Secret: true, ContentChanged: true,
		Summary: "certificate sha256 abcd, subject CN=x, expires 2027-01-01T00:00:00Z"}
	d := r.Diff(fc)
	if strings.Contains(d, line[:16]) || strings.Contains(d, "CERT") || !strings.Contains(d, "subject CN=x") || !strings.Contains(d, "sha256:") {
		t.Errorf("diff:\n%s", d)
	}
}
