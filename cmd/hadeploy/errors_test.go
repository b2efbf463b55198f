package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/transport"
)

// What the CLI prints when hosts cannot be reached: one line per host, the
// host named once at its start (the transport's errors do not name it).
func TestConnectErrorNamesEachHostOnce(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there any more: connection refused
	testDial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return transport.DialSSH(ctx, transport.SSHConfig{Name: h.Name, Address: "127.0.0.1", Port: port,
			IdentityFiles: []string{key}, SSHConfigFile: "none", ConnectTimeout: 2 * time.Second})
	}
	defer func() { testDial = nil }()

	root := newRoot()
	root.SetOut(&strings.Builder{})
	root.SetArgs([]string{"plan", labInv, "--log-dir", t.TempDir()})
	err = root.ExecuteContext(context.Background())
	if err == nil {
		t.Fatal("plan succeeded with every host unreachable")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one line per host, got:\n%s", err)
	}
	for i, name := range []string{"web1", "web2", "lb1", "lb2"} {
		if !strings.HasPrefix(lines[i], name+": ssh root@127.0.0.1:") || strings.Count(err.Error(), name) != 1 || !strings.Contains(lines[i], "connection refused") {
			t.Errorf("line %d should name %s once, then the transport's error: %q", i, name, lines[i])
		}
	}
	t.Logf("printed:\nerror: %s", err)
}
