package inventory

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// now is the clock certificates are checked against (tests move it).
var now = time.Now

// maxPEMSize bounds a certificate or key file: a chain is a few KiB.
const maxPEMSize = 1 << 20

func (k *check) checkTLS() {
	t := k.c.HAProxy.TLS
	if t == nil {
		return
	}
	if k.intField("haproxy.tls.port", &t.Port, DefaultTLSPort, 1, 65535, "a TCP port") {
		k.checkFrontendPort("haproxy.tls.port", t.Port)
	}
	k.intField("haproxy.tls.hsts_max_age", &t.HSTSMaxAge, 0, 0, 2*365*24*3600, "seconds, 0 sends no Strict-Transport-Security header")
	certOK := k.requireFile("haproxy.tls.certificate", t.Certificate)
	keyOK := k.requireFile("haproxy.tls.key", t.Key)
	if !certOK || !keyOK {
		return
	}
	certFile, keyFile := k.relPath(t.Certificate), k.relPath(t.Key)
	certs, certPEM, msg := readCertificates(certFile)
	if msg != "" {
		k.errf("haproxy.tls.certificate", "%s: %s", certFile, msg)
	}
	keyPEM, kmsg := readKey(keyFile)
	if kmsg != "" {
		k.errf("haproxy.tls.key", "%s: %s", keyFile, kmsg)
	}
	if msg != "" || kmsg != "" {
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		k.errf("haproxy.tls.key", "%s does not match the certificate in %s (%v): give the key the certificate was issued for", keyFile, certFile, err)
		return
	}
	leaf := certs[0]
	switch left := leaf.NotAfter.Sub(now()); {
	case left <= 0:
		k.errf("haproxy.tls.certificate", "%s: the certificate expired on %s: renew it", certFile, leaf.NotAfter.UTC().Format(time.DateOnly))
		return
	case left < TLSExpiryWarning:
		k.warnf("haproxy.tls.certificate", "%s: the certificate expires on %s, in %d days: renew it soon", certFile, leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	if now().Before(leaf.NotBefore) {
		k.warnf("haproxy.tls.certificate", "%s: the certificate is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	t.CertPEM, t.KeyPEM = string(certPEM), string(keyPEM)
	t.Fingerprint = Fingerprint(leaf.Raw)
	t.Subject = leaf.Subject.String()
	t.NotAfter = leaf.NotAfter.UTC()
}

// Fingerprint is how hadeploy names a certificate: SHA-256 of its DER, hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func (k *check) checkMetrics() {
	m := k.c.HAProxy.Metrics
	if m == nil {
		return
	}
	if k.intField("haproxy.metrics.port", &m.Port, DefaultMetricsPort, 1, 65535, "a TCP port") {
		k.checkFrontendPort("haproxy.metrics.port", m.Port)
	}
	if k.strField("haproxy.metrics.path", &m.Path, DefaultMetricsPath) || k.has("haproxy.metrics.path") {
		if !statsURIRE.MatchString(m.Path) || strings.Contains(m.Path, "?") {
			k.errf("haproxy.metrics.path", "must start with / and use only letters, digits and ._~/=&- , got %s", quote(m.Path))
		}
	}
}

// checkFrontendPort refuses a port another haproxy frontend (or Apache on
// a host that is both web and lb) already listens on.
func (k *check) checkFrontendPort(path string, port int) {
	c := k.c
	taken := map[int]string{c.HAProxy.Port: "haproxy.port"}
	if c.HAProxy.TLS != nil && path != "haproxy.tls.port" {
		taken[c.HAProxy.TLS.Port] = "haproxy.tls.port"
	}
	for _, h := range c.Hosts {
		if h.HasRole(RoleWeb) && h.HasRole(RoleLB) {
			taken[c.Web.Port] = "web.port (" + h.Name + " is both web and lb)"
			break
		}
	}
	if other, dup := taken[port]; dup {
		k.errf(path, "port %d is already used by %s: each listener needs its own port", port, other)
	}
}

func (k *check) requireFile(path, v string) bool {
	if k.bad[path] {
		return false
	}
	if !k.has(path) || strings.TrimSpace(v) == "" {
		k.errf(path, "required when haproxy.tls is set: a PEM file on this machine (relative to the inventory file)")
		return false
	}
	return true
}

// relPath resolves a path relative to the inventory file's folder.
func (k *check) relPath(p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			if home, err := os.UserHomeDir(); err == nil {
				return filepath.Join(home, rest)
			}
		}
		return p
	}
	return filepath.Join(filepath.Dir(k.file), p)
}

// readPEMFile reads a small regular file, or says why it cannot.
func readPEMFile(path string) ([]byte, string) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "cannot read it: " + osCause(err).Error()
	}
	if !fi.Mode().IsRegular() {
		return nil, "is not a regular file"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "cannot read it: " + osCause(err).Error()
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMSize+1))
	if err != nil {
		return nil, "cannot read it: " + osCause(err).Error()
	}
	if len(b) > maxPEMSize {
		return nil, "is larger than 1 MiB: not a certificate or key file"
	}
	return b, ""
}

// readCertificates parses the certificate file: the leaf first, then its
// chain. It returns the certificates re-encoded as PEM (comments and
// stray text dropped).
func readCertificates(path string) ([]*x509.Certificate, []byte, string) {
	b, msg := readPEMFile(path)
	if msg != "" {
		return nil, nil, msg
	}
	var certs []*x509.Certificate
	var out []byte
	blocks := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		blocks++
		switch {
		case blk.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Sprintf("certificate %d is not a valid X.509 certificate: %v", len(certs)+1, err)
			}
			certs = append(certs, c)
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})...)
		case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			return nil, nil, "holds a private key: give the certificate (with its chain) here and the key in haproxy.tls.key"
		}
	}
	switch {
	case blocks == 0:
		return nil, nil, "is not PEM (no -----BEGIN CERTIFICATE----- block): convert it, e.g. openssl x509 -in FILE -out FILE.pem"
	case len(certs) == 0:
		return nil, nil, "holds no CERTIFICATE block"
	}
	return certs, out, ""
}

// readKey parses the key file and returns the key as PEM. A key that needs
// a passphrase is refused: haproxy would ask for it on every reload.
func readKey(path string) ([]byte, string) {
	b, msg := readPEMFile(path)
	if msg != "" {
		return nil, msg
	}
	var keys []*pem.Block
	found := false
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		found = true
		if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			keys = append(keys, blk)
		}
	}
	switch {
	case !found:
		return nil, "is not PEM (no -----BEGIN PRIVATE KEY----- block)"
	case len(keys) == 0:
		return nil, "holds no PRIVATE KEY block"
	case len(keys) > 1:
		return nil, fmt.Sprintf("holds %d private keys: give exactly one", len(keys))
	}
	blk := keys[0]
	//lint:ignore SA1019 only detects legacy encryption, never decrypts.
	if blk.Type == "ENCRYPTED PRIVATE KEY" || x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck
		return nil, "the key is protected by a passphrase, which haproxy cannot ask for on a reload: remove it (openssl pkey -in FILE -out FILE.plain)"
	}
	if err := parseKey(blk); err != nil {
		return nil, "not a valid private key: " + err.Error()
	}
	return pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: blk.Bytes}), ""
}

func parseKey(blk *pem.Block) error {
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		_, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		err = errors.New("unsupported key type " + blk.Type + " (use PKCS#8, PKCS#1 RSA or SEC 1 EC)")
	}
	return err
}
