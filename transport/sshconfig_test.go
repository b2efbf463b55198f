package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseJumpHop(t *testing.T) {
	cases := []struct {
		in         string
		user, host string
		port       int
		bad        bool
	}{
		{in: "bastion", host: "bastion"},
		{in: "admin@bastion", user: "admin", host: "bastion"},
		{in: "admin@bastion:2222", user: "admin", host: "bastion", port: 2222},
		{in: "10.0.0.1:22", host: "10.0.0.1", port: 22},
		{in: "[fe80::1]:2200", host: "fe80::1", port: 2200},
		{in: "u@[::1]", user: "u", host: "::1"},
		{in: "::1", host: "::1"},
		{in: "ssh://ops@jump.example.com:2022", user: "ops", host: "jump.example.com", port: 2022},
		{in: "ssh://jump", host: "jump"},
		{in: "host:notaport", bad: true},
		{in: "host:0", bad: true},
		{in: "user@", bad: true},
		{in: "ssh://h/path", bad: true},
	}
	for _, c := range cases {
		u, h, p, err := parseJumpHop(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("parseJumpHop(%q) accepted", c.in)
			}
			continue
		}
		if err != nil || u != c.user || h != c.host || p != c.port {
			t.Errorf("parseJumpHop(%q) = %q %q %d %v, want %q %q %d", c.in, u, h, p, err, c.user, c.host, c.port)
		}
	}
}

func TestSSHSettingsResolve(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, "config")
	os.WriteFile(conf, []byte(`Host web
  HostName %h.internal
  Port 2222
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/other_%r
  IdentitiesOnly yes
  ProxyJump ops@bastion:2200,second

Host bastion
  HostName 192.0.2.10

Host second
  HostName 192.0.2.11
  User hopper

Host pc
  ProxyCommand nc %h %p

Host *
  Port 2200
`), 0o600)
	s, err := loadSSHSettings(conf, home)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.resolve("web", "", 0, []string{"~/inv_key"}, "root")
	if err != nil {
		t.Fatal(err)
	}
	if ep.host != "web.internal" || ep.port != 2222 || ep.user != "deploy" || !ep.identitiesOnly {
		t.Errorf("resolve(web) = %+v", ep)
	}
	wantIDs := []string{filepath.Join(home, "inv_key"), filepath.Join(home, ".ssh/web_key"), home + "/other_deploy"}
	if strings.Join(ep.identityFiles, ",") != strings.Join(wantIDs, ",") {
		t.Errorf("identity files %q, want %q", ep.identityFiles, wantIDs)
	}
	// Explicit values win.
	ep, _ = s.resolve("web", "root", 22, nil, "root")
	if ep.user != "root" || ep.port != 22 {
		t.Errorf("explicit values lost: %+v", ep)
	}
	// Unknown host: Host * applies, defaults fill the rest.
	ep, _ = s.resolve("10.1.1.1", "", 0, nil, "root")
	if ep.host != "10.1.1.1" || ep.port != 2200 || ep.user != "root" {
		t.Errorf("resolve(10.1.1.1) = %+v", ep)
	}
	hops, err := s.jumpHops("web")
	if err != nil || len(hops) != 2 {
		t.Fatalf("jumpHops = %+v, %v", hops, err)
	}
	if hops[0].host != "192.0.2.10" || hops[0].port != 2200 || hops[0].user != "ops" {
		t.Errorf("hop 1 = %+v", hops[0])
	}
	if hops[1].host != "192.0.2.11" || hops[1].user != "hopper" {
		t.Errorf("hop 2 = %+v", hops[1])
	}
	if _, err := s.resolve("pc", "", 0, nil, "root"); err == nil || !strings.Contains(err.Error(), "ProxyCommand") {
		t.Errorf("ProxyCommand not refused: %v", err)
	}

	none, err := loadSSHSettings("none", home)
	if err != nil || none.cfg != nil {
		t.Errorf("\"none\" should disable ssh_config: %v", err)
	}
	ep, _ = none.resolve("web", "", 0, nil, "root")
	if ep.host != "web" || ep.port != 22 || ep.user != "root" {
		t.Errorf("without ssh_config: %+v", ep)
	}
}
