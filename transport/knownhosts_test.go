package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	}
	cb = db.callback(endpoint{host: "new.example.com", port: 22}, &failure)
	var unknown *HostKeyUnknownError
	if err := cb("new.example.com:22", fakeAddr("192.0.2.2:22"), ed); !errors.As(err, &unknown) || unknown.AcceptFile != kh {
		t.Errorf("unknown key: %v", err)
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
