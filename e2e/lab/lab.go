package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// SSHTimeout bounds how long Up waits for a host's sshd to answer.
var SSHTimeout = 60 * time.Second

// HostKeyTypes are the SSH host keys generated per host (with the host's
// own ssh-keygen). RSA is left out by default: a 3072-bit RSA key took from
// 0.5 s to 30 s per host on a loaded 2-core machine, and sshd silently skips
// default host keys that do not exist. Add "rsa" to get all three.
var HostKeyTypes = []string{"ed25519", "ecdsa"}

// sigPoweroff is SIGRTMIN+3: systemd (and nspawn, which forwards it) powers off.
const sigPoweroff = syscall.Signal(37)

// HostStatus is what Status reports per host.
type HostStatus struct {
	Name    string
	Address string
	PID     int // systemd-nspawn pid (0 if unknown)
	Running bool
	// SystemState is `systemctl is-system-running` inside the host
	// ("running", "degraded", "starting", ...), empty when not running.
	SystemState string
	SSH         bool // sshd reachable: TCP connect to ADDR:22 within 2 s
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &syncWriter{w: w}
}

// nspawnAlive reports whether pid is the systemd-nspawn process booting root.
func nspawnAlive(pid int, root string) bool {
	if !pidAlive(pid) {
		return false
	}
	args := procCmdline(pid)
	return len(args) > 0 && baseName(args[0]) == "systemd-nspawn" && containsArg(args, root)
}

