package status

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
)

// twoVIPs makes the scaffolded cluster active-active: 192.0.2.100 (router
// id 201, master lb1) and 192.0.2.101 (202, master lb2).
func twoVIPs(t *testing.T) *inventory.Cluster {
	c := cluster(t, 201)
	c.VIPs = []*inventory.VIP{
		{Address: "192.0.2.100/24", VirtualRouterID: 201, Master: "lb1", Prefix: netip.MustParsePrefix("192.0.2.100/24")},
		{Address: "192.0.2.101/24", VirtualRouterID: 202, Master: "lb2", Prefix: netip.MustParsePrefix("192.0.2.101/24")},
	}
	return c
}

// The program asks about the second VIP and reads its instance from the same
// dump; its lines come back renamed ==vrrpn, and the program stays valid sh.
func TestProgramSecondVIP(t *testing.T) {
	c := twoVIPs(t)
	p := Program(c, c.Host("lb2"), facts.FamilyDebian).String()
	for _, want := range []string{"grep -qF ' 192.0.2.101/'", "==vipn '192.0.2.101' held", "-v inst=VI_201", "-v inst=VI_202", "s/^==vrrp /==vrrpn VI_202 /"} {
		if !strings.Contains(p, want) {
			t.Errorf("program lacks %q:\n%s", want, p)
		}
	}
	need(t, "sh")
	if out, err := exec.Command("sh", "-n", "-c", p).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
	// The renamed line of the real dump (VI_201 there) parses as an instance.
	need(t, "awk")
	out, err := exec.Command("sh", "-c", `awk -v inst=VI_201 "$0" testdata/keepalived.data | sed 's/^==vrrp /==vrrpn VI_201 /'`, vrrpAwk).Output()
	if o := parse(string(out)); err != nil || o.more["VI_201"].State != "MASTER" || o.more["VI_201"].Priority != 65 {
		t.Errorf("%q %v → %+v", out, err, o.more)
	}
}

// Collect reports each VIP's holders and each lb's second instance, with its
// configured priority in that instance (swapped: lb2 is its master).
func TestCollectTwoVIPs(t *testing.T) {
	c := twoVIPs(t)
	lb := func(vip1, vip2 string, s1, s2 string) string {
		out := "==status\n==vip " + vip1 + "\n==vrrp " + s1 + "\n"
		if vip2 == "held" {
			out += "==vipn 192.0.2.101 held\n"
		}
		return out + "==vrrpn VI_202 " + s2 + "\n==stats ok\n"
	}
	f := &fleet{out: map[string]string{"lb1": lb("held", "free", "MASTER 100 100", "BACKUP 90 90"), "lb2": lb("free", "held", "BACKUP 90 90", "MASTER 100 100"),
		"web1": "==status\n", "web2": "==status\n"}}
	rep := Collect(context.Background(), f, c, c.Hosts)
	if len(rep.VIPs) != 2 || rep.VIPs[0].VIP != "192.0.2.100" || strings.Join(rep.VIPs[0].Holders, ",") != "lb1" ||
		rep.VIPs[1].VIP != "192.0.2.101" || strings.Join(rep.VIPs[1].Holders, ",") != "lb2" {
		t.Fatalf("VIPs %+v", rep.VIPs)
	}
	for _, l := range rep.LBs {
		if len(l.Instances) != 1 {
			t.Fatalf("%s: instances %+v", l.Host, l.Instances)
		}
		in := l.Instances[0]
		want := map[string][2]any{"lb1": {"BACKUP", "free"}, "lb2": {"MASTER", "held"}}[l.Host]
		if in.Instance != "VI_202" || in.VIP != "192.0.2.101" || in.State != want[0] || in.Held != want[1] {
			t.Errorf("%s: %+v", l.Host, in)
		}
	}
	if c1, c2 := rep.LBs[1].Configured, rep.LBs[1].Instances[0].Configured; c1 >= c2 {
		t.Errorf("lb2: configured %d in VI_201, %d in VI_202: it is the master of the second", c1, c2)
	}
}
