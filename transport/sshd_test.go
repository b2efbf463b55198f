package transport

// A real OpenSSH sshd for tests: started on 127.0.0.1 on a free port with a
// throwaway host key and user key in t.TempDir(), stopped at the end of the
// test. Tests using it are skipped when /usr/sbin/sshd is missing or when not
// running as root.

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// testSSHD is a running sshd.
type testSSHD struct {
	Addr        string        // "127.0.0.1"
	Port        int           // listening port
	Dir         string        // temp dir holding keys and config
	UserKey     string        // path of the user's private key (unencrypted ed25519), authorized for root
	UserSigner  ssh.Signer    // the same key
	KnownHosts  string        // known_hosts file recording HostKey for [127.0.0.1]:Port
	HostKey     ssh.PublicKey // the ed25519 host key
	HostKeys    []ssh.PublicKey
	ConfigFile  string
	AuthKeyFile string

	cmd *exec.Cmd
	log *lockedBuffer
}

// sshdOptions tune startSSHDWith.
type sshdOptions struct {
	RSAHostKey  bool   // also serve an RSA host key (HostKeys[1])
	ExtraConfig string // appended to sshd_config
}

// startSSHD starts a throwaway sshd and returns its address, port, the user
// private key path, a known_hosts file with its host key, and the host key.
func startSSHD(t *testing.T) (addr string, port int, userKey string, knownHostsFile string, hostKey ssh.PublicKey) {
	t.Helper()
	s := startSSHDWith(t, sshdOptions{})
	return s.Addr, s.Port, s.UserKey, s.KnownHosts, s.HostKey
}

// requireSSHD skips the test when a real sshd cannot be run.
func requireSSHD(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("%s not available: %v", sshdPath, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd tests need root (sshd must run as root to log users in)")
	}
}

func startSSHDWith(t *testing.T, opts sshdOptions) *testSSHD {
	t.Helper()
	requireSSHD(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("mkdir /run/sshd: %v", err)
	}
	dir := t.TempDir()
	s := &testSSHD{Addr: "127.0.0.1", Dir: dir}

	// Host keys.
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKeyFiles := []string{filepath.Join(dir, "ssh_host_ed25519_key")}
	s.HostKey = writePrivateKey(t, hostKeyFiles[0], hostPriv, "").PublicKey()
	s.HostKeys = []ssh.PublicKey{s.HostKey}
	if opts.RSAHostKey {
		rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "ssh_host_rsa_key")
		hostKeyFiles = append(hostKeyFiles, f)
		s.HostKeys = append(s.HostKeys, writePrivateKey(t, f, rsaPriv, "").PublicKey())
	}

	// User key, authorized for every user (AuthorizedKeysFile is shared).
	_, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.UserKey = filepath.Join(dir, "id_ed25519")
	s.UserSigner = writePrivateKey(t, s.UserKey, userPriv, "")
	s.AuthKeyFile = filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(s.AuthKeyFile, ssh.MarshalAuthorizedKey(s.UserSigner.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		s.ConfigFile = filepath.Join(dir, "sshd_config")
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "ListenAddress 127.0.0.1:%d\n", port)
		for _, f := range hostKeyFiles {
			fmt.Fprintf(&cfg, "HostKey %s\n", f)
		}
		fmt.Fprintf(&cfg, "AuthorizedKeysFile %s\n", s.AuthKeyFile)
		cfg.WriteString("StrictModes no\nUsePAM no\nPidFile none\n" +
			"PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n" +
			"PasswordAuthentication no\nKbdInteractiveAuthentication no\n" +
			"AllowTcpForwarding yes\nUseDNS no\nLogLevel VERBOSE\n" +
			// bash sources ~/.bashrc for commands run by sshd unless it is
			// a nested shell; the host's root .bashrc may be slow (pyenv…).
			"SetEnv SHLVL=1\n")
		cfg.WriteString(opts.ExtraConfig)
		if err := os.WriteFile(s.ConfigFile, []byte(cfg.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		s.log = &lockedBuffer{}
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", s.ConfigFile)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.SysProcAttr = sshdProcAttr()
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if err := waitListening(port, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v\nsshd log:\n%s", err, s.log.String())
			if strings.Contains(s.log.String(), "Address already in use") {
				continue
			}
			t.Fatalf("sshd did not start: %v", lastErr)
		}
		s.Port, s.cmd = port, cmd
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("sshd log:\n%s", s.log.String())
			}
		})
		break
	}
	if s.cmd == nil {
		t.Fatalf("sshd did not start: %v", lastErr)
	}

	s.KnownHosts = filepath.Join(dir, "known_hosts")
	addr := net.JoinHostPort(s.Addr, strconv.Itoa(s.Port))
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey) + "\n"
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// HostPort is "127.0.0.1:port".
func (s *testSSHD) HostPort() string { return net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)) }

// Authorize adds pub to authorized_keys (sshd reads it at each login).
func (s *testSSHD) Authorize(t *testing.T, pub ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(s.AuthKeyFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
}

// Config is an SSHConfig for root on this sshd with its key and known_hosts.
func (s *testSSHD) Config(name string) SSHConfig {
	return SSHConfig{
		Name:            name,
		Address:         s.Addr,
		Port:            s.Port,
		User:            "root",
		IdentityFiles:   []string{s.UserKey},
		KnownHostsFiles: []string{s.KnownHosts},
		SSHConfigFile:   "none",
		ConnectTimeout:  5 * time.Second,
	}
}

// writePrivateKey writes key in OpenSSH format (encrypted when passphrase is
// set) with mode 0600 and returns its signer.
func writePrivateKey(t *testing.T, path string, key crypto.PrivateKey, passphrase string) ssh.Signer {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until sshd answers with its banner on port.
func waitListening(port int, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			_, rerr := c.Read(buf)
			c.Close()
			if rerr == nil && string(buf) == "SSH-" {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd not listening on %s after 10s", addr)
}

// isolateSSHEnv points HOME at an empty temp dir and unsets the agent, so the
// real ~/.ssh (keys, config, known_hosts) and agent play no part in a test.
func isolateSSHEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return home
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