// findNspawn lists systemd-nspawn processes booting a root under StateDir.
func findNspawn() []int {
	var out []int
	prefix := hostsDir() + "/"
	for _, p := range allPIDs() {
		args := procCmdline(p)
		if len(args) == 0 || baseName(args[0]) != "systemd-nspawn" {
			continue
		}
		// nspawn's own helpers (forked, not exec'd yet) share its argv.
		if pp, err := strconv.Atoi(procStatus(p, "PPid")); err == nil {
			if pa := procCmdline(pp); len(pa) > 0 && baseName(pa[0]) == "systemd-nspawn" {
				continue
			}
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(strings.TrimPrefix(a, "-D"), prefix) || strings.HasPrefix(strings.TrimPrefix(a, "--directory="), prefix) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// nspawnMachine is the -M name of a systemd-nspawn process ("?" if none).
func nspawnMachine(pid int) string {
	args := procCmdline(pid)
	for i, a := range args {
		if a == "-M" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--machine="); ok {
			return v
		}
	}
	return "?"
}

// containerInits lists the inits (pid 1 of their pid namespace) of lab
// containers, also those whose systemd-nspawn is gone: their root mount is
// an overlay whose upperdir is under StateDir/hosts (under hostsDir()/name if
// name is not empty).
func containerInits(name string) []int {
	want := "upperdir=" + hostsDir() + "/"
	if name != "" {
		want += name + "/"
	}
	var out []int
	for _, p := range allPIDs() {
		f := strings.Fields(procStatus(p, "NSpid"))
		if len(f) < 2 || f[len(f)-1] != "1" || !pidAlive(p) {
			continue
		}
		if strings.Contains(rootMountOptions(p), want) {
			out = append(out, p)
		}
	}
	return out
}

// containerHost names the lab host whose overlay is the process's root.
func containerHost(pid int) string {
	_, after, ok := strings.Cut(rootMountOptions(pid), "upperdir="+hostsDir()+"/")
	if !ok {
		return "?"
	}
	name, _, _ := strings.Cut(after, "/")
	return name
}

// rootMountOptions returns the mount source and super options of the "/"
// mount as the process sees it.
func rootMountOptions(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[4] == "/" {
			if _, after, ok := strings.Cut(l, " - "); ok {
				return after
			}
		}
	}
	return ""
}

// initPID finds the container's init (pid 1 in its pid namespace) under the
// systemd-nspawn process.
func initPID(nspawnPID int) (int, error) {
	for _, p := range allPIDs() {
		if procStatus(p, "PPid") != strconv.Itoa(nspawnPID) {
			continue
		}
		f := strings.Fields(procStatus(p, "NSpid"))
		if len(f) >= 2 && f[len(f)-1] == "1" {
			return p, nil
		}
	}
	return 0, fmt.Errorf("lab: no container init under systemd-nspawn pid %d", nspawnPID)
}

func newHostState(h HostSpec, subnet netip.Prefix) hostState {
	a := netip.MustParseAddr(h.Address)
	d := hostDir(h.Name)
	return hostState{
		Name:    h.Name,
		Address: a.String(),
		Netns:   NetnsName(h.Name),
		Veth:    VethName(subnet, a),
		Root:    filepath.Join(d, "root"),
		Upper:   filepath.Join(d, "upper"),
		Work:    filepath.Join(d, "work"),
		Console: filepath.Join(d, "console.log"),
	}
}

// Up brings the lab to spec: one booted host per HostSpec, reachable over
// SSH with the lab key, with strict host keys in KnownHostsPath. Hosts that
// already run with the same address are kept; hosts no longer in spec are
// removed. If it fails, it takes the whole lab down again.
func Up(ctx context.Context, spec Spec, log io.Writer) error {
	start := time.Now()
	log = logWriter(log)
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := CheckPrereqs(); err != nil {
		return err
	}
	unlock, err := lockLab()
	if err != nil {
		return err
	}
	defer unlock()

	subnet := spec.Subnet
	st, err := loadState()
	clean := ""
	switch {
	case err != nil:
		clean = err.Error()
	case st.Subnet != "" && st.Subnet != subnet.String():
		clean = fmt.Sprintf("the lab ran on subnet %s, now %s", st.Subnet, subnet)
	case len(st.Hosts) == 0 && (len(findNspawn()) > 0 || len(containerInits("")) > 0 || len(labNetns()) > 0):
		clean = "leftovers of a lab that state.json does not know"
	}
	if clean != "" {
		fmt.Fprintf(log, "lab: %s: taking it down first\n", clean)
		if err := downLocked(ctx, log); err != nil {
			return err
		}
		st = &state{}
	}
	if err := EnsureBase(ctx, log); err != nil {
		return err
	}
	if err := os.MkdirAll(hostsDir(), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(StateDir, 0o700); err != nil {
		return err
	}
	pub, err := ensureUserKey()
	if err != nil {
		return err
	}

	if err := upLocked(ctx, st, spec, pub, log); err != nil {
		fmt.Fprintf(log, "lab: up failed, taking the lab down: %v\n", err)
		if derr := downLocked(context.WithoutCancel(ctx), log); derr != nil {
			err = errors.Join(err, derr)
		}
		return err
	}

	fmt.Fprintf(log, "lab: up in %s: %d host(s) on bridge %s %s\n", time.Since(start).Round(100*time.Millisecond),
		len(spec.Hosts), BridgeName, netip.PrefixFrom(BridgeAddr(subnet), subnet.Bits()))
	for _, h := range spec.Hosts {
		fmt.Fprintf(log, "  %-16s %s\n", h.Name, h.Address)
	}
	fmt.Fprintf(log, "lab: log in with:\n  ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes root@%s\n",
		KeyPath(), KnownHostsPath(), spec.Hosts[0].Address)
	fmt.Fprintf(log, "lab: hosts reach only the lab subnet; apt goes through http://%s:%d\n", BridgeAddr(subnet), ProxyPort)
	fmt.Fprintf(log, "lab: take it down with: hadeploy lab down\n")
	return nil
}

func upLocked(ctx context.Context, st *state, spec Spec, pub []byte, log io.Writer) error {
	subnet := spec.Subnet
	if err := st.update(func(s *state) {
		s.Subnet = subnet.String()
		s.Bridge = BridgeName
		s.BridgeAddr = BridgeAddr(subnet).String()
	}); err != nil {
		return err
	}
	if err := ensureBridge(ctx, subnet); err != nil {
		return err
	}
	pid, err := ensureProxy(ctx, subnet, st.ProxyPID, log)
	if err != nil {
		return err
	}
	if err := st.update(func(s *state) { s.ProxyPID = pid }); err != nil {
		return err
	}

	// Keep what runs as wanted; remove what is no longer wanted or broken.
	want := map[string]hostState{}
	for _, h := range spec.Hosts {
		want[h.Name] = newHostState(h, subnet)
	}
	keep := map[string]bool{}
	for _, h := range st.hostsCopy() {
		w, ok := want[h.Name]
		if ok && w.Address == h.Address && w.Veth == h.Veth && nspawnAlive(h.PID, h.Root) &&
			netnsExists(h.Netns) && linkExists(h.Veth) {
			keep[h.Name] = true
			fmt.Fprintf(log, "lab: %s %s already running (pid %d), kept\n", h.Name, h.Address, h.PID)
			continue
		}
		why := "not in the spec any more"
		if ok {
			why = "not running as specified"
		}
		fmt.Fprintf(log, "lab: removing %s (%s)\n", h.Name, why)
		if err := teardownHost(ctx, h); err != nil {
			return err
		}
		if err := st.dropHost(h.Name); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, h := range spec.Hosts {
		if keep[h.Name] {
			continue
		}
		hs := want[h.Name]
		g.Go(func() error { return createHost(gctx, st, hs, subnet, pub, log) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return writeKnownHosts(st)
}

// writeKnownHosts writes every lab host's public host keys to KnownHostsPath.
func writeKnownHosts(st *state) error {
	var lines []string
	hosts := st.hostsCopy()
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	for _, h := range hosts {
		l, err := hostKeyLines(h.Root, h.Address)
		if err != nil {
			return err
		}
		lines = append(lines, l...)
	}
	return writeFile(KnownHostsPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// createHost builds, wires and boots one host, and waits for its sshd.
func createHost(ctx context.Context, st *state, hs hostState, subnet netip.Prefix, pub []byte, log io.Writer) error {
	t0 := time.Now()
	// Leftovers of an earlier crash that state.json does not know about.
	if err := teardownHost(ctx, hs); err != nil {
		return err
	}
	if err := st.setHost(hs); err != nil {
		return err
	}
	for _, d := range []string{hs.Upper, hs.Work, hs.Root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := mountOverlay(BaseDir, hs.Upper, hs.Work, hs.Root); err != nil {
		return err
	}
	hs.Mounted = true
	var sb syscall.Stat_t
	if err := syscall.Stat(hs.Root, &sb); err == nil {
		hs.NspawnLock = fmt.Sprintf("%s/locks/inode-%d:%d", nspawnRunDir, sb.Dev, sb.Ino)
	}
	if err := st.setHost(hs); err != nil {
		return err
	}
	tRoot := time.Now()
	if err := prepareRoot(ctx, hs, subnet, pub); err != nil {
		return fmt.Errorf("lab: prepare %s: %w", hs.Name, err)
	}
	tNet := time.Now()
	if err := addHostNet(ctx, hs, subnet.Bits()); err != nil {
		return err
	}
	tBoot := time.Now()
	pid, err := bootHost(hs)
	if err != nil {
		return err
	}
	hs.PID = pid
	if err := st.setHost(hs); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: %s %s booting (nspawn pid %d, console %s; cleanup+mount %s, root %s, network %s)\n",
		hs.Name, hs.Address, pid, hs.Console, tRoot.Sub(t0).Round(10*time.Millisecond),
		tNet.Sub(tRoot).Round(10*time.Millisecond), tBoot.Sub(tNet).Round(10*time.Millisecond))
	if err := waitSSH(ctx, hs, SSHTimeout); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: %s %s sshd up after %s\n", hs.Name, hs.Address, time.Since(t0).Round(100*time.Millisecond))
	return nil
}

func hostsFile(name string) string {
	return "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
}

// prepareRoot writes the per-host files into the overlay root: hostname,
// hosts, machine-id, apt proxy, authorized key, masked apt timers, and fresh
// SSH host keys.
func prepareRoot(ctx context.Context, hs hostState, subnet netip.Prefix, pub []byte) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	files := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"etc/hostname", hs.Name + "\n", 0o644},
		{"etc/hosts", hostsFile(hs.Name), 0o644},
		{"etc/machine-id", hex.EncodeToString(id) + "\n", 0o444},
		{"etc/apt/apt.conf.d/01proxy", aptProxyConf(subnet), 0o644},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(hs.Root, f.path), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	sshDir := filepath.Join(hs.Root, "root/.ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(sshDir, 0o700); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(sshDir, "authorized_keys"), pub, 0o600); err != nil {
		return err
	}
	// The apt timers would take apt's lock at random times and make runs
	// that install packages flaky: lab plumbing, like the proxy file.
	for _, unit := range []string{"apt-daily.timer", "apt-daily-upgrade.timer"} {
		link := filepath.Join(hs.Root, "etc/systemd/system", unit)
		_ = os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			return err
		}
	}
	old, _ := filepath.Glob(filepath.Join(hs.Root, "etc/ssh/ssh_host_*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, typ := range HostKeyTypes {
		if _, err := run(ctx, "chroot", hs.Root, "/usr/bin/ssh-keygen", "-q", "-t", typ, "-N", "",
			"-C", "root@"+hs.Name, "-f", "/etc/ssh/ssh_host_"+typ+"_key"); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(hs.Root, "etc/ssh/ssh_host_ed25519_key.pub")); err != nil {
		return fmt.Errorf("no ed25519 host key after ssh-keygen: %w", err)
	}
	return nil
}

// nspawnArgs is the recipe's boot command for one host.
func nspawnArgs(hs hostState) []string {
	return []string{
		"--keep-unit", "--register=no",
		"-D", hs.Root, "-M", hs.Name,
		"--network-namespace-path=" + filepath.Join("/run/netns", hs.Netns),
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW",
		"-b",
	}
}

// bootHost starts systemd-nspawn in its own session and cgroup, stdin
// /dev/null, output to the host's console log, and returns its pid.
func bootHost(hs hostState) (int, error) {
	bin, err := lookCmd("systemd-nspawn")
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(hs.Console, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd := exec.Command(bin, nspawnArgs(hs)...)
	cmd.Env = cleanEnv("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0")
	cmd.Stdout, cmd.Stderr = f, f
	// Born in its own cgroup: see cgroup.go.
	cgMu.Lock()
	defer cgMu.Unlock()
	mp, umount, err := mountCgroup2()
	if err != nil {
		return 0, err
	}
	defer umount()
	dir := filepath.Join(mp, hostCgroupRel(hs.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("lab: create cgroup %s: %w", dir, err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer cg.Close()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: start systemd-nspawn for %s: %w", hs.Name, err)
	}
	go cmd.Wait() // reap it if it exits while we run
	return cmd.Process.Pid, nil
}

// sshBanner reports whether an SSH server answers on addr with its banner.
func sshBanner(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if n >= 4 && bytes.HasPrefix(buf[:n], []byte("SSH-")) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("no SSH banner (got %q)", buf[:n])
	}
	return err
}

func waitSSH(ctx context.Context, hs hostState, timeout time.Duration) error {
	addr := net.JoinHostPort(hs.Address, "22")
	deadline := time.Now().Add(timeout)
	for {
		err := sshBanner(addr, 2*time.Second)
		if err == nil {
			return nil
		}
		if !nspawnAlive(hs.PID, hs.Root) {
			return fmt.Errorf("lab: %s: systemd-nspawn exited during boot\n%s", hs.Name, tailFile(hs.Console, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: %s: sshd on %s did not answer within %s: %v\n%s", hs.Name, addr, timeout, err, tailFile(hs.Console, 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopContainers powers containers off cleanly and waits up to 10 s, then
// SIGKILLs what is left. SIGRTMIN+3 goes to each container's init (what
// nspawn itself does on SIGTERM): sent to the systemd-nspawn process, it
// would kill nspawn and orphan the running container. Containers whose init
// is not found get SIGTERM on their nspawn, which forwards SIGRTMIN+3.
//
// It returns the pids it had to SIGKILL.
func stopContainers(nspawns, inits []int) (killed []int) {
	seen := map[int]bool{}
	var all, initsAll []int
	add := func(p int, isInit bool) {
		if p > 0 && !seen[p] {
			seen[p] = true
			all = append(all, p)
			if isInit {
				initsAll = append(initsAll, p)
			}
		}
	}
	for _, p := range inits {
		add(p, true)
		_ = syscall.Kill(p, sigPoweroff)
	}
	for _, n := range nspawns {
		ini, err := initPID(n)
		if err == nil {
			if !seen[ini] {
				_ = syscall.Kill(ini, sigPoweroff)
			}
			add(ini, true)
		} else {
			_ = syscall.Kill(n, syscall.SIGTERM)
		}
		add(n, false)
	}
	// systemd-shutdown waits (up to 90 s) for every process of the host to
	// go, re-checking only when it gets a SIGCHLD. A process started from
	// outside (Exec) is reaped outside, so no SIGCHLD comes: nudge it.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		alive := false
		for _, p := range all {
			if pidAlive(p) {
				alive = true
			}
		}
		if !alive {
			break
		}
		resend := time.Until(deadline) < 9*time.Second && time.Until(deadline)%time.Second < 200*time.Millisecond
		for _, p := range initsAll {
			if !pidAlive(p) {
				continue
			}
			_ = syscall.Kill(p, syscall.SIGCHLD)
			// A host still booting may have missed the request: repeat it
			// while its init is systemd itself (never to systemd-shutdown,
			// for which SIGRTMIN+3 would be a hard kill).
			if resend && procComm(p) == "systemd" {
				_ = syscall.Kill(p, sigPoweroff)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range all {
		if pidAlive(p) {
			killed = append(killed, p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	for _, p := range all {
		waitGone(p, 5*time.Second)
	}
	return killed
}

// teardownHost removes one host: its container, overlay, namespace, veth
// and folder. Safe when some or all of it does not exist.
func teardownHost(ctx context.Context, h hostState) error {
	var nspawns []int
	if nspawnAlive(h.PID, h.Root) {
		nspawns = append(nspawns, h.PID)
	}
	for _, p := range findNspawn() {
		if containsArg(procCmdline(p), h.Root) {
			nspawns = append(nspawns, p)
		}
	}
	_ = stopContainers(nspawns, containerInits(h.Name))
	dir := hostDir(h.Name)
	var errs []error
	if err := unmountAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := delNetns(ctx, h.Netns); err != nil {
		errs = append(errs, err)
	}
	if h.Veth != "" {
		if err := delLink(ctx, h.Veth); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && len(mountsUnder(dir)) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	cgMu.Lock()
	if err := removeHostCgroups(h.Name); err != nil {
		errs = append(errs, err)
	}
	cgMu.Unlock()
	removeNspawnLeftovers([]hostState{h})
	return errors.Join(errs...)
}

const nspawnRunDir = "/run/systemd/nspawn"

// removeNspawnLeftovers removes what systemd-nspawn leaves in /run for
// stopped lab hosts: the root's lock file and the host's propagation folder
// (nspawn refuses to remove it when /run is not a tmpfs, as here), then the
// nspawn folders themselves if nothing else is in them.
func removeNspawnLeftovers(hosts []hostState) {
	running := map[string]bool{}
	for _, p := range allPIDs() {
		args := procCmdline(p)
		if len(args) == 0 || baseName(args[0]) != "systemd-nspawn" {
			continue
		}
		for i, a := range args {
			if a == "-M" && i+1 < len(args) {
				running[args[i+1]] = true
			} else if v, ok := strings.CutPrefix(a, "--machine="); ok {
				running[v] = true
			}
		}
	}
	for _, h := range hosts {
		if running[h.Name] {
			continue
		}
		if strings.HasPrefix(h.NspawnLock, nspawnRunDir+"/locks/inode-") {
			_ = os.Remove(h.NspawnLock)
		}
		if validName(h.Name) {
			_ = os.RemoveAll(filepath.Join(nspawnRunDir, "propagate", h.Name))
		}
	}
	for _, d := range []string{"locks", "propagate", ""} {
		_ = os.Remove(filepath.Join(nspawnRunDir, d)) // only if empty
	}
}

// Acquire reserves the lab for the caller until release is called: it
// takes an exclusive lock (StateDir/reserve.lock) that other Acquire calls,
// in this or another process, wait for (or give up when ctx ends). Up,
// Down and friends do not take it: it is for suites whose tests each bring
// a lab up and down (go test runs packages in parallel), so that one test's
// Down never pulls the lab from under another's feet.
func Acquire(ctx context.Context) (release func(), err error) {
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(StateDir, "reserve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lab: lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lab: waiting for the lab (another test or user holds it): %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Down removes the whole lab: containers, overlays, namespaces, links,
// bridge, proxy, per-host folders and state. It works from state.json and by
// scanning for leftovers, so it also cleans up after a crash, and it is safe
// when nothing exists. The lab key and the base image are kept.
func Down(ctx context.Context, log io.Writer) error {
	log = logWriter(log)
	if os.Geteuid() != 0 {
		return errNeedRoot
	}
	unlock, err := lockLab()
	if err != nil {
		return err
	}
	defer unlock()
	return downLocked(ctx, log)
}

func downLocked(ctx context.Context, log io.Writer) error {
	st, err := loadState()
	if err != nil {
		fmt.Fprintf(log, "lab: %v\n", err)
		st = &state{}
	}
	var errs []error
	// 1. Containers: clean poweroff, all at once.
	var nspawns []int
	seen := map[int]bool{}
	for _, h := range st.Hosts {
		if nspawnAlive(h.PID, h.Root) {
			fmt.Fprintf(log, "lab: powering off %s (nspawn pid %d)\n", h.Name, h.PID)
			nspawns = append(nspawns, h.PID)
			seen[h.PID] = true
		}
	}
	names := map[int]string{}
	for _, h := range st.Hosts {
		names[h.PID] = h.Name
	}
	for _, p := range findNspawn() {
		if !seen[p] {
			names[p] = nspawnMachine(p)
			fmt.Fprintf(log, "lab: powering off leftover container %s (nspawn pid %d)\n", names[p], p)
			nspawns = append(nspawns, p)
			seen[p] = true
		}
	}
	known := map[int]bool{}
	for _, n := range nspawns {
		if ini, err := initPID(n); err == nil {
			known[ini] = true
		}
	}
	inits := containerInits("")
	for _, p := range inits {
		if !known[p] {
			fmt.Fprintf(log, "lab: powering off orphaned container %s (init pid %d, its nspawn is gone)\n", containerHost(p), p)
		}
	}
	for _, p := range inits {
		names[p] = containerHost(p)
	}
	if killed := stopContainers(nspawns, inits); len(killed) > 0 {
		for _, p := range killed {
			name := names[p]
			if name == "" {
				name = "?"
			}
			fmt.Fprintf(log, "lab: %s (pid %d) did not power off within 10 s: killed; its console log is kept in %s\n", name, p, logsDir())
		}
	}
	// Keep the console logs for a post-mortem.
	consoles, _ := filepath.Glob(filepath.Join(hostsDir(), "*", "console.log"))
	for _, c := range consoles {
		dst := filepath.Join(logsDir(), filepath.Base(filepath.Dir(c))+".console.log")
		if err := os.MkdirAll(logsDir(), 0o700); err == nil {
			_ = os.Rename(dst, dst+".1") // keep one older generation
			_ = os.Rename(c, dst)
		}
	}
	cgMu.Lock()
	if err := removeHostCgroups(""); err != nil {
		errs = append(errs, err)
	}
	cgMu.Unlock()
	// 2. Overlays (and anything else mounted under StateDir). A root's
	// nspawn lock file is named after the mounted root's inode.
	for _, mp := range mountsUnder(hostsDir()) {
		var sb syscall.Stat_t
		if filepath.Base(mp) == "root" && syscall.Stat(mp, &sb) == nil {
			_ = os.Remove(fmt.Sprintf("%s/locks/inode-%d:%d", nspawnRunDir, sb.Dev, sb.Ino))
		}
	}
	if m := mountsUnder(StateDir); len(m) > 0 {
		fmt.Fprintf(log, "lab: unmounting %s\n", strings.Join(m, ", "))
		if err := unmountAll(StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	// 3. Namespaces, veths, bridge.
	nss := map[string]bool{}
	links := map[string]bool{}
	for _, h := range st.Hosts {
		if h.Netns != "" {
			nss[h.Netns] = true
		}
		if h.Veth != "" {
			links[h.Veth] = true
		}
	}
	for _, n := range labNetns() {
		nss[n] = true
	}
	for n := range nss {
		if netnsExists(n) {
			fmt.Fprintf(log, "lab: deleting netns %s\n", n)
			if err := delNetns(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range labLinks() {
		links[l] = true
	}
	if st.Bridge != "" {
		links[st.Bridge] = true
	}
	for l := range links {
		if linkExists(l) {
			fmt.Fprintf(log, "lab: deleting link %s\n", l)
			if err := delLink(ctx, l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// 4. Proxy.
	for _, p := range findProxyPIDs(st.ProxyPID) {
		fmt.Fprintf(log, "lab: stopping tinyproxy (pid %d)\n", p)
		stopProcess(p, syscall.SIGTERM, 5*time.Second)
	}
	// 5. Files (never while something is still mounted there).
	leftovers := append([]hostState(nil), st.Hosts...)
	if ents, err := os.ReadDir(hostsDir()); err == nil {
		for _, e := range ents {
			leftovers = append(leftovers, hostState{Name: e.Name()})
		}
	}
	removeNspawnLeftovers(leftovers)
	if left := mountsUnder(StateDir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("lab: still mounted, not removing %s: %s", hostsDir(), strings.Join(left, ", ")))
	} else if err := os.RemoveAll(hostsDir()); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{KnownHostsPath(), proxyConfPath(), proxyFilterPath(), proxyPidPath()} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(statePath()); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		fmt.Fprintf(log, "lab: down\n")
	}
	return errors.Join(errs...)
}

// Status reports every host of the lab (from state.json), sorted by name.
func Status(ctx context.Context) ([]HostStatus, error) {
	st, err := loadState()
	if err != nil {
		return nil, err
	}
	hosts := st.hostsCopy()
	out := make([]HostStatus, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := HostStatus{Name: h.Name, Address: h.Address, PID: h.PID}
			s.Running = nspawnAlive(h.PID, h.Root)
			if s.Running {
				if ini, err := initPID(h.PID); err == nil {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					o, _ := nsenter(cctx, ini, "systemctl", "is-system-running")
					cancel()
					s.SystemState = strings.TrimSpace(string(o))
				}
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address, "22"), 2*time.Second); err == nil {
				c.Close()
				s.SSH = true
			}
			out[i] = s
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nsenter runs a command in the namespaces of the container's init.
func nsenter(ctx context.Context, initPID int, args ...string) ([]byte, error) {
	bin, err := lookCmd("nsenter")
	if err != nil {
		return nil, err
	}
	argv := append([]string{"-t", strconv.Itoa(initPID), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = cleanEnv("DEBIAN_FRONTEND=noninteractive", "TERM=dumb")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// When its child stops, nsenter stops itself and waits for a SIGCONT
	// nobody sends: a host shutting down SIGSTOPs every process in it
	// (systemd-shutdown), which would hang us. Wake nsenter up.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if strings.HasPrefix(procStatus(cmd.Process.Pid, "State"), "T") {
					_ = cmd.Process.Signal(syscall.SIGCONT)
				}
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return out.Bytes(), err
}

func runningHost(name string) (hostState, error) {
	st, err := loadState()
	if err != nil {
		return hostState{}, err
	}
	h, ok := st.host(name)
	if !ok {
		return hostState{}, fmt.Errorf("lab: no host %s in the lab", name)
	}
	if !nspawnAlive(h.PID, h.Root) {
		return h, fmt.Errorf("lab: host %s is not running", name)
	}
	return h, nil
}

// Exec runs a command inside a host (through nsenter, as root, outside of
// SSH) and returns its combined output.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("lab: Exec needs a command")
	}
	h, err := runningHost(name)
	if err != nil {
		return nil, err
	}
	ini, err := initPID(h.PID)
	if err != nil {
		return nil, err
	}
	out, err := nsenter(ctx, ini, args...)
	if err != nil {
		return out, fmt.Errorf("lab: on %s: %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// SetLink brings the bridge-side veth of a host down or up: down cuts the
// host off the lab network (its own eth0 stays configured).
func SetLink(name string, up bool) error {
	st, err := loadState()
	if err != nil {
		return err
	}
	h, ok := st.host(name)
	if !ok || h.Veth == "" {
		return fmt.Errorf("lab: no host %s in the lab", name)
	}
	updown := "down"
	if up {
		updown = "up"
	}
	_, err = run(context.Background(), "ip", "link", "set", h.Veth, updown)
	return err
}
