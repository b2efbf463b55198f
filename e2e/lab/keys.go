package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ensureUserKey creates the lab's SSH key (KeyPath, KeyPath.pub) once and
// keeps it across ups. It returns the public key in authorized_keys format.
func ensureUserKey() ([]byte, error) {
	if b, err := os.ReadFile(KeyPath()); err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("lab: %s is not a usable private key (remove it to get a new one): %w", KeyPath(), err)
		}
		pub := authorizedLine(signer.PublicKey())
		if cur, err := os.ReadFile(KeyPath() + ".pub"); err != nil || string(cur) != string(pub) {
			if err := writeFile(KeyPath()+".pub", pub, 0o644); err != nil {
				return nil, err
			}
		}
		return pub, nil
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "hadeploy-lab")
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		return nil, err
	}
	pub := authorizedLine(sshPub)
	if err := writeFile(KeyPath(), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(KeyPath()+".pub", pub, 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

func authorizedLine(k ssh.PublicKey) []byte {
	return []byte(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " hadeploy-lab\n")
}

// hostKeyLines reads a host root's public host keys and returns known_hosts
// lines "ADDR TYPE BASE64", ed25519 first.
func hostKeyLines(root, addr string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*_key.pub"))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, fmt.Errorf("lab: host key %s: %w", f, err)
		}
		lines = append(lines, knownHostsLine(addr, k))
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("lab: no host keys in %s/etc/ssh", root)
	}
	rank := func(l string) int {
		switch {
		case strings.Contains(l, " ssh-ed25519 "):
			return 0
		case strings.Contains(l, " ecdsa-"):
			return 1
		}
		return 2
	}
	sort.SliceStable(lines, func(i, j int) bool { return rank(lines[i]) < rank(lines[j]) })
	return lines, nil
}

// knownHostsLine is one known_hosts line: "ADDR TYPE BASE64" (port 22, so
// the plain address and no [addr]:port form).
func knownHostsLine(addr string, k ssh.PublicKey) string {
	return addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
