package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

func TestScaleHostsSkipTheVIP(t *testing.T) {
	for _, n := range []int{64, 100, maxScale + 2} {
		hosts, err := scaleHosts(n)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if h.Address == scaleVIP || seen[h.Address] {
				t.Fatalf("%d hosts: %s has address %s (VIP or taken)", n, h.Name, h.Address)
			}
			seen[h.Address] = true
		}
		if err := scaleSpec(hosts).Validate(); err != nil {
			t.Errorf("%d hosts: lab spec: %v", n, err)
		}
		if _, err := inventory.Parse("scale.yaml", []byte(scaleInventory(hosts))); err != nil {
			t.Errorf("%d hosts: %v", n, err)
		}
	}
	hosts, _ := scaleHosts(100)
	if hosts[68].Address != "10.213.47.99" || hosts[69].Address != "10.213.47.101" || hosts[97].Name != "web98" {
		t.Errorf("around the VIP: %v %v, last web %v", hosts[68], hosts[69], hosts[97])
	}
}

func TestParseScale(t *testing.T) {
	got, err := parseScale("4, 16,32,64,100,")
	if err != nil || !slices.Equal(got, []int{4, 16, 32, 64, 100}) {
		t.Errorf("parseScale = %v, %v", got, err)
	}
	if got, err := parseScale(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"2", "201", "x", "4,-1"} {
		if _, err := parseScale(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if sshWait(4) != time.Minute || sshWait(100) != 5*time.Minute {
		t.Errorf("sshWait: %s for 4 hosts, %s for 100", sshWait(4), sshWait(100))
	}
}

func TestAptCache(t *testing.T) {
	if got := aptCacheURL(); got != "http://10.213.47.1:3150" {
		t.Errorf("aptCacheURL = %q", got)
	}
	hosts, _ := scaleHosts(4)
	spec := scaleSpec(hosts)
	spec.AptProxy = aptCacheURL()
	if err := spec.Validate(); err != nil {
		t.Errorf("spec with the cache: %v", err)
	}
	conf := aptCacheConf("/tmp/b/acng", "10.213.47.1")
	for _, s := range []string{"CacheDir: /tmp/b/acng/cache\n", "Port: 3150\n", "BindAddress: 10.213.47.1\n", "ForeGround: 1\n", "SocketPath: /tmp/b/acng/run/socket\n"} {
		if !strings.Contains(conf, s) {
			t.Errorf("acng.conf lacks %q:\n%s", s, conf)
		}
	}
	log := `1796170435|O|4492712|10.213.47.31|deb.debian.org/debian/dists/bookworm/main/dep11/x
1796170435|I|7160|10.213.47.31|deb.debian.org/debian/pool/main/a/apache2/apache2_2.4.62-1~deb12u2_amd64.deb
1796170435|O|7236|10.213.47.32|deb.debian.org/debian/pool/main/a/apache2/apache2_2.4.62-1~deb12u2_amd64.deb
garbage
1796170436|I|x|10.213.47.33|y
`
	tr := parseCacheLog(log)
	if tr != (cacheTraffic{In: 7160, Out: 4492712 + 7236}) {
		t.Errorf("traffic = %+v", tr)
	}
	if d := tr.sub(cacheTraffic{In: 160, Out: 236}); d != (cacheTraffic{In: 7000, Out: 4492712 + 7000}) {
		t.Errorf("sub = %+v", d)
	}
}

func TestMemoryParsing(t *testing.T) {
	meminfo := "MemTotal:       24683604 kB\nMemFree:        20380392 kB\nMemAvailable:   23791888 kB\n"
	if n, ok := meminfoKB(meminfo, "MemAvailable"); !ok || n != 23791888 {
		t.Errorf("MemAvailable = %d %v", n, ok)
	}
	if _, ok := meminfoKB(meminfo, "Mem"); ok {
		t.Error("prefix matched")
	}
	rollup := "55d0c0a2f000-7ffd8f9fe000 ---p 00000000 00:00 0 [rollup]\nRss:               11236 kB\nPss:                3310 kB\nPss_Anon:           1204 kB\n"
	if got := pssKB(rollup); got != 3310 {
		t.Errorf("pss = %d", got)
	}
	mi := "31 20 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	if got := cgroup2Root(mi); got != "/sys/fs/cgroup/unified" {
		t.Errorf("cgroup2Root = %q", got)
	}
	if got := cgroup2Root("31 20 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"); got != "" {
		t.Errorf("v1 only: %q", got)
	}
	dir := t.TempDir()
	for p, procs := range map[string]string{"web01/cgroup.procs": "", "web01/payload/cgroup.procs": "12\n13\n", "web01/supervisor/cgroup.procs": "11\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(procs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pids := cgroupPIDs(filepath.Join(dir, "web01"))
	slices.Sort(pids)
	if !slices.Equal(pids, []int{11, 12, 13}) {
		t.Errorf("pids = %v", pids)
	}
	tab := memoryTable([]LabMemory{{Stage: "booted", Hosts: 100, LabUpS: 95.4, SettledS: 20, AvailDropPerHost: 31.25, PSSMeanMB: 22.5, PSSMaxMB: 40, PSSMaxHost: "lb1", Procs: 2100}})
	if !strings.Contains(tab, "| booted | 100 | 95 s + 20 s | 31.2 MB | 22.5 MB / 40.0 MB (lb1) | 2100 |") {
		t.Errorf("memory table:\n%s", tab)
	}
}

func TestMitogenHelpers(t *testing.T) {
	loaders := []byte("ANSIBLE_VERSION_MIN = (2, 10)\nANSIBLE_VERSION_MAX = (2, 14)\n")
	if got := mitogenMaxAnsible(loaders); got != "2.14" {
		t.Errorf("max = %q", got)
	}
	if got := mitogenMaxAnsible([]byte("nothing")); got != "" {
		t.Errorf("max of nothing = %q", got)
	}
	out := "PLAY [all] ***\nERROR! Your Ansible version (2.16.3) is too recent. The most recent version\nsupported by Mitogen for Ansible is (2, 14).x. Please check the Mitogen\nrelease notes to see if a new version is available, otherwise\nsubscribe to the corresponding GitHub issue to be notified when\nsupport becomes available.\n\nmore\n"
	got := ansibleError(out)
	if !strings.HasPrefix(got, "ERROR! Your Ansible version (2.16.3) is too recent.") || strings.Contains(got, "PLAY") || strings.Count(got, "\n") != 4 {
		t.Errorf("ansibleError:\n%s", got)
	}
	tail := ansibleError("a\nb\nc\n")
	if tail != "a\nb\nc" {
		t.Errorf("tail = %q", tail)
	}
	v := dpkgVersions("ansible  un \nansible-core 2.14.18-0+deb12u2 ii \nansible-mitogen 0.3.3-9+deb12u1 ii \n")
	if len(v) != 2 || v["ansible-core"] != "2.14.18-0+deb12u2" || v["ansible-mitogen"] != "0.3.3-9+deb12u1" {
		t.Errorf("dpkgVersions = %v", v)
	}
	env := strings.Join(ansibleEnv("bench/ansible", toolMitogen, "/h", "/cp"), "\n")
	if !strings.Contains(env, "\nANSIBLE_STRATEGY=mitogen_linear") || !strings.Contains(env, "\nANSIBLE_SSH_CONTROL_PATH_DIR=/cp") {
		t.Errorf("mitogen env lacks the strategy or control dir")
	}
	if env := strings.Join(ansibleEnv("bench/ansible", toolAnsible, "/h", "/cp"), "\n"); strings.Contains(env, "ANSIBLE_STRATEGY=") {
		t.Errorf("plain Ansible gets a strategy")
	}
}

func TestCPUAndIssue20Targets(t *testing.T) {
	row := func(tool, op string, hosts int, wall []int64, cpu ...time.Duration) Row {
		r := Row{Tool: tool, Op: op, Hosts: hosts}
		for i, w := range wall {
			r.addRun(time.Duration(w)*time.Millisecond, cpuUse{User: cpu[i] * 3 / 4, Sys: cpu[i] / 4, MaxRSSKB: 20480})
		}
		r.finish()
		return r
	}
	ms := time.Millisecond
	rows := []Row{
		row(toolHadeploy, "no-op apply", 4, []int64{250, 260, 240}, 60*ms, 40*ms, 50*ms),
		row(toolMitogen, "no-op playbook", 4, []int64{3000}, 2000*ms),
		row(toolHadeploy, "no-op plan", 100, []int64{1800, 1900, 2000}, 700*ms, 800*ms, 900*ms),
		row(toolHadeploy, "no-op apply", 100, []int64{2900, 3100, 3200}, 1200*ms, 1100*ms, 1000*ms),
	}
	if r := rows[0]; r.CPUMedian != 50 || r.CPUPerHost != 12.5 || r.CPUUserMS[1] != 30 || r.CPUSysMS[1] != 10 || r.MaxRSSMB != 20 {
		t.Errorf("cpu row = %+v", r)
	}
	tab := table(rows)
	for _, s := range []string{"CPU user+sys (median)", "| 50 ms ", "| 12.5 ms ", "| 1100 ms ", "| 11.0 ms "} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
	got := map[string]string{}
	for _, tg := range targets(rows, &MitogenCheck{OK: true}) {
		v := "nil"
		if tg.Met != nil {
			v = map[bool]string{true: "yes", false: "no"}[*tg.Met]
		}
		got[tg.Goal] = v + " " + tg.Value
	}
	for goal, want := range map[string]string{
		"no-op apply ≥ 10× faster than Ansible + Mitogen's no-op (4 hosts)": "yes 12.0× (3.00 s vs 0.25 s)",
		"no-op apply, 100 hosts: ≤ 3 s wall":                                "no 3.10 s",
		"hadeploy CPU ≤ 10 ms per host, no-op plan (largest host count)":    "yes 8.0 ms/host (800 ms for 100 hosts)",
		"hadeploy CPU ≤ 10 ms per host, no-op apply (largest host count)":   "no 11.0 ms/host (1100 ms for 100 hosts)",
		"no-op apply ≥ 20× faster than Ansible's no-op":                     "nil ",
	} {
		if got[goal] != want {
			t.Errorf("%s: %q, want %q", goal, got[goal], want)
		}
	}
	// Mitogen not loading is reported, with its error, as not measured.
	mc := &MitogenCheck{Error: "exit status 1: ERROR! Your Ansible version (2.16.3) is too recent.\nmore"}
	for _, tg := range targets(rows[:1], mc) {
		if strings.Contains(tg.Goal, "Mitogen") && (tg.Met != nil || tg.Value != "Mitogen did not load: exit status 1: ERROR! Your Ansible version (2.16.3) is too recent.") {
			t.Errorf("mitogen target = %+v", tg)
		}
	}
	if r := ratios(rows); r["mitogen_noop_over_hadeploy_noop_apply"] != 12 || r["mitogen_noop_over_hadeploy_noop_apply_cpu"] != 40 {
		t.Errorf("ratios = %v", r)
	}
}

// TestMitogenLoadsHere runs the real probe (ansible-playbook on localhost,
// connection local, about half a minute): HADEPLOY_BENCH_MITOGEN=1.
func TestMitogenLoadsHere(t *testing.T) {
	if os.Getenv("HADEPLOY_BENCH_MITOGEN") != "1" {
		t.Skip("set HADEPLOY_BENCH_MITOGEN=1 to run ansible-playbook with Mitogen on localhost")
	}
	b := &bench{tmp: t.TempDir()}
	b.home = b.tmp
	mc := b.checkMitogen(t.Context())
	t.Logf("versions %v, check %+v", toolVersions(), mc)
	if !mc.OK {
		t.Errorf("Mitogen does not load: %s", mc.Error)
	}
}

// TestAptCacheHere starts the bench's apt-cacher-ng on 127.0.0.1 (not the
// lab bridge) and fetches a package through it twice: the mirror is read
// once. HADEPLOY_BENCH_ACNG=1 (needs apt-cacher-ng and deb.debian.org).
func TestAptCacheHere(t *testing.T) {
	if os.Getenv("HADEPLOY_BENCH_ACNG") != "1" {
		t.Skip("set HADEPLOY_BENCH_ACNG=1 to run apt-cacher-ng on 127.0.0.1 and fetch through it")
	}
	b := &bench{tmp: t.TempDir()}
	if err := b.startCache(t.Context(), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	defer b.stopCache()
	proxy, _ := url.Parse("http://127.0.0.1:3150")
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: time.Minute}
	var size int64
	for range 2 {
		resp, err := c.Get("http://deb.debian.org/debian/pool/main/p/python-mitogen/python3-mitogen_0.3.3-9+deb12u1_all.deb")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n == 0 {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
		size = n
	}
	pid := b.cache.cmd.Process.Pid
	b.stopCache()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("apt-cacher-ng %d still runs after stopCache", pid)
	}
	tr := b.cacheTraffic()
	t.Logf("package %d bytes; traffic %+v", size, tr)
	if tr.In < size || tr.In >= 2*size || tr.Out < 2*size {
		t.Errorf("traffic %+v for two fetches of %d bytes", tr, size)
	}
}
