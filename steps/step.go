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
	// Secret marks content that must never be shown in plans or logs.
	Secret bool
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

// ManagedPaths lists every path any step may manage on either OS family, so
// the runner can read them all in one round trip before it knows the family.
func ManagedPaths(c *inventory.Cluster) []string {
	return union(func(d *distro) []string { return append(d.paths(), healthFile(d, c)) })
}

// ManagedPackages lists every package name any step may install on either
// family, so the runner can query them in the same round trip.
func ManagedPackages() []string { return union((*distro).packages) }

// ManagedServices lists every unit any step may manage.
func ManagedServices() []string { return union((*distro).services) }

// union merges one list per family, first occurrence first.
func union(list func(*distro) []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, fam := range []*distro{&debian, &rhel} {
		for _, x := range list(fam) {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	return out
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}
