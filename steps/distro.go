package steps

import (
	"fmt"

	"github.com/hadeploy/hadeploy/facts"
)

// distro is the one table of per-family differences: paths, package and
// service names, and validator commands, with per-release overrides where a
// release differs from its family (releases below). Steps choose a row from
// facts with distroFor.
type distro struct {
	Family string
	// Release names the row in notes: "debian", or "debian 13+".
	Release string

	WebPackage     string
	WebService     string
	WebProcess     string
	WebCheck       string // validates the whole Apache config
	WebDocRoot     string
	WebPortsFile   string // Debian: ports.conf (owned by hadeploy)
	WebVhostFile   string // Debian: the default vhost (owned by hadeploy)
	WebMainConf    string // RHEL: httpd.conf (edited: Listen line only)
	WebLogDir      string // ${APACHE_LOG_DIR} on Debian
	HAProxyCfg     string
	HAProxySocket  string
	HAProxyPidfile string
	KeepalivedCfg  string
	CurlPackage    string // for the VRRP webhook; empty: always installed
	RsyslogDropIn  string
	CronPackage    string
	CronService    string
	CronFile       string
	TimePackage    string
	// TimeCommand is the one-shot sync run from cron; %s is the server.
	TimeCommand string
	TimeNote    string
	// time.method chrony: the daemon, its config (owned by hadeploy) and its
	// drift file.
	ChronyPackage string
	ChronyService string
	ChronyConf    string
	ChronyDrift   string
}

var debian = distro{
	Family:         facts.FamilyDebian,
	Release:        "debian",
	WebPackage:     "apache2",
	WebService:     "apache2",
	WebProcess:     "apache2",
	WebCheck:       "apache2ctl configtest",
	WebDocRoot:     "/var/www/html",
	WebPortsFile:   "/etc/apache2/ports.conf",
	WebVhostFile:   "/etc/apache2/sites-available/000-default.conf",
	WebLogDir:      "${APACHE_LOG_DIR}",
	HAProxyCfg:     "/etc/haproxy/haproxy.cfg",
	HAProxySocket:  "/run/haproxy/admin.sock",
	HAProxyPidfile: "/run/haproxy.pid",
	KeepalivedCfg:  "/etc/keepalived/keepalived.conf",
	CurlPackage:    "curl",
	RsyslogDropIn:  "/etc/rsyslog.d/10-hadeploy-haproxy.conf",
	CronPackage:    "cron",
	CronService:    "cron",
	CronFile:       "/etc/cron.d/hadeploy-timesync",
	TimePackage:    "ntpdate",
	TimeCommand:    "/usr/sbin/ntpdate -u %s",
	TimeNote:       "time sync: ntpdate from cron (as in the article; on Debian 12 ntpdate is the ntpsec shim)",
	ChronyPackage:  "chrony",
	ChronyService:  "chrony",
	ChronyConf:     "/etc/chrony/chrony.conf",
	ChronyDrift:    "/var/lib/chrony/chrony.drift",
}

// debian13 is Debian 13 (trixie) and later, and testing/sid (no VERSION_ID):
// there is no ntpdate package any more; ntpsec-ntpdate ships the same
// /usr/sbin/ntpdate. Everything else is as on Debian 12.
var debian13 = func() distro {
	d := debian
	d.Release = "debian 13+"
	d.TimePackage = "ntpsec-ntpdate"
	d.TimeNote = "time sync: ntpdate from cron (as in the article; Debian 13 ships it in ntpsec-ntpdate)"
	return d
}()

var rhel = distro{
	Family:         facts.FamilyRHEL,
	Release:        "rhel",
	WebPackage:     "httpd",
	WebService:     "httpd",
	WebProcess:     "httpd",
	WebCheck:       "httpd -t",
	WebDocRoot:     "/var/www/html",
	WebMainConf:    "/etc/httpd/conf/httpd.conf",
	HAProxyCfg:     "/etc/haproxy/haproxy.cfg",
	HAProxySocket:  "/var/lib/haproxy/stats",
	HAProxyPidfile: "/run/haproxy.pid",
	KeepalivedCfg:  "/etc/keepalived/keepalived.conf",
	// curl or curl-minimal is in every RHEL 8+ install (dnf needs libcurl);
	// asking for "curl" over curl-minimal would conflict.
	CurlPackage:   "",
	RsyslogDropIn: "/etc/rsyslog.d/10-hadeploy-haproxy.conf",
	CronPackage:   "cronie",
	CronService:   "crond",
	CronFile:      "/etc/cron.d/hadeploy-timesync",
	TimePackage:   "chrony",
	// RHEL 8+ ships no ntpdate: chronyd's one-shot mode is the equivalent.
	TimeCommand:   "/usr/sbin/chronyd -q 'server %s iburst'",
	TimeNote:      "time sync: chronyd -q from cron (RHEL 8+ ships no ntpdate)",
	ChronyPackage: "chrony",
	ChronyService: "chronyd",
	ChronyConf:    "/etc/chrony.conf",
	ChronyDrift:   "/var/lib/chrony/drift",
}

// CheckScript is the keepalived health tracker for haproxy (same path on
// every family; root-owned directory so script security accepts it).
const CheckScript = "/usr/local/libexec/hadeploy/check-haproxy"

// distroFor picks the row for a host's facts: its family, then its release.
func distroFor(f facts.Facts) (*distro, error) {
	switch f.Family {
	case facts.FamilyDebian:
		// Only Debian itself: Ubuntu and other derivatives number their
		// releases differently and keep the family row.
		if f.ID == "debian" && (f.VersionID == "" || f.Major() >= 13) {
			return &debian13, nil
		}
		return &debian, nil
	case facts.FamilyRHEL:
		return &rhel, nil
	}
	return nil, fmt.Errorf("no profile for OS family %q", f.Family)
}

// Profiles are facts that select every row of the table, so that whatever a
// host turns out to be, its files, packages and units are read by the
// snapshot (which runs before the host's OS is known).
var Profiles = []facts.Facts{
	{Family: facts.FamilyDebian, ID: "debian", VersionID: "12"},
	{Family: facts.FamilyDebian, ID: "debian", VersionID: "13"},
	{Family: facts.FamilyRHEL, ID: "rocky", VersionID: "9"},
}

// StatsSocket is haproxy's admin socket on a family.
func StatsSocket(family string) string {
	d, err := distroFor(facts.Facts{Family: family})
	if err != nil {
		return debian.HAProxySocket
	}
	return d.HAProxySocket
}

// listenFile is the file that says which port Apache listens on.
func (d *distro) listenFile() string {
	if d.WebPortsFile != "" {
		return d.WebPortsFile
	}
	return d.WebMainConf
}
