package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

var testSubnet = netip.MustParsePrefix("10.213.47.0/24")

func TestNaming(t *testing.T) {
	if got := NetnsName("lab-a"); got != "hdlab-lab-a" {
		t.Errorf("NetnsName = %q", got)
	}
	cases := []struct {
		subnet, addr, want string
	}{
		{"10.213.47.0/24", "10.213.47.91", "hdlv91"},
		{"10.213.47.0/24", "10.213.47.2", "hdlv2"},
		{"10.213.47.0/24", "10.213.47.254", "hdlv254"},
		{"10.213.0.0/16", "10.213.255.254", "hdlv65534"},
		{"10.213.47.64/29", "10.213.47.70", "hdlv6"},
	}
	for _, c := range cases {
		got := VethName(netip.MustParsePrefix(c.subnet), netip.MustParseAddr(c.addr))
		if got != c.want {
			t.Errorf("VethName(%s, %s) = %q, want %q", c.subnet, c.addr, got, c.want)
		}
		if len(got) > 15 {
			t.Errorf("VethName %q longer than IFNAMSIZ-1", got)
		}
	}
	if got := BridgeAddr(testSubnet); got != netip.MustParseAddr("10.213.47.1") {
		t.Errorf("BridgeAddr = %s", got)
	}
	if got := broadcastAddr(testSubnet); got != netip.MustParseAddr("10.213.47.255") {
		t.Errorf("broadcastAddr = %s", got)
	}
	if KeyPath() != "/var/lib/hadeploy-lab/id_ed25519" || KnownHostsPath() != "/var/lib/hadeploy-lab/known_hosts" {
		t.Errorf("paths: %s %s", KeyPath(), KnownHostsPath())
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Subnet: testSubnet, Hosts: []HostSpec{{"lab-a", "10.213.47.91", ""}, {"lab-b", "10.213.47.92", ""}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	bad := []struct {
		name string
		spec Spec
		want string
	}{
		{"outside", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.48.5", ""}}}, "outside the lab subnet"},
		{"public", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "8.8.8.8", ""}}}, "outside the lab subnet"},
		{"dup addr", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.47.5", ""}, {"b", "10.213.47.5", ""}}}, "both use address"},
		{"dup name", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.47.5", ""}, {"a", "10.213.47.6", ""}}}, "listed twice"},
		{"bridge", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.47.1", ""}}}, "bridge"},
		{"network", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.47.0", ""}}}, "network address"},
		{"broadcast", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "10.213.47.255", ""}}}, "broadcast"},
		{"not ip", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "lab-a.example", ""}}}, "not an IPv4"},
		{"ipv6", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"a", "fd00::1", ""}}}, "not an IPv4"},
		{"bad name", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"Lab_A", "10.213.47.5", ""}}}, "host name"},
		{"dash name", Spec{Subnet: testSubnet, Hosts: []HostSpec{{"-a", "10.213.47.5", ""}}}, "host name"},
		{"no hosts", Spec{Subnet: testSubnet}, "no hosts"},
		{"no subnet", Spec{Hosts: []HostSpec{{"a", "10.213.47.5", ""}}}, "not an IPv4 prefix"},
		{"v6 subnet", Spec{Subnet: netip.MustParsePrefix("fd00::/64"), Hosts: []HostSpec{{"a", "10.213.47.5", ""}}}, "not an IPv4 prefix"},
		{"host bits", Spec{Subnet: netip.MustParsePrefix("10.213.47.5/24"), Hosts: []HostSpec{{"a", "10.213.47.9", ""}}}, "host bits"},
		{"too big", Spec{Subnet: netip.MustParsePrefix("10.0.0.0/8"), Hosts: []HostSpec{{"a", "10.213.47.9", ""}}}, "prefix length"},
	}
	for _, c := range bad {
		err := c.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestProxyConf(t *testing.T) {
	conf := renderProxyConf(testSubnet, "/var/lib/hadeploy-lab")
	for _, want := range []string{
		"Port 3128\n",
		"Listen 10.213.47.1\n",
		"Allow 10.213.47.0/24\n",
		`PidFile "/var/lib/hadeploy-lab/tinyproxy.pid"` + "\n",
		`LogFile "/var/lib/hadeploy-lab/logs/tinyproxy.log"` + "\n",
		`Filter "/var/lib/hadeploy-lab/tinyproxy.filter"` + "\n",
		"FilterDefaultDeny Yes\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("tinyproxy.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, bad := range []string{"Upstream", "Allow 0.0.0.0", "Allow 127."} {
		if strings.Contains(conf, bad) {
			t.Errorf("tinyproxy.conf must not contain %q:\n%s", bad, conf)
		}
	}
	if n := strings.Count(conf, "Allow "); n != 1 {
		t.Errorf("want exactly one Allow line, got %d", n)
	}
	if got := renderProxyFilter([]string{"deb.debian.org"}); got != `^deb\.debian\.org$`+"\n" {
		t.Errorf("filter = %q", got)
	}
	if got := aptProxyConf(testSubnet); got != `Acquire::http::Proxy "http://10.213.47.1:3128";`+"\n" {
		t.Errorf("01proxy = %q", got)
	}
}

func TestPrereqs(t *testing.T) {
	err := checkPrereqs(1000, func(string) bool { return true })
	if err == nil || !strings.Contains(err.Error(), "lab needs root") {
		t.Errorf("non-root: %v", err)
	}
	if err := checkPrereqs(0, func(string) bool { return true }); err != nil {
		t.Errorf("all present: %v", err)
	}
	err = checkPrereqs(0, func(c string) bool { return c != "systemd-nspawn" && c != "tinyproxy" && c != "debootstrap" })
	if err == nil {
		t.Fatal("missing commands not reported")
	}
	for _, want := range []string{"systemd-nspawn (package systemd-container)", "tinyproxy (package tinyproxy)",
		"apt-get install -y debootstrap systemd-container tinyproxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestNspawnArgs(t *testing.T) {
	hs := newHostState(HostSpec{"lab-a", "10.213.47.91", ""}, DefaultRelease, testSubnet)
	want := []string{"--keep-unit", "--register=no", "-D", "/var/lib/hadeploy-lab/hosts/lab-a/root", "-M", "lab-a",
		"--network-namespace-path=/run/netns/hdlab-lab-a", "--capability=CAP_NET_ADMIN,CAP_NET_RAW", "-b"}
	if got := nspawnArgs(hs); !reflect.DeepEqual(got, want) {
		t.Errorf("nspawnArgs =\n %q\nwant\n %q", got, want)
	}
	if hs.Veth != "hdlv91" || hs.Netns != "hdlab-lab-a" || hs.Upper != "/var/lib/hadeploy-lab/hosts/lab-a/upper" {
		t.Errorf("host state %+v", hs)
	}
	// Debian 13's systemd is told to accept the v1 hierarchy, as init args.
	hs = newHostState(HostSpec{"lab-a", "10.213.47.91", "13"}, "trixie", testSubnet)
	want = append(want, "systemd.unified_cgroup_hierarchy=0", "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1")
	if got := nspawnArgs(hs); !reflect.DeepEqual(got, want) {
		t.Errorf("trixie nspawnArgs =\n %q\nwant\n %q", got, want)
	}
}

func TestKnownHosts(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " root@somewhere\n"
	if err := os.WriteFile(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key.pub"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := hostKeyLines(root, "10.213.47.91")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "10.213.47.91 ssh-ed25519 AAAA") || strings.Contains(lines[0], "root@") {
		t.Fatalf("lines = %q", lines)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.ParseIP("10.213.47.91"), Port: 22}
	if err := cb("10.213.47.91:22", addr, k); err != nil {
		t.Errorf("known key rejected: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	ok2, _ := ssh.NewPublicKey(other)
	if err := cb("10.213.47.91:22", addr, ok2); err == nil {
		t.Errorf("other key accepted")
	}
	if _, err := hostKeyLines(t.TempDir(), "10.213.47.92"); err == nil {
		t.Errorf("no keys: want an error")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b/c`); got != "/a b/c" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount(`/plain`); got != "/plain" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount(`/end\04`); got != `/end\04` {
		t.Errorf("got %q", got)
	}
}

func TestReleases(t *testing.T) {
	for in, want := range map[string]string{"bookworm": "bookworm", "12": "bookworm", "trixie": "trixie", "13": "trixie"} {
		if got, err := ParseRelease(in); err != nil || got != want {
			t.Errorf("ParseRelease(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRelease("sid"); err == nil || !strings.Contains(err.Error(), "bookworm (12), trixie (13)") {
		t.Errorf("ParseRelease(sid): %v", err)
	}
	s := Spec{Subnet: testSubnet, Release: "13", Hosts: []HostSpec{{"web1", "10.213.47.11", "12"}, {"lb1", "10.213.47.21", ""}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if a, b := s.ReleaseOf(s.Hosts[0]), s.ReleaseOf(s.Hosts[1]); a != "bookworm" || b != "trixie" {
		t.Errorf("per-host release %s, lab-wide %s; want bookworm, trixie", a, b)
	}
	if got := strings.Join(s.releases(), " "); got != "bookworm trixie" {
		t.Errorf("releases %q", got)
	}
	if got := (Spec{Hosts: s.Hosts[1:]}).ReleaseOf(s.Hosts[1]); got != DefaultRelease {
		t.Errorf("default release %s", got)
	}
	if BaseDir("trixie") != "/var/cache/hadeploy/base-trixie" || BaseDir(DefaultRelease) != "/var/cache/hadeploy/base-bookworm" {
		t.Errorf("base dirs %s %s", BaseDir("trixie"), BaseDir(DefaultRelease))
	}
	s.Hosts[0].Release = "buster"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "host web1") {
		t.Errorf("bad host release: %v", err)
	}
	s.Hosts[0].Release, s.Release = "", "xenial"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `"xenial"`) {
		t.Errorf("bad lab release: %v", err)
	}
	// A host recorded before releases existed runs bookworm.
	if (hostState{}).release() != DefaultRelease {
		t.Error("old state's release")
	}
}

// prepareBase points apt at the image's own release and drops its host keys.
func TestPrepareBaseRelease(t *testing.T) {
	dir := t.TempDir()
	for p, c := range map[string]string{"etc/ssh/ssh_host_ed25519_key": "k", "etc/apt/sources.list": "deb http://deb.debian.org/debian bookworm main\n"} {
		if err := writeFile(filepath.Join(dir, p), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := prepareBase(dir, "trixie"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/apt/sources.list")); string(b) != "deb http://deb.debian.org/debian trixie main\n" {
		t.Errorf("sources.list %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/ssh/ssh_host_ed25519_key")); !os.IsNotExist(err) {
		t.Error("host key kept in the base image")
	}
	if fi, err := os.Stat(filepath.Join(dir, "root/.ssh")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("root/.ssh: %v %v", fi, err)
	}
}
