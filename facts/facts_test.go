package facts

import "testing"

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
