package lab

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eSpec is the lab of TestLabUpDown. HADEPLOY_LAB_HOSTS=N (2..9) changes the
// number of hosts (to measure Up with more of them).
func e2eSpec(t *testing.T) Spec {
	n := 2
	if v := os.Getenv("HADEPLOY_LAB_HOSTS"); v != "" {
		if len(v) != 1 || v[0] < '2' || v[0] > '9' {
			t.Fatalf("HADEPLOY_LAB_HOSTS=%q: want 2..9", v)
		}
		n = int(v[0] - '0')
	}
	spec := Spec{Subnet: DefaultSubnet}
	for i := 0; i < n; i++ {
		spec.Hosts = append(spec.Hosts, HostSpec{
			Name:    "lab-" + string(rune('a'+i)),
			Address: netip.AddrFrom4([4]byte{10, 213, 47, byte(91 + i)}).String(),
		})
	}
	return spec
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func sshReachable(addr string) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestLabUpDown(t *testing.T) {
	if os.Getenv("HADEPLOY_E2E") != "1" {
		t.Skip("set HADEPLOY_E2E=1 (as root) to boot a real lab")
	}
	if err := CheckPrereqs(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := testLog{t}
	spec := e2eSpec(t)
	release, err := Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // after the cleanup Down below (cleanups run last-in first-out)

	// Start clean, and always leave clean.
	if err := Down(ctx, log); err != nil {
		t.Fatalf("initial Down: %v", err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), log); err != nil {
			t.Errorf("cleanup Down: %v", err)
		}
	})

	t0 := time.Now()
	if err := Up(ctx, spec, log); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("MEASURE: Up of %d hosts took %s", len(spec.Hosts), time.Since(t0).Round(10*time.Millisecond))

	// Idempotent: a second Up keeps the running hosts.
	before, err := Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := Up(ctx, spec, log); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	t.Logf("MEASURE: second (no-op) Up took %s", time.Since(t1).Round(10*time.Millisecond))

	// Status: running, booted, sshd reachable; pids unchanged by the second Up.
	var sts []HostStatus
	deadline := time.Now().Add(60 * time.Second)
	for {
		sts, err = Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		allRunning := len(sts) == len(spec.Hosts)
		for _, s := range sts {
			if s.SystemState != "running" {
				allRunning = false
			}
		}
		if allRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("MEASURE: all hosts 'running' %s after the first Up started", time.Since(t0).Round(10*time.Millisecond))
	if len(sts) != len(spec.Hosts) {
		t.Fatalf("Status lists %d hosts, want %d: %+v", len(sts), len(spec.Hosts), sts)
	}
	for i, s := range sts {
		t.Logf("status: %+v", s)
		if !s.Running || !s.SSH {
			t.Errorf("%s: running=%v ssh=%v", s.Name, s.Running, s.SSH)
		}
		if s.SystemState != "running" {
			out, _ := Exec(ctx, s.Name, "systemctl", "--failed", "--no-legend")
			t.Errorf("%s: system state %q, failed units:\n%s", s.Name, s.SystemState, out)
		}
		if s.PID != before[i].PID {
			t.Errorf("%s: second Up restarted the host (pid %d -> %d)", s.Name, before[i].PID, s.PID)
		}
	}

	// Strict host key checking with the lab's known_hosts and key.
	for _, h := range spec.Hosts {
		cmd := exec.CommandContext(ctx, "ssh", "-i", KeyPath(),
			"-o", "UserKnownHostsFile="+KnownHostsPath(), "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
			"-F", "/dev/null", "root@"+h.Address, "hostname")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %s: %v\n%s", h.Address, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != h.Name {
			t.Errorf("ssh %s: hostname %q, want %q", h.Address, got, h.Name)
		}
	}
	// Host keys differ per host.
	kh, err := os.ReadFile(KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(kh)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("known_hosts line %q", l)
		}
		if other, ok := seen[f[2]]; ok && other != f[0] {
			t.Errorf("hosts %s and %s share a host key", other, f[0])
		}
		seen[f[2]] = f[0]
	}
	// A wrong known_hosts is refused (checking is really strict).
	wrong := t.TempDir() + "/known_hosts"
	a, b := spec.Hosts[0].Address, spec.Hosts[1].Address
	swapped := strings.NewReplacer(a+" ", b+" ", b+" ", a+" ").Replace(string(kh))
	if err := os.WriteFile(wrong, []byte(swapped), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "ssh", "-i", KeyPath(), "-F", "/dev/null",
		"-o", "UserKnownHostsFile="+wrong, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
		"root@"+a, "true").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("HOST IDENTIFICATION HAS CHANGED")) {
		t.Errorf("ssh with swapped host keys: err=%v, want a host key mismatch:\n%s", err, out)
	}

	// The hosts reach nothing outside the lab subnet: no default route.
	out, err = Exec(ctx, spec.Hosts[0].Name, "ip", "route")
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "default") {
		t.Errorf("host has a default route:\n%s", out)
	}

	// apt works through the proxy.
	t2 := time.Now()
	out, err = Exec(ctx, spec.Hosts[0].Name, "apt-get", "update")
	if err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	t.Logf("MEASURE: apt-get update on %s took %s", spec.Hosts[0].Name, time.Since(t2).Round(10*time.Millisecond))
	if !bytes.Contains(out, []byte("deb.debian.org")) {
		t.Errorf("apt-get update output does not mention the mirror:\n%s", out)
	}

	// Cutting a host's link makes it unreachable; restoring it brings it back.
	h := spec.Hosts[1]
	if err := SetLink(h.Name, false); err != nil {
		t.Fatal(err)
	}
	if sshReachable(h.Address) {
		t.Errorf("%s still reachable with its link down", h.Address)
	}
	if !sshReachable(spec.Hosts[0].Address) {
		t.Errorf("%s unreachable while only %s's link is down", spec.Hosts[0].Address, h.Name)
	}
	if err := SetLink(h.Name, true); err != nil {
		t.Fatal(err)
	}
	back := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if sshReachable(h.Address) {
			back = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !back {
		t.Errorf("%s not reachable after its link came back up", h.Address)
	}

	// Up with fewer hosts keeps the others running and removes the rest.
	small := Spec{Subnet: spec.Subnet, Hosts: spec.Hosts[:1]}
	if err := Up(ctx, small, log); err != nil {
		t.Fatalf("Up with one host: %v", err)
	}
	sts, err = Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Name != spec.Hosts[0].Name || sts[0].PID != before[0].PID || !sts[0].Running {
		t.Errorf("after Up with one host: %+v (want %s kept with pid %d)", sts, spec.Hosts[0].Name, before[0].PID)
	}
	if ns := labNetns(); len(ns) != 1 {
		t.Errorf("netns after Up with one host: %v", ns)
	}
	kh, _ = os.ReadFile(KnownHostsPath())
	if strings.Contains(string(kh), spec.Hosts[1].Address+" ") {
		t.Errorf("known_hosts still lists the removed host:\n%s", kh)
	}

	// Down removes every trace; a second Down is a no-op.
	t3 := time.Now()
	if err := Down(ctx, log); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("MEASURE: Down took %s", time.Since(t3).Round(10*time.Millisecond))
	if err := Down(ctx, log); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	assertNoTrace(t)
	if _, err := os.Stat(KeyPath()); err != nil {
		t.Errorf("Down removed the lab key: %v", err)
	}
	if _, err := os.Stat(BaseDir(DefaultRelease)); err != nil {
		t.Errorf("Down removed the base image: %v", err)
	}

	// After a crash: state.json lost, one nspawn killed (its container
	// orphaned and still running). Down must still find and remove it all.
	if err := Up(ctx, spec, log); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
	sts, err = Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An Exec running while its host shuts down returns (nsenter would
	// otherwise stay stopped forever after systemd-shutdown's SIGSTOP).
	execDone := make(chan error, 1)
	go func() {
		_, err := Exec(ctx, spec.Hosts[1].Name, "sleep", "300")
		execDone <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(sts[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(statePath()); err != nil {
		t.Fatal(err)
	}
	if len(containerInits("")) != len(spec.Hosts) {
		t.Errorf("want %d running containers after killing one nspawn, see %v", len(spec.Hosts), containerInits(""))
	}
	var downLog strings.Builder
	if err := Down(ctx, io.MultiWriter(log, &downLog)); err != nil {
		t.Fatalf("Down after a crash: %v", err)
	}
	if strings.Contains(downLog.String(), "did not power off") {
		t.Errorf("a host did not power off cleanly:\n%s", downLog.String())
	}
	select {
	case err := <-execDone:
		t.Logf("Exec during shutdown returned: %v", err)
	case <-time.After(15 * time.Second):
		t.Errorf("Exec still running 15 s after its host was shut down")
	}
	assertNoTrace(t)
}

func assertNoTrace(t *testing.T) {
	t.Helper()
	if ns := labNetns(); len(ns) > 0 {
		t.Errorf("netns left: %v", ns)
	}
	if l := labLinks(); len(l) > 0 {
		t.Errorf("links left: %v", l)
	}
	if linkExists(BridgeName) {
		t.Errorf("bridge %s left", BridgeName)
	}
	if m := mountsUnder(StateDir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if p := findNspawn(); len(p) > 0 {
		t.Errorf("nspawn processes left: %v", p)
	}
	if p := containerInits(""); len(p) > 0 {
		t.Errorf("containers left: %v", p)
	}
	for _, m := range readMountinfo("/proc/self/mountinfo") {
		if (m.fstype == "cgroup2" || m.fstype == "cgroup" && containsArg(m.superOpts, "name=systemd")) && m.point != cgroup2Mount() {
			if _, err := os.Stat(m.point + "/" + cgroupDirName); !os.IsNotExist(err) {
				t.Errorf("cgroup %s/%s left (%v)", m.point, cgroupDirName, err)
			}
		}
	}
	if p := findProxyPIDs(); len(p) > 0 {
		t.Errorf("tinyproxy left: %v", p)
	}
	if _, err := os.Stat(hostsDir()); !os.IsNotExist(err) {
		t.Errorf("%s left (%v)", hostsDir(), err)
	}
	if _, err := os.Stat(statePath()); !os.IsNotExist(err) {
		t.Errorf("%s left (%v)", statePath(), err)
	}
}
