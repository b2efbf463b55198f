package steps

import (
	"fmt"
	"sort"
	"strconv"
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

// The watcher: a transient unit per haproxy main process (HAProxyWatchUnit-
// PID.service), started by HAProxyWatchScript, that waits for that process
// and writes HAProxyDownFile the moment it exits (tail --pid, polled every
// HAProxyWatchPoll): keepalived learns of a killed haproxy without waiting
// for systemd's ExecStopPost.
const (
	HAProxyWatchScript = "/usr/local/libexec/hadeploy/haproxy-watch"
	HAProxyWatchUnit   = "hadeploy-haproxy-watch"
	HAProxyWatchPoll   = 100 * time.Millisecond
)

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
	if d, err := distroFor(t.Facts); err == nil {
		cfg = d.HAProxyCfg
	}
	tmp, kept := HAProxyStateFile+".tmp", HAProxyStateFile+".kept"
	// A reload keeps haproxy's main process, so ExecStartPost does not run:
	// start its watcher now (the script is gone after a rollback of a host
	// that never had it).
	watch := "{ [ ! -x " + shell.Quote(HAProxyWatchScript) + " ] || " + shell.Quote(HAProxyWatchScript) + "; }"
	return "systemctl daemon-reload && " + watch + " && { if echo 'show servers state' | timeout 3 socat stdio " + shell.Quote(sock) + " > " + shell.Quote(tmp) + " 2>/dev/null && awk " + shell.Quote(keepState) + " " + shell.Quote(cfg) + " " + shell.Quote(tmp) + " > " + shell.Quote(kept) + "; then mv -f " + shell.Quote(kept) + " " + shell.Quote(HAProxyStateFile) +
		"; else rm -f " + shell.Quote(kept) + "; [ -e " + shell.Quote(HAProxyStateFile) + " ] || : > " + shell.Quote(HAProxyStateFile) + "; fi; rm -f " + shell.Quote(tmp) + "; }"
}

// keepState reads haproxy.cfg's server lines (backend, name → address and
// port), then prints the state file's version and header lines and the
// servers whose srv_port ($19) matches and whose srv_addr ($5) or srv_fqdn
// ($18, a server named by DNS) is the configured address. A server it
// drops loses its saved admin state: the safe side.
const keepState = `NR == FNR { if ($1 == "backend") b = $2; else if ($1 == "server" && b != "" && (i = match($3, /:[0-9]+$/))) { addr[b " " $2] = substr($3, 1, i - 1); port[b " " $2] = substr($3, i + 1) }; next } FNR == 1 || /^#/ { print; next } (($2 " " $4) in port) && port[$2 " " $4] == $19 && (addr[$2 " " $4] == $5 || addr[$2 " " $4] == $18) { print }`

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
	TLS             *haproxyTLS
	Metrics         *haproxyMetrics
}

type haproxyTLS struct {
	Port       int
	PEM        string
	Redirect   bool
	HSTSMaxAge int
}

type haproxyMetrics struct {
	Address string
	Port    int
	Path    string
}

// HAProxyTLSPEM is the one file haproxy reads for TLS: the certificate, its
// chain and the key.
const HAProxyTLSPEM = "/etc/haproxy/hadeploy.pem"

// PrometheusService is the name haproxy -vv gives its built-in exporter.
const PrometheusService = "prometheus-exporter"

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
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	m, err := haproxyFor(t.Cluster, d)
	if err != nil {
		return nil, err
	}
	if mx := t.Cluster.HAProxy.Metrics; mx != nil {
		// Known once haproxy is installed: apply plans again right after
		// installing packages, before any file is written.
		if t.Facts.HAProxyVersion != "" && !t.Facts.HAProxyHas(PrometheusService) {
			return nil, fmt.Errorf("haproxy.metrics: the installed haproxy %s was built without the Prometheus exporter (haproxy -vv lists no %s among its available services): remove haproxy.metrics, or install a haproxy built with USE_PROMEX=1", t.Facts.HAProxyVersion, PrometheusService)
		}
		m.Metrics = &haproxyMetrics{Address: t.Host.Address, Port: mx.Port, Path: mx.Path}
	}
	cfg, err := render("haproxy.cfg.tmpl", m)
	if err != nil {
		return nil, err
	}
	wm := struct {
		File, Dir, Watch, Unit, PollS string
		StopTimeoutS                  int
	}{HAProxyDownFile, StateDir, HAProxyWatchScript, HAProxyWatchUnit,
		strconv.FormatFloat(HAProxyWatchPoll.Seconds(), 'f', -1, 64), int(HAProxyStopTimeout / time.Second)}
	dropIn, err := render("haproxy-dropin.conf.tmpl", wm)
	if err != nil {
		return nil, err
	}
	watch, err := render("haproxy-watch.sh.tmpl", wm)
	if err != nil {
		return nil, err
	}
	var files []File
	if tl := t.Cluster.HAProxy.TLS; tl != nil {
		// First: it goes live before haproxy.cfg's candidate is checked, so
		// haproxy -c loads the certificate it names.
		files = append(files, File{Path: HAProxyTLSPEM, Content: []byte(tl.CertPEM + tl.KeyPEM), Mode: 0o600, Owner: "root:root",
			Secret: true, Summary: TLSSummary(tl)})
	}
	files = append(files, File{Path: d.HAProxyCfg, Content: cfg, Mode: 0o644, Owner: "root:root",
		Validate: "haproxy -c -f %s", SecretLines: []string{"stats auth"}},
		// The script before the drop-in that runs it.
		File{Path: HAProxyWatchScript, Content: watch, Mode: 0o755, Owner: "root:root", Validate: "sh -n %s"},
		File{Path: HAProxyDropIn, Content: dropIn, Mode: 0o644, Owner: "root:root"})
	return &Desired{
		Step: "haproxy",
		// socat talks to the stats socket, as in the article (verify uses it).
		Packages: []string{"haproxy", "socat"},
		Files:    files,
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
	if tl := h.TLS; tl != nil {
		m.TLS = &haproxyTLS{Port: tl.Port, PEM: HAProxyTLSPEM, Redirect: tl.RedirectHTTP, HSTSMaxAge: tl.HSTSMaxAge}
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

// TLSSummary is what plans show of the certificate: never the key.
func TLSSummary(t *inventory.TLS) string {
	return fmt.Sprintf("certificate sha256 %s, subject %s, expires %s", t.Fingerprint, t.Subject, t.NotAfter.UTC().Format(time.RFC3339))
}

// Checks: the watcher waits on haproxy's running main process, or a killed
// haproxy would reach keepalived only through systemd's slower ExecStopPost.
func (HAProxy) Checks(Target) []Check {
	unit := shell.Quote(HAProxyWatchUnit) + "-$p.service"
	return []Check{{Name: "haproxy exit watcher", Expected: HAProxyWatchUnit + "-PID.service waits on haproxy's main process",
		Command: "p=$(systemctl show -p MainPID --value haproxy.service); if [ \"${p:-0}\" != 0 ] && systemctl is-active -q " + unit +
			" && pgrep -f -- \"tail --pid=$p \" >/dev/null; then echo \"watching $p\"; else echo \"not watching haproxy (main pid ${p:-none}, watcher $(systemctl is-active " + unit + "))\"; fi",
		Judge: func(out string) bool { return strings.HasPrefix(out, "watching ") }}}
}
