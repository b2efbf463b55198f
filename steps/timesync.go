package steps

import (
	"fmt"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// TimeSync keeps clocks in step on every host: the article's ntpdate cron where
// ntpdate exists, chronyd's one-shot mode where it does not (RHEL 8+).
type TimeSync struct{}

func (TimeSync) Name() string                 { return "timesync" }
func (TimeSync) Applies(*inventory.Host) bool { return true }

// Checks: the cron line is in place with the inventory's schedule.
func (TimeSync) Checks(t Target) []Check {
	d, err := distroFor(t.Facts.Family)
	if err != nil {
		return nil
	}
	sched := t.Cluster.Time.Schedule
	return []Check{{Name: "time sync cron in place", Expected: d.CronFile + ": " + sched + " …",
		Command: "grep -v '^#' " + shell.Quote(d.CronFile) + " | grep -v '='",
		Judge:   func(out string) bool { return strings.HasPrefix(out, sched+" root ") }}}
}

type cronModel struct {
	Schedule, Command string
}

func (TimeSync) Desired(t Target) (*Desired, error) {
	d, err := distroFor(t.Facts.Family)
	if err != nil {
		return nil, err
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
