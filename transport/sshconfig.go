package transport

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// endpoint is one machine to handshake with: the target or a ProxyJump hop,
// after ~/.ssh/config and inventory overrides were applied.
type endpoint struct {
	alias          string // the name as written (inventory address or hop), for ssh_config and messages
	host           string // HostName: what is dialed and looked up in known_hosts
	port           int
	user           string
	identityFiles  []string // explicit (inventory) first, then ssh_config IdentityFile; ~ and %-tokens expanded
	identitiesOnly bool
	identityAgent  string // ssh_config IdentityAgent ("" = SSH_AUTH_SOCK, "none" = no agent)
}

func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// sshSettings is the parsed ~/.ssh/config (or the file SSHConfig.SSHConfigFile
// names); a nil cfg means no ssh_config is in use.
type sshSettings struct {
	cfg       *ssh_config.Config
	file      string
	home      string
	localUser string
}

// loadSSHSettings reads the ssh_config file: file "" means ~/.ssh/config when it
// exists, "none" disables ssh_config, anything else must exist.
func loadSSHSettings(file, home string) (*sshSettings, error) {
	s := &sshSettings{home: home, localUser: localUserName()}
	switch file {
	case "none":
		return s, nil
	case "":
		if home == "" {
			return s, nil
		}
		file = filepath.Join(home, ".ssh", "config")
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return s, nil
		}
	default:
		file = expandHome(file, home)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w (pass SSHConfigFile \"none\" to ignore it)", file, err)
	}
	s.cfg, s.file = cfg, file
	return s, nil
}

func (s *sshSettings) get(alias, key string) string {
	if s == nil || s.cfg == nil {
		return ""
	}
	v, err := s.cfg.Get(alias, key)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

func (s *sshSettings) getAll(alias, key string) []string {
	if s == nil || s.cfg == nil {
		return nil
	}
	v, err := s.cfg.GetAll(alias, key)
	if err != nil {
		return nil
	}
	return v
}

// resolve applies ssh_config to alias. user and port, when set, are explicit
// values that win over ssh_config; defaultUser is used when neither sets one.
func (s *sshSettings) resolve(alias, user string, port int, explicitIdentities []string, defaultUser string) (endpoint, error) {
	ep := endpoint{alias: alias, host: alias, port: port, user: user}
	if hn := s.get(alias, "HostName"); hn != "" {
		ep.host = expandTokens(hn, ep, s)
	}
	if ep.port == 0 {
		if p := s.get(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return ep, fmt.Errorf("ssh config %s: Host %s: bad Port %q", s.file, alias, p)
			}
			ep.port = n
		}
	}
	if ep.port == 0 {
		ep.port = 22
	}
	if ep.user == "" {
		ep.user = s.get(alias, "User")
	}
	if ep.user == "" {
		ep.user = defaultUser
	}
	for _, f := range explicitIdentities {
		ep.identityFiles = append(ep.identityFiles, expandHome(f, s.home))
	}
	for _, f := range s.getAll(alias, "IdentityFile") {
		if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "none") {
			ep.identityFiles = append(ep.identityFiles, expandTokens(f, ep, s))
		}
	}
	ep.identitiesOnly = strings.EqualFold(s.get(alias, "IdentitiesOnly"), "yes")
	if a := s.get(alias, "IdentityAgent"); a != "" && a != "SSH_AUTH_SOCK" {
		if a == "none" {
			ep.identityAgent = "none"
		} else {
			ep.identityAgent = expandTokens(a, ep, s)
		}
	}
	if pc := s.get(alias, "ProxyCommand"); pc != "" && !strings.EqualFold(pc, "none") {
		return ep, fmt.Errorf("ssh config %s: Host %s: ProxyCommand is not supported, use ProxyJump", s.file, alias)
	}
	return ep, nil
}

// jumpHops returns the ProxyJump hops ssh_config declares for alias, each
// resolved through ssh_config in turn (their own ProxyJump is not followed).
func (s *sshSettings) jumpHops(alias string) ([]endpoint, error) {
	pj := s.get(alias, "ProxyJump")
	if pj == "" || strings.EqualFold(pj, "none") {
		return nil, nil
	}
	var hops []endpoint
	for _, spec := range strings.Split(pj, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		u, h, p, err := parseJumpHop(spec)
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: Host %s: ProxyJump: %w", s.file, alias, err)
		}
		ep, err := s.resolve(h, u, p, nil, s.localUser)
		if err != nil {
			return nil, err
		}
		hops = append(hops, ep)
	}
	return hops, nil
}

// parseJumpHop parses one ProxyJump element: [user@]host[:port] or
// ssh://[user@]host[:port]; IPv6 addresses go in brackets.
func parseJumpHop(spec string) (user, host string, port int, err error) {
	if strings.HasPrefix(spec, "ssh://") {
		u, perr := url.Parse(spec)
		if perr != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", "", 0, fmt.Errorf("bad hop %q", spec)
		}
		if u.User != nil {
			user = u.User.Username()
		}
		host = u.Hostname()
		if ps := u.Port(); ps != "" {
			if port, err = parsePort(ps); err != nil {
				return "", "", 0, fmt.Errorf("bad hop %q: %w", spec, err)
			}
		}
		return user, host, port, nil
	}
	rest := spec
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
	}
	switch {
	case strings.HasPrefix(rest, "["):
		h, p, serr := net.SplitHostPort(rest)
		if serr != nil {
			end := strings.Index(rest, "]")
			if end < 0 || end != len(rest)-1 {
				return "", "", 0, fmt.Errorf("bad hop %q", spec)
			}
			h, p = rest[1:end], ""
		}
		host = h
		if p != "" {
			if port, err = parsePort(p); err != nil {
				return "", "", 0, fmt.Errorf("bad hop %q: %w", spec, err)
			}
		}
	case strings.Count(rest, ":") == 1:
		h, p, _ := strings.Cut(rest, ":")
		host = h
		if port, err = parsePort(p); err != nil {
			return "", "", 0, fmt.Errorf("bad hop %q: %w", spec, err)
		}
	default:
		host = rest // a plain name, or a bare IPv6 address
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("bad hop %q: empty host", spec)
	}
	return user, host, port, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// expandTokens expands the ssh_config tokens hadeploy supports (%h %p %r %u %d
// %%) and a leading ~.
func expandTokens(v string, ep endpoint, s *sshSettings) string {
	if strings.Contains(v, "%") {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] != '%' || i+1 == len(v) {
				b.WriteByte(v[i])
				continue
			}
			i++
			switch v[i] {
			case '%':
				b.WriteByte('%')
			case 'h':
				b.WriteString(ep.host)
			case 'n':
				b.WriteString(ep.alias)
			case 'p':
				b.WriteString(strconv.Itoa(ep.port))
			case 'r':
				b.WriteString(ep.user)
			case 'u':
				b.WriteString(s.localUser)
			case 'd':
				b.WriteString(s.home)
			default:
				b.WriteByte('%')
				b.WriteByte(v[i])
			}
		}
		v = b.String()
	}
	return expandHome(v, s.home)
}

// expandHome expands a leading ~ or ~/ to home.
func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

func localUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
