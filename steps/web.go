package steps

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
)

// Web installs Apache on the web port (never on 80, which HAProxy may own) with
// a page that names the host, so verify can see round robin.
type Web struct{}

func (Web) Name() string                   { return "web" }
func (Web) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleWeb) }

// webModel feeds the Apache templates.
type webModel struct {
	Ports   []int // more than one only during a staged port change
	DocRoot string
	LogDir  string
}

func (Web) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	ports := t.Cluster.WebPorts()
	m := webModel{Ports: ports, DocRoot: d.WebDocRoot, LogDir: d.WebLogDir}
	page := []byte(t.Host.Name + "\n")
	want := &Desired{
		Step:     "web",
		Packages: []string{d.WebPackage},
		Check:    d.WebCheck,
		Services: []Service{{Name: d.WebService, OnChange: Reload}},
		Listen:   &Listen{Proto: "tcp", Port: t.Cluster.Web.Port, Process: d.WebProcess},
	}
	// During a staged change Apache must own every port it listens on: the
	// new one is where a taken port shows, on this host, before any load
	// balancer uses it.
	for _, p := range ports {
		if p != t.Cluster.Web.Port {
			want.Listen.Also = append(want.Listen.Also, p)
		}
	}
	if d.WebPortsFile != "" {
		ports, err := render("apache-ports.conf.tmpl", m)
		if err != nil {
			return nil, err
		}
		vhost, err := render("apache-vhost.conf.tmpl", m)
		if err != nil {
			return nil, err
		}
		want.Files = append(want.Files,
			File{Path: d.WebPortsFile, Content: ports, Mode: 0o644, Owner: "root:root"},
			File{Path: d.WebVhostFile, Content: vhost, Mode: 0o644, Owner: "root:root"})
	}
	if d.WebMainConf != "" {
		want.Files = append(want.Files, File{Path: d.WebMainConf, Mode: 0o644, Owner: "root:root",
			Edit: func(cur []byte) ([]byte, error) { return setListen(cur, ports) }})
	}
	want.Files = append(want.Files, File{Path: d.WebDocRoot + "/index.html", Content: page, Mode: 0o644, Owner: "root:root"})
	paths := []string{t.Cluster.HealthPath()}
	if tr := t.Cluster.Web.Transition; tr != nil {
		paths = append(paths, tr.HealthPaths...)
	}
	seen := map[string]bool{d.WebDocRoot + "/index.html": true}
	for _, p := range paths {
		if hf := healthFile(d, p); !seen[hf] {
			seen[hf] = true
			want.Files = append(want.Files, File{Path: hf, Content: page, Mode: 0o644, Owner: "root:root"})
		}
	}
	return want, nil
}

// healthFile is the document a health check on path p requests.
func healthFile(d *distro, p string) string {
	if p == "" || p == "/" {
		p = "/index.html"
	}
	return d.WebDocRoot + path.Clean(p)
}

var listenLine = regexp.MustCompile(`(?m)^[ \t]*Listen[ \t]+(?:\S+:)?\d+[ \t]*(?:\n|$)`)

// setListen makes httpd.conf listen on exactly the given ports: the first
// Listen line becomes one "Listen PORT" line per port, further lines that
// are exactly one of those are dropped (a previous edit wrote them) and any
// other Listen line is commented out (two Listen lines for one port fail at
// start with "Address already in use").
func setListen(cur []byte, ports []int) ([]byte, error) {
	if cur == nil {
		return nil, fmt.Errorf("httpd.conf is missing: is httpd installed?")
	}
	ours := map[string]bool{}
	for _, p := range ports {
		ours[fmt.Sprintf("Listen %d", p)] = true
	}
	first := true
	out := listenLine.ReplaceAllFunc(cur, func(m []byte) []byte {
		line, nl := strings.CutSuffix(string(m), "\n")
		end := ""
		if nl {
			end = "\n"
		}
		switch {
		case first:
			first = false
			return []byte(listenLines(ports) + end)
		case ours[strings.TrimSpace(line)]:
			return nil
		}
		return []byte("# disabled by hadeploy: " + line + end)
	})
	if first {
		out = append(out, []byte("\n"+listenLines(ports)+"\n")...)
	}
	return out, nil
}

func listenLines(ports []int) string {
	var ls []string
	for _, p := range ports {
		ls = append(ls, fmt.Sprintf("Listen %d", p))
	}
	return strings.Join(ls, "\n")
}
