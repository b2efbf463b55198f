package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"
)

// Hooks for the passphrase prompt, replaced by tests.
var (
	// terminalAvailable reports whether askPassphrase can reach the user.
	terminalAvailable = func() bool {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return false
		}
		defer tty.Close()
		return term.IsTerminal(int(tty.Fd()))
	}
	// askPassphrase asks the user for the passphrase of the key in file.
	askPassphrase = func(file string) ([]byte, error) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, ErrNoTerminal
		}
		defer tty.Close()
		if !term.IsTerminal(int(tty.Fd())) {
			return nil, ErrNoTerminal
		}
		fmt.Fprintf(tty, "hadeploy: enter passphrase for key %s: ", file)
		pass, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return pass, err
	}
)

// decrypted caches, per key file, the outcome of asking for its passphrase, so
// the user is asked once per run whatever the number of hosts.
var decrypted = struct {
	sync.Mutex // also serialises prompts on the terminal
	keys       map[string]decryptedKey
}{keys: map[string]decryptedKey{}}

type decryptedKey struct {
	signer ssh.Signer
	err    error
}

// decryptKey asks for file's passphrase (once per process) and returns its signer.
func decryptKey(file string, pemBytes []byte) (ssh.Signer, error) {
	decrypted.Lock()
	defer decrypted.Unlock()
	if d, ok := decrypted.keys[file]; ok {
		return d.signer, d.err
	}
	var d decryptedKey
	pass, err := askPassphrase(file)
	if err != nil {
		d.err = fmt.Errorf("identity file %s: reading passphrase: %w", file, err)
	} else {
		d.signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, pass)
		clear(pass)
		if err != nil {
			d.err = fmt.Errorf("identity file %s: %w", file, err)
		}
	}
	decrypted.keys[file] = d
	return d.signer, d.err
}

// lazySigner is an encrypted key whose public half is known: the passphrase is
// only asked when the server accepts the key and a signature is needed.
type lazySigner struct {
	file string
	pub  ssh.PublicKey
	pem  []byte
}

func (s *lazySigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *lazySigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	sg, err := decryptKey(s.file, s.pem)
	if err != nil {
		return nil, err
	}
	return sg.Sign(r, data)
}

func (s *lazySigner) SignWithAlgorithm(r io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	sg, err := decryptKey(s.file, s.pem)
	if err != nil {
		return nil, err
	}
	if as, ok := sg.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(r, data, algorithm)
	}
	if algorithm != "" && algorithm != sg.PublicKey().Type() {
		return nil, fmt.Errorf("identity file %s: cannot sign with %s", s.file, algorithm)
	}
	return sg.Sign(r, data)
}

// pausingSigner stops the handshake timeout while the user is asked for the
// passphrase (and while waiting for another connection's prompt).
type pausingSigner struct {
	*lazySigner
	timer *pausableTimer
}

func (s *pausingSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	s.timer.pause()
	_, err := decryptKey(s.file, s.pem)
	s.timer.resume()
	if err != nil {
		return nil, err
	}
	return s.lazySigner.Sign(r, data)
}

func (s *pausingSigner) SignWithAlgorithm(r io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s.timer.pause()
	_, err := decryptKey(s.file, s.pem)
	s.timer.resume()
	if err != nil {
		return nil, err
	}
	return s.lazySigner.SignWithAlgorithm(r, data, algorithm)
}

// authSource gathers the keys to offer: the agent's, then identity files.
type authSource struct {
	home  string
	log   func(format string, args ...any)
	notes []string // why keys were skipped, shown when authentication fails
	// noTerminal: a key was skipped, or could not sign, for want of a
	// terminal to ask its passphrase; authentication errors then wrap
	// ErrNoTerminal.
	noTerminal bool

	agents map[string]*agentKeys // by socket path
}

type agentKeys struct {
	conn    net.Conn
	signers []ssh.Signer
}

func newAuthSource(home string, log func(string, ...any)) *authSource {
	return &authSource{home: home, log: log, agents: map[string]*agentKeys{}}
}

func (a *authSource) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, n := range a.notes {
		if n == msg {
			return
		}
	}
	a.notes = append(a.notes, msg)
	if a.log != nil {
		a.log("%s", msg)
	}
}

// fail is the error for a failed authentication: msg, the notes on skipped
// keys, then the server's refusal (nil when no key was offered).
func (a *authSource) fail(msg string, refusal error) error {
	if len(a.notes) > 0 {
		msg += "; " + strings.Join(a.notes, "; ")
	}
	e := &authError{msg: msg}
	if a.noTerminal {
		e.causes = append(e.causes, ErrNoTerminal)
	}
	if refusal != nil {
		e.msg += ": " + refusal.Error()
		e.causes = append(e.causes, refusal)
	}
	return e
}

