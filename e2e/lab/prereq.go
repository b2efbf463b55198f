package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// requiredCommands maps each command the lab runs to its Debian package.
var requiredCommands = []struct{ Cmd, Pkg string }{
	{"debootstrap", "debootstrap"},
	{"systemd-nspawn", "systemd-container"},
	{"tinyproxy", "tinyproxy"},
	{"ip", "iproute2"},
	{"nsenter", "util-linux"},
	{"chroot", "coreutils"},
	{"ssh", "openssh-client"},
}

// CheckPrereqs checks that the lab can run here: root, and every command it
// needs. A missing command yields an error naming the Debian packages and the
// apt-get line that installs them.
func CheckPrereqs() error {
	return checkPrereqs(os.Geteuid(), func(c string) bool { _, err := lookCmd(c); return err == nil })
}

// errNeedRoot is returned by every lab command run by another user than root.
var errNeedRoot = errors.New("lab needs root (it creates network namespaces, a bridge, overlay mounts and containers): run it with sudo")

func checkPrereqs(euid int, has func(cmd string) bool) error {
	if euid != 0 {
		return errNeedRoot
	}
	return missingPackages(has)
}

func missingPackages(has func(cmd string) bool) error {
	var cmds []string
	pkgs := map[string]bool{}
	for _, rc := range requiredCommands {
		if !has(rc.Cmd) {
			cmds = append(cmds, fmt.Sprintf("%s (package %s)", rc.Cmd, rc.Pkg))
			pkgs[rc.Pkg] = true
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	var list []string
	for p := range pkgs {
		list = append(list, p)
	}
	sort.Strings(list)
	return fmt.Errorf("lab: missing commands: %s\ninstall them with:\n  apt-get update && apt-get install -y %s",
		strings.Join(cmds, ", "), strings.Join(list, " "))
}

// baseComplete reports whether dir looks like a finished base image.
func baseComplete(dir string) bool {
	for _, f := range []string{"usr/lib/systemd/systemd", "usr/sbin/sshd", "usr/bin/ssh-keygen", "usr/sbin/ip", "etc/os-release"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// EnsureBase builds the release's BaseDir with debootstrap if it is absent
// (into BaseDir.tmp, then renamed; a stale .tmp is removed first), and makes
// sure it has no SSH host keys (each host gets its own), a root .ssh folder
// and the mirror in its apt sources.
func EnsureBase(ctx context.Context, release string, log io.Writer) error {
	release, err := ParseRelease(release)
	if err != nil {
		return err
	}
	dir := BaseDir(release)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := buildBase(ctx, release, log); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if !baseComplete(dir) {
		return fmt.Errorf("lab: %s is not a complete base image (no systemd or sshd); remove it and run lab up again to rebuild it", dir)
	}
	return prepareBase(dir, release)
}

func buildBase(ctx context.Context, release string, log io.Writer) error {
	dir := BaseDir(release)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("lab: remove stale %s: %w", tmp, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	bin, err := lookCmd("debootstrap")
	if err != nil {
		return err
	}
	logPath := filepath.Join(StateDir, "debootstrap-"+release+".log")
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	fmt.Fprintf(log, "lab: building the base image %s (Debian %s) with debootstrap (about a minute, log %s)\n", dir, Releases[release], logPath)
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "--variant=minbase",
		"--include=systemd,systemd-sysv,dbus,openssh-server,iproute2,procps",
		release, tmp, DefaultMirror)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lab: debootstrap failed: %v\n%s", err, tailFile(logPath, 15))
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: base image built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// prepareBase removes the image's host keys, ensures root's .ssh folder and
// the apt sources. It only writes when something has to change, because the
// image is the lower layer of running hosts.
func prepareBase(dir, release string) error {
	keys, _ := filepath.Glob(filepath.Join(dir, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	sshDir := filepath.Join(dir, "root/.ssh")
	if fi, err := os.Stat(sshDir); err != nil || fi.Mode().Perm() != 0o700 {
		if err := os.MkdirAll(sshDir, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(sshDir, 0o700); err != nil {
			return err
		}
	}
	sources := filepath.Join(dir, "etc/apt/sources.list")
	want := fmt.Sprintf("deb %s %s main\n", DefaultMirror, release)
	if cur, err := os.ReadFile(sources); err != nil || !strings.Contains(string(cur), DefaultMirror+" "+release+" ") {
		if err := writeFile(sources, []byte(want), 0o644); err != nil {
			return err
		}
	}
	return nil
}
