package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyUnknownError is returned when no known_hosts file holds a key for the
// host. Nothing was sent to the host beyond the key exchange.
type HostKeyUnknownError struct {
	Host        string   // known_hosts form of the address: "host" or "[host]:port"
	Address     string   // host:port that was dialed
	KeyType     string   // e.g. ssh-ed25519
	Fingerprint string   // SHA256:... of the key the server offered
	Files       []string // known_hosts files that were searched
	AcceptFile  string   // where --accept-new-host-keys records keys
}

func (e *HostKeyUnknownError) Error() string {
	port := "22"
	host := e.Address
	if h, p, err := net.SplitHostPort(e.Address); err == nil {
		host, port = h, p
	}
	searched := "no known_hosts file"
	if len(e.Files) > 0 {
		searched = strings.Join(e.Files, ", ")
	}
	return fmt.Sprintf("host key for %s is unknown (not in %s); the server offered %s %s. "+
		"Check that fingerprint out of band, then re-run with --accept-new-host-keys, or record it with: ssh-keyscan -p %s %s >> %s",
		e.Host, searched, e.KeyType, e.Fingerprint, port, Quote(host), Quote(e.AcceptFile))
}

// KnownHostKey is one key a known_hosts file holds for a host.
type KnownHostKey struct {
	KeyType     string
	Fingerprint string
	File        string
	Line        int
}

func (k KnownHostKey) String() string {
	return fmt.Sprintf("%s %s (%s:%d)", k.KeyType, k.Fingerprint, k.File, k.Line)
}

// HostKeyChangedError is returned when the server's key differs from the one(s)
// known_hosts records for it: possibly a man-in-the-middle attack. It is never
// accepted automatically.
type HostKeyChangedError struct {
	Host        string // known_hosts form of the address
	Address     string
	KeyType     string // offered key
	Fingerprint string // offered key
	Expected    []KnownHostKey
}

func (e *HostKeyChangedError) Error() string {
	exp := make([]string, len(e.Expected))
	for i, k := range e.Expected {
		exp[i] = k.String()
	}
	return fmt.Sprintf("HOST KEY CHANGED for %s: the server offered %s %s but known_hosts expects %s. "+
		"Someone could be intercepting the connection (man-in-the-middle); if the host was really reinstalled, "+
		"remove the old key with: %s",
		e.Host, e.KeyType, e.Fingerprint, strings.Join(exp, ", "), e.removeCommand())
}

// removeCommand is the ssh-keygen command line that drops the recorded keys.
// It names each file with -f: without it ssh-keygen edits ~/.ssh/known_hosts
// only, while the key may sit in the inventory's known_hosts file.
func (e *HostKeyChangedError) removeCommand() string {
	var cmds []string
	seen := map[string]bool{}
	for _, k := range e.Expected {
		if k.File == "" || seen[k.File] {
			continue
		}
		seen[k.File] = true
		cmds = append(cmds, Join("ssh-keygen", "-R", e.Host, "-f", k.File))
	}
	if len(cmds) == 0 {
		return Join("ssh-keygen", "-R", e.Host)
	}
	return strings.Join(cmds, " && ")
}

// hostKeyDB checks server keys against known_hosts files.
type hostKeyDB struct {
	files      []string // existing files that were loaded
	acceptFile string
	accept     bool
	log        func(format string, args ...any)
	check      ssh.HostKeyCallback
}

// knownHostsWriteMu serialises appends to known_hosts files in this process.
var knownHostsWriteMu sync.Mutex

