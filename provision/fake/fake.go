// Package fake is an in-memory host for fast tests of the runner and the
// renderers. It understands the remote programs hadeploy sends (snapshot,
// packages, step, journal, rollback, release, VIP query, status) well enough to keep
// a believable state; real behaviour is covered by the e2e suite on the lab.
package fake

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hadeploy/hadeploy/transport"
)

// Host is one fake machine.
type Host struct {
	HostName  string
	OSRelease string
	Files     map[string]string
	Modes     map[string]string // path → octal mode, as the step program set it
	Packages  map[string]bool
	Services  map[string]string // unit → "active enabled"
	Addrs     []string
	// Lock is the lock's info ("" = free).
	Lock string
	// FailStep makes the step script for this step fail at the service stage.
	FailStep string
	// Rotation answers a load balancer's rotation probe about server sv: its
	// haproxy status and the host that answers a request pinned to sv.
	// Default: "UP", answered by sv itself.
	Rotation func(sv string) (status, answeredBy string)
	// Backends is the fake haproxy's config (backend → servers) and Admin
	// the admin state set through its runtime API ("backend/server" → state).
	Backends map[string][]string
	Admin    map[string]string
	// ServerPort, when set, is the port the fake haproxy really reaches
	// server sv on, given the configured one (a saved state that kept the
	// old port); default: the configured one.
	ServerPort func(sv, configured string) string
	// Sessions is a server's current sessions (default 0).
	Sessions func(sv string) int

	// FailIf, when set, makes a step fail at the service stage when it
	// returns true for the step and the files the program wrote (path →
	// content): a port another process holds, say.
	FailIf func(step string, written map[string]string) bool

	mu    sync.Mutex
	runs  map[string]*run // run id → what it changed
	runID string          // the run last started
	Log   []string        // every program's first meaningful line, for assertions
	// Programs holds every program the host was sent, whole.
	Programs []string
}

// run is one run's journal on the host.
type run struct {
	backups map[string]*string // path → content before the run (nil = absent)
	journal []string
	status  string
}

// cur is the run last started (nil: none).
func (h *Host) cur() *run { return h.runs[h.runID] }

// runOf is the run a program names (its run folder), or nil.
func (h *Host) runOf(s string) (string, *run) {
	m := anyRunDir.FindStringSubmatch(s)
	if m == nil {
		return "", nil
	}
	return m[1], h.runs[m[1]]
}

var anyRunDir = regexp.MustCompile(`/var/backups/hadeploy/([^/\s'"]+)`)

// NewRocky returns an empty Rocky Linux 9 host (dnf, rpm).
func NewRocky(name string, addrs ...string) *Host {
	h := NewDebian(name, addrs...)
	h.OSRelease = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n"
	return h
}

// distroFiles are what installing a package puts in place that a step then
// edits (RHEL's httpd.conf).
var distroFiles = map[string]map[string]string{
	"httpd": {"/etc/httpd/conf/httpd.conf": "ServerRoot \"/etc/httpd\"\nListen 80\nInclude conf.modules.d/*.conf\n"},
}

// NewDebian returns an empty Debian 12 host.
func NewDebian(name string, addrs ...string) *Host {
	return &Host{HostName: name, OSRelease: "ID=debian\nVERSION_ID=\"12\"\n", Files: map[string]string{},
		Packages: map[string]bool{}, Services: map[string]string{}, Addrs: addrs}
}

// Transport returns a transport.Transport bound to the host.
func (h *Host) Transport() transport.Transport { return &conn{h: h} }

// conn counts its own round trips, like one SSH connection.
type conn struct {
	h   *Host
	rts atomic.Int64
}

func (t *conn) Name() string      { return t.h.HostName }
func (t *conn) RoundTrips() int64 { return t.rts.Load() }
func (t *conn) Close() error      { return nil }

var (
	heredoc = regexp.MustCompile(`(?s)base64 -d > (\S+) <<'HADEPLOY_EOF'\n(.*?)HADEPLOY_EOF\n`)
	mvLine  = regexp.MustCompile(`(?m)mv -f (\S+) (\S+)$`)
	sysctl  = regexp.MustCompile(`(?m)systemctl (start|reload|restart|enable -q) (\S+)`)
	jfile   = regexp.MustCompile(`(?m)^(?:if \[ -e \S+ \]; then cp -a \S+ (\S+)\.hadeploy-restore|rm -f (\S+)$)`)
)

