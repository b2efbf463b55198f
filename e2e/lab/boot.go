package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

func hostsFile(name string) string {
	return "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
}

// chronyLabDropIn lets chronyd (hadeploy's time.method chrony) run in a lab
// host: every host shares the machine's kernel clock, so systemd-nspawn
// grants no CAP_SYS_TIME (chrony.service's condition) and chronyd must not
// touch the clock (-x: it tracks offset and frequency only). Lab plumbing,
// like the apt proxy: hadeploy itself is not told.
const chronyLabDropIn = `# Lab host: the clock is the machine's; chronyd watches it, never sets it.
[Unit]
ConditionCapability=
[Service]
ExecStart=
ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x
`

// prepareRoot writes the per-host files into the overlay root: hostname,
// hosts, machine-id, apt proxy, chrony's lab drop-in, authorized key, masked
// apt timers, and fresh SSH host keys.
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
		{"etc/systemd/system/chrony.service.d/lab.conf", chronyLabDropIn, 0o644},
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

// initArgs are a release's extra arguments to its systemd (pid 1 in a
// container reads them as its kernel command line). The lab gives every
// container the cgroup v1 hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0, see
// cgroup.go); systemd 257 (Debian 13) calls v1 obsolete and accepts it only
// when told so.
var initArgs = map[string][]string{
	"trixie": {"systemd.unified_cgroup_hierarchy=0", "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"},
}

// nspawnArgs is the recipe's boot command for one host.
func nspawnArgs(hs hostState) []string {
	return append([]string{
		"--keep-unit", "--register=no",
		"-D", hs.Root, "-M", hs.Name,
		"--network-namespace-path=" + filepath.Join("/run/netns", hs.Netns),
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW",
		"-b",
	}, initArgs[hs.release()]...)
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
