package steps

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

// seedCluster is the article's cluster, built by hand so these tests do not
// depend on the loader's defaults.
func seedCluster() *inventory.Cluster {
	c := &inventory.Cluster{Name: "seed",
		Hosts: []*inventory.Host{
			{Name: "web1", Address: "192.168.83.129", Roles: []string{"web"}},
			{Name: "web2", Address: "192.168.83.130", Roles: []string{"web"}},
			{Name: "haproxy1", Address: "192.168.83.131", Roles: []string{"lb"}, Interface: "eth0", Priority: 100},
			{Name: "haproxy2", Address: "192.168.83.132", Roles: []string{"lb"}, Interface: "eth0", Priority: 80},
		},
		VIP:  "192.168.83.111/24",
		VRRP: inventory.VRRP{VirtualRouterID: 51, AdvertInt: 1, AuthPass: "linux", CheckWeight: 25, CheckInterval: 2, CheckFall: 2, CheckRise: 2},
		Web:  inventory.Web{Port: 8080, HealthCheck: "GET /index.html"},
		HAProxy: inventory.HAProxy{Port: 80, MaxConn: 4000, StatsURI: "/haproxy?stats", DefaultBackend: "web",
			CheckInter: 2000, Rise: 2, Fall: 3,
			Backends: []*inventory.Backend{
				{Name: "web", Servers: []*inventory.Server{{Host: "web1", Weight: 1}, {Host: "web2", Weight: 1}}},
				{Name: "www1", Servers: []*inventory.Server{{Host: "web1", Weight: 1}}},
				{Name: "www2", Servers: []*inventory.Server{{Host: "web2", Weight: 1}}},
				{Name: "static_web", Servers: []*inventory.Server{{Host: "web2", Weight: 1}}},
			},
			Routes: []*inventory.Route{
				{Host: "www.web1.com", Backend: "www1"},
				{Host: "www.web2.com", Backend: "www2"},
				{Name: "is_static", PathSuffix: []string{".css", ".jpg", ".png", ".js"}, Backend: "static_web"},
			}},
		Time: inventory.Time{Server: "time.nist.gov", Schedule: "*/10 * * * *"},
	}
	c.VIPPrefix = netip.MustParsePrefix(c.VIP)
	return c
}

var families = map[string]facts.Facts{
	"debian":   {ID: "debian", VersionID: "12", Codename: "bookworm", Family: facts.FamilyDebian, PkgMgr: "apt", Init: "systemd"},
	"debian13": {ID: "debian", VersionID: "13", Codename: "trixie", Family: facts.FamilyDebian, PkgMgr: "apt", Init: "systemd"},
	"rhel":     {ID: "rocky", VersionID: "9", Family: facts.FamilyRHEL, PkgMgr: "dnf", Init: "systemd"},
}

// rhelHTTPDConf is the part of a stock httpd.conf the edit touches.
const rhelHTTPDConf = "ServerRoot \"/etc/httpd\"\n#Listen 12.34.56.78:80\nListen 80\nInclude conf.modules.d/*.conf\n"

// TestGolden pins every rendered file, per family and host, and the packages,
// checks and services each step asks for.
func TestGolden(t *testing.T) {
	c := seedCluster()
	for fam, facts := range families {
		for _, h := range c.Hosts {
			var summary strings.Builder
			for _, st := range All() {
				if !st.Applies(h) {
					continue
				}
				d, err := st.Desired(Target{Cluster: c, Host: h, Facts: facts})
				if err != nil {
					t.Fatalf("%s/%s/%s: %v", fam, h.Name, st.Name(), err)
				}
				fmt.Fprintf(&summary, "step %s\n  packages: %s\n  check: %s\n", d.Step, strings.Join(d.Packages, " "), d.Check)
				for _, s := range d.Services {
					fmt.Fprintf(&summary, "  service: %s on change %s\n", s.Name, s.OnChange)
				}
				if d.Listen != nil {
					fmt.Fprintf(&summary, "  listen: %s/%d by %s\n", d.Listen.Proto, d.Listen.Port, d.Listen.Process)
				}
				for _, n := range d.Notes {
					fmt.Fprintf(&summary, "  note: %s\n", n)
				}
				for _, f := range d.Files {
					content := f.Content
					if f.Edit != nil {
						content, err = f.Edit([]byte(rhelHTTPDConf))
						if err != nil {
							t.Fatal(err)
						}
					}
					fmt.Fprintf(&summary, "  file: %s mode %o owner %s validate %q secret %v secret-lines %q\n", f.Path, f.Mode, f.Owner, f.Validate, f.Secret, f.SecretLines)
					golden(t, filepath.Join("testdata", "golden", fam, h.Name, strings.ReplaceAll(strings.TrimPrefix(f.Path, "/"), "/", "_")), content)
				}
			}
			golden(t, filepath.Join("testdata", "golden", fam, h.Name, "STEPS"), []byte(summary.String()))
		}
	}
}