// authError keeps the message fail built (the notes explain a missing
// terminal in their own words) while errors.Is still finds its causes.
type authError struct {
	msg    string
	causes []error
}

func (e *authError) Error() string   { return e.msg }
func (e *authError) Unwrap() []error { return e.causes }

// close releases agent connections (they are only needed during handshakes).
func (a *authSource) close() {
	for _, ag := range a.agents {
		if ag.conn != nil {
			ag.conn.Close()
		}
	}
}

// agentSigners returns the keys of the agent at sock ("" = SSH_AUTH_SOCK).
func (a *authSource) agentSigners(sock string) []ssh.Signer {
	if sock == "none" {
		return nil
	}
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock == "" {
		return nil
	}
	if ag, ok := a.agents[sock]; ok {
		return ag.signers
	}
	ag := &agentKeys{}
	a.agents[sock] = ag
	conn, err := net.Dial("unix", sock)
	if err != nil {
		a.note("ssh-agent at %s unreachable: %v", sock, err)
		return nil
	}
	ag.conn = conn
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		a.note("ssh-agent at %s: listing keys: %v", sock, err)
		return nil
	}
	ag.signers = signers
	return signers
}

// defaultIdentityFiles are the keys OpenSSH tries when they exist.
func (a *authSource) defaultIdentityFiles() []string {
	if a.home == "" {
		return nil
	}
	var files []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		files = append(files, filepath.Join(a.home, ".ssh", n))
	}
	return files
}

// signers returns, deduplicated, the agent keys then the identity files of ep
// then the default identity files.
func (a *authSource) signers(ep endpoint) []ssh.Signer {
	var fileSigners []ssh.Signer
	seenFile := map[string]bool{}
	load := func(file string, explicit bool) {
		if seenFile[file] {
			return
		}
		seenFile[file] = true
		s, err := a.loadIdentity(file)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if explicit {
				a.note("identity file %s does not exist, skipped", file)
			}
		case err != nil:
			a.note("%v", err)
		case s != nil:
			fileSigners = append(fileSigners, s)
		}
	}
	for _, f := range ep.identityFiles {
		load(f, true)
	}
	for _, f := range a.defaultIdentityFiles() {
		load(f, false)
	}

	agentSigners := a.agentSigners(ep.identityAgent)
	if ep.identitiesOnly {
		// OpenSSH IdentitiesOnly: only agent keys that match an identity file.
		allowed := map[string]bool{}
		for _, s := range fileSigners {
			allowed[string(s.PublicKey().Marshal())] = true
		}
		var kept []ssh.Signer
		for _, s := range agentSigners {
			if allowed[string(s.PublicKey().Marshal())] {
				kept = append(kept, s)
			}
		}
		agentSigners = kept
	}

	var out []ssh.Signer
	seen := map[string]bool{}
	for _, s := range append(agentSigners, fileSigners...) {
		k := string(s.PublicKey().Marshal())
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out
}

// loadIdentity reads a private key file. An encrypted key becomes a lazySigner
// (passphrase asked on first use) or is skipped when there is no terminal.
func (a *authSource) loadIdentity(file string) (ssh.Signer, error) {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("identity file %s: %w, skipped", file, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return signer, nil
	}
	var pme *ssh.PassphraseMissingError
	if !errors.As(err, &pme) {
		return nil, fmt.Errorf("identity file %s: %v, skipped", file, err)
	}
	decrypted.Lock()
	d, cached := decrypted.keys[file]
	decrypted.Unlock()
	if cached {
		if errors.Is(d.err, ErrNoTerminal) {
			a.noTerminal = true
		}
		if d.err != nil {
			return nil, fmt.Errorf("%v, skipped", d.err)
		}
		return d.signer, nil
	}
	if !terminalAvailable() {
		a.noTerminal = true
		return nil, fmt.Errorf("identity file %s is encrypted and there is no terminal to ask its passphrase: skipped (load it into ssh-agent with ssh-add)", file)
	}
	pub := pme.PublicKey
	if pub == nil {
		if b, err := os.ReadFile(file + ".pub"); err == nil {
			if k, _, _, _, err := ssh.ParseAuthorizedKey(bytes.TrimSpace(b)); err == nil {
				pub = k
			}
		}
	}
	if pub == nil {
		// No public half to offer first: ask now.
		s, err := decryptKey(file, data)
		if errors.Is(err, ErrNoTerminal) {
			a.noTerminal = true
		}
		if err != nil {
			return nil, fmt.Errorf("%v, skipped", err)
		}
		return s, nil
	}
	return &lazySigner{file: file, pub: pub, pem: data}, nil
}
