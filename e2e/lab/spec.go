package lab

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
)

// HostSpec is one lab host: an inventory host name, its IPv4 address in
// the lab subnet, and the Debian release it boots ("" for the lab's).
type HostSpec struct{ Name, Address, Release string }

// Spec describes the whole lab.
type Spec struct {
	Hosts []HostSpec
	// Subnet is the lab subnet, e.g. 10.213.47.0/24. The bridge gets its first
	// usable address (.1); no host may use it.
	Subnet netip.Prefix
	// Release is the Debian release of hosts that name none ("" for
	// DefaultRelease).
	Release string
}

// DefaultRelease is the Debian release a lab host boots unless told.
const DefaultRelease = "bookworm"

// Releases are the Debian releases a lab host can boot, by codename, with
// their version numbers. Each has its own cached base image (BaseDir).
var Releases = map[string]string{"bookworm": "12", "trixie": "13"}

// ParseRelease accepts a codename or version number ("trixie", "13") and
// returns the codename.
func ParseRelease(s string) (string, error) {
	for code, num := range Releases {
		if s == code || s == num {
			return code, nil
		}
	}
	return "", fmt.Errorf("lab: release %q: use one of bookworm (12), trixie (13)", s)
}

// BaseDir is the cached debootstrap image of a release, the lower layer of
// every host's overlay root that boots it.
func BaseDir(release string) string { return "/var/cache/hadeploy/base-" + release }

// ReleaseOf is the release host h boots: its own, else the lab's, else
// DefaultRelease (codenames; Validate has checked them).
func (s Spec) ReleaseOf(h HostSpec) string {
	for _, r := range []string{h.Release, s.Release} {
		if r != "" {
			if code, err := ParseRelease(r); err == nil {
				return code
			}
			return r
		}
	}
	return DefaultRelease
}

