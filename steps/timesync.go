package steps

import (
	"fmt"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// TimeSync keeps clocks in step on every host. time.method ntpdate (the
// default) is the article's cron job, which steps the clock: ntpdate where it
// exists, chronyd's one-shot mode where it does not (RHEL 8+). time.method
// chrony runs the chrony daemon, which slews the clock instead.
type TimeSync struct{}

func (TimeSync) Name() string                 { return "timesync" }
func (TimeSync) Applies(*inventory.Host) bool { return true }

// Checks: the cron line with the inventory's schedule, or chronyd using the
// inventory's server as configured (chronyc -N lists it by its name, whether
// or not it answers yet).
func (TimeSync) Checks(t Target) []Check {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil
	}
	if t.Cluster.Time.Method == inventory.TimeChrony {
		srv := t.Cluster.Time.Server
		return []Check{{Name: "chronyd uses the time server", Expected: srv + " in chronyc sources",
			Command: "chronyc -N sources 2>&1 | grep -F -e " + shell.Quote(" "+srv+" ") + " || chronyc -N sources 2>&1 | tail -n 1",
			Judge:   func(out string) bool { return strings.Contains(out, " "+srv+" ") }}}
	}
	sched := t.Cluster.Time.Schedule
	return []Check{{Name: "time sync cron in place", Expected: d.CronFile + ": " + sched + " …",
		Command: "grep -v '^#' " + shell.Quote(d.CronFile) + " | grep -v '='",
		Judge:   func(out string) bool { return strings.HasPrefix(out, sched+" root ") }}}
}

type cronModel struct {
	Schedule, Command string
}

type chronyModel struct {
	Server, Drift string
}

func (TimeSync) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts)
	if err != nil {
		return nil, err
	}
	if t.Cluster.Time.Method == inventory.TimeChrony {
		return chronyDesired(t, d)
	}
	cron, err := render("timesync.cron.tmpl", cronModel{Schedule: t.Cluster.Time.Schedule,
		Command: fmt.Sprintf(d.TimeCommand, t.Cluster.Time.Server)})
	if err != nil {
		return nil, err
	}
	return &Desired{
		Step:     "timesync",
		Packages: []string{d.CronPackage, d.TimePackage},
		Files:    []File{{Path: d.CronFile, Content: cron, Mode: 0o644, Owner: "root:root"}},
		// cron rereads /etc/cron.d by itself.
		Services: []Service{{Name: d.CronService, OnChange: None}},
		Notes:    []string{d.TimeNote},
	}, nil
}

// chronyDesired owns chrony's whole config (one server, no makestep, so the
// clock is only ever slewed) and keeps the cron file, emptied of its job, so
// that a switch from ntpdate stops the stepping cron job.
func chronyDesired(t Target, d *distro) (*Desired, error) {
	conf, err := render("chrony.conf.tmpl", chronyModel{Server: t.Cluster.Time.Server, Drift: d.ChronyDrift})
	if err != nil {
		return nil, err
	}
	cron, err := render("timesync.cron.tmpl", cronModel{})
	if err != nil {
		return nil, err
	}
	return &Desired{
		Step:     "timesync",
		Packages: []string{d.CronPackage, d.ChronyPackage},
		Files: []File{
			{Path: d.ChronyConf, Content: conf, Mode: 0o644, Owner: "root:root"},
			{Path: d.CronFile, Content: cron, Mode: 0o644, Owner: "root:root"},
		},
		Check: "chronyd -p -f " + shell.Quote(d.ChronyConf) + " >/dev/null",
		Services: []Service{
			{Name: d.ChronyService, OnChange: Restart},
			{Name: d.CronService, OnChange: None},
		},
		Notes: []string{"time sync: the chrony daemon (time.method chrony) slews the clock; it never steps it"},
	}, nil
}
