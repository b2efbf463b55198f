// Package steps holds the cluster's idempotent steps. A step only computes the
// desired state of one host (packages, files, services) from the inventory and
// the host's facts; the runner in provision diffs it against the host, writes,
// validates and reloads. Steps never open connections and never print.
package steps

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"text/template"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.tmpl"))

// Target is the host a step computes its desired state for.
type Target struct {
	Cluster *inventory.Cluster
	Host    *inventory.Host
	Facts   facts.Facts
}

// File is one managed file. Exactly one of Content or Edit is set: Edit derives
// the desired content from the current one (for distro files hadeploy only
// adjusts, such as RHEL's httpd.conf).
type File struct {
	Path    string
	Content []byte
	Edit    func(current []byte) ([]byte, error) `json:"-"`
	Mode    os.FileMode
	Owner   string // user:group
	// Validate checks a candidate before it goes live; %s is the candidate's
	// path. Empty means the step's Check validates the whole set instead.
	Validate string
	// Secret marks a file whose content is never shown (a TLS key): plans,
	// diffs and events give its fingerprint only.
	Secret bool
	// Summary is what plans show of a Secret file instead of its content
	// (a certificate's fingerprint, subject and expiry).
	Summary string
	// SecretLines are the prefixes of lines that hold a secret (keepalived's
	// "auth_pass"): masked in diffs even when the value on the host is one
	// the inventory no longer knows.
	SecretLines []string
}

// Service is a systemd unit the step wants enabled and running.
type Service struct {
	Name string
	// OnChange is what a change to the step's files needs: "reload",
	// "restart" (the unit cannot reload) or "none" (the daemon rereads them).
	OnChange string
}

// What a service needs when its files change.
const (
	Reload  = "reload"
	Restart = "restart"
	None    = "none"
)

// Desired is the state a step wants on one host.
type Desired struct {
	Step     string
	Packages []string
	Files    []File
	// Check validates the installed set of files with the daemon's own
	// checker (after they are written, before any reload). On failure the
	// runner restores the previous files.
	Check    string
	Services []Service
	// Listen is the socket the step's daemon must own once it is (re)loaded:
	// "active" is not "serving" (a reload that cannot bind leaves a unit
	// briefly active, or another process may hold the port).
	Listen *Listen
	// Notes tell the operator about choices made for this host.
	Notes []string
}

// Listen names a listening socket and the process that must own it.
type Listen struct {
	Proto   string // tcp or udp
	Port    int
	Process string // process name as ss shows it
	// Also lists further ports the process must own (a staged port change).
	Also []int
}

// Step computes desired state for hosts with the roles it serves.
type Step interface {
	Name() string
	Applies(h *inventory.Host) bool
	Desired(t Target) (*Desired, error)
}

// All is every step, in the order they run on a host.
func All() []Step {
	return []Step{Web{}, Rsyslog{}, HAProxy{}, Keepalived{}, TimeSync{}}
}

// Reads is what a snapshot must read so that the plan can diff every step:
// each managed file, package and unit, for every family a host may turn out
// to be (the snapshot runs before the family is known). It is derived from
// the steps themselves, so no hand-kept list can miss a file.
type Reads struct {
	Paths, Packages, Services []string
}

// Families are the OS families the distro table has a row for.
var Families = []string{facts.FamilyDebian, facts.FamilyRHEL}

// ReadsFor collects the Reads of every step stepsFor gives each host, under
// every profile (family and release) of the distro table.
func ReadsFor(c *inventory.Cluster, hosts []*inventory.Host, stepsFor func(*inventory.Host) []Step) (Reads, error) {
	var r Reads
	seen := map[string]bool{}
	add := func(list *[]string, kind, x string) {
		if !seen[kind+x] {
			seen[kind+x] = true
			*list = append(*list, x)
		}
	}
	for _, pf := range Profiles {
		for _, h := range hosts {
			for _, st := range stepsFor(h) {
				d, err := st.Desired(Target{Cluster: c, Host: h, Facts: pf})
				if err != nil {
					return r, fmt.Errorf("%s: step %s (%s): %w", h.Name, st.Name(), pf.Release(), err)
				}
				for _, f := range d.Files {
					add(&r.Paths, "f", f.Path)
				}
				for _, p := range d.Packages {
					add(&r.Packages, "p", p)
				}
				for _, s := range d.Services {
					add(&r.Services, "s", s.Name)
				}
			}
		}
	}
	return r, nil
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}
