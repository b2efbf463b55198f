package steps

import (
	"fmt"
	"path"
	"regexp"

	"github.com/hadeploy/hadeploy/inventory"
)

// Web installs Apache on the web port (never on 80, which HAProxy may own) with
// a page that names the host, so verify can see round robin.
type Web struct{}

func (Web) Name() string                   { return "web" }
func (Web) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleWeb) }

// webModel feeds the Apache templates.
type webModel struct {
	Port    int
	DocRoot string
	LogDir  string
}

func (Web) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	m := webModel{Port: t.Cluster.Web.Port, DocRoot: d.WebDocRoot, LogDir: d.WebLogDir}
	page := []byte(t.Host.Name + "\n")
	want := &Desired{
		Step:     "web",
		Packages: []string{d.WebPackage},
		Check:    d.WebCheck,
		Services: []Service{{Name: d.WebService, OnChange: Reload}},
		Listen:   &Listen{Proto: "tcp", Port: t.Cluster.Web.Port, Process: d.WebProcess},
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
		port := t.Cluster.Web.Port
		want.Files = append(want.Files, File{Path: d.WebMainConf, Mode: 0o644, Owner: "root:root",
			Edit: func(cur []byte) ([]byte, error) { return setListen(cur, port) }})
	}
	want.Files = append(want.Files, File{Path: d.WebDocRoot + "/index.html", Content: page, Mode: 0o644, Owner: "root:root"})
	if hf := healthFile(d, t.Cluster); hf != d.WebDocRoot+"/index.html" {
		want.Files = append(want.Files, File{Path: hf, Content: page, Mode: 0o644, Owner: "root:root"})
	}
	return want, nil
}

// healthFile is the document the health check requests.
func healthFile(d *distro, c *inventory.Cluster) string {
	p := "/index.html"
	if c != nil && c.HealthPath() != "" && c.HealthPath() != "/" {
		p = c.HealthPath()
	}
	return d.WebDocRoot + path.Clean(p)
}

var listenLine = regexp.MustCompile(`(?m)^[ \t]*Listen[ \t]+(?:\S+:)?\d+[ \t]*$`)

// setListen makes httpd.conf listen on exactly one port: the first Listen line
// becomes "Listen PORT" and any further ones are commented out (two Listen
// lines for one port fail at start with "Address already in use").
func setListen(cur []byte, port int) ([]byte, error) {
	if cur == nil {
		return nil, fmt.Errorf("httpd.conf is missing: is httpd installed?")
	}
	first := true
	out := listenLine.ReplaceAllFunc(cur, func(line []byte) []byte {
		if first {
			first = false
			return []byte(fmt.Sprintf("Listen %d", port))
		}
		return append([]byte("# disabled by hadeploy: "), line...)
	})
	if first {
		out = append(out, []byte(fmt.Sprintf("\nListen %d\n", port))...)
	}
	return out, nil
}