// newHostKeyDB loads ~/.ssh/known_hosts (when it exists) and extra (files that
// do not exist yet are skipped: the first may be created by accept).
func newHostKeyDB(extra []string, home string, accept bool, log func(string, ...any)) (*hostKeyDB, error) {
	db := &hostKeyDB{accept: accept, log: log}
	var candidates []string
	def := ""
	if home != "" {
		def = filepath.Join(home, ".ssh", "known_hosts")
		candidates = append(candidates, def)
	}
	for _, f := range extra {
		if f = expandHome(f, home); f != "" {
			candidates = append(candidates, f)
		}
	}
	if len(extra) > 0 {
		db.acceptFile = expandHome(extra[0], home)
	} else {
		db.acceptFile = def
	}
	seen := map[string]bool{}
	for _, f := range candidates {
		if seen[f] {
			continue
		}
		seen[f] = true
		st, err := os.Stat(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("known_hosts: %s is a directory", f)
		}
		db.files = append(db.files, f)
	}
	cb, err := knownhosts.New(db.files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	db.check = cb
	return db, nil
}

// probeKey is a key no known_hosts file can hold: checking it for a host makes
// knownhosts list every key recorded for that host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

// knownKeys returns the keys known_hosts records for addr (host:port).
func (db *hostKeyDB) knownKeys(addr string) []knownhosts.KnownKey {
	err := db.check(addr, fakeAddr(addr), probeKey())
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// algorithms returns the host key algorithms to offer for addr: those matching
// the key types known_hosts holds for it, so a server with several host keys
// presents one we know instead of a false mismatch. nil (library default)
// when the host is unknown.
func (db *hostKeyDB) algorithms(addr string) []string {
	types := map[string]bool{}
	for _, k := range db.knownKeys(addr) {
		types[k.Key.Type()] = true
	}
	if len(types) == 0 {
		return nil
	}
	var algos []string
	for _, a := range hostKeyAlgoPreference {
		if types[hostKeyAlgoKeyType(a)] {
			algos = append(algos, a)
		}
	}
	// Key types we have no preference for (new ones): offer them as is.
	for t := range types {
		found := false
		for _, a := range algos {
			if hostKeyAlgoKeyType(a) == t {
				found = true
				break
			}
		}
		if !found {
			algos = append(algos, t)
		}
	}
	return algos
}

// hostKeyAlgoPreference is the order hadeploy prefers host key algorithms in.
var hostKeyAlgoPreference = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
}

// hostKeyAlgoKeyType maps a signature algorithm to the key type that signs it.
func hostKeyAlgoKeyType(algo string) string {
	switch algo {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	}
	return algo
}

// callback returns the HostKeyCallback for ep. The typed error it produced, if
// any, is stored in *failure (the ssh package wraps callback errors).
func (db *hostKeyDB) callback(ep endpoint, failure *error) ssh.HostKeyCallback {
	addr := ep.addr()
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := db.check(addr, remote, key)
		if err == nil {
			return nil
		}
		host := knownhosts.Normalize(addr)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			if db.accept {
				if werr := db.record(addr, key); werr != nil {
					*failure = werr
					return werr
				}
				if db.log != nil {
					db.log("accepted new host key for %s: %s %s (recorded in %s)", host, key.Type(), ssh.FingerprintSHA256(key), db.acceptFile)
				}
				return nil
			}
			*failure = &HostKeyUnknownError{
				Host: host, Address: addr, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key),
				Files: db.files, AcceptFile: db.acceptFile,
			}
		case errors.As(err, &ke):
			ce := &HostKeyChangedError{Host: host, Address: addr, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
			for _, w := range ke.Want {
				ce.Expected = append(ce.Expected, KnownHostKey{KeyType: w.Key.Type(), Fingerprint: ssh.FingerprintSHA256(w.Key), File: w.Filename, Line: w.Line})
			}
			*failure = ce
		case errors.As(err, &re):
			*failure = fmt.Errorf("host key %s %s for %s is marked @revoked in %s:%d", key.Type(), ssh.FingerprintSHA256(key), host, re.Revoked.Filename, re.Revoked.Line)
		default:
			*failure = fmt.Errorf("checking host key for %s: %w", host, err)
		}
		return *failure
	}
}

// record appends key for addr to the accept file (never called for a changed key).
func (db *hostKeyDB) record(addr string, key ssh.PublicKey) error {
	if db.acceptFile == "" {
		return errors.New("cannot record the new host key: no known_hosts file (HOME is not set)")
	}
	knownHostsWriteMu.Lock()
	defer knownHostsWriteMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(db.acceptFile), 0o700); err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	f, err := os.OpenFile(db.acceptFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	// Start on a fresh line if the file does not end with one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(db.acceptFile); err == nil {
			if _, err := r.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
				line = "\n" + line
			}
			r.Close()
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("recording host key in %s: %w", db.acceptFile, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("recording host key in %s: %w", db.acceptFile, err)
	}
	return nil
}

// fakeAddr turns host:port into a net.Addr for knownhosts (it only uses String).
func fakeAddr(addr string) net.Addr {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &net.TCPAddr{}
	}
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p, Zone: ""}
}
