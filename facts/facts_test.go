package facts

import (
	"strings"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	cases := []struct {
		name, in, family, pkg string
		wantErr               bool
	}{
		{"debian", "ID=debian\nVERSION_ID=\"12\"\n", FamilyDebian, "apt", false},
		{"ubuntu", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n", FamilyDebian, "apt", false},
		{"mint via ID_LIKE", "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", FamilyDebian, "apt", false},
		{"rocky", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", FamilyRHEL, "dnf", false},
		{"alma", "ID=\"almalinux\"\nVERSION_ID=\"8.9\"\n", FamilyRHEL, "dnf", false},
		{"centos7", "ID=\"centos\"\nVERSION_ID=\"7\"\n", FamilyRHEL, "yum", false},
		{"fedora", "ID=fedora\nVERSION_ID=40\n", FamilyRHEL, "dnf", false},
		{"arch", "ID=arch\n", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, c := range cases {
		f, err := ParseOSRelease([]byte(c.in))
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v", c.name, err)
			continue
		}
		if f.Family != c.family || f.PkgMgr != c.pkg {
			t.Errorf("%s: family %q pkg %q, want %q %q", c.name, f.Family, f.PkgMgr, c.family, c.pkg)
		}
	}
}

func TestParseHAProxyVV(t *testing.T) {
	for _, tc := range []struct {
		in, version string
		prom        bool
	}{
		{"2.6.12-1+deb12u4 prometheus-exporter", "2.6.12-1+deb12u4", true},
		{"2.4.22 none", "2.4.22", false},
		{"2.2.1 ", "2.2.1", false}, // before "Available services" was printed
		{"", "", false},
	} {
		v, s := ParseHAProxyVV(tc.in)
		f := Facts{HAProxyVersion: v, HAProxyServices: s}
		if v != tc.version || f.HAProxyHas("prometheus-exporter") != tc.prom {
			t.Errorf("%q: version %q services %q", tc.in, v, s)
		}
	}
}

func TestRelease(t *testing.T) {
	f, err := ParseOSRelease([]byte("PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Codename != "trixie" || f.Major() != 13 || f.Release() != "debian 13 (trixie)" || f.PrettyName != "Debian GNU/Linux 13 (trixie)" {
		t.Errorf("facts %+v, release %q, major %d", f, f.Release(), f.Major())
	}
	if m := (Facts{VersionID: "9.4"}).Major(); m != 9 {
		t.Errorf("major of 9.4 = %d", m)
	}
	if m := (Facts{}).Major(); m != 0 {
		t.Errorf("major of none = %d", m)
	}
	_, err = ParseOSRelease([]byte("ID=alpine\nVERSION_ID=3.20.0\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"))
	if err == nil || !strings.Contains(err.Error(), `ID="alpine" VERSION_ID="3.20.0" PRETTY_NAME="Alpine Linux v3.20" ID_LIKE=(none)`) {
		t.Errorf("unknown OS error does not quote os-release: %v", err)
	}
}
