package inventory

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// base is a small valid inventory; each table case changes one thing in it.
const base = `name: test
ssh:
  user: root
  port: 22
  identity_file: ~/.ssh/id_ed25519
hosts:
  - name: web1
    address: 10.0.0.11
    roles: [web]
  - name: web2
    address: 10.0.0.12
    roles: [web]
  - name: lb1
    address: 10.0.0.21
    roles: [lb]
    interface: eth0
    priority: 100
  - name: lb2
    address: 10.0.0.22
    roles: [lb]
    priority: 90
vip: 10.0.0.100/24
vrrp:
  virtual_router_id: 42
  auth_pass: secret1
  check_weight: 25
web:
  port: 8080
  health_check: GET /index.html
haproxy:
  port: 80
  maxconn: 4000
  stats_uri: /haproxy?stats
  stats_auth:
    user: admin
    password: s3cret
  backends:
    - name: web
      servers:
        - host: web1
        - host: web2
          weight: 2
    - name: static
      servers:
        - host: web2
  routes:
    - name: site
      host: www.example.com
      backend: web
    - name: assets
      path_suffix: [.css, .js]
      backend: static
  default_backend: web
time:
  server: pool.ntp.org
  schedule: "*/10 * * * *"
keep_backups: 5
`

type badCase struct {
	name  string
	repl  []string // old, new pairs applied to base (each old must occur exactly once)
	doc   string   // used instead of base when set
	field string   // expected Error.Field
	at    string   // the error is on the line where this text starts...
	nth   int      // ...in its nth occurrence (default 1)
	line  int      // or on this line when at is empty
	want  string   // phrase the message must contain
}

