package steps

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// HAProxy renders the article's load balancer: global/defaults, one frontend
// with stats and ACL routing, and one backend per inventory backend.
type HAProxy struct{}

func (HAProxy) Name() string                   { return "haproxy" }
func (HAProxy) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleLB) }

// HAProxyCheckTimeout is the rendered "timeout check": how long one health
// check may wait for an answer, part of every "back in rotation" bound.
const HAProxyCheckTimeout = 10 * time.Second

// HAProxyStateFile keeps the servers' state (admin state included) across
// reloads.
const HAProxyStateFile = "/var/lib/haproxy/server-state"

// HAProxyStopTimeout bounds how long systemd may take to declare haproxy
// stopped (and so to run the hook that puts keepalived in FAULT); haproxy's
// own stop (SIGTERM: hard stop) takes milliseconds.
const HAProxyStopTimeout = 2 * time.Second

// HAProxyDropIn makes systemd tell keepalived at once when haproxy stops.
const HAProxyDropIn = "/etc/systemd/system/haproxy.service.d/10-hadeploy.conf"

// Activation makes systemd read the drop-in, then saves the servers' state
// just before a reload (and before a rollback's), so a drained or
// maintenance server stays so. haproxy applies a saved server's address and
// port over the configuration's (server_state.c: "srv->svc_port =
// port_svc"), so the saved state keeps only the servers whose address and
// port the configuration now live still names: a server whose port changed
// (a staged web port change, its rollback) starts from the new
// configuration, or the switch would never happen.
func (HAProxy) Activation(t Target) string {
	sock := "UNIX-CONNECT:" + StatsSocket(t.Facts.Family)
	cfg := "/etc/haproxy/haproxy.cfg"
	if d, err := distroFor(t.Facts.Family); err == nil {
		cfg = d.HAProxyCfg
	}
	tmp, kept := HAProxyStateFile+".tmp", HAProxyStateFile+".kept"
	return "systemctl daemon-reload && { if echo 'show servers state' | timeout 3 socat stdio " + shell.Quote(sock) + " > " + shell.Quote(tmp) + " 2>/dev/null && awk " + shell.Quote(keepState) + " " + shell.Quote(cfg) + " " + shell.Quote(tmp) + " > " + shell.Quote(kept) + "; then mv -f " + shell.Quote(kept) + " " + shell.Quote(HAProxyStateFile) +
		"; else rm -f " + shell.Quote(kept) + "; [ -e " + shell.Quote(HAProxyStateFile) + " ] || : > " + shell.Quote(HAProxyStateFile) + "; fi; rm -f " + shell.Quote(tmp) + "; }"
}

// keepState reads haproxy.cfg's server lines (backend, name → address and
// port), then prints the state file's version and header lines and the
// servers whose srv_addr ($5) and srv_port ($19) match them.
const keepState = `NR == FNR { if ($1 == "backend") b = $2; else if ($1 == "server" && b != "" && (i = match($3, /:[0-9]+$/))) want[b " " $2] = substr($3, 1, i - 1) " " substr($3, i + 1); next } FNR == 1 || /^#/ { print; next } want[$2 " " $4] == $5 " " $19 { print }`

// haproxyModel is the typed model the template renders.
type haproxyModel struct {
	Socket, Pidfile string
	CheckTimeoutS   int
	StateFile       string
	MaxConn         int
	Port            int
	StatsURI        string
	StatsAuth       string // user:password, empty for none
	ACLs            []haproxyACL
	DefaultBackend  string
	Backends        []haproxyBackend
}

type haproxyACL struct {
	Name, Match, Backend string
}

type haproxyBackend struct {
	Name        string
	CheckMethod string
	CheckPath   string
	Servers     []haproxyServer
}

type haproxyServer struct {
	Name, Address     string
	Port, Weight      int
	Inter, Rise, Fall int
}

func (HAProxy) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts.Family)
	if err != nil {
		return nil, err
	}
	m, err := haproxyFor(t.Cluster, d)
	if err != nil {
		return nil, err
	}
	cfg, err := render("haproxy.cfg.tmpl", m)
	if err != nil {
		return nil, err
	}
	dropIn, err := render("haproxy-dropin.conf.tmpl", struct {
		File, Dir    string
		StopTimeoutS int
	}{HAProxyDownFile, StateDir, int(HAProxyStopTimeout / time.Second)})
	if err != nil {
		return nil, err
	}
	return &Desired{
		Step: "haproxy",
		// socat talks to the stats socket, as in the article (verify uses it).
		Packages: []string{"haproxy", "socat"},
		Files: []File{{Path: d.HAProxyCfg, Content: cfg, Mode: 0o644, Owner: "root:root",
			Validate: "haproxy -c -f %s", SecretLines: []string{"stats auth"}},
			{Path: HAProxyDropIn, Content: dropIn, Mode: 0o644, Owner: "root:root"}},
		Services: []Service{{Name: "haproxy", OnChange: Reload}},
		Listen:   &Listen{Proto: "tcp", Port: t.Cluster.HAProxy.Port, Process: "haproxy"},
	}, nil
}

func haproxyFor(c *inventory.Cluster, d *distro) (haproxyModel, error) {
	h := c.HAProxy
	m := haproxyModel{
		Socket: d.HAProxySocket, Pidfile: d.HAProxyPidfile, CheckTimeoutS: int(HAProxyCheckTimeout / time.Second), StateFile: HAProxyStateFile, MaxConn: h.MaxConn, Port: h.Port,
		StatsURI: h.StatsURI, DefaultBackend: h.DefaultBackend,
	}
	if h.StatsAuth != nil {
		m.StatsAuth = h.StatsAuth.User + ":" + h.StatsAuth.Password
	}
	for i, r := range h.Routes {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("route%d", i+1)
		}
		a := haproxyACL{Name: name, Backend: r.Backend}
		if r.Host != "" {
			// Compare the Host header without its port: "www.a.com:80" must match too.
			a.Match = "req.hdr(host),field(1,:),lower -m str " + strings.ToLower(r.Host)
		} else {
			// path stops before '?', so query strings do not defeat suffix matching.
			sfx := append([]string(nil), r.PathSuffix...)
			sort.Strings(sfx)
			a.Match = "path_end -i " + strings.Join(sfx, " ")
		}
		m.ACLs = append(m.ACLs, a)
	}
	for _, b := range h.Backends {
		hb := haproxyBackend{Name: b.Name, CheckMethod: c.HealthMethod(), CheckPath: c.HealthPath()}
		for _, s := range b.Servers {
			host := c.Host(s.Host)
			if host == nil {
				return m, fmt.Errorf("backend %s: unknown host %s", b.Name, s.Host)
			}
			hb.Servers = append(hb.Servers, haproxyServer{Name: host.Name, Address: host.Address,
				Port: c.Web.Port, Weight: s.Weight, Inter: h.CheckInter, Rise: h.Rise, Fall: h.Fall})
		}
		m.Backends = append(m.Backends, hb)
	}
	return m, nil
}