func (t *conn) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	h := t.h
	t.rts.Add(1)
	b, _ := io.ReadAll(stdin)
	s := string(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Programs = append(h.Programs, s)
	switch {
	case strings.Contains(s, "echo ==status"):
		// First: the status program also lists addresses and reads show stat.
		h.Log = append(h.Log, "status")
		return ok(h.statusOut(s)), nil
	case strings.Contains(s, `echo "==os"`):
		h.Log = append(h.Log, "snapshot")
		return h.snapshot(s), nil
	case strings.Contains(s, "apt-get -q update") || strings.Contains(s, " -y install "):
		h.Log = append(h.Log, "packages")
		h.startRun(s)
		r := h.cur()
		for _, m := range regexp.MustCompile(`install ([^;)]*?)(?:; }| 2>&1\))`).FindStringSubmatch(s)[1:] {
			for _, p := range strings.Fields(m) {
				h.Packages[p] = true
				r.journal = append(r.journal, "pkg "+p)
				for path, c := range distroFiles[p] {
					if _, ok := h.Files[path]; !ok {
						h.Files[path] = c
					}
				}
			}
		}
		return ok(""), nil
	case strings.Contains(s, `echo "begin "`):
		step := regexp.MustCompile(`echo "begin "(\S+)`).FindStringSubmatch(s)[1]
		h.Log = append(h.Log, "step "+step)
		h.startRun(s)
		r := h.cur()
		r.journal = append(r.journal, "begin "+step)
		written := map[string]string{}
		staged := map[string]string{}
		for _, m := range heredoc.FindAllStringSubmatch(s, -1) {
			d, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(m[2], "\n", ""))
			staged[m[1]] = string(d)
		}
		for _, m := range mvLine.FindAllStringSubmatch(s, -1) {
			c, ok := staged[m[1]]
			if !ok {
				continue
			}
			if _, seen := r.backups[m[2]]; !seen {
				if old, ok := h.Files[m[2]]; ok {
					r.backups[m[2]] = &old
					r.journal = append(r.journal, "file "+m[2]+" backup")
				} else {
					r.backups[m[2]] = nil
					r.journal = append(r.journal, "file "+m[2]+" absent")
				}
			}
			h.Files[m[2]] = c
			written[m[2]] = c
			if mm := regexp.MustCompile(`chmod (\d+) ` + regexp.QuoteMeta(m[1]) + ` `).FindStringSubmatch(s); mm != nil {
				if h.Modes == nil {
					h.Modes = map[string]string{}
				}
				h.Modes[m[2]] = mm[1]
			}
		}
		for _, m := range regexp.MustCompile(`echo "activate "(\S+) >>`).FindAllStringSubmatch(s, -1) {
			r.journal = append(r.journal, "activate "+m[1])
		}
		for _, m := range sysctl.FindAllStringSubmatch(s, -1) {
			prev := h.Services[m[2]]
			if prev == "" {
				prev = "inactive disabled"
			}
			r.journal = append(r.journal, "service "+m[2]+" "+prev)
			a, e, _ := strings.Cut(prev, " ")
			if m[1] == "enable -q" {
				e = "enabled"
			} else {
				a = "active"
			}
			h.Services[m[2]] = a + " " + e
		}
		if h.FailStep == step || (h.FailIf != nil && h.FailIf(step, written)) {
			return transport.Result{ExitCode: 12, Stdout: []byte("==fail service " + step + ": not serving after 10s\n")}, nil
		}
		r.journal = append(r.journal, "done "+step)
		return ok(""), nil
	case strings.Contains(s, `==norun`):
		h.Log = append(h.Log, "journal")
		_, r := h.runOf(s)
		if r == nil {
			return ok("==norun\n"), nil
		}
		return ok("==status " + r.status + "\n" + strings.Join(r.journal, "\n") + "\n"), nil
	case strings.Contains(s, `==rolledback`):
		h.Log = append(h.Log, "rollback")
		id, r := h.runOf(s)
		if r == nil {
			return ok("==rolledback\n"), nil
		}
		for p, old := range r.backups {
			if old == nil {
				delete(h.Files, p)
			} else {
				h.Files[p] = *old
			}
		}
		r.status = "rolled-back"
		h.Log = append(h.Log, "rollback "+id)
		return ok("==rolledback\n"), nil
	case strings.Contains(s, "rm -rf /var/lib/hadeploy/lock"):
		h.Log = append(h.Log, "release")
		if _, r := h.runOf(s); r != nil && r.status == "running" && strings.Contains(s, "echo ok >") {
			r.status = "ok"
		}
		// A run releases only its own lock; `lock release` any.
		if m := ownLock.FindStringSubmatch(s); m == nil || unquote(m[1]) == h.Lock {
			h.Lock = ""
		}
		return ok(""), nil
	case strings.Contains(s, "echo ok > ") && strings.Contains(s, "/status; fi"):
		// A finished stage of a staged apply.
		h.Log = append(h.Log, "mark")
		if _, r := h.runOf(s); r != nil {
			r.status = "ok"
		}
		return ok(""), nil
	case strings.Contains(s, "'show servers state'") && strings.Contains(s, "==port"):
		// The ports the fake haproxy reaches its servers on: its config's.
		h.Log = append(h.Log, "servers state")
		var b strings.Builder
		if _, ok := h.Files["/etc/haproxy/haproxy.cfg"]; ok {
			b.WriteString("==cfgread\n")
		}
		for _, sv := range cfgServers(h.Files["/etc/haproxy/haproxy.cfg"]) {
			port := sv.port
			fmt.Fprintf(&b, "==cfg %s %s %s\n", sv.backend, sv.name, port)
			if h.ServerPort != nil {
				port = h.ServerPort(sv.name, port)
			}
			fmt.Fprintf(&b, "==port %s %s %s\n", sv.backend, sv.name, port)
		}
		return ok(b.String()), nil
	case strings.Contains(s, "echo ==probe"):
		// A test gate's probe: answer with the host's name.
		return ok("==probe " + h.HostName + "\n"), nil
	case strings.Contains(s, "-v bs="):
		for _, m := range regexp.MustCompile(`set server (\S+) state (\w+)'`).FindAllStringSubmatch(s, -1) {
			if h.Admin == nil {
				h.Admin = map[string]string{}
			}
			h.Admin[m[1]] = m[2]
		}
		var b strings.Builder
		for _, be := range strings.Split(regexp.MustCompile(`-v bs=(\S+)`).FindStringSubmatch(s)[1], ",") {
			for _, sv := range h.Backends[be] {
				st := "UP"
				if h.Rotation != nil {
					st, _ = h.Rotation(sv)
				}
				// Like haproxy: maint shows whatever the checks say; drain
				// shows only on a server that is up.
				switch h.Admin[be+"/"+sv] {
				case "drain":
					if strings.HasPrefix(st, "UP") {
						st = "DRAIN"
					}
				case "maint":
					st = "MAINT"
				}
				n := 0
				if h.Sessions != nil {
					n = h.Sessions(sv)
				}
				fmt.Fprintf(&b, "==srv %s %s %d %s\n", be, sv, n, st)
			}
		}
		h.Log = append(h.Log, "admin")
		return ok(b.String()), nil
	case strings.Contains(s, "'show stat'"):
		sv := regexp.MustCompile(`-v sv=(\S+)`).FindStringSubmatch(s)[1]
		st, by := "UP", sv
		if h.Rotation != nil {
			st, by = h.Rotation(sv)
		}
		h.Log = append(h.Log, "rotation "+sv)
		out := "==stat web " + st + "\n"
		if strings.Contains(s, "==reach") {
			out += "==reach " + by + "\n"
		}
		return ok(out), nil
	case strings.Contains(s, "grep -qF"):
		vip := regexp.MustCompile(`grep -qF ' (\S+)/'`).FindStringSubmatch(s)[1]
		for _, a := range h.Addrs {
			if strings.HasPrefix(a, vip+"/") {
				return ok("==holds\n"), nil
			}
		}
		return ok("==free\n"), nil
	case strings.Contains(s, "ip -o -4 addr show"):
		var b strings.Builder
		for _, a := range h.Addrs {
			b.WriteString("==addr " + a + "\n")
		}
		return ok(b.String()), nil
	}
	return transport.Result{ExitCode: 127, Stderr: []byte("fake: unknown program")}, nil
}

