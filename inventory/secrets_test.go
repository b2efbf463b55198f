package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSecretsAreTheTaggedFields(t *testing.T) {
	c := &Cluster{}
	c.VRRP.AuthPass = "s3cr3t"
	c.HAProxy.StatsAuth = &StatsAuth{User: "admin", Password: "hunter2"}
	got := c.Secrets()
	if !slices.Contains(got, "s3cr3t") || !slices.Contains(got, "hunter2") || slices.Contains(got, "admin") || len(got) != 2 {
		t.Errorf("Secrets() = %v", got)
	}
	if got := (&Cluster{}).Secrets(); len(got) != 0 {
		t.Errorf("empty cluster: %v", got)
	}
}

func TestSecretsOfALoadedInventory(t *testing.T) {
	b, err := os.ReadFile("../e2e/lab-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: http://10.213.47.21:9099/vrrp?token=t\n", 1)
	p := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	// The VRRP password and the webhook URL (it carries a token).
	if got := c.Secrets(); len(got) != 2 || got[0] != "labpass" || got[1] != c.VRRP.Notify.Webhook || c.VRRP.Notify.Webhook == "" {
		t.Errorf("Secrets() = %v, want [labpass, the webhook URL]", got)
	}
}
