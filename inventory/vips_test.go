package inventory

import (
	"strings"
	"testing"
)

// aaRepl turns base into an active-active inventory: two VIPs, each lb the
// intended master of one.
var aaRepl = []string{
	"vip: 10.0.0.100/24\nvrrp:\n  virtual_router_id: 42\n",
	"vips:\n  - address: 10.0.0.100/24\n    virtual_router_id: 42\n    master: lb1\n  - address: 10.0.0.101/24\n    virtual_router_id: 43\n    master: lb2\nvrrp:\n",
}

func aaDoc(t *testing.T, more ...string) string {
	return badCase{name: "aa", repl: append(append([]string{}, aaRepl...), more...)}.input(t)
}

func TestActiveActive(t *testing.T) {
	c, err := Parse("aa.yaml", []byte(aaDoc(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VIPs) != 2 || c.VIPs[0].Addr() != "10.0.0.100" || c.VIPs[1].VirtualRouterID != 43 {
		t.Fatalf("VIPs %+v", c.VIPs)
	}
	lb1, lb2 := c.Host("lb1"), c.Host("lb2")
	// Swapped priorities: each VIP's master gets the highest one.
	for _, tc := range []struct {
		v      int
		h      *Host
		want   int
		master string
	}{{0, lb1, 100, "lb1"}, {0, lb2, 90, "lb1"}, {1, lb1, 90, "lb2"}, {1, lb2, 100, "lb2"}} {
		if got := c.VIPPriority(c.VIPs[tc.v], tc.h); got != tc.want {
			t.Errorf("priority of %s in VIP %d = %d, want %d", tc.h.Name, tc.v, got, tc.want)
		}
		if m := c.VIPMaster(c.VIPs[tc.v]); m.Name != tc.master {
			t.Errorf("master of VIP %d = %s", tc.v, m.Name)
		}
	}
	if c.VIPAddr() != "10.0.0.100" {
		t.Errorf("VIPAddr = %s, want the first VIP", c.VIPAddr())
	}
}

// The short form is one VIP: the highest-priority lb is master and every lb
// keeps its own priority.
func TestShortFormIsOneVIP(t *testing.T) {
	c, err := Parse("base.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VIPs) != 1 || c.VIPs[0].Master != "lb1" || c.VIPs[0].VirtualRouterID != 42 || c.VIPs[0].Prefix != c.VIPPrefix {
		t.Fatalf("VIPs %+v", c.VIPs[0])
	}
	for _, h := range c.HostsWithRole(RoleLB) {
		if got := c.VIPPriority(c.VIPs[0], h); got != h.Priority {
			t.Errorf("%s: priority %d, want its own %d", h.Name, got, h.Priority)
		}
	}
}

// Three lbs: the master takes the top priority, the others keep their order.
func TestVIPPriorityThreeLBs(t *testing.T) {
	lbs := []*Host{
		{Name: "a", Roles: []string{RoleLB}, Priority: 100},
		{Name: "b", Roles: []string{RoleLB}, Priority: 90},
		{Name: "c", Roles: []string{RoleLB}, Priority: 80},
	}
	c := &Cluster{Hosts: lbs}
	v := &VIP{Master: "c"}
	for h, want := range map[string]int{"c": 100, "a": 90, "b": 80} {
		if got := c.VIPPriority(v, c.Host(h)); got != want {
			t.Errorf("%s: %d, want %d", h, got, want)
		}
	}
}

func TestUnicastAccepted(t *testing.T) {
	doc := badCase{name: "u", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  unicast: true\n"}}.input(t)
	c, err := Parse("u.yaml", []byte(doc))
	if err != nil || !c.VRRP.Unicast {
		t.Fatalf("unicast refused: %v", err)
	}
}

func TestVIPRules(t *testing.T) {
	uni := []string{"  check_weight: 25\n", "  check_weight: 25\n  unicast: true\n"}
	cases := []badCase{
		{name: "unicast with a DNS name", repl: append([]string{"    address: 10.0.0.22\n", "    address: lb2.example.com\n"}, uni...),
			field: "hosts[3].address", at: "address: lb2.example.com", want: "vrrp.unicast is on: lb host lb2 needs an IP address"},
		{name: "unicast not a bool", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  unicast: maybe\n"},
			field: "vrrp.unicast", at: "unicast: maybe", want: "true or false"},
		{name: "vip and vips", repl: []string{"vip: 10.0.0.100/24\n", "vip: 10.0.0.100/24\nvips:\n  - address: 10.0.0.101/24\n"},
			field: "vips", at: "vips:", want: "either vip (one VIP) or vips"},
		{name: "vips empty", repl: []string{"vip: 10.0.0.100/24\nvrrp:\n  virtual_router_id: 42\n", "vips: []\nvrrp:\n"},
			field: "vips", at: "vips: []", want: "at least one VIP"},
	}
	aa := func(name string, more []string, field, at, want string, nth int) badCase {
		return badCase{name: name, doc: aaDoc(t, more...), field: field, at: at, want: want, nth: nth}
	}
	cases = append(cases,
		aa("duplicate router id", []string{"    virtual_router_id: 43\n", "    virtual_router_id: 42\n"}, "vips[1].virtual_router_id", "virtual_router_id: 42", "virtual_router_id 42 is also used by vips[0]", 2),
		aa("router id missing", []string{"    virtual_router_id: 43\n", ""}, "vips[1].virtual_router_id", "- address: 10.0.0.101/24", "required", 0),
		aa("router id out of range", []string{"    virtual_router_id: 43\n", "    virtual_router_id: 256\n"}, "vips[1].virtual_router_id", "virtual_router_id: 256", "between 1 and 255", 0),
		aa("router id in vrrp too", []string{"vrrp:\n", "vrrp:\n  virtual_router_id: 9\n"}, "vrrp.virtual_router_id", "  virtual_router_id: 9", "each VIP has its own", 0),
		aa("duplicate address", []string{"10.0.0.101/24", "10.0.0.100/24"}, "vips[1].address", "- address: 10.0.0.100/24", "also vips[0]", 2),
		aa("outside the lbs' subnet", []string{"10.0.0.101/24", "10.0.1.101/24"}, "vips[1].address", "- address: 10.0.1.101/24", "not in the subnet of lb host lb1", 0),
		aa("address of a host", []string{"10.0.0.101/24", "10.0.0.12/24"}, "vips[1].address", "- address: 10.0.0.12/24", "also the address of host web2", 0),
		aa("no prefix", []string{"10.0.0.101/24", "10.0.0.101"}, "vips[1].address", "- address: 10.0.0.101\n", "needs a prefix length", 0),
		aa("master missing", []string{"    master: lb2\n", ""}, "vips[1].master", "- address: 10.0.0.101/24", "required: the lb host meant to hold this VIP (exactly one), one of lb1, lb2", 0),
		aa("master not an lb", []string{"    master: lb2\n", "    master: web1\n"}, "vips[1].master", "master: web1", `"web1" is not an lb host`, 0),
		aa("master a list", []string{"    master: lb2\n", "    master: [lb1, lb2]\n"}, "vips[1].master", "master: [lb1", "must be a string", 0),
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.input(t)
			line := lineOf(t, doc, tc.at, tc.nth)
			es := parseErrors(t, "inv.yaml", doc)
			for _, e := range es {
				if e.Field == tc.field && e.Line == line && strings.Contains(e.Msg, tc.want) {
					return
				}
			}
			t.Errorf("want an error on line %d, field %q, containing %q; got:\n%v", line, tc.field, tc.want, es)
		})
	}
}

func TestActiveActiveExample(t *testing.T) {
	c, err := Load("../examples/active-active.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VIPs) != 2 || !c.VRRP.Unicast || c.VIPs[1].Master != "haproxy2" || len(c.Warnings) != 0 {
		t.Errorf("example: %+v unicast %v warnings %q", c.VIPs, c.VRRP.Unicast, c.Warnings)
	}
}