var (
	lockInfo = regexp.MustCompile(`printf '%s\\n' ('[^\n]*?'|\S+) > /var/lib/hadeploy/lock/info`)
	ownLock  = regexp.MustCompile(`(?:if \[ "\$\(cat /var/lib/hadeploy/lock/info 2>/dev/null\)"|li=; \{ IFS= read -r li < /var/lib/hadeploy/lock/info; \} 2>/dev/null; if \[ "\$li") = ('[^\n]*?'|\S+) \]; then (?::; )?rm -rf`)
)

// unquote undoes shell.Quote: a bare word, or '…' pieces joined by "'".
func unquote(q string) string {
	if !strings.HasPrefix(q, "'") {
		return q
	}
	return strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(q, "'"), "'"), `'"'"'`, "'")
}

// SetLock sets who holds the host's lock ("" = free), as another run or
// tool would.
func (h *Host) SetLock(info string) {
	h.mu.Lock()
	h.Lock = info
	h.mu.Unlock()
}

// Paths lists the files the host has.
func (h *Host) Paths() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for p := range h.Files {
		out = append(out, p)
	}
	return out
}

// LockInfo is who holds the host's lock ("" = free).
func (h *Host) LockInfo() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Lock
}

// SetStatus sets the current run's status (to simulate a crash).
func (h *Host) SetStatus(st string) {
	h.mu.Lock()
	if r := h.cur(); r != nil {
		r.status = st
	}
	h.mu.Unlock()
}

