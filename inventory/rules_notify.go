package inventory

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	// Letters, digits and . _ % + = - before the @: keepalived.conf takes
	// the address as one bare word, and # ! { } " would break it.
	emailLocalRE = regexp.MustCompile(`^[A-Za-z0-9._%+=-]+$`)
	scriptPathRE = regexp.MustCompile(`^/[A-Za-z0-9._+/-]+$`)
)

const emailHint = "an email address like ops@example.com (letters, digits and . _ % + = - before the @, a DNS name after it)"

func (k *check) checkNotify() {
	n := &k.c.VRRP.Notify
	const p = "vrrp.notify"
	k.intField(p+".smtp_connect_timeout", &n.SMTPConnectTimeout, DefaultSMTPTimeout, 1, 300, "seconds keepalived waits for the SMTP server")
	if k.has(p+".email") && len(n.Email) == 0 && !k.bad[p+".email"] {
		k.errf(p+".email", "must list at least one address; leave email out to send no email")
	}
	seen := map[string]string{}
	for i, e := range n.Email {
		fp := fmt.Sprintf("%s.email[%d]", p, i)
		if msg := emailProblem(e); msg != "" {
			k.errf(fp, "%s", msg)
			continue
		}
		if prev, dup := claim(seen, strings.ToLower(e), fp); dup {
			k.errf(fp, "%s is already listed at %s", quote(e), prev)
		}
	}
	if len(n.Email) == 0 {
		for _, f := range []string{"email_from", "smtp_server", "smtp_connect_timeout"} {
			if k.has(p + "." + f) {
				k.errf(p+"."+f, "only takes effect with %s.email (the addresses keepalived mails on a state change)", p)
			}
		}
	} else if !k.has(p+".smtp_server") && !k.bad[p+".smtp_server"] {
		k.errf(p+".email", "needs %s.smtp_server too: the SMTP relay keepalived hands the mail to, host or host:port", p)
	}
	if k.has(p + ".email_from") {
		if msg := emailProblem(n.EmailFrom); msg != "" {
			k.errf(p+".email_from", "%s", msg)
		}
	}
	if k.has(p + ".smtp_server") {
		host, port, msg := splitSMTP(n.SMTPServer)
		if msg != "" {
			k.errf(p+".smtp_server", "%s", msg)
		} else {
			n.SMTPHost, n.SMTPPort = host, port
		}
	}
	if k.has(p + ".script") {
		s := n.Script
		switch {
		case !strings.HasPrefix(s, "/"):
			k.errf(p+".script", "must be the absolute path of an executable on each lb, e.g. /usr/local/bin/vrrp-alert, got %s", quote(s))
		case !scriptPathRE.MatchString(s):
			k.errf(p+".script", "must be a path of letters, digits and . _ + - / only (keepalived and the shell take it as one word), got %s", quote(s))
		case filepath.Clean(s) != s || s == "/":
			k.errf(p+".script", "must be a clean path to a file (no //, /./, /../ or trailing /), e.g. %s", quote(filepath.Clean(s)))
		}
	}
	if k.has(p + ".webhook") {
		if msg := webhookProblem(n.Webhook); msg != "" {
			k.errf(p+".webhook", "%s", msg)
		}
	}
}

func emailProblem(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || !emailLocalRE.MatchString(local) || strings.Contains(domain, "@") || len(domain) > 253 || !dnsNameRE.MatchString(domain) {
		return "must be " + emailHint + ", got " + quote(s)
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		return "must be " + emailHint + ", got " + quote(s)
	}
	return ""
}

// splitSMTP splits keepalived's smtp_server: host, host:port or [v6]:port
// (a bare IPv6 address takes the default port 25).
func splitSMTP(s string) (string, int, string) {
	host, port := s, 25
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		h, ps, err := net.SplitHostPort(s)
		if err != nil {
			return "", 0, "must be host or host:port (IPv6 as [addr]:port), e.g. smtp.example.com:25, got " + quote(s)
		}
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, "port must be a number 1-65535, got " + quote(ps)
		}
		host, port = h, n
	}
	if msg := addressProblem(host); msg != "" {
		return "", 0, "host " + msg
	}
	return host, port, ""
}

// webhookProblem checks a webhook URL. The URL may hold a token: messages
// name what is wrong, never the URL or its path and query.
func webhookProblem(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r > '~' }) || strings.ContainsAny(s, "\"'\\`") {
		return "must be a URL without spaces, quotes, backslashes, control or non-ASCII characters (percent-encode them); the value is kept out of messages"
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's error quotes the URL: not shown.
		return "is not a valid URL, e.g. https://hooks.example.com/vrrp; the value is kept out of messages"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http:// or https:// URL, got the scheme " + quote(u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return "has no host: write it as http(s)://HOST[:PORT]/PATH"
	case u.Fragment != "":
		return "must not have a #fragment (it is never sent to the server)"
	}
	if ps := u.Port(); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 1 || n > 65535 {
			return "port must be a number 1-65535, got " + quote(ps)
		}
	}
	if msg := addressProblem(u.Hostname()); msg != "" {
		return "host is not an IP address or DNS name"
	}
	return ""
}
