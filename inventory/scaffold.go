package inventory

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Placeholder marks a value `hadeploy init` could not know. Validation names
// each one left, on its line, so a new inventory is filled in one pass.
const Placeholder = "CHANGE-ME"

var hostAddressRE = regexp.MustCompile(`^hosts\[\d+\]\.address$`)

// placeholderHint says what goes in place of the placeholder at path, or ""
// when Scaffold never writes one there.
func placeholderHint(path string) string {
	switch {
	case hostAddressRE.MatchString(path):
		return "put the host's IP address or DNS name here"
	case path == "vip":
		return "put a free IPv4 address of the lb hosts' subnet here, with its prefix length (e.g. 192.168.83.111/24)"
	case path == "vrrp.virtual_router_id":
		return "put a number 1-255 that no other VRRP router on this network uses (there is no default on purpose)"
	}
	return ""
}

// ScaffoldOptions are what `hadeploy init` knows of the cluster. What is
// missing becomes a Placeholder (addresses, VIP, router ID) or a default.
type ScaffoldOptions struct {
	Name      string   // cluster name ("" = DefaultName)
	Web       []string // web host addresses (none: two placeholders, as in the article)
	LB        []string // lb host addresses (none: two placeholders)
	VIP       string   // VIP with its prefix length ("" = placeholder)
	Interface string   // the lbs' VRRP interface ("" = DefaultInterface)
	RouterID  int      // VRRP virtual_router_id (0 = placeholder)
	User      string   // SSH user ("" = DefaultSSHUser)
	AuthPass  string   // VRRP password ("" = no authentication, commented)
	File      string   // where it is written, for the comments ("" = FILE)
}

//go:embed scaffold.yaml.tmpl
var scaffoldText string

var scaffoldTmpl = template.Must(template.New("scaffold").Funcs(template.FuncMap{"yaml": yamlScalar}).Parse(scaffoldText))

type scaffoldHost struct {
	Name, Address, Interface string
	Priority                 int
}

type scaffoldModel struct {
	Name, User, VIP, RouterID, AuthPass, File string
	Webs, LBs                                 []scaffoldHost
	CheckWeight                               int
	Placeholders                              bool
}

// Scaffold renders a commented inventory for o: the article's cluster (2 web
// hosts, 2 load balancers, one VIP) when o is empty. The error lists the
// option values the inventory would refuse, by option; placeholders are not
// errors (validation names them).
func Scaffold(o ScaffoldOptions) ([]byte, error) {
	m := scaffoldModel{Name: o.Name, User: o.User, VIP: o.VIP, AuthPass: o.AuthPass, RouterID: fmt.Sprint(o.RouterID), File: o.File}
	if m.File == "" || strings.ContainsFunc(m.File, func(r rune) bool { return r < ' ' }) {
		m.File = "FILE" // a newline would end the comment it is in
	}
	if m.Name == "" {
		m.Name = DefaultName
	}
	if m.User == "" {
		m.User = DefaultSSHUser
	}
	if m.VIP == "" {
		m.VIP = Placeholder
	}
	if o.RouterID == 0 {
		m.RouterID = Placeholder
	}
	iface := o.Interface
	if iface == "" {
		iface = DefaultInterface
	}
	webs, lbs := orPlaceholders(o.Web), orPlaceholders(o.LB)
	for i, a := range webs {
		m.Webs = append(m.Webs, scaffoldHost{Name: fmt.Sprintf("web%d", i+1), Address: a})
	}
	// Priorities 100, 80, 60...: distinct, and check_weight large enough that
	// a dead haproxy on the master puts it below every backup (a rule of the
	// inventory). 2 lbs give the article's 100/80 and 25.
	step := 20
	if n := len(lbs); n > 1 && step*(n-1) > 90 {
		step = max(1, 90/(n-1))
	}
	for i, a := range lbs {
		m.LBs = append(m.LBs, scaffoldHost{Name: fmt.Sprintf("lb%d", i+1), Address: a, Interface: iface, Priority: 100 - step*i})
	}
	m.CheckWeight = max(DefaultCheckWeight, 100-m.LBs[len(m.LBs)-1].Priority+5)
	m.Placeholders = len(o.Web) == 0 || len(o.LB) == 0 || o.VIP == "" || o.RouterID == 0
	var b bytes.Buffer
	if err := scaffoldTmpl.Execute(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), optionProblems(b.Bytes(), o, len(webs))
}

func orPlaceholders(addrs []string) []string {
	if len(addrs) == 0 {
		return []string{Placeholder, Placeholder}
	}
	return addrs
}

// optionProblems validates the rendered file and turns every problem that is
// not a placeholder into one about the option it came from.
func optionProblems(data []byte, o ScaffoldOptions, webs int) error {
	_, err := Parse("init", data)
	es, ok := err.(Errors)
	if !ok {
		return err
	}
	var lines []string
	for _, e := range es {
		if strings.Contains(e.Msg, "placeholder "+Placeholder) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %s: %s", optionOf(e.Field, o, webs), e.Field, e.Msg))
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

var hostIndexRE = regexp.MustCompile(`^hosts\[(\d+)\]\.(\w+)`)

// optionOf names the option a field of the scaffold comes from.
func optionOf(field string, o ScaffoldOptions, webs int) string {
	if m := hostIndexRE.FindStringSubmatch(field); m != nil {
		var i int
		fmt.Sscan(m[1], &i)
		switch {
		case m[2] == "interface":
			return "interface " + quote(o.Interface)
		case i < webs && i < len(o.Web):
			return "web address " + quote(o.Web[i])
		case i >= webs && i-webs < len(o.LB):
			return "lb address " + quote(o.LB[i-webs])
		}
		return "lb"
	}
	switch {
	case field == "vip":
		return "vip " + quote(o.VIP)
	case field == "vrrp.virtual_router_id":
		return fmt.Sprintf("router id %d", o.RouterID)
	case field == "ssh.user":
		return "user " + quote(o.User)
	case field == "name":
		return "name " + quote(o.Name)
	case field == "vrrp.auth_pass":
		return "VRRP password" // a secret: never shown
	case strings.HasPrefix(field, "vrrp."):
		return "lb"
	}
	return "options"
}

var plainScalarRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)

// yamlScalar writes s so that YAML reads back exactly the string s, and
// nothing else: a value from a flag cannot add fields (a newline) or change
// type (123, true, null).
func yamlScalar(s string) string {
	if plainScalarRE.MatchString(s) {
		var v any
		if yaml.Unmarshal([]byte(s), &v) == nil && v == s {
			return s
		}
	}
	b, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	return string(b)
}