var runDir = regexp.MustCompile(`/var/backups/hadeploy/([^/\s]+)/files`)

func (h *Host) startRun(s string) {
	m := runDir.FindStringSubmatch(s)
	if m == nil {
		return
	}
	h.runID = m[1]
	if h.runs == nil {
		h.runs = map[string]*run{}
	}
	if h.runs[m[1]] == nil {
		h.runs[m[1]] = &run{status: "running", backups: map[string]*string{}}
	}
}

func ok(out string) transport.Result { return transport.Result{Stdout: []byte(out)} }

func (h *Host) snapshot(s string) transport.Result {
	var b strings.Builder
	b.WriteString("==os\n" + h.OSRelease + "==endos\n==hostname " + h.HostName + "\n")
	if m := regexp.MustCompile(`(?m)^for p in ([^;]*); do if \[ -f "\$p" \]`).FindStringSubmatch(s); m != nil {
		paths := strings.Fields(m[1]) // hadeploy's paths need no quoting
		for _, p := range paths {
			if _, ok := h.Files[p]; ok {
				mode := "644"
				if md, ok := h.Modes[p]; ok {
					mode = md
				}
				fmt.Fprintf(&b, "==mode %s root:root %s\n", mode, p)
			}
		}
		for _, p := range paths {
			if c, ok := h.Files[p]; ok {
				fmt.Fprintf(&b, "==file %s\n%s\n", p, base64.StdEncoding.EncodeToString([]byte(c)))
			} else {
				fmt.Fprintf(&b, "==nofile %s\n", p)
			}
		}
	}
	if m := regexp.MustCompile(`dpkg-query -W -f='[^']*' ([^&|]*?) 2>`).FindStringSubmatch(s); m != nil {
		// The same list goes to rpm on RPM hosts; the answer looks alike.
		for _, p := range strings.Fields(m[1]) {
			if h.Packages[p] {
				fmt.Fprintf(&b, "==pkg %s install ok installed\n", p)
			}
		}
	}
	if m := regexp.MustCompile(`systemctl show -p Id,ActiveState,UnitFileState ([^|]*?) 2>`).FindStringSubmatch(s); m != nil {
		for _, u := range strings.Fields(m[1]) {
			name := strings.TrimSuffix(u, ".service")
			st := h.Services[name]
			if st == "" {
				st = "inactive "
			}
			a, e, _ := strings.Cut(st, " ")
			fmt.Fprintf(&b, "==unit Id=%s\n==unit ActiveState=%s\n==unit UnitFileState=%s\n==unit \n", u, a, e)
		}
	}
	for _, a := range h.Addrs {
		fmt.Fprintf(&b, "==addr %s\n", a)
	}
	var ids []string
	for id := range h.runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "==run %s %s by fake\n", id, h.runs[id].status)
	}
	if strings.Contains(s, "mkdir /var/lib/hadeploy/lock 2>/dev/null") {
		if h.Lock != "" {
			fmt.Fprintf(&b, "==lock held %s\n", h.Lock)
		} else {
			h.Lock = "(no details)"
			if m := lockInfo.FindStringSubmatch(s); m != nil {
				h.Lock = unquote(m[1])
			}
			b.WriteString("==lock taken\n")
		}
	}
	return ok(b.String())
}

