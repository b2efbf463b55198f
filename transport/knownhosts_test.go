package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyAlgorithms(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed, _ := ssh.NewPublicKey(edPub)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := ssh.NewPublicKey(&ecPriv.PublicKey)
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 1024)
	rk, _ := ssh.NewPublicKey(&rsaPriv.PublicKey)

	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	lines := []string{
		knownhosts.Line([]string{"[10.0.0.1]:2222"}, rk),
		knownhosts.Line([]string{knownhosts.HashHostname("[10.0.0.1]:2222")}, ec),
		knownhosts.Line([]string{"web.example.com"}, ed),
		knownhosts.Line([]string{"other"}, rk),
	}
	os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	db, err := newHostKeyDB([]string{kh}, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := db.algorithms("10.0.0.1:2222")
	want := []string{ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	if !slices.Equal(got, want) {
		t.Errorf("algorithms([10.0.0.1]:2222) = %q, want %q", got, want)
	}
	if got := db.algorithms("web.example.com:22"); !slices.Equal(got, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("algorithms(web.example.com) = %q", got)
	}
	if got := db.algorithms("unknown:22"); got != nil {
		t.Errorf("unknown host: %q, want nil (library default)", got)
	}

	// The callback: known key passes, other key of a known host is a change,
	// unknown host is unknown.
	var failure error
	cb := db.callback(endpoint{host: "web.example.com", port: 22}, &failure)
	if err := cb("web.example.com:22", fakeAddr("192.0.2.1:22"), ed); err != nil {
		t.Errorf("known key refused: %v", err)
	}
	var changed *HostKeyChangedError
	if err := cb("web.example.com:22", fakeAddr("192.0.2.1:22"), rk); !errors.As(err, &changed) || len(changed.Expected) != 1 || changed.Host != "web.example.com" {
		t.Errorf("changed key: %v", err)
	} else if hint := "ssh-keygen -R web.example.com -f " + kh; !strings.HasSuffix(err.Error(), hint) {
		t.Errorf("changed key hint %q, want it to end with %q", err, hint)
	}
	cb = db.callback(endpoint{host: "new.example.com", port: 22}, &failure)
	var unknown *HostKeyUnknownError
	if err := cb("new.example.com:22", fakeAddr("192.0.2.2:22"), ed); !errors.As(err, &unknown) || unknown.AcceptFile != kh {
		t.Errorf("unknown key: %v", err)
	}
}

// The hint names the file that holds the old key: "ssh-keygen -R HOST"
// alone would edit ~/.ssh/known_hosts, not the inventory's file.
func TestHostKeyChangedHintNamesTheFile(t *testing.T) {
	e := &HostKeyChangedError{Host: "[10.0.0.1]:2222", Address: "10.0.0.1:2222", KeyType: "ssh-ed25519", Fingerprint: "SHA256:new",
		Expected: []KnownHostKey{
			{KeyType: "ssh-ed25519", Fingerprint: "SHA256:old", File: "/srv/cluster/known hosts", Line: 3},
			{KeyType: "ssh-rsa", Fingerprint: "SHA256:old2", File: "/srv/cluster/known hosts", Line: 4},
			{KeyType: "ssh-rsa", Fingerprint: "SHA256:old3", File: "/root/.ssh/known_hosts", Line: 1},
		}}
	want := "remove the old key with: ssh-keygen -R '[10.0.0.1]:2222' -f '/srv/cluster/known hosts' && ssh-keygen -R '[10.0.0.1]:2222' -f /root/.ssh/known_hosts"
	if !strings.HasSuffix(e.Error(), want) {
		t.Errorf("hint:\n%s\nwant it to end with:\n%s", e.Error(), want)
	}
}

func TestKnownHostsRecordKeepsLinesSeparate(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed, _ := ssh.NewPublicKey(edPub)
	os.WriteFile(kh, []byte(knownhosts.Line([]string{"a"}, ed)), 0o600) // no final newline
	db, err := newHostKeyDB([]string{kh}, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var failure error
	if err := db.callback(endpoint{host: "b", port: 2222}, &failure)("b:2222", fakeAddr("192.0.2.3:2222"), ed); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(kh)
	if got := strings.Split(strings.TrimSpace(string(data)), "\n"); len(got) != 2 || !strings.HasPrefix(got[1], "[b]:2222 ssh-ed25519 ") {
		t.Errorf("known_hosts after accept: %q", data)
	}
}

func TestSSHUnknownHostRefused(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("newbox")
	cfg.KnownHostsFiles = []string{filepath.Join(s.Dir, "empty_known_hosts")}
	_, err := DialSSH(context.Background(), cfg)
	var unknown *HostKeyUnknownError
	if !errors.As(err, &unknown) {
		t.Fatalf("want *HostKeyUnknownError, got %v", err)
	}
	fp := ssh.FingerprintSHA256(s.HostKey)
	msg := err.Error()
	t.Logf("unknown host error: %s", msg)
	noHostName(t, err, "newbox")
	for _, want := range []string{fp, "--accept-new-host-keys", "ssh-keyscan -p " + strconv.Itoa(s.Port)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if unknown.Fingerprint != fp {
		t.Errorf("Fingerprint = %s, want %s", unknown.Fingerprint, fp)
	}
	if _, err := os.Stat(cfg.KnownHostsFiles[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("known_hosts must not be written without AcceptNewHostKeys: %v", err)
	}
}

func TestSSHAcceptNewHostKeys(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("fresh")
	kh := filepath.Join(s.Dir, "sub", "known_hosts")
	cfg.KnownHostsFiles = []string{kh}
	cfg.AcceptNewHostKeys = true
	var logs []string
	cfg.Log = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	tr := dialTest(t, cfg)
	mustRun(t, tr, "true")
	tr.Close()

	data, err := os.ReadFile(kh)
	if err != nil {
		t.Fatalf("known_hosts not written: %v", err)
	}
	want := knownhosts.Line([]string{knownhosts.Normalize(s.HostPort())}, s.HostKey) + "\n"
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	if !strings.Contains(strings.Join(logs, "\n"), ssh.FingerprintSHA256(s.HostKey)) {
		t.Errorf("acceptance not logged: %q", logs)
	}

	// Second dial: the recorded key is used, nothing is appended.
	cfg.AcceptNewHostKeys = false
	tr2 := dialTest(t, cfg)
	mustRun(t, tr2, "true")
	if data2, _ := os.ReadFile(kh); !bytes.Equal(data, data2) {
		t.Errorf("known_hosts changed on second dial: %q", data2)
	}
}

func TestSSHChangedHostKeyRefused(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	kh := filepath.Join(s.Dir, "changed_known_hosts")
	content := "# old key\n" + knownhosts.Line([]string{knownhosts.Normalize(s.HostPort())}, other) + "\n"
	if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config("db1")
	cfg.KnownHostsFiles = []string{kh}
	cfg.AcceptNewHostKeys = true // must not matter for a changed key
	_, err := DialSSH(context.Background(), cfg)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("want *HostKeyChangedError, got %v", err)
	}
	msg := err.Error()
	t.Logf("changed key error: %s", msg)
	noHostName(t, err, "db1")
	for _, want := range []string{ssh.FingerprintSHA256(s.HostKey), ssh.FingerprintSHA256(other), "CHANGED", kh + ":2",
		"ssh-keygen -R " + Quote(knownhosts.Normalize(s.HostPort())) + " -f " + Quote(kh)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if data, _ := os.ReadFile(kh); string(data) != content {
		t.Errorf("known_hosts modified for a changed key: %q", data)
	}
	var unknown *HostKeyUnknownError
	if errors.As(err, &unknown) {
		t.Error("a changed key must not be reported as unknown")
	}
}

// A server with an ed25519 and an RSA host key, known_hosts holding only the
// RSA one (hashed): the client must ask for RSA instead of failing.
func TestSSHHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{RSAHostKey: true})
	kh := filepath.Join(s.Dir, "rsa_known_hosts")
	hashed := knownhosts.HashHostname(knownhosts.Normalize(s.HostPort()))
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{hashed}, s.HostKeys[1])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config("multi")
	cfg.KnownHostsFiles = []string{kh}
	tr := dialTest(t, cfg)
	mustRun(t, tr, "true")
}
