// Package facts describes a host's OS, detected like rig does: os-release ID first, then ID_LIKE.
package facts

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// OS families hadeploy knows how to configure.
const (
	FamilyDebian = "debian"
	FamilyRHEL   = "rhel"
)

// Facts describe a host's OS, read in the same round trip as its files.
type Facts struct {
	ID        string // os-release ID, e.g. debian, ubuntu, rocky
	IDLike    []string
	VersionID string // e.g. 12, 13, 9.3 (empty on Debian testing/sid)
	// Codename is VERSION_CODENAME, e.g. bookworm, trixie.
	Codename   string
	PrettyName string
	Family     string // FamilyDebian or FamilyRHEL
	PkgMgr     string // apt, dnf or yum
	Init       string // systemd
	Hostname   string
	// HAProxyVersion is the installed haproxy's version ("" when none is),
	// HAProxyServices the services its build has (haproxy -vv "Available
	// services", e.g. prometheus-exporter).
	HAProxyVersion  string
	HAProxyServices []string
}

// HAProxyHas reports whether the installed haproxy was built with service s.
func (f Facts) HAProxyHas(s string) bool {
	for _, x := range f.HAProxyServices {
		if x == s {
			return true
		}
	}
	return false
}

// HAProxyVVCmd prints one "==haproxy VERSION SERVICE..." line when haproxy is
// installed: cheap enough for the snapshot's one round trip.
const HAProxyVVCmd = `if command -v haproxy >/dev/null 2>&1; then haproxy -vv 2>/dev/null | awk '/^HAProxy version/ {v=$3} /^Available services/ {sub(/^[^:]*: */, ""); s=$0} END {print "==haproxy " v " " s}'; fi`

// ParseHAProxyVV reads the rest of that line.
func ParseHAProxyVV(rest string) (version string, services []string) {
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil
	}
	for _, s := range f[1:] {
		if s != "none" {
			services = append(services, s)
		}
	}
	return f[0], services
}

// ParseOSRelease reads /etc/os-release content into facts (family and package
// manager included). Like rig, it trusts ID first, then ID_LIKE.
func ParseOSRelease(content []byte) (Facts, error) {
	var f Facts
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			f.ID = strings.ToLower(v)
		case "ID_LIKE":
			f.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			f.VersionID = v
		case "VERSION_CODENAME":
			f.Codename = strings.ToLower(v)
		case "PRETTY_NAME":
			f.PrettyName = v
		}
	}
	for _, id := range append([]string{f.ID}, f.IDLike...) {
		switch id {
		case "debian", "ubuntu":
			f.Family, f.PkgMgr = FamilyDebian, "apt"
		case "rhel", "centos", "rocky", "almalinux", "fedora":
			f.Family = FamilyRHEL
			f.PkgMgr = "dnf"
			if (f.ID == "centos" || f.ID == "rhel") && strings.HasPrefix(f.VersionID, "7") {
				f.PkgMgr = "yum"
			}
		}
		if f.Family != "" {
			break
		}
	}
	if f.Family == "" {
		return f, fmt.Errorf("unsupported OS: /etc/os-release says %s; hadeploy configures the Debian family (tested on Debian 12 and 13) and the RHEL family (rendered only), and changes nothing on any host otherwise", f.describe())
	}
	f.Init = "systemd"
	return f, nil
}

// describe quotes what os-release said, for errors about it.
func (f Facts) describe() string {
	q := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("ID=%s VERSION_ID=%s PRETTY_NAME=%s ID_LIKE=%s", q(f.ID), q(f.VersionID), q(f.PrettyName), q(strings.Join(f.IDLike, " ")))
}

// Release is the OS release for messages: "debian 13 (trixie)".
func (f Facts) Release() string {
	s := f.ID
	if f.VersionID != "" {
		s += " " + f.VersionID
	}
	if f.Codename != "" {
		s += " (" + f.Codename + ")"
	}
	return s
}

// Major is the major version number of VERSION_ID (0 when absent or not a
// number, as on Debian testing and sid).
func (f Facts) Major() int {
	n := 0
	for _, c := range f.VersionID {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
