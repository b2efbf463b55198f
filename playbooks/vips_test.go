package playbooks

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
)

// Two VIPs: each gets its own gate after an lb changed (haproxy's and
// keepalived's ask for the same ones: kept once) and at the end.
func TestGatesPerVIP(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "web1", Roles: []string{"web"}}, {Name: "web2", Roles: []string{"web"}},
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100}, {Name: "lb2", Roles: []string{"lb"}, Priority: 80},
	}
	c := cluster(hs)
	c.VIPs = []*inventory.VIP{
		{VirtualRouterID: 1, Master: "lb1", Prefix: netip.MustParsePrefix("10.0.0.100/24")},
		{VirtualRouterID: 2, Master: "lb2", Prefix: netip.MustParsePrefix("10.0.0.101/24")},
	}
	// The fake fleet says lb1 holds every address asked about.
	f := fleet{hosts: hs, holder: "lb1", haproxy: map[string]bool{"lb1": true, "lb2": true},
		changing: map[string]bool{"lb2/keepalived": true, "lb2/haproxy": true}}
	var lbph Phase
	for _, ph := range (Cluster{}).Apply(c, hs, f) {
		if ph.Name == "lb" {
			lbph = ph
		}
	}
	if lbph.After == nil {
		t.Fatal("no lb phase")
	}
	after := lbph.After(hs[3])
	if len(after) != 2 || len(lbph.Finally) != 2 {
		t.Fatalf("gates after lb2 %d, final %d: want one per VIP", len(after), len(lbph.Finally))
	}
	for i, addr := range []string{"10.0.0.100", "10.0.0.101"} {
		for _, g := range []string{after[i].OK, lbph.Finally[i].OK} {
			if g != "exactly one load balancer holds the VIP "+addr {
				t.Errorf("gate %d: %q", i, g)
			}
		}
		if p := after[i].Probe(hs[2]).String(); !strings.Contains(p, "' "+addr+"/'") {
			t.Errorf("gate %d probes %s", i, p)
		}
	}
}