// releases lists the releases the spec's hosts boot, each once, sorted.
func (s Spec) releases() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range s.Hosts {
		if r := s.ReleaseOf(h); !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

const (
	// StateDir holds the lab key, known_hosts, state.json, per-host roots and logs.
	StateDir = "/var/lib/hadeploy-lab"
	// BridgeName is the machine-side bridge all hosts are attached to.
	BridgeName = "hdlab0"
	// ProxyPort is the tinyproxy port on the bridge address.
	ProxyPort = 3128

	netnsPrefix = "hdlab-"
	vethPrefix  = "hdlv"
	linkPrefix  = "hdlab" // bridge (and anything else hdlab*)

	// DefaultMirror is the Debian mirror the base image and hosts use.
	DefaultMirror = "http://deb.debian.org/debian"
)

// DefaultSubnet is the lab subnet used when an inventory does not override it.
var DefaultSubnet = netip.MustParsePrefix("10.213.47.0/24")

// KeyPath is the lab's SSH private key (ed25519, OpenSSH format).
func KeyPath() string { return filepath.Join(StateDir, "id_ed25519") }

// KnownHostsPath is the known_hosts file listing every lab host's host keys.
func KnownHostsPath() string { return filepath.Join(StateDir, "known_hosts") }

func statePath() string          { return filepath.Join(StateDir, "state.json") }
func lockPath() string           { return filepath.Join(StateDir, "lock") }
func reservePath() string        { return filepath.Join(StateDir, "reserve.lock") }
func hostsDir() string           { return filepath.Join(StateDir, "hosts") }
func hostDir(name string) string { return filepath.Join(hostsDir(), name) }
func logsDir() string            { return filepath.Join(StateDir, "logs") }
func proxyConfPath() string      { return filepath.Join(StateDir, "tinyproxy.conf") }
func proxyFilterPath() string    { return filepath.Join(StateDir, "tinyproxy.filter") }
func proxyPidPath() string       { return filepath.Join(StateDir, "tinyproxy.pid") }
func proxyLogPath() string       { return filepath.Join(logsDir(), "tinyproxy.log") }

// NetnsName is the network namespace of a lab host.
func NetnsName(host string) string { return netnsPrefix + host }

// VethName is the bridge-side veth of the host with address addr in subnet:
// "hdlv" followed by the address's offset in the subnet (hdlv91 for
// 10.213.47.91 in a /24), so it is unique, stable and at most 15 characters.
func VethName(subnet netip.Prefix, addr netip.Addr) string {
	return vethPrefix + strconv.FormatUint(uint64(hostOffset(subnet, addr)), 10)
}

func hostOffset(subnet netip.Prefix, addr netip.Addr) uint32 {
	return ip4Uint(addr) - ip4Uint(subnet.Masked().Addr())
}

// ip4Uint is an IPv4 address as a number.
func ip4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// BridgeAddr is the bridge's address: the first usable address of subnet.
func BridgeAddr(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

func broadcastAddr(subnet netip.Prefix) netip.Addr {
	host := uint32(1)<<(32-subnet.Bits()) - 1
	v := ip4Uint(subnet.Masked().Addr()) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// validName reports whether name is a usable lab host name: [a-z0-9-], 1..63
// characters, not starting or ending with '-' (a valid hostname and machine
// name for systemd-nspawn -M).
func validName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks the spec: an IPv4 subnet between /16 and /29, at least one
// host, valid and unique names, unique addresses inside the subnet that are
// neither the network, broadcast nor bridge address.
func (s Spec) Validate() error {
	if !s.Subnet.IsValid() || !s.Subnet.Addr().Is4() {
		return fmt.Errorf("lab: subnet %q is not an IPv4 prefix", s.Subnet)
	}
	if b := s.Subnet.Bits(); b < 16 || b > 29 {
		return fmt.Errorf("lab: subnet %s: prefix length must be between /16 and /29", s.Subnet)
	}
	if s.Subnet.Masked() != s.Subnet {
		return fmt.Errorf("lab: subnet %s has host bits set (did you mean %s?)", s.Subnet, s.Subnet.Masked())
	}
	if len(s.Hosts) == 0 {
		return fmt.Errorf("lab: no hosts")
	}
	if s.Release != "" {
		if _, err := ParseRelease(s.Release); err != nil {
			return err
		}
	}
	bridge := BridgeAddr(s.Subnet)
	names := map[string]bool{}
	addrs := map[netip.Addr]string{}
	for _, h := range s.Hosts {
		if !validName(h.Name) {
			return fmt.Errorf("lab: host name %q: use 1-63 characters [a-z0-9-], not starting or ending with '-'", h.Name)
		}
		if names[h.Name] {
			return fmt.Errorf("lab: host %s is listed twice", h.Name)
		}
		names[h.Name] = true
		if h.Release != "" {
			if _, err := ParseRelease(h.Release); err != nil {
				return fmt.Errorf("lab: host %s: %w", h.Name, err)
			}
		}
		a, err := netip.ParseAddr(h.Address)
		if err != nil || !a.Is4() {
			return fmt.Errorf("lab: host %s: address %q is not an IPv4 address", h.Name, h.Address)
		}
		if !s.Subnet.Contains(a) {
			return fmt.Errorf("lab: host %s: address %s is outside the lab subnet %s", h.Name, a, s.Subnet)
		}
		switch a {
		case s.Subnet.Addr():
			return fmt.Errorf("lab: host %s: address %s is the network address of %s", h.Name, a, s.Subnet)
		case broadcastAddr(s.Subnet):
			return fmt.Errorf("lab: host %s: address %s is the broadcast address of %s", h.Name, a, s.Subnet)
		case bridge:
			return fmt.Errorf("lab: host %s: address %s is the lab bridge's address; use another one", h.Name, a)
		}
		if other, ok := addrs[a]; ok {
			return fmt.Errorf("lab: hosts %s and %s both use address %s", other, h.Name, a)
		}
		addrs[a] = h.Name
	}
	return nil
}
