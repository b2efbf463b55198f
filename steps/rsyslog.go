package steps

import "github.com/hadeploy/hadeploy/inventory"

// Rsyslog receives HAProxy's log on 127.0.0.1:514/udp (never on every
// address) and writes local3 to /var/log/haproxy.log, then stops the message so
// it is not duplicated in the system log. The drop-in sorts before the haproxy
// package's own 49-haproxy.conf, which therefore never sees these lines.
type Rsyslog struct{}

func (Rsyslog) Name() string                   { return "rsyslog" }
func (Rsyslog) Applies(h *inventory.Host) bool { return h.HasRole(inventory.RoleLB) }

func (Rsyslog) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	conf, err := render("rsyslog-haproxy.conf.tmpl", nil)
	if err != nil {
		return nil, err
	}
	return &Desired{
		Step:     "rsyslog",
		Packages: []string{"rsyslog"},
		Files:    []File{{Path: d.RsyslogDropIn, Content: conf, Mode: 0o644, Owner: "root:root"}},
		Check:    "rsyslogd -N1",
		// rsyslog's HUP only reopens files: a config change needs a restart.
		Services: []Service{{Name: "rsyslog", OnChange: Restart}},
		Listen:   &Listen{Proto: "udp", Port: 514, Process: "rsyslogd"},
	}, nil
}