// TestGoldenChrony pins time.method chrony per family: chrony's config, the
// emptied cron file, and the packages, check and services.
func TestGoldenChrony(t *testing.T) {
	c := seedCluster()
	c.Time.Method = inventory.TimeChrony
	h := c.Hosts[0]
	for _, fam := range []string{"debian13", "rhel"} {
		d, err := TimeSync{}.Desired(Target{Cluster: c, Host: h, Facts: families[fam]})
		if err != nil {
			t.Fatal(err)
		}
		var summary strings.Builder
		fmt.Fprintf(&summary, "packages: %s\ncheck: %s\n", strings.Join(d.Packages, " "), d.Check)
		for _, s := range d.Services {
			fmt.Fprintf(&summary, "service: %s on change %s\n", s.Name, s.OnChange)
		}
		for _, f := range d.Files {
			fmt.Fprintf(&summary, "file: %s mode %o\n", f.Path, f.Mode)
			golden(t, filepath.Join("testdata", "golden", "chrony-"+fam, strings.ReplaceAll(strings.TrimPrefix(f.Path, "/"), "/", "_")), f.Content)
		}
		for _, ck := range (TimeSync{}).Checks(Target{Cluster: c, Host: h, Facts: families[fam]}) {
			fmt.Fprintf(&summary, "verify: %s: %s\n", ck.Name, ck.Command)
			line := "^? 192.0.2.1                     0   6     0     -     +0ns[   +0ns] +/-    0ns"
			if ck.Judge(line) || !ck.Judge(strings.Replace(line, "192.0.2.1", c.Time.Server, 1)) {
				t.Errorf("%s: judge wrong for chronyc sources lines", ck.Name)
			}
		}
		golden(t, filepath.Join("testdata", "golden", "chrony-"+fam, "STEPS"), []byte(summary.String()))
	}
}