var badCases = []badCase{
	// YAML and decoding.
	{name: "yaml syntax", repl: []string{"vip: 10.0.0.100/24", "vip: [10.0.0.100/24"}, field: "", at: "vip:", want: "unclosed '['"},
	{name: "yaml tab", repl: []string{"  port: 22\n", "\tport: 22\n"}, field: "", at: "\tport: 22", want: "tab character used for indentation; YAML indents with spaces"},
	{name: "yaml unterminated quote", repl: []string{"keep_backups: 5\n", "keep_backups: 5\nx: \"oops\n"}, field: "", at: "x: \"oops", want: "unclosed quote"},
	{name: "yaml bad indentation", repl: []string{"web:\n  port: 8080\n", "web:\n  port: 8080\n   x: 1\n"}, field: "", at: "   x: 1", want: "check this line's indentation"},
	{name: "unknown field", repl: []string{"    priority: 90", "    prority: 90"}, field: "hosts[3].prority", at: "prority", want: `unknown field "prority" (did you mean "priority"?); allowed: name, address, roles`},
	{name: "unknown top-level field", repl: []string{"keep_backups: 5", "keep_backup: 5"}, field: "keep_backup", at: "keep_backup:", want: `did you mean "keep_backups"?`},
	{name: "unknown field no suggestion", repl: []string{"  maxconn: 4000", "  zzz: 4000"}, field: "haproxy.zzz", at: "zzz", want: "allowed: port, maxconn"},
	{name: "string for int", repl: []string{"  port: 22\n", "  port: \"22\"\n"}, field: "ssh.port", at: "  port: \"22\"", want: "must be a whole number, got the string \"22\""},
	{name: "word for int", repl: []string{"    priority: 90", "    priority: high"}, field: "hosts[3].priority", at: "priority: high", want: "must be a whole number"},
	{name: "list for string", repl: []string{"address: 10.0.0.11", "address: [10.0.0.11]"}, field: "hosts[0].address", at: "address: [", want: "must be a string, got a list"},
	{name: "section not a mapping", repl: []string{"web:\n  port: 8080\n  health_check: GET /index.html\n", "web: 8080\n"}, field: "web", at: "web: 8080", want: "must be a mapping"},
	{name: "hosts not a list", repl: []string{"hosts:\n  - name: web1", "hosts: web1\nx:\n  - name: web1"}, field: "hosts", at: "hosts: web1", want: "must be a list"},
	{name: "host entry not a mapping", repl: []string{"    priority: 90\n", "    priority: 90\n  - web3\n"}, field: "hosts[4]", at: "- web3", want: "must be a mapping of fields"},
	{name: "empty host entry", repl: []string{"    priority: 90\n", "    priority: 90\n  -\n"}, field: "hosts[4]", at: "  -\n", want: "empty list entry"},
	{name: "duplicate key", repl: []string{"keep_backups: 5", "keep_backups: 5\nkeep_backups: 6"}, field: "keep_backups", at: "keep_backups: 6", want: "duplicate field \"keep_backups\" (first set on line"},
	{name: "duplicate nested key", repl: []string{"    address: 10.0.0.12\n", "    address: 10.0.0.12\n    address: 10.0.0.13\n"}, field: "hosts[1].address", at: "address: 10.0.0.13", want: "duplicate field"},
	{name: "number out of range", repl: []string{"keep_backups: 5", "keep_backups: 99999999999999999999999"}, field: "keep_backups", at: "keep_backups", want: "out of range"},
	{name: "merge key", repl: []string{"ssh:\n  user: root\n", "ssh:\n  <<: {user: root}\n"}, field: `ssh."<<"`, at: "<<", want: "merge keys"},
	{name: "second document", repl: []string{"keep_backups: 5\n", "keep_backups: 5\n---\nname: other\n"}, field: "", at: "---", want: "second YAML document"},
	{name: "empty document", doc: "# nothing here\n", field: "", line: 1, want: "holds no inventory"},
	{name: "root is a list", doc: "- a\n- b\n", field: "", line: 1, want: "must be a mapping of fields"},
	{name: "undefined alias", repl: []string{"vip: 10.0.0.100/24", "vip: *nope"}, field: "", at: "*nope", want: "not defined"},

	// Required fields.
	{name: "name empty", repl: []string{"name: test", `name: ""`}, field: "name", at: "name: \"\"", want: "must not be empty"},
	{name: "hosts missing", doc: "vip: 10.0.0.100/24\nvrrp:\n  virtual_router_id: 1\n", field: "hosts", line: 1, want: "required"},
	{name: "hosts empty", repl: []string{"hosts:\n  - name: web1", "hosts: []\nxx:\n  - name: web1"}, field: "hosts", at: "hosts: []", want: "required"},
	{name: "host name missing", repl: []string{"  - name: web2\n    address: 10.0.0.12", "  - address: 10.0.0.12"}, field: "hosts[1].name", at: "address: 10.0.0.12", want: "required"},
	{name: "host address missing", repl: []string{"    address: 10.0.0.12\n", ""}, field: "hosts[1].address", at: "name: web2", want: "required"},
	{name: "host roles missing", repl: []string{"    roles: [web]\n  - name: web2", "  - name: web2"}, field: "hosts[0].roles", at: "name: web1", want: "required"},
	{name: "host roles empty", repl: []string{"    roles: [web]\n  - name: web2", "    roles: []\n  - name: web2"}, field: "hosts[0].roles", at: "roles: []", want: "required"},
	{name: "vip missing", repl: []string{"vip: 10.0.0.100/24\n", ""}, field: "vip", line: 1, want: "required"},
	{name: "virtual_router_id missing", repl: []string{"  virtual_router_id: 42\n", ""}, field: "vrrp.virtual_router_id", at: "vrrp:", want: "required"},
	{name: "vrrp section missing", repl: []string{"vrrp:\n  virtual_router_id: 42\n  auth_pass: secret1\n  check_weight: 25\n", ""}, field: "vrrp.virtual_router_id", line: 1, want: "no default"},
	{name: "priority missing", repl: []string{"    priority: 90\n", ""}, field: "hosts[3].priority", at: "name: lb2", want: "required on every lb host"},

	// Hosts.
	{name: "host name unsafe", repl: []string{"name: web1", "name: web1; rm -rf /"}, field: "hosts[0].name", at: "name: web1;", want: "pattern ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
	{name: "host name upper case", repl: []string{"name: web1", "name: Web1"}, field: "hosts[0].name", at: "name: Web1", want: "lowercase"},
	{name: "host name duplicate", repl: []string{"name: web2", "name: web1"}, field: "hosts[1].name", at: "name: web1", nth: 2, want: "already used by hosts[0]"},
	{name: "address duplicate", repl: []string{"address: 10.0.0.12", "address: 10.0.0.11"}, field: "hosts[1].address", at: "address: 10.0.0.11", nth: 2, want: "already used by hosts[0]"},
	{name: "address bad IPv4", repl: []string{"address: 10.0.0.12", "address: 10.0.0.300"}, field: "hosts[1].address", at: "10.0.0.300", want: "not a valid IPv4 address"},
	{name: "address bad DNS", repl: []string{"address: 10.0.0.12", "address: web_2.example.com"}, field: "hosts[1].address", at: "web_2", want: "DNS name"},
	{name: "address shell", repl: []string{"address: 10.0.0.12", "address: \"$(reboot)\""}, field: "hosts[1].address", at: "$(reboot)", want: "IPv4/IPv6 address or a DNS name"},
	{name: "address zone", repl: []string{"address: 10.0.0.12", "address: \"fe80::1%eth0\""}, field: "hosts[1].address", at: "fe80", want: "zones"},
	{name: "role unknown", repl: []string{"roles: [web]\n  - name: web2", "roles: [web, db]\n  - name: web2"}, field: "hosts[0].roles[1]", at: "roles: [web, db]", want: `unknown role "db"`},
	{name: "role duplicate", repl: []string{"roles: [web]\n  - name: web2", "roles: [web, web]\n  - name: web2"}, field: "hosts[0].roles[1]", at: "roles: [web, web]", want: "listed twice"},
	{name: "no web host", repl: []string{
		"roles: [web]\n  - name: web2", "roles: [lb]\n    priority: 70\n  - name: web2",
		"roles: [web]\n  - name: lb1", "roles: [lb]\n    priority: 60\n  - name: lb1",
	}, field: "hosts", at: "hosts:", want: `no host has the "web" role`},
	{name: "no lb host", repl: []string{
		"roles: [lb]\n    interface: eth0", "roles: [web]\n    interface: eth0",
		"roles: [lb]\n    priority: 90", "roles: [web]\n    priority: 90",
	}, field: "hosts", at: "hosts:", want: `no host has the "lb" role`},
	{name: "interface unsafe", repl: []string{"interface: eth0", "interface: eth0;reboot"}, field: "hosts[2].interface", at: "interface:", want: "network interface name"},
	{name: "interface too long", repl: []string{"interface: eth0", "interface: abcdefghijklmnop"}, field: "hosts[2].interface", at: "interface:", want: "1 to 15"},
	{name: "host user unsafe", repl: []string{"    address: 10.0.0.11\n", "    address: 10.0.0.11\n    user: \"a b\"\n"}, field: "hosts[0].user", at: "user: \"a b\"", want: "user name"},
	{name: "host identity_file newline", repl: []string{"    address: 10.0.0.11\n", "    address: 10.0.0.11\n    identity_file: \"k\\nx\"\n"}, field: "hosts[0].identity_file", at: "identity_file: \"k", want: "newlines, NUL"},

	// Ports.
	{name: "ssh port 0", repl: []string{"  port: 22\n", "  port: 0\n"}, field: "ssh.port", at: "  port: 0", want: "between 1 and 65535, got 0"},
	{name: "host port too big", repl: []string{"    address: 10.0.0.11\n", "    address: 10.0.0.11\n    port: 70000\n"}, field: "hosts[0].port", at: "port: 70000", want: "between 1 and 65535"},
	{name: "web port too big", repl: []string{"  port: 8080", "  port: 65536"}, field: "web.port", at: "65536", want: "between 1 and 65535"},
	{name: "haproxy port negative", repl: []string{"  port: 80\n", "  port: -1\n"}, field: "haproxy.port", at: "port: -1", want: "between 1 and 65535"},
	{name: "web and haproxy port clash", repl: []string{
		"roles: [lb]\n    interface: eth0", "roles: [lb, web]\n    interface: eth0",
		"  port: 8080", "  port: 80",
	}, field: "web.port", at: "  port: 80\n", want: "cannot listen on the same port"},

	// VIP.
	{name: "vip bad prefix", repl: []string{"vip: 10.0.0.100/24", "vip: 10.0.0.100/33"}, field: "vip", at: "vip:", want: "IPv4 address with prefix length"},
	{name: "vip garbage", repl: []string{"vip: 10.0.0.100/24", "vip: 'x; reboot'"}, field: "vip", at: "vip:", want: "e.g. 10.0.0.100/24"},
	{name: "vip without prefix", repl: []string{"vip: 10.0.0.100/24", "vip: 10.0.0.100"}, field: "vip", at: "vip:", want: "needs a prefix length"},
	{name: "vip ipv6", repl: []string{"vip: 10.0.0.100/24", "vip: fd00::100/64"}, field: "vip", at: "vip:", want: "IPv6 VIPs are not supported"},
	{name: "vip is host address", repl: []string{"vip: 10.0.0.100/24", "vip: 10.0.0.21/24"}, field: "vip", at: "vip:", want: "also the address of host lb1"},
	{name: "vip outside subnet", repl: []string{"vip: 10.0.0.100/24", "vip: 10.0.1.100/24"}, field: "vip", at: "vip:", want: "not in the subnet of lb host lb1"},
	{name: "vip network address", repl: []string{"vip: 10.0.0.100/24", "vip: 10.0.0.0/24"}, field: "vip", at: "vip:", want: "network address"},
	{name: "vip loopback", repl: []string{"vip: 10.0.0.100/24", "vip: 127.0.0.5/8"}, field: "vip", at: "vip:", want: "not a usable unicast address"},

	// VRRP.
	{name: "virtual_router_id too big", repl: []string{"virtual_router_id: 42", "virtual_router_id: 256"}, field: "vrrp.virtual_router_id", at: "virtual_router_id", want: "between 1 and 255, got 256"},
	{name: "advert_int 0", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  advert_int: 0\n"}, field: "vrrp.advert_int", at: "advert_int", want: "between 1 and 255"},
	{name: "advert_int fraction v2", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  advert_int: 0.5\n"}, field: "vrrp.advert_int", at: "advert_int", want: "sub-second adverts need vrrp.version: 3"},
	{name: "advert_int 1.5 v2", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  advert_int: 1.5\n"}, field: "vrrp.advert_int", at: "advert_int", want: "must be whole seconds"},
	{name: "advert_int text", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  advert_int: fast\n"}, field: "vrrp.advert_int", at: "advert_int", want: "must be a number"},
	{name: "vrrp version 4", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  version: 4\n"}, field: "vrrp.version", at: "version: 4", want: "between 2 and 3"},
	{name: "vrrp v3 with auth", repl: []string{"  auth_pass: secret1\n", "  auth_pass: secret1\n  version: 3\n"}, field: "vrrp.auth_pass", at: "auth_pass", want: "VRRP version 3 has no authentication"},
	{name: "advert_int v3 too fine", repl: []string{"  auth_pass: secret1\n", "  version: 3\n  advert_int: 0.005\n"}, field: "vrrp.advert_int", at: "advert_int", want: "between 0.01 and 40.95 seconds in steps of 0.01"},
	{name: "advert_int v3 too long", repl: []string{"  auth_pass: secret1\n", "  version: 3\n  advert_int: 41\n"}, field: "vrrp.advert_int", at: "advert_int", want: "between 0.01 and 40.95"},
	{name: "auth_pass too long", repl: []string{"auth_pass: secret1", "auth_pass: secret123"}, field: "vrrp.auth_pass", at: "auth_pass", want: "silently truncates"},
	{name: "auth_pass forbidden char", repl: []string{"auth_pass: secret1", `auth_pass: "se#c"`}, field: "vrrp.auth_pass", at: "auth_pass", want: `must not contain any of " ' # ! { } \`},
	{name: "auth_pass brace", repl: []string{"auth_pass: secret1", `auth_pass: "a}b"`}, field: "vrrp.auth_pass", at: "auth_pass", want: "must not contain any of"},
	{name: "auth_pass space", repl: []string{"auth_pass: secret1", `auth_pass: "a b"`}, field: "vrrp.auth_pass", at: "auth_pass", want: "printable ASCII without spaces"},
	{name: "auth_pass non-ascii", repl: []string{"auth_pass: secret1", `auth_pass: "pässe"`}, field: "vrrp.auth_pass", at: "auth_pass", want: "printable ASCII"},
	{name: "auth_pass empty", repl: []string{"auth_pass: secret1", `auth_pass: ""`}, field: "vrrp.auth_pass", at: "auth_pass", want: "1 to 8 characters"},
	{name: "notify email bad", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com, \"not an email\"]\n    smtp_server: mail.example.com\n"}, field: "vrrp.notify.email[1]", at: "email:", want: "must be an email address"},
	{name: "notify email brace", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [\"o{p}s@example.com\"]\n    smtp_server: mail.example.com\n"}, field: "vrrp.notify.email[0]", at: "email:", want: "must be an email address"},
	{name: "notify email duplicate", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com, OPS@example.com]\n    smtp_server: mail.example.com\n"}, field: "vrrp.notify.email[1]", at: "email:", want: "already listed at vrrp.notify.email[0]"},
	{name: "notify email empty list", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: []\n"}, field: "vrrp.notify.email", at: "email:", want: "at least one address"},
	{name: "notify email needs smtp_server", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com]\n"}, field: "vrrp.notify.email", at: "email:", want: "needs vrrp.notify.smtp_server"},
	{name: "notify smtp_server without email", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    smtp_server: mail.example.com\n"}, field: "vrrp.notify.smtp_server", at: "smtp_server:", want: "only takes effect with vrrp.notify.email"},
	{name: "notify smtp_server bad port", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com]\n    smtp_server: mail.example.com:99999\n"}, field: "vrrp.notify.smtp_server", at: "smtp_server:", want: "port must be a number 1-65535"},
	{name: "notify smtp_server bad host", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com]\n    smtp_server: mail_example\n"}, field: "vrrp.notify.smtp_server", at: "smtp_server:", want: "host must be an IPv4/IPv6 address or a DNS name"},
	{name: "notify email_from bad", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com]\n    email_from: keepalived\n    smtp_server: 10.0.0.5\n"}, field: "vrrp.notify.email_from", at: "email_from:", want: "must be an email address"},
	{name: "notify smtp timeout", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    email: [ops@example.com]\n    smtp_server: 10.0.0.5\n    smtp_connect_timeout: 0\n"}, field: "vrrp.notify.smtp_connect_timeout", at: "smtp_connect_timeout:", want: "between 1 and 300"},
	{name: "notify script relative", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    script: bin/alert\n"}, field: "vrrp.notify.script", at: "script:", want: "absolute path"},
	{name: "notify script space", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    script: \"/usr/local/bin/my alert\"\n"}, field: "vrrp.notify.script", at: "script:", want: "letters, digits"},
	{name: "notify script unclean", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    script: /usr/local/../bin/alert\n"}, field: "vrrp.notify.script", at: "script:", want: "clean path"},
	{name: "notify webhook scheme", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: ftp://hooks.example.com/x\n"}, field: "vrrp.notify.webhook", at: "webhook:", want: "http:// or https://"},
	{name: "notify webhook no host", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: \"https:///path?token=abc\"\n"}, field: "vrrp.notify.webhook", at: "webhook:", want: "has no host"},
	{name: "notify webhook space", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: \"https://h.example.com/a b\"\n"}, field: "vrrp.notify.webhook", at: "webhook:", want: "without spaces"},
	{name: "notify webhook bad port", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: \"https://h.example.com:0/x\"\n"}, field: "vrrp.notify.webhook", at: "webhook:", want: "port must be a number"},
	{name: "notify webhook not a url", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    webhook: \"http://h.example.com:x/%zz\"\n"}, field: "vrrp.notify.webhook", at: "webhook:", want: "not a valid URL"},
	{name: "notify unknown field", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  notify:\n    mail: [ops@example.com]\n"}, field: "vrrp.notify.mail", at: "mail:", want: "unknown field"},
	{name: "priority duplicate", repl: []string{"priority: 90", "priority: 100"}, field: "hosts[3].priority", at: "priority: 100", nth: 2, want: "priority 100 is also used by lb1"},
	{name: "priority 255", repl: []string{"priority: 90", "priority: 255"}, field: "hosts[3].priority", at: "priority: 255", want: "between 1 and 254"},
	{name: "priority 0", repl: []string{"priority: 90", "priority: 0"}, field: "hosts[3].priority", at: "priority: 0", want: "between 1 and 254"},
	{name: "check_weight 0", repl: []string{"check_weight: 25", "check_weight: 0"}, field: "vrrp.check_weight", at: "check_weight", want: "between 1 and 253"},
	{name: "check_weight negative", repl: []string{"check_weight: 25", "check_weight: -25"}, field: "vrrp.check_weight", at: "check_weight", want: "weight -N"},
	{name: "check_weight too small for failover", repl: []string{"check_weight: 25", "check_weight: 10"}, field: "vrrp.check_weight", at: "check_weight",
		want: "master lb1 priority 100 - check_weight 10 = 90 is not below backup lb2 priority 90: a dead haproxy on lb1 would never move the VIP; use check_weight > 10"},
	{name: "default check_weight too small", repl: []string{"  check_weight: 25\n", "", "priority: 90", "priority: 50"}, field: "vrrp.check_weight", at: "vrrp:",
		want: "priority 100 - check_weight 25 = 75 is not below backup lb2 priority 50"},
	{name: "check_interval 61", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  check_interval: 61\n"}, field: "vrrp.check_interval", at: "check_interval", want: "between 1 and 60"},
	{name: "check_fall 0", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  check_fall: 0\n"}, field: "vrrp.check_fall", at: "check_fall", want: "between 1 and 10"},
	{name: "check_rise 11", repl: []string{"  check_weight: 25\n", "  check_weight: 25\n  check_rise: 11\n"}, field: "vrrp.check_rise", at: "check_rise", want: "between 1 and 10"},

	// Web.
	{name: "health_check method", repl: []string{"health_check: GET /index.html", "health_check: POST /index.html"}, field: "web.health_check", at: "health_check", want: "GET, HEAD or OPTIONS"},
	{name: "health_check path", repl: []string{"health_check: GET /index.html", "health_check: GET /index.html?x=1"}, field: "web.health_check", at: "health_check", want: "path must start with /"},
	{name: "health_check form", repl: []string{"health_check: GET /index.html", "health_check: /index.html"}, field: "web.health_check", at: "health_check", want: `"METHOD /path"`},

	// HAProxy.
	{name: "maxconn 0", repl: []string{"maxconn: 4000", "maxconn: 0"}, field: "haproxy.maxconn", at: "maxconn", want: "between 1 and 1000000"},
	{name: "stats_uri", repl: []string{"stats_uri: /haproxy?stats", "stats_uri: haproxy"}, field: "haproxy.stats_uri", at: "stats_uri", want: "must start with /"},
	{name: "stats_uri space", repl: []string{"stats_uri: /haproxy?stats", "stats_uri: /a b"}, field: "haproxy.stats_uri", at: "stats_uri", want: "pattern"},
	{name: "stats user", repl: []string{"user: admin", "user: ad:min"}, field: "haproxy.stats_auth.user", at: "user: ad:min", want: "1 to 32 letters"},
	{name: "stats user missing", repl: []string{"    user: admin\n", ""}, field: "haproxy.stats_auth.user", at: "stats_auth:", want: "required when stats_auth is set"},
	{name: "stats password space", repl: []string{"password: s3cret", `password: "s3 cret"`}, field: "haproxy.stats_auth.password", at: "password:", want: "without spaces"},
	{name: "stats password hash", repl: []string{"password: s3cret", `password: "s3#cret"`}, field: "haproxy.stats_auth.password", at: "password:", want: `must not contain any of # " ' \`},
	{name: "stats password long", repl: []string{"password: s3cret", "password: " + strings.Repeat("x", 65)}, field: "haproxy.stats_auth.password", at: "password:", want: "1 to 64 characters"},
	{name: "backend name", repl: []string{"    - name: static\n", "    - name: \"stat ic\"\n"}, field: "haproxy.backends[1].name", at: "stat ic", want: "pattern ^[A-Za-z0-9_.-]{1,64}$"},
	{name: "backend name duplicate", repl: []string{"    - name: static\n", "    - name: web\n", "backend: static", "backend: web"}, field: "haproxy.backends[1].name", at: "    - name: web\n", nth: 2, want: "already used by haproxy.backends[0]"},
	{name: "backend name missing", repl: []string{"    - name: static\n      servers:", "    - servers:"}, field: "haproxy.backends[1].name", at: "    - servers:", want: "required"},
	{name: "backend without servers", repl: []string{"    - name: static\n      servers:\n        - host: web2", "    - name: static\n      servers: []"}, field: "haproxy.backends[1].servers", at: "servers: []", want: "at least one server"},
	{name: "server unknown host", repl: []string{"- host: web1", "- host: web9"}, field: "haproxy.backends[0].servers[0].host", at: "web9", want: `no host named "web9"; servers must be web hosts: web1, web2`},
	{name: "server not web", repl: []string{"- host: web1", "- host: lb1"}, field: "haproxy.backends[0].servers[0].host", at: "host: lb1", want: "does not have the web role; servers must be web hosts: web1, web2"},
	{name: "server host missing", repl: []string{"        - host: web2\n          weight: 2", "        - weight: 2"}, field: "haproxy.backends[0].servers[1].host", at: "- weight: 2", want: "required"},
	{name: "server duplicate", repl: []string{"        - host: web2\n          weight: 2", "        - host: web1\n          weight: 2"}, field: "haproxy.backends[0].servers[1].host", at: "host: web1", nth: 2, want: "already a server of this backend"},
	{name: "server weight", repl: []string{"          weight: 2\n", "          weight: 257\n"}, field: "haproxy.backends[0].servers[1].weight", at: "weight: 257", want: "between 0 and 256"},
	{name: "default_backend unknown", repl: []string{"default_backend: web", "default_backend: nope"}, field: "haproxy.default_backend", at: "default_backend", want: `no backend named "nope"; backends: web, static`},
	{name: "default_backend required", repl: []string{
		"    - name: web\n", "    - name: pool\n",
		"      backend: web\n", "      backend: pool\n",
		"  default_backend: web\n", "",
	}, field: "haproxy.default_backend", at: "haproxy:", want: "required: with several backends and none named \"web\""},
	{name: "route neither host nor suffix", repl: []string{"      host: www.example.com\n", ""}, field: "haproxy.routes[0]", at: "- name: site", want: "set one of host"},
	{name: "route both host and suffix", repl: []string{"      host: www.example.com\n", "      host: www.example.com\n      path_suffix: [.png]\n"}, field: "haproxy.routes[0]", at: "- name: site", want: "set only one of host and path_suffix"},
	{name: "route host pattern", repl: []string{"host: www.example.com", "host: www_example.com"}, field: "haproxy.routes[0].host", at: "www_example", want: "lowercase letters, digits"},
	{name: "route host upper", repl: []string{"host: www.example.com", "host: WWW.example.com"}, field: "haproxy.routes[0].host", at: "WWW", want: "must be lowercase"},
	{name: "route host wildcard", repl: []string{"host: www.example.com", "host: '*.example.com'"}, field: "haproxy.routes[0].host", at: "*.example", want: "wildcard hosts (*.example.com) are not supported"},
	{name: "route host port", repl: []string{"host: www.example.com", "host: www.example.com:8080"}, field: "haproxy.routes[0].host", at: "www.example.com:8080", want: "without a port"},
	{name: "route suffix", repl: []string{"[.css, .js]", "[.css, js]"}, field: "haproxy.routes[1].path_suffix[1]", at: "[.css, js]", want: `e.g. ".css"`},
	{name: "route suffix unsafe", repl: []string{"[.css, .js]", "[.css, \".j s\"]"}, field: "haproxy.routes[1].path_suffix[1]", at: ".j s", want: `pattern ^\.[A-Za-z0-9_-]{1,16}$`},
	{name: "route suffix empty list", repl: []string{"[.css, .js]", "[]"}, field: "haproxy.routes[1].path_suffix", at: "path_suffix: []", want: "at least one suffix"},
	{name: "route backend unknown", repl: []string{"backend: static\n", "backend: nope\n"}, field: "haproxy.routes[1].backend", at: "backend: nope", want: `no backend named "nope"`},
	{name: "route backend missing", repl: []string{"      backend: static\n", ""}, field: "haproxy.routes[1].backend", at: "- name: assets", want: "required"},
	{name: "route name duplicate", repl: []string{"- name: assets", "- name: site"}, field: "haproxy.routes[1].name", at: "- name: site", nth: 2, want: "already used by haproxy.routes[0]"},
	{name: "route name pattern", repl: []string{"- name: assets", "- name: as.sets"}, field: "haproxy.routes[1].name", at: "as.sets", want: "pattern ^[A-Za-z0-9_-]{1,64}$"},
	{name: "check_inter", repl: []string{"  maxconn: 4000\n", "  maxconn: 4000\n  check_inter: 50\n"}, field: "haproxy.check_inter", at: "check_inter", want: "between 100 and 3600000"},
	{name: "rise", repl: []string{"  maxconn: 4000\n", "  maxconn: 4000\n  rise: 0\n"}, field: "haproxy.rise", at: "rise", want: "between 1 and 100"},
	{name: "fall", repl: []string{"  maxconn: 4000\n", "  maxconn: 4000\n  fall: 101\n"}, field: "haproxy.fall", at: "fall", want: "between 1 and 100"},

	// Time, backups, SSH and other strings.
	{name: "time server unsafe", repl: []string{"server: pool.ntp.org", "server: 'pool.ntp.org; reboot'"}, field: "time.server", at: "server: 'pool", want: "NTP server"},
	{name: "schedule field count", repl: []string{`schedule: "*/10 * * * *"`, `schedule: "*/10 * * *"`}, field: "time.schedule", at: "schedule", want: "5 cron fields"},
	{name: "schedule chars", repl: []string{`schedule: "*/10 * * * *"`, `schedule: "*/10 * * * * root reboot"`}, field: "time.schedule", at: "schedule", want: "only digits and * / , -"},
	{name: "schedule newline", repl: []string{`schedule: "*/10 * * * *"`, `schedule: "*/10 * * *\n* * * * *"`}, field: "time.schedule", at: "schedule", want: "separated by spaces"},
	{name: "time method", repl: []string{"server: pool.ntp.org", "method: ntpd\n  server: pool.ntp.org"}, field: "time.method", at: "method: ntpd", want: `must be "ntpdate"`},
	{name: "schedule with chrony", repl: []string{"server: pool.ntp.org", "method: chrony\n  server: pool.ntp.org"}, field: "time.schedule", at: "schedule", want: `is for time.method "ntpdate" only`},
	{name: "schedule range", repl: []string{`schedule: "*/10 * * * *"`, `schedule: "61 * * * *"`}, field: "time.schedule", at: "schedule", want: "minute field \"61\""},
	{name: "keep_backups 0", repl: []string{"keep_backups: 5", "keep_backups: 0"}, field: "keep_backups", at: "keep_backups", want: "between 1 and 100"},
	{name: "keep_backups 101", repl: []string{"keep_backups: 5", "keep_backups: 101"}, field: "keep_backups", at: "keep_backups", want: "between 1 and 100"},
	{name: "name unsafe", repl: []string{"name: test", "name: 'te st'"}, field: "name", at: "name: 'te st'", want: "pattern"},
	{name: "ssh user unsafe", repl: []string{"user: root", "user: 'root;id'"}, field: "ssh.user", at: "user: 'root", want: "user name"},
	{name: "ssh identity_file NUL", repl: []string{"identity_file: ~/.ssh/id_ed25519", `identity_file: "~/.ssh/id\0"`}, field: "ssh.identity_file", at: "identity_file", want: "newlines, NUL"},
	{name: "ssh identity_file option", repl: []string{"identity_file: ~/.ssh/id_ed25519", "identity_file: -oProxyCommand=x"}, field: "ssh.identity_file", at: "identity_file", want: "not starting with '-'"},
	{name: "ssh known_hosts newline", repl: []string{"  identity_file: ~/.ssh/id_ed25519\n", "  identity_file: ~/.ssh/id_ed25519\n  known_hosts: \"a\\nb\"\n"}, field: "ssh.known_hosts", at: "known_hosts", want: "newlines, NUL"},
	{name: "ssh connect_timeout", repl: []string{"  port: 22\n", "  port: 22\n  connect_timeout: 0\n"}, field: "ssh.connect_timeout", at: "connect_timeout", want: "between 1 and 600"},
}

// input builds the YAML of a case, failing the test if a replacement is ambiguous.
func (tc badCase) input(t testing.TB) string {
	if tc.doc != "" {
		return tc.doc
	}
	s := base
	for i := 0; i+1 < len(tc.repl); i += 2 {
		if n := strings.Count(s, tc.repl[i]); n != 1 {
			t.Fatalf("case %q: %q occurs %d times in the inventory", tc.name, tc.repl[i], n)
		}
		s = strings.Replace(s, tc.repl[i], tc.repl[i+1], 1)
	}
	return s
}

// lineOf is the 1-based line where the nth occurrence of sub starts.
func lineOf(t testing.TB, s, sub string, nth int) int {
	if nth == 0 {
		nth = 1
	}
	off := 0
	for k := 0; k < nth; k++ {
		i := strings.Index(s[off:], sub)
		if i < 0 {
			t.Fatalf("%q occurs fewer than %d times", sub, nth)
		}
		if k == nth-1 {
			return 1 + strings.Count(s[:off+i], "\n")
		}
		off += i + len(sub)
	}
	return 0
}

func parseErrors(t *testing.T, file, doc string) Errors {
	t.Helper()
	c, err := Parse(file, []byte(doc))
	if err == nil {
		t.Fatalf("Parse accepted the inventory:\n%s", doc)
	}
	if c != nil {
		t.Errorf("Parse returned a cluster along with errors")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors", err)
	}
	return es
}

func TestBaseIsValid(t *testing.T) {
	c, err := Parse("base.yaml", []byte(base))
	if err != nil {
		t.Fatalf("base inventory refused:\n%v", err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("unexpected warnings: %q", c.Warnings)
	}
}

func TestRules(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.input(t)
			line := tc.line
			if tc.at != "" {
				line = lineOf(t, doc, tc.at, tc.nth)
			}
			es := parseErrors(t, "inv.yaml", doc)
			for _, e := range es {
				if e.Field == tc.field && e.Line == line && strings.Contains(e.Msg, tc.want) {
					if e.File != "inv.yaml" {
						t.Errorf("File = %q", e.File)
					}
					return
				}
			}
			t.Errorf("want an error on line %d, field %q, containing %q; got:\n%v", line, tc.field, tc.want, es)
		})
	}
}

func TestSecretsNotInMessages(t *testing.T) {
	for _, tc := range []struct{ old, new, secret string }{
		{"auth_pass: secret1", "auth_pass: topsecret99", "topsecret99"},
		{"auth_pass: secret1", `auth_pass: "p a s s"`, "p a s s"},
		{"password: s3cret", `password: "hunter 2"`, "hunter 2"},
		{"password: s3cret", `password: "hun#ter"`, "hun#ter"},
		{"check_weight: 25", "check_weight: 25\n  notify:\n    webhook: \"ftp://h.example.com/hook?token=tok3n\"", "tok3n"},
		{"check_weight: 25", "check_weight: 25\n  notify:\n    webhook: \"https://h.example.com:99x/hook?token=tok3n\"", "tok3n"},
		{"check_weight: 25", "check_weight: 25\n  notify:\n    webhook: \"https://h_x/hook?token=tok3n\"", "tok3n"},
	} {
		doc := strings.Replace(base, tc.old, tc.new, 1)
		_, err := Parse("inv.yaml", []byte(doc))
		if err == nil {
			t.Fatalf("%s accepted", tc.new)
		}
		if strings.Contains(err.Error(), tc.secret) {
			t.Errorf("message reveals the secret:\n%v", err)
		}
	}
}

func TestManyMistakesReportedTogether(t *testing.T) {
	doc := `name: demo
ssh:
  port: "22"
hosts:
  - name: web1; rm -rf /
    address: 10.0.0.11
    roles: [web]
  - name: web2
    address: 10.0.0.12
    roles: [web]
  - name: lb1
    adress: 10.0.0.21
    roles: [lb]
    priority: 100
  - name: lb2
    address: 10.0.0.22
    roles: [lb]
    priority: 100
vip: 10.0.0.100
vrrp:
  auth_pass: waytoolongpass
web:
  health_check: get /
haproxy:
  backends:
    - name: web
      servers:
        - host: web9
  routes:
    - host: www.example.com
      path_suffix: [.css]
      backend: web
time:
  schedule: "* * *"
keep_backups: 0
`
	es := parseErrors(t, "many.yaml", doc)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{3, "ssh.port", "whole number"},
		{5, "hosts[0].name", "pattern"},
		{11, "hosts[2].address", "required"},
		{12, "hosts[2].adress", `did you mean "address"`},
		{18, "hosts[3].priority", "also used by lb1"},
		{19, "vip", "needs a prefix length"},
		{20, "vrrp.virtual_router_id", "required"},
		{21, "vrrp.auth_pass", "silently truncates"},
		{23, "web.health_check", "GET, HEAD or OPTIONS"},
		{28, "haproxy.backends[0].servers[0].host", "no host named"},
		{30, "haproxy.routes[0]", "set only one"},
		{34, "time.schedule", "5 cron fields"},
		{35, "keep_backups", "between 1 and 100"},
	}
	for _, w := range want {
		found := false
		for _, e := range es {
			if e.Line == w.line && e.Field == w.field && strings.Contains(e.Msg, w.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing error line %d %s %q", w.line, w.field, w.msg)
		}
	}
	if len(es) < len(want) {
		t.Errorf("got %d errors, want at least %d", len(es), len(want))
	}
	// The combined message has one error per line, sorted by line.
	lines := strings.Split(es.Error(), "\n")
	if len(lines) != len(es) {
		t.Fatalf("Error() has %d lines for %d errors", len(lines), len(es))
	}
	prev := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "many.yaml:") {
			t.Errorf("line %d = %q", i, l)
		}
		if es[i].Line < prev {
			t.Errorf("errors not sorted by line: %v", es)
		}
		prev = es[i].Line
	}
	if t.Failed() {
		t.Logf("errors:\n%v", es)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "c.yaml", Line: 7, Field: "hosts[2].priority", Msg: "bad"}
	if got, want := e.Error(), "c.yaml:7: hosts[2].priority: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{File: "c.yaml", Line: 3, Msg: "invalid YAML: x"}
	if got, want := e.Error(), "c.yaml:3: invalid YAML: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	es := Errors{{File: "f", Line: 9, Field: "b", Msg: "2"}, {File: "f", Line: 2, Field: "a", Msg: "1"}}
	if got, want := es.Error(), "f:2: a: 1\nf:9: b: 2"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestSeedExample(t *testing.T) {
	c, err := Load("../examples/seed-cluster.yaml")
	if err != nil {
		t.Fatalf("example refused:\n%v", err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	if c.File != "../examples/seed-cluster.yaml" {
		t.Errorf("File = %q", c.File)
	}
	if got := c.VIPPrefix.String(); got != "192.168.83.111/24" {
		t.Errorf("VIPPrefix = %s", got)
	}
	if c.VIPAddr() != "192.168.83.111" {
		t.Errorf("VIPAddr = %s", c.VIPAddr())
	}
	if m := c.Master(); m == nil || m.Name != "haproxy1" {
		t.Errorf("Master = %v", m)
	}
	if c.VRRP.VirtualRouterID != 51 || c.VRRP.AuthPass != "linux" {
		t.Errorf("VRRP = %+v", c.VRRP)
	}
	if len(c.HostsWithRole(RoleWeb)) != 2 || len(c.HostsWithRole(RoleLB)) != 2 {
		t.Errorf("roles wrong: %+v", c.Hosts)
	}
	var names []string
	for _, b := range c.HAProxy.Backends {
		names = append(names, b.Name)
	}
	if got := strings.Join(names, ","); got != "web,www1,www2,static_web" {
		t.Errorf("backends = %s", got)
	}
	if c.HAProxy.DefaultBackend != "web" || len(c.HAProxy.Routes) != 3 {
		t.Errorf("haproxy = %+v", c.HAProxy)
	}
	if got := strings.Join(c.HAProxy.Routes[2].PathSuffix, " "); got != ".css .jpg .png .js" {
		t.Errorf("suffixes = %s", got)
	}
	if c.Time.Server != "time.nist.gov" || c.Time.Schedule != "*/10 * * * *" {
		t.Errorf("time = %+v", c.Time)
	}
	if c.SSH.User != "root" || c.SSH.KnownHosts != "~/.ssh/known_hosts" {
		t.Errorf("ssh = %+v", c.SSH)
	}
	if c.Hosts[0].Line == 0 || c.HAProxy.Backends[0].Line == 0 || c.HAProxy.Backends[0].Servers[0].Line == 0 || c.HAProxy.Routes[0].Line == 0 {
		t.Errorf("lines not recorded")
	}
}

func TestDefaults(t *testing.T) {
	doc := `hosts:
  - name: web1
    address: 10.0.0.11
    roles: [web]
  - name: web2
    address: web2.example.com
    roles: [web]
  - name: lb1
    address: 10.0.0.21
    roles: [lb]
    priority: 100
  - name: lb2
    address: 10.0.0.22
    roles: [lb]
    priority: 90
vip: 10.0.0.100/24
vrrp:
  virtual_router_id: 7
`
	c, err := Parse("min.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", c.Name, "hadeploy"},
		{"ssh.user", c.SSH.User, "root"},
		{"ssh.port", c.SSH.Port, 22},
		{"ssh.connect_timeout", c.SSH.ConnectTimeout, 10},
		{"lb interface", c.Hosts[2].Interface, "eth0"},
		{"web interface", c.Hosts[0].Interface, ""},
		{"advert_int", c.VRRP.AdvertInt, 1.0},
		{"vrrp.version", c.VRRP.Version, 2},
		{"check_weight", c.VRRP.CheckWeight, 25},
		{"check_interval", c.VRRP.CheckInterval, 2},
		{"check_fall", c.VRRP.CheckFall, 2},
		{"check_rise", c.VRRP.CheckRise, 2},
		{"web.port", c.Web.Port, 8080},
		{"health_check", c.Web.HealthCheck, "GET /index.html"},
		{"haproxy.port", c.HAProxy.Port, 80},
		{"maxconn", c.HAProxy.MaxConn, 4000},
		{"stats_uri", c.HAProxy.StatsURI, "/haproxy?stats"},
		{"check_inter", c.HAProxy.CheckInter, 2000},
		{"rise", c.HAProxy.Rise, 2},
		{"fall", c.HAProxy.Fall, 3},
		{"default_backend", c.HAProxy.DefaultBackend, "web"},
		{"time.server", c.Time.Server, "pool.ntp.org"},
		{"time.schedule", c.Time.Schedule, "*/10 * * * *"},
		{"keep_backups", c.Backups, 5},
		{"backends", len(c.HAProxy.Backends), 1},
		{"health method", c.HealthMethod(), "GET"},
		{"health path", c.HealthPath(), "/index.html"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	b := c.HAProxy.Backends[0]
	if b.Name != "web" || len(b.Servers) != 2 || b.Servers[0].Host != "web1" || b.Servers[1].Host != "web2" || b.Servers[0].Weight != 1 || b.Servers[1].Weight != 1 {
		t.Errorf("generated backend = %+v %+v %+v", b, b.Servers[0], b.Servers[1])
	}
	if c.HAProxy.StatsAuth != nil {
		t.Errorf("stats_auth should stay unset")
	}
	// The VIP keeps its host bits.
	if c.VIPPrefix.Addr().String() != "10.0.0.100" || c.VIPPrefix.Bits() != 24 {
		t.Errorf("VIPPrefix = %s", c.VIPPrefix)
	}
	// Server weight defaults to 1 but an explicit 0 stays 0; unnamed routes get names.
	doc2 := strings.Replace(base, "        - host: web1\n", "        - host: web1\n          weight: 0\n", 1)
	doc2 = strings.Replace(doc2, "    - name: assets\n      path_suffix", "    - path_suffix", 1)
	c2, err := Parse("w.yaml", []byte(doc2))
	if err != nil {
		t.Fatal(err)
	}
	if w := c2.HAProxy.Backends[0].Servers[0].Weight; w != 0 {
		t.Errorf("explicit weight 0 became %d", w)
	}
	if w := c2.HAProxy.Backends[1].Servers[0].Weight; w != 1 {
		t.Errorf("default weight = %d", w)
	}
	if n := c2.HAProxy.Routes[1].Name; n != "route2" {
		t.Errorf("unnamed route = %q, want route2", n)
	}
}

// VRRPv3: sub-second adverts, rendered as keepalived writes them.
func TestVRRPVersion3(t *testing.T) {
	src := strings.Replace(base, "  auth_pass: secret1\n", "  version: 3\n  advert_int: 0.2\n", 1)
	c, err := Parse("v3.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP.Version != 3 || c.VRRP.Advert() != 200*time.Millisecond || c.VRRP.AdvertText() != "0.2" {
		t.Errorf("version %d, advert %s (%q), want 3, 200ms, \"0.2\"", c.VRRP.Version, c.VRRP.Advert(), c.VRRP.AdvertText())
	}
}

func TestDefaultBackendOnlyOne(t *testing.T) {
	doc := strings.Replace(base, "  default_backend: web\n", "", 1)
	doc = strings.Replace(doc, "    - name: static\n      servers:\n        - host: web2\n", "", 1)
	doc = strings.Replace(doc, "    - name: assets\n      path_suffix: [.css, .js]\n      backend: static\n", "", 1)
	doc = strings.Replace(doc, "    - name: web\n", "    - name: pool\n", 1)
	doc = strings.Replace(doc, "      backend: web\n", "      backend: pool\n", 1)
	c, err := Parse("one.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.HAProxy.DefaultBackend != "pool" {
		t.Errorf("default_backend = %q, want pool", c.HAProxy.DefaultBackend)
	}
}

func TestSingleLBWarns(t *testing.T) {
	doc := strings.Replace(base, "  - name: lb2\n    address: 10.0.0.22\n    roles: [lb]\n    priority: 90\n", "", 1)
	doc = strings.Replace(doc, "    priority: 100\n", "", 1)
	c, err := Parse("single.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("single lb refused:\n%v", err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "no failover") {
		t.Fatalf("warnings = %q", c.Warnings)
	}
	want := "single.yaml:" + strconv.Itoa(lineOf(t, doc, "  - name: lb1", 1)) + ": hosts[2]: lb1 is the only lb host"
	if !strings.HasPrefix(c.Warnings[0], want) {
		t.Errorf("warning = %q, want prefix %q", c.Warnings[0], want)
	}
	if p := c.Host("lb1").Priority; p != DefaultPriority {
		t.Errorf("single lb priority = %d, want %d", p, DefaultPriority)
	}
}

func TestWarnings(t *testing.T) {
	doc := strings.Replace(base, "    address: 10.0.0.11\n", "    address: 10.0.0.11\n    interface: eth1\n    priority: 5\n", 1)
	c, err := Parse("w.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"hosts[0].interface: ignored", "hosts[0].priority: ignored"} {
		if !strings.Contains(all, w) {
			t.Errorf("missing warning %q in %q", w, c.Warnings)
		}
	}
	// An lb host named by DNS cannot be checked against the VIP subnet.
	doc = strings.Replace(base, "address: 10.0.0.22", "address: lb2.example.com", 1)
	c, err = Parse("w.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "cannot check that VIP") {
		t.Errorf("warnings = %q", c.Warnings)
	}
}

func TestAliasesAllowed(t *testing.T) {
	doc := strings.Replace(base, "    roles: [web]\n  - name: web2", "    roles: &webroles [web]\n  - name: web2", 1)
	doc = strings.Replace(doc, "    roles: [web]\n  - name: lb1", "    roles: *webroles\n  - name: lb1", 1)
	c, err := Parse("a.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Host("web2").HasRole(RoleWeb) {
		t.Errorf("alias not followed")
	}
}

func TestAliasBombBounded(t *testing.T) {
	// 1000 hosts, each with 1000 roles, in a few hundred bytes of aliases: the
	// node budget stops the walk instead of visiting a million values.
	doc := "r: &r [" + strings.Repeat("web,", 999) + "web]\n" +
		"h: &h {name: web1, address: 10.0.0.1, roles: *r}\n" +
		"hosts: [" + strings.Repeat("*h,", 999) + "*h]\n"
	// The budget error is the proof (no timing: this machine may be busy).
	es := parseErrors(t, "bomb.yaml", doc)
	if !strings.Contains(es.Error(), "too large") {
		t.Errorf("no budget error:\n%v", es)
	}
}

func TestRecursiveAnchorBounded(t *testing.T) {
	for _, doc := range []string{
		"hosts: &a [*a]\n",
		"hosts: &a [{name: web1, roles: *a}]\n",
		"haproxy: &a {backends: [{name: x, servers: *a}]}\n",
	} {
		if _, err := Parse("r.yaml", []byte(doc)); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("/nonexistent/inventory.yaml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/inventory.yaml") {
		t.Errorf("err = %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	doc := base + "#" + strings.Repeat("x", maxInventorySize) + "\n"
	es := parseErrors(t, "big.yaml", doc)
	if len(es) != 1 || es[0].Line != 0 || !strings.Contains(es[0].Msg, "at most 1 MiB") {
		t.Errorf("%v", es)
	}
}

func TestSuggestions(t *testing.T) {
	names := []fieldInfo{{name: "virtual_router_id"}, {name: "auth_pass"}, {name: "check_weight"}}
	for in, want := range map[string]string{
		"vrid":              "virtual_router_id",
		"virtual-router-id": "virtual_router_id",
		"Auth_Pass":         "auth_pass",
		"check_wieght":      "check_weight",
		"zzz":               "",
	} {
		msg := unknownFieldMsg(in, names)
		has := strings.Contains(msg, "did you mean")
		if want == "" && has || want != "" && !strings.Contains(msg, `did you mean "`+want+`"`) {
			t.Errorf("%s: %s", in, msg)
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../examples/seed-cluster.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	for _, tc := range badCases {
		f.Add([]byte(tc.input(f)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("cluster returned with errors")
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
			text := data
			if u, ok, _ := fromUTF16(data); ok {
				text = u
			}
			lines := newText(text).lines()
			for _, e := range es {
				if e.Line < 0 || e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
				if e.Line > lines || e.Line == 0 && len(data) <= maxInventorySize {
					t.Fatalf("line %d of a %d-line file: %v", e.Line, lines, e)
				}
				if strings.Contains(e.Msg, "internal error") {
					t.Fatalf("recovered panic: %v", e)
				}
			}
			_ = err.Error()
			return
		}
		// A valid cluster satisfies the invariants the steps rely on.
		if c == nil || !c.VIPPrefix.IsValid() || c.Master() == nil || len(c.HostsWithRole(RoleWeb)) == 0 {
			t.Fatalf("accepted an incomplete cluster: %+v", c)
		}
		if c.Backend(c.HAProxy.DefaultBackend) == nil {
			t.Fatalf("default backend %q missing", c.HAProxy.DefaultBackend)
		}
		for _, b := range c.HAProxy.Backends {
			for _, s := range b.Servers {
				if h := c.Host(s.Host); h == nil || !h.HasRole(RoleWeb) {
					t.Fatalf("server %q is not a web host", s.Host)
				}
			}
		}
		for _, r := range c.HAProxy.Routes {
			if r.Name == "" || c.Backend(r.Backend) == nil {
				t.Fatalf("bad route %+v", r)
			}
		}
		for _, h := range c.Hosts {
			if h.HasRole(RoleLB) && (h.Interface == "" || h.Priority < 1 || h.Priority > 254) {
				t.Fatalf("bad lb host %+v", h)
			}
		}
	})
}

func TestLargeInventoryStaysLinear(t *testing.T) {
	// Thousands of web hosts and a backend naming thousands of unknown servers:
	// messages list a bounded number of names and lookups are indexed.
	var b strings.Builder
	b.WriteString("vip: 10.0.0.100/24\nvrrp: {virtual_router_id: 1}\nhosts:\n")
	b.WriteString("  - {name: lb1, address: 10.0.0.21, roles: [lb], priority: 100}\n")
	b.WriteString("  - {name: lb2, address: 10.0.0.22, roles: [lb], priority: 90}\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("  - {name: w" + strconv.Itoa(i) + ", address: h" + strconv.Itoa(i) + ".example.com, roles: [web]}\n")
	}
	b.WriteString("haproxy:\n  backends:\n    - name: web\n      servers:\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("        - host: x" + strconv.Itoa(i) + "\n")
	}
	// Linear: bounded messages and indexed lookups (no wall-clock bound).
	es := parseErrors(t, "big.yaml", b.String())
	if len(es) != 5000 {
		t.Errorf("got %d errors, want 5000", len(es))
	}
	if n := len(es.Error()); n > 5000*250 {
		t.Errorf("messages total %d bytes", n)
	}
	if !strings.Contains(es[0].Msg, "and 4980 more") {
		t.Errorf("list not capped: %s", es[0].Msg)
	}
}

func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile("../docs/inventory.md")
	if err != nil {
		t.Skip("docs/inventory.md not found")
	}
	_, after, ok := strings.Cut(string(b), "## Example\n\n```yaml\n")
	if !ok {
		t.Fatal("no example in docs/inventory.md")
	}
	doc, _, _ := strings.Cut(after, "```")
	c, err := Parse("docs/inventory.md", []byte(doc))
	if err != nil {
		t.Fatalf("docs example refused:\n%v", err)
	}
	if len(c.Warnings) != 0 || len(c.HAProxy.Backends) != 1 || c.Web.Port != 8080 {
		t.Errorf("unexpected: %q %+v", c.Warnings, c.HAProxy)
	}
}

func TestNotifyParsed(t *testing.T) {
	doc := strings.Replace(base, "  check_weight: 25\n", `  check_weight: 25
  notify:
    email: [ops@example.com, oncall+vrrp@example.org]
    email_from: keepalived@lb.example.com
    smtp_server: "[2001:db8::25]:587"
    script: /usr/local/bin/vrrp-alert
    webhook: https://hooks.example.com/vrrp?token=abc123
`, 1)
	c, err := Parse("inv.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	n := c.VRRP.Notify
	if n.SMTPHost != "2001:db8::25" || n.SMTPPort != 587 || n.SMTPConnectTimeout != DefaultSMTPTimeout {
		t.Errorf("smtp: %q %d %d", n.SMTPHost, n.SMTPPort, n.SMTPConnectTimeout)
	}
	found := false
	for _, s := range c.Secrets() {
		found = found || s == n.Webhook
	}
	if !found {
		t.Errorf("the webhook URL is not among the secrets %q", c.Secrets())
	}
	for in, want := range map[string]string{"mail.example.com": "mail.example.com 25", "10.0.0.5:2525": "10.0.0.5 2525", "2001:db8::1": "2001:db8::1 25"} {
		h, p, msg := splitSMTP(in)
		if got := h + " " + strconv.Itoa(p); msg != "" || got != want {
			t.Errorf("splitSMTP(%q) = %q, %q; want %q", in, got, msg, want)
		}
	}
}
