package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// With every value given, the scaffold is a valid inventory, for any number
// of hosts (priorities and check_weight keep the failover rule).
func TestScaffoldFromOptionsIsValid(t *testing.T) {
	for webs := 1; webs <= 3; webs++ {
		for lbs := 1; lbs <= 6; lbs++ {
			o := ScaffoldOptions{VIP: "10.0.0.100/24", RouterID: 47, Interface: "ens3", User: "deploy", Name: "shop", AuthPass: "s3cret"}
			for i := 0; i < webs; i++ {
				o.Web = append(o.Web, fmt.Sprintf("10.0.0.%d", 11+i))
			}
			for i := 0; i < lbs; i++ {
				o.LB = append(o.LB, fmt.Sprintf("10.0.0.%d", 21+i))
			}
			data, err := Scaffold(o)
			if err != nil {
				t.Fatalf("%d web, %d lb: %v", webs, lbs, err)
			}
			c, err := Parse("init.yaml", data)
			if err != nil {
				t.Fatalf("%d web, %d lb: not valid:\n%v\n%s", webs, lbs, err, data)
			}
			if len(c.Hosts) != webs+lbs || c.VIP != o.VIP || c.VRRP.VirtualRouterID != 47 || c.SSH.User != "deploy" || c.Name != "shop" || c.VRRP.AuthPass != "s3cret" {
				t.Errorf("%d web, %d lb: read back %+v", webs, lbs, c)
			}
			if m := c.Master(); m.Name != "lb1" || m.Interface != "ens3" {
				t.Errorf("master %s on %s, want lb1 on ens3", m.Name, m.Interface)
			}
			if b := c.Backend("web"); b == nil || len(b.Servers) != webs {
				t.Errorf("backend web: %+v, want every web host", b)
			}
			// One lb is allowed, with a warning: there is no failover.
			if (len(c.Warnings) != 0) != (lbs == 1) {
				t.Errorf("%d lb: warnings %q", lbs, c.Warnings)
			}
		}
	}
}

// Without options it is the article's cluster (2 web, 2 lb), and validation
// names every placeholder, each on its own line, and nothing else.
func TestScaffoldPlaceholdersAreNamedOneByOne(t *testing.T) {
	data, err := Scaffold(ScaffoldOptions{File: "cluster.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("cluster.yaml", data)
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("want inventory errors, got %v", err)
	}
	want := []string{"hosts[0].address", "hosts[1].address", "hosts[2].address", "hosts[3].address", "vip", "vrrp.virtual_router_id"}
	if len(es) != len(want) {
		t.Fatalf("want %d errors (%v), got:\n%v", len(want), want, err)
	}
	lines := strings.Split(string(data), "\n")
	for i, e := range es {
		if e.Field != want[i] || !strings.Contains(e.Msg, "placeholder CHANGE-ME") {
			t.Errorf("error %d: %v, want a placeholder error on %s", i, e, want[i])
		}
		if e.Line < 1 || !strings.Contains(lines[e.Line-1], Placeholder) {
			t.Errorf("%v: line %d is %q, not the placeholder's", e, e.Line, lines[e.Line-1])
		}
	}
	if !strings.Contains(string(data), "hadeploy validate cluster.yaml") {
		t.Error("the header does not say how to check the file")
	}
	// Filling in the placeholders is all it takes.
	filled := string(data)
	for _, a := range []string{"192.168.83.129", "192.168.83.130", "192.168.83.131", "192.168.83.132"} {
		filled = strings.Replace(filled, "address: CHANGE-ME", "address: "+a, 1)
	}
	filled = strings.Replace(filled, "vip: CHANGE-ME", "vip: 192.168.83.111/24", 1)
	filled = strings.Replace(filled, "virtual_router_id: CHANGE-ME", "virtual_router_id: 51", 1)
	if _, err := Parse("cluster.yaml", []byte(filled)); err != nil {
		t.Errorf("filled in, still invalid:\n%v", err)
	}
}

// A value the inventory would refuse is an error naming the option; a value
// cannot smuggle in YAML (a newline, a number where a string goes).
func TestScaffoldRefusesBadOptions(t *testing.T) {
	ok := ScaffoldOptions{Web: []string{"10.0.0.11"}, LB: []string{"10.0.0.21", "10.0.0.22"}, VIP: "10.0.0.100/24", RouterID: 47}
	for _, tc := range []struct {
		edit func(*ScaffoldOptions)
		want string
	}{
		{func(o *ScaffoldOptions) { o.Web = []string{"bad..name"} }, `web address "bad..name": hosts[0].address:`},
		{func(o *ScaffoldOptions) { o.LB = []string{"10.0.0.11", "10.0.0.22"} }, `lb address "10.0.0.11": hosts[1].address: address 10.0.0.11 is already used`},
		{func(o *ScaffoldOptions) { o.VIP = "10.0.0.100" }, `vip "10.0.0.100": vip: needs a prefix length`},
		{func(o *ScaffoldOptions) { o.VIP = "10.9.0.100/24" }, `vip "10.9.0.100/24": vip: VIP 10.9.0.100/24 is not in the subnet of lb host lb1`},
		{func(o *ScaffoldOptions) { o.RouterID = 256 }, `router id 256: vrrp.virtual_router_id: must be between 1 and 255`},
		{func(o *ScaffoldOptions) { o.Interface = "eth0 dev lo" }, `interface "eth0 dev lo": hosts[1].interface:`},
		{func(o *ScaffoldOptions) { o.User = "root\n  port: 2222" }, `user "root\n  port: 2222": ssh.user:`},
		{func(o *ScaffoldOptions) { o.AuthPass = "toolongpassword" }, `VRRP password: vrrp.auth_pass: is 15 characters long`},
	} {
		o := ok
		tc.edit(&o)
		_, err := Scaffold(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", o, err, tc.want)
		}
	}
	// Strings YAML would read as something else are quoted.
	o := ok
	o.Name = "123"
	data, err := Scaffold(o)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Parse("x", data); err != nil || c.Name != "123" {
		t.Errorf("name 123: %v %v", err, c)
	}
	for in, out := range map[string]string{"10.0.0.1": "10.0.0.1", "true": `"true"`, "null": `"null"`, "1e3": `"1e3"`, "a: b": `"a: b"`, "x\ny": `"x\ny"`, Placeholder: Placeholder} {
		if got := yamlScalar(in); got != out {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, out)
		}
	}
}
