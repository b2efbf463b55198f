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
	VersionID string
	Family    string // FamilyDebian or FamilyRHEL
	PkgMgr    string // apt, dnf or yum
	Init      string // systemd
	Hostname  string
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
		return f, fmt.Errorf("unsupported OS %q (ID_LIKE %q): hadeploy supports Debian/Ubuntu and RHEL/Rocky/Alma/CentOS/Fedora", f.ID, strings.Join(f.IDLike, " "))
	}
	f.Init = "systemd"
	return f, nil
}
