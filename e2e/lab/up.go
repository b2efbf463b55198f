package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

func newHostState(h HostSpec, release string, subnet netip.Prefix) hostState {
	a := netip.MustParseAddr(h.Address)
	d := hostDir(h.Name)
	return hostState{
		Name:    h.Name,
		Address: a.String(),
		Release: release,
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
	for _, r := range spec.releases() {
		if err := EnsureBase(ctx, r, log); err != nil {
			return err
		}
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
		r := spec.ReleaseOf(h)
		fmt.Fprintf(log, "  %-16s %-15s Debian %s (%s)\n", h.Name, h.Address, Releases[r], r)
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
		want[h.Name] = newHostState(h, spec.ReleaseOf(h), subnet)
	}
	keep := map[string]bool{}
	for _, h := range st.hostsCopy() {
		w, ok := want[h.Name]
		if ok && w.Address == h.Address && w.Veth == h.Veth && w.Release == h.release() && nspawnAlive(h.PID, h.Root) &&
			netnsExists(h.Netns) && linkExists(h.Veth) {
			keep[h.Name] = true
			fmt.Fprintf(log, "lab: %s %s already running (pid %d), kept\n", h.Name, h.Address, h.PID)
			continue
		}
		why := "not in the spec any more"
		if ok {
			why = "not running as specified"
			if w.Release != h.release() {
				why = fmt.Sprintf("it runs Debian %s (%s), wanted %s (%s)", Releases[h.release()], h.release(), Releases[w.Release], w.Release)
			}
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
	if err := mountOverlay(BaseDir(hs.Release), hs.Upper, hs.Work, hs.Root); err != nil {
		return err
	}
	hs.Mounted = true
	if l := nspawnLockFile(hs.Root); l != "" {
		hs.NspawnLock = l
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
	fmt.Fprintf(log, "lab: %s %s Debian %s booting (nspawn pid %d, console %s; cleanup+mount %s, root %s, network %s)\n",
		hs.Name, hs.Address, Releases[hs.Release], pid, hs.Console, tRoot.Sub(t0).Round(10*time.Millisecond),
		tNet.Sub(tRoot).Round(10*time.Millisecond), tBoot.Sub(tNet).Round(10*time.Millisecond))
	if err := waitSSH(ctx, hs, SSHTimeout); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: %s %s sshd up after %s\n", hs.Name, hs.Address, time.Since(t0).Round(100*time.Millisecond))
	return nil
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
