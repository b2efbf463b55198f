package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// ensureBridge creates the bridge with the first usable address of subnet,
// brings it up, and forbids forwarding of what arrives on it, so that a host
// adding its own default route still cannot leave the lab.
func ensureBridge(ctx context.Context, subnet netip.Prefix) error {
	if !linkExists(BridgeName) {
		if _, err := run(ctx, "ip", "link", "add", BridgeName, "type", "bridge"); err != nil {
			return err
		}
	}
	want := netip.PrefixFrom(BridgeAddr(subnet), subnet.Bits())
	ifc, err := net.InterfaceByName(BridgeName)
	if err != nil {
		return err
	}
	addrs, _ := ifc.Addrs()
	has := false
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p == want {
			has = true
		}
	}
	if !has {
		if _, err := run(ctx, "ip", "addr", "add", want.String(), "dev", BridgeName); err != nil {
			return err
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+BridgeName+"/forwarding", []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("lab: disable forwarding on %s: %w", BridgeName, err)
	}
	_, err = run(ctx, "ip", "link", "set", BridgeName, "up")
	return err
}

// addHostNet creates the host's namespace and veth pair: the peer is created
// inside the namespace as eth0 with the host's address; eth0 and lo are up;
// there is no default route.
func addHostNet(ctx context.Context, h hostState, bits int) error {
	steps := [][]string{
		{"netns", "add", h.Netns},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
		{"link", "set", h.Veth, "master", BridgeName},
		{"link", "set", h.Veth, "up"},
		{"-n", h.Netns, "addr", "add", h.Address + "/" + strconv.Itoa(bits), "dev", "eth0"},
		{"-n", h.Netns, "link", "set", "eth0", "up"},
		{"-n", h.Netns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

func delNetns(ctx context.Context, name string) error {
	if !netnsExists(name) {
		return nil
	}
	_, err := run(ctx, "ip", "netns", "del", name)
	if err != nil && !netnsExists(name) {
		return nil
	}
	return err
}

// delLink deletes a link. A veth also goes away by itself, asynchronously,
// when its peer's namespace is deleted: that race is not an error.
func delLink(ctx context.Context, name string) error {
	if !linkExists(name) {
		return nil
	}
	_, err := run(ctx, "ip", "link", "del", name)
	if err != nil && !linkExists(name) {
		return nil
	}
	return err
}

// labNetns lists the namespaces named hdlab-*.
func labNetns() []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), netnsPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// labLinks lists the machine's links named hdlab* or hdlv*.
func labLinks() []string {
	ifs, _ := net.Interfaces()
	var out []string
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, linkPrefix) || strings.HasPrefix(i.Name, vethPrefix) {
			out = append(out, i.Name)
		}
	}
	return out
}

type mountEntry struct {
	point     string
	fstype    string
	source    string
	superOpts []string
}

// readMountinfo parses a /proc/PID/mountinfo file.
func readMountinfo(path string) []mountEntry {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(p) < 2 {
			continue
		}
		m := mountEntry{point: unescapeMount(f[4]), fstype: p[0], source: p[1]}
		if len(p) >= 3 {
			m.superOpts = strings.Split(p[2], ",")
		}
		out = append(out, m)
	}
	return out
}

// mountsUnder lists mount points at or under dir in our mount namespace,
// deepest first.
func mountsUnder(dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range readMountinfo("/proc/self/mountinfo") {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m.point)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount decodes the octal escapes (\040) of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything at or under dir; lazily if busy.
func unmountAll(dir string) error {
	var errs []error
	for _, mp := range mountsUnder(dir) {
		err := syscall.Unmount(mp, 0)
		if errors.Is(err, syscall.EBUSY) {
			err = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("lab: umount %s: %w", mp, err))
		}
	}
	if left := mountsUnder(dir); len(left) > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("lab: still mounted: %s", strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

func mountOverlay(lower, upper, work, root string) error {
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("lab: mount overlay on %s (%s): %w", root, opts, err)
	}
	return nil
}
