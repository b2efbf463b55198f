package main

import (
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
)

func TestLabSpecReleases(t *testing.T) {
	c, err := inventory.Load("../../e2e/lab-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := labSpec(c, "trixie", []string{"web1=12", "web2=bookworm"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range s.Hosts {
		got[h.Name] = s.ReleaseOf(h)
	}
	if got["web1"] != "bookworm" || got["web2"] != "bookworm" || got["lb1"] != "trixie" || got["lb2"] != "trixie" {
		t.Errorf("releases %v", got)
	}
	for _, c2 := range []struct {
		rel  string
		per  []string
		want string
	}{
		{"", []string{"web9=13"}, `has no host "web9"`},
		{"", []string{"web1"}, "want HOST=RELEASE"},
		{"", []string{"web1=jessie"}, `host web1: lab: release "jessie"`},
		{"14", nil, `release "14"`},
	} {
		if _, err := labSpec(c, c2.rel, c2.per); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%q %v: err %v, want %q", c2.rel, c2.per, err, c2.want)
		}
	}
}