// statusOut answers the status program as a host would: versions of what is
// installed, the VIP, keepalived's state (MASTER where the VIP is, the
// priority of its config) and haproxy's servers (UP unless Rotation or an
// admin state says otherwise).
func (h *Host) statusOut(s string) string {
	var b strings.Builder
	b.WriteString("==status\n")
	if strings.Contains(s, "==ver apache") {
		line := ""
		switch {
		case h.Packages["apache2"]:
			line = "Server version: Apache/2.4.62 (Debian)"
		case h.Packages["httpd"]:
			line = "Server version: Apache/2.4.57 (Rocky Linux)"
		}
		fmt.Fprintf(&b, "==ver apache %s\n", line)
	}
	if !strings.Contains(s, "==vip") {
		return b.String()
	}
	for _, v := range [][2]string{{"haproxy", "HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://haproxy.org/"}, {"keepalived", "Keepalived v2.2.7 (01/16,2022)"}} {
		if h.Packages[v[0]] {
			fmt.Fprintf(&b, "==ver %s %s\n", v[0], v[1])
		} else {
			fmt.Fprintf(&b, "==ver %s\n", v[0])
		}
	}
	holds := false
	if m := regexp.MustCompile(`grep -qF ' (\S+)/'`).FindStringSubmatch(s); m != nil {
		for _, a := range h.Addrs {
			holds = holds || strings.HasPrefix(a, m[1]+"/")
		}
	}
	if holds {
		b.WriteString("==vip held\n")
	} else {
		b.WriteString("==vip free\n")
	}
	conf := h.Files["/etc/keepalived/keepalived.conf"]
	inst := regexp.MustCompile(`-v inst=(\S+)`).FindStringSubmatch(s)
	switch {
	case !strings.HasPrefix(h.Services["keepalived"], "active"):
		b.WriteString("==vrrp unknown keepalived is not running\n")
	case inst == nil || !strings.Contains(conf, "vrrp_instance "+inst[1]+" "):
		b.WriteString("==vrrp unknown no vrrp_instance in keepalived's data (not applied yet?)\n")
	default:
		prio := "0"
		if m := regexp.MustCompile(`(?m)^\s*priority (\d+)`).FindStringSubmatch(conf); m != nil {
			prio = m[1]
		}
		st := "BACKUP"
		if holds {
			st = "MASTER"
		}
		fmt.Fprintf(&b, "==vrrp %s %s %s\n", st, prio, prio)
	}
	if !strings.HasPrefix(h.Services["haproxy"], "active") {
		b.WriteString("==stats unknown no stats socket (is haproxy running?)\n")
		return b.String()
	}
	backends := h.Backends
	if backends == nil {
		backends = map[string][]string{}
		for _, sv := range cfgServers(h.Files["/etc/haproxy/haproxy.cfg"]) {
			backends[sv.backend] = append(backends[sv.backend], sv.name)
		}
	}
	for be, svs := range backends {
		for _, sv := range svs {
			st := "UP"
			if h.Rotation != nil {
				st, _ = h.Rotation(sv)
			}
			switch h.Admin[be+"/"+sv] {
			case "drain":
				st = "DRAIN"
			case "maint":
				st = "MAINT"
			}
			fmt.Fprintf(&b, "==srv %s %s 0 %s\n", be, sv, st)
		}
	}
	b.WriteString("==stats ok\n")
	return b.String()
}

// cfgServer is one server line of a haproxy.cfg, in its backend.
type cfgServer struct{ backend, name, port string }

// cfgServers reads the server lines of each backend of a haproxy.cfg.
func cfgServers(cfg string) []cfgServer {
	var out []cfgServer
	be := ""
	for _, l := range strings.Split(cfg, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "backend":
			be = f[1]
		case len(f) >= 2 && f[0] == "server" && be != "":
			sv := cfgServer{backend: be, name: f[1]}
			if len(f) >= 3 {
				sv.port = f[2][strings.LastIndexByte(f[2], ':')+1:]
			}
			out = append(out, sv)
		}
	}
	return out
}
