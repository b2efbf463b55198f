package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// stubPassphrase replaces the terminal prompt for the duration of a test.
func stubPassphrase(t *testing.T, haveTerminal bool, passphrase string) *atomic.Int32 {
	t.Helper()
	oldAvail, oldAsk := terminalAvailable, askPassphrase
	var asked atomic.Int32
	terminalAvailable = func() bool { return haveTerminal }
	askPassphrase = func(file string) ([]byte, error) {
		asked.Add(1)
		if !haveTerminal {
			return nil, ErrNoTerminal
		}
		return []byte(passphrase), nil
	}
	t.Cleanup(func() { terminalAvailable, askPassphrase = oldAvail, oldAsk })
	return &asked
}

func TestSSHEncryptedKeyAskedOnce(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(home, "encrypted_key")
	signer := writePrivateKey(t, keyFile, priv, "correct horse")
	s.Authorize(t, signer.PublicKey())
	asked := stubPassphrase(t, true, "correct horse")

	cfg := s.Config("enc")
	cfg.IdentityFiles = []string{keyFile}
	for i := 0; i < 3; i++ {
		tr := dialTest(t, cfg)
		mustRun(t, tr, "true")
		tr.Close()
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("passphrase asked %d times for 3 connections, want 1", n)
	}
}

func TestSSHEncryptedKeyWithoutTerminalSkipped(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(home, "locked_key")
	signer := writePrivateKey(t, keyFile, priv, "secret")
	s.Authorize(t, signer.PublicKey())
	asked := stubPassphrase(t, false, "")

	cfg := s.Config("noterm")
	cfg.IdentityFiles = []string{keyFile}
	_, err := DialSSH(context.Background(), cfg)
	if err == nil {
		t.Fatal("dial succeeded with only an encrypted key and no terminal")
	}
	noHostName(t, err, "noterm")
	for _, want := range []string{keyFile, "no terminal", "ssh-add"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, ErrNoTerminal) {
		t.Errorf("error does not wrap ErrNoTerminal: %v", err)
	}
	if asked.Load() != 0 {
		t.Error("asked for a passphrase without a terminal")
	}

	// With another usable key the encrypted one is just skipped.
	cfg.IdentityFiles = []string{keyFile, s.UserKey}
	tr := dialTest(t, cfg)
	mustRun(t, tr, "true")
}

// The terminal vanishes between loading the key and signing with it: the
// handshake fails with ErrNoTerminal in its chain.
func TestSSHEncryptedKeyTerminalGoneWhenSigning(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(home, "vanishing_key")
	signer := writePrivateKey(t, keyFile, priv, "secret")
	s.Authorize(t, signer.PublicKey())
	stubPassphrase(t, true, "")
	askPassphrase = func(string) ([]byte, error) { return nil, ErrNoTerminal }

	cfg := s.Config("gone")
	cfg.IdentityFiles = []string{keyFile}
	_, err := DialSSH(context.Background(), cfg)
	if !errors.Is(err, ErrNoTerminal) {
		t.Errorf("want ErrNoTerminal in the chain, got %v", err)
	}
}
