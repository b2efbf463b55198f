package steps

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

// activeActive is the seed cluster with unicast VRRP and two VIPs, each lb
// the intended master of one.
func activeActive() *inventory.Cluster {
	c := seedCluster()
	c.VRRP.Unicast = true
	c.VIPs = []*inventory.VIP{
		{Address: "192.168.83.111/24", VirtualRouterID: 51, Master: "haproxy1", Prefix: netip.MustParsePrefix("192.168.83.111/24")},
		{Address: "192.168.83.112/24", VirtualRouterID: 52, Master: "haproxy2", Prefix: netip.MustParsePrefix("192.168.83.112/24")},
	}
	return c
}

// keepalivedFiles renders the keepalived step's files on h by path.
func keepalivedFiles(t *testing.T, c *inventory.Cluster, h string) map[string]string {
	t.Helper()
	d, err := Keepalived{}.Desired(Target{Cluster: c, Host: c.Host(h), Facts: families["debian"]})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range d.Files {
		out[f.Path] = string(f.Content)
	}
	return out
}

// TestGoldenActiveActive pins keepalived.conf and the handover script of an
// active-active unicast cluster: one vrrp_instance per VIP, MASTER where the
// lb is the VIP's intended master with the top priority, BACKUP with the
// other priority elsewhere, unicast_src_ip the lb's own address and the
// peer the other lb; the handover waits until the lb holds neither VIP.
func TestGoldenActiveActive(t *testing.T) {
	c := activeActive()
	for _, h := range []string{"haproxy1", "haproxy2"} {
		fs := keepalivedFiles(t, c, h)
		golden(t, filepath.Join("testdata", "golden", "active-active", h, "keepalived.conf"), []byte(fs["/etc/keepalived/keepalived.conf"]))
		golden(t, filepath.Join("testdata", "golden", "active-active", h, "keepalived-handover"), []byte(fs[HandoverScript]))
	}
}

// Unicast with the short form: the instance is the same as multicast's
// plus the unicast lines (the rest of the file is pinned by TestGolden).
func TestUnicastShortForm(t *testing.T) {
	c := seedCluster()
	multi := keepalivedFiles(t, c, "haproxy2")["/etc/keepalived/keepalived.conf"]
	c.VRRP.Unicast = true
	uni := keepalivedFiles(t, c, "haproxy2")["/etc/keepalived/keepalived.conf"]
	add := "\tunicast_src_ip 192.168.83.132\n\tunicast_peer {\n\t\t192.168.83.131\n\t}\n"
	if !strings.Contains(uni, "\tadvert_int 1\n"+add) {
		t.Fatalf("no unicast lines after advert_int:\n%s", uni)
	}
	if strings.Replace(uni, add, "", 1) != multi {
		t.Errorf("unicast changed more than the unicast lines:\n%s", uni)
	}
}

// Per-VIP failover bounds use each VIP's instance: the best backup of the
// second VIP (master haproxy2) is haproxy1 at the lower priority 80.
func TestFaultBoundPerVIP(t *testing.T) {
	c := activeActive()
	if got := FaultBound(c, c.VIPs[0], "haproxy1"); got != 1688*time.Millisecond {
		t.Errorf("VIP 1: %s, want 1.688s (backup haproxy2 at 80)", got)
	}
	if got := FaultBound(c, c.VIPs[1], "haproxy2"); got != 1688*time.Millisecond {
		t.Errorf("VIP 2: %s, want 1.688s (backup haproxy1 at 80)", got)
	}
}

// Switchover lowers each other lb by the largest amount any VIP's instance
// needs, so the target is highest in every one; to nil clears every file.
func TestSwitchoverEveryVIP(t *testing.T) {
	c := activeActive()
	lbs := c.HostsWithRole(inventory.RoleLB)
	prio := func(gs []Gate, lb string) string {
		return gs[0].Probe(c.Host(lb)).String()
	}
	gs := Switchover(c, c.Host("haproxy1"), lbs)
	if len(gs) != 3 {
		t.Fatalf("%d gates, want the priorities and one per VIP", len(gs))
	}
	// haproxy2 is 100 in VIP 2's instance, haproxy1 80: lower haproxy2 by 21.
	if p := prio(gs, "haproxy2"); !strings.Contains(p, "printf '%s\\n' 21 >") {
		t.Errorf("haproxy2: %s", p)
	}
	if p := prio(gs, "haproxy1"); !strings.Contains(p, "printf '%s\\n' 0 >") {
		t.Errorf("haproxy1: %s", p)
	}
	for i, v := range c.VIPs {
		g := gs[1+i]
		ok, why := g.Passed(map[string]string{"haproxy1": "==holds", "haproxy2": "==free"})
		if !ok || g.Host != "haproxy1" || !strings.Contains(g.OK, v.Addr()) {
			t.Errorf("VIP %s gate: %v %s %+v", v.Addr(), ok, why, g)
		}
	}
	back := Switchover(c, nil, lbs)
	for _, lb := range []string{"haproxy1", "haproxy2"} {
		if p := prio(back, lb); !strings.Contains(p, "printf '%s\\n' 0 >") {
			t.Errorf("restore %s: %s", lb, p)
		}
	}
	// Restored: each VIP on its own master.
	if ok, _ := back[2].Passed(map[string]string{"haproxy1": "==free", "haproxy2": "==holds"}); !ok || back[2].Host != "haproxy2" {
		t.Errorf("restore: VIP 2 should be on haproxy2")
	}
	if ok, _ := back[1].Passed(map[string]string{"haproxy1": "==holds", "haproxy2": "==holds"}); ok {
		t.Errorf("a VIP on both lbs passed the gate")
	}
}