// TestDistroByRelease: Debian 13 and later (and sid, without VERSION_ID)
// install ntpsec-ntpdate; Debian 12 and Ubuntu keep ntpdate.
func TestDistroByRelease(t *testing.T) {
	for _, c := range []struct {
		f    facts.Facts
		want string
	}{
		{families["debian"], "ntpdate"},
		{families["debian13"], "ntpsec-ntpdate"},
		{facts.Facts{ID: "debian", VersionID: "14", Family: facts.FamilyDebian}, "ntpsec-ntpdate"},
		{facts.Facts{ID: "debian", Codename: "forky", Family: facts.FamilyDebian}, "ntpsec-ntpdate"},
		{facts.Facts{ID: "debian", VersionID: "11", Family: facts.FamilyDebian}, "ntpdate"},
		{facts.Facts{ID: "ubuntu", VersionID: "24.04", Family: facts.FamilyDebian}, "ntpdate"},
		{families["rhel"], "chrony"},
	} {
		d, err := distroFor(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if d.TimePackage != c.want {
			t.Errorf("%s: time package %s, want %s", c.f.Release(), d.TimePackage, c.want)
		}
	}
	if _, err := distroFor(facts.Facts{ID: "arch"}); err == nil {
		t.Error("no family must be an error")
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./steps -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from golden file:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func TestSetListen(t *testing.T) {
	out, err := setListen([]byte("Listen 80\nListen 0.0.0.0:443\n"), []int{8080})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "Listen 8080\n# disabled by hadeploy: Listen 0.0.0.0:443\n" {
		t.Errorf("got %q", out)
	}
	out, _ = setListen([]byte("ServerRoot x\n"), []int{8080})
	if !strings.HasSuffix(string(out), "\nListen 8080\n") {
		t.Errorf("missing Listen appended: %q", out)
	}
	if _, err := setListen(nil, []int{8080}); err == nil {
		t.Error("absent httpd.conf must be an error")
	}
	// Idempotent: editing the edited file changes nothing.
	once, _ := setListen([]byte(rhelHTTPDConf), []int{8080})
	twice, _ := setListen(once, []int{8080})
	if string(once) != string(twice) {
		t.Errorf("edit is not idempotent:\n%s\n%s", once, twice)
	}
}

func TestMasterIsHighestPriority(t *testing.T) {
	c := seedCluster()
	d, err := Keepalived{}.Desired(Target{Cluster: c, Host: c.Host("haproxy2"), Facts: families["debian"]})
	if err != nil {
		t.Fatal(err)
	}
	conf := string(fileOf(t, d, "/etc/keepalived/keepalived.conf").Content)
	if !strings.Contains(conf, "state BACKUP") || !strings.Contains(conf, "priority 80") {
		t.Errorf("haproxy2 should be BACKUP priority 80:\n%s", conf)
	}
	if strings.Contains(conf, "vrrp_strict") || strings.Contains(conf, "killall") {
		t.Error("keepalived.conf must never use vrrp_strict or killall")
	}
}

func TestDetectionBound(t *testing.T) {
	c := seedCluster()
	if got := MasterDownBound(c); got != 5*time.Second {
		t.Errorf("master-down bound = %s, want 5s", got)
	}
	if got := FaultBound(c, c.VIPList()[0], "lb1"); got != 1609*time.Millisecond {
		t.Errorf("fault bound = %s, want 1.609s (skew of the backup, priority 100 at advert_int 1, plus 1 s)", got)
	}
	if got := CrashBound(c, c.VIPList()[0], "lb1"); got != 3909*time.Millisecond {
		t.Errorf("crash bound = %s, want 3.909s (3 adverts, the backup's skew 0.609 s, plus 0.3 s)", got)
	}
	c.VRRP.AdvertInt = 2
	if got := CrashBound(c, c.VIPList()[0], "lb1"); got != 7519*time.Millisecond {
		t.Errorf("crash bound at advert_int 2 = %s, want 7.519s", got)
	}
	// VRRPv3 at 0.2 s: a backup at priority 100 waits 3 × 0.2 s + 0.122 s.
	c.VRRP.Version, c.VRRP.AdvertInt = 3, 0.2
	if got := CrashBound(c, c.VIPList()[0], "lb1"); got != 1022*time.Millisecond {
		t.Errorf("crash bound at advert_int 0.2 = %s, want 1.022s", got)
	}
	if got := MasterDownBound(c); got != 1800*time.Millisecond {
		t.Errorf("master-down bound at advert_int 0.2 = %s, want 1.8s", got)
	}
}

// VRRPv3 renders vrrp_version and the sub-second interval; VRRPv2 renders
// neither line differently from before.
func TestKeepalivedVersion3(t *testing.T) {
	c := seedCluster()
	c.VRRP.Version, c.VRRP.AdvertInt, c.VRRP.AuthPass = 3, 0.2, ""
	d, err := Keepalived{}.Desired(Target{Cluster: c, Host: c.Host("haproxy1"), Facts: families["debian"]})
	if err != nil {
		t.Fatal(err)
	}
	conf := string(fileOf(t, d, "/etc/keepalived/keepalived.conf").Content)
	for _, want := range []string{"\tvrrp_version 3\n", "\tadvert_int 0.2\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "authentication") {
		t.Error("VRRPv3 has no authentication block")
	}
	if v, a := vrrpTiming(conf); v != 3 || a != "0.2" {
		t.Errorf("vrrpTiming read %d %q back, want 3 \"0.2\"", v, a)
	}
}

func TestReadsCoverBothFamilies(t *testing.T) {
	c := seedCluster()
	rd, err := ReadsFor(c, c.Hosts, func(h *inventory.Host) []Step {
		var out []Step
		for _, s := range All() {
			if s.Applies(h) {
				out = append(out, s)
			}
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	if pk := strings.Join(rd.Packages, " "); !strings.Contains(pk, "ntpsec-ntpdate") || !strings.Contains(pk, " ntpdate") {
		t.Errorf("Reads lacks a release's time package: %s", pk)
	}
	ps := strings.Join(rd.Paths, " ")
	for _, want := range []string{"/etc/apache2/ports.conf", "/etc/httpd/conf/httpd.conf", "/etc/haproxy/haproxy.cfg", "/etc/keepalived/keepalived.conf", CheckScript} {
		if !strings.Contains(ps, want) {
			t.Errorf("Reads lacks %s", want)
		}
	}
}

// A staged port change listens on both ports, then on the new one only; each
// edit is idempotent and keeps the rest of httpd.conf.
func TestSetListenTwoPorts(t *testing.T) {
	both, _ := setListen([]byte(rhelHTTPDConf), []int{8080, 8081})
	if !strings.Contains(string(both), "Listen 8080\nListen 8081\n") {
		t.Fatalf("both ports: %s", both)
	}
	if again, _ := setListen(both, []int{8080, 8081}); string(again) != string(both) {
		t.Errorf("two-port edit not idempotent:\n%s\n%s", both, again)
	}
	one, _ := setListen(both, []int{8081})
	if strings.Contains(string(one), "8080") || !strings.Contains(string(one), "Listen 8081\n") {
		t.Errorf("back to one port: %s", one)
	}
	direct, _ := setListen([]byte(rhelHTTPDConf), []int{8081})
	if string(one) != string(direct) {
		t.Errorf("1→2→1 ports differs from a direct edit:\n%s\n%s", one, direct)
	}
}

// The state file haproxy reloads from keeps only the servers whose address
// and port the new configuration names: haproxy would otherwise apply the
// saved (old) port over the configuration's.
func TestKeepStateDropsServersWhoseAddressOrPortChanged(t *testing.T) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		t.Skip("no awk here")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	state := filepath.Join(dir, "state")
	os.WriteFile(cfg, []byte("frontend www\n\tbind *:80\nbackend web\n\toption httpchk GET /index.html\n\tserver web1 10.0.0.11:8081 cookie web1 check\n\tserver web2 10.0.0.12:8080 cookie web2 check\nbackend www1\n\tserver web1 10.0.0.11:8081 cookie web1 check\nbackend named\n\tserver web3 web3.example.com:8080 cookie web3 check\n"), 0o644)
	head := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
	named := func(be, sv, addr, fqdn, port string) string {
		return "3 " + be + " 1 " + sv + " " + addr + " 2 0 1 1 100 6 3 4 6 0 0 0 " + fqdn + " " + port + " - 0 0 - - 0\n"
	}
	line := func(be, sv, addr, port string) string { return named(be, sv, addr, "-", port) }
	os.WriteFile(state, []byte(head+line("web", "web1", "10.0.0.11", "8080")+line("web", "web2", "10.0.0.12", "8080")+
		line("www1", "web1", "10.0.0.11", "8081")+line("web", "gone", "10.0.0.13", "8080")+line("static_web", "web2", "10.0.0.99", "8080")+
		line("web", "web2", "10.0.0.99", "8080")+named("named", "web3", "10.0.0.13", "web3.example.com", "8080")), 0o644)
	out, err := exec.Command(awk, keepState, cfg, state).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := head + line("web", "web2", "10.0.0.12", "8080") + line("www1", "web1", "10.0.0.11", "8081") + named("named", "web3", "10.0.0.13", "web3.example.com", "8080"); string(out) != want {
		t.Errorf("kept:\n%s\nwant:\n%s", out, want)
	}
}
