package provision

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/pmezard/go-difflib/difflib"
)

// FileChange is one file that differs from what a step wants.
type FileChange struct {
	Path      string
	Old, New  []byte
	OldExists bool
	Mode      uint32
	Owner     string
	Validate  string
	// Secret: never show the content; SecretLines: mask lines with these
	// prefixes (both declared by the step).
	Secret      bool
	Summary     string
	SecretLines []string
	// Pending: the file is edited from a distro default that appears only
	// once the package is installed, so its final content is not known yet.
	Pending bool
	// What changed: content and/or metadata.
	ContentChanged, MetaChanged bool
}

// ServiceAction is what a step will do to a unit.
type ServiceAction struct {
	Name    string
	Enable  bool
	Action  string // start, reload, restart or "" (nothing)
	Changed bool   // the step's files changed (for journaling)
}

// StepPlan is one step's difference on one host.
type StepPlan struct {
	Step     string
	Files    []FileChange
	Services []ServiceAction
	Check    string
	Listen   *steps.Listen
	Notes    []string
	// Activate is the command that makes the files take effect besides the
	// services (steps.Activator); it runs when a file changed.
	Activate string
}

// Changed reports whether the step will change anything.
func (sp *StepPlan) Changed() bool {
	if len(sp.Files) > 0 {
		return true
	}
	for _, s := range sp.Services {
		if s.Enable || s.Action != "" {
			return true
		}
	}
	return false
}

// HostPlan is everything apply would do on one host.
type HostPlan struct {
	Host     *inventory.Host
	Snapshot *Snapshot
	// Packages missing on the host.
	Packages []string
	Steps    []*StepPlan
}

// Changes counts the changes on the host (packages count as one).
func (hp *HostPlan) Changes() int {
	n := 0
	if len(hp.Packages) > 0 {
		n++
	}
	for _, sp := range hp.Steps {
		n += len(sp.Files)
		for _, s := range sp.Services {
			if s.Enable || s.Action != "" {
				n++
			}
		}
	}
	return n
}

// PlanHost compares the host's snapshot with what every step wants.
func PlanHost(c *inventory.Cluster, h *inventory.Host, sn *Snapshot, stepsFor func(*inventory.Host) []steps.Step) (*HostPlan, error) {
	hp := &HostPlan{Host: h, Snapshot: sn}
	seenPkg := map[string]bool{}
	for _, st := range stepsFor(h) {
		d, err := st.Desired(steps.Target{Cluster: c, Host: h, Facts: sn.Facts})
		if err != nil {
			return nil, fmt.Errorf("%s: step %s: %w", h.Name, st.Name(), err)
		}
		for _, p := range d.Packages {
			if !sn.Packages[p] && !seenPkg[p] {
				seenPkg[p] = true
				hp.Packages = append(hp.Packages, p)
			}
		}
		sp := &StepPlan{Step: d.Step, Check: d.Check, Listen: d.Listen, Notes: d.Notes}
		for _, f := range d.Files {
			cur := sn.Files[f.Path]
			fc := FileChange{Path: f.Path, Old: cur.Content, OldExists: cur.Exists, Mode: uint32(f.Mode),
				Owner: f.Owner, Validate: f.Validate, Secret: f.Secret, Summary: f.Summary, SecretLines: f.SecretLines}
			if f.Edit != nil {
				if !cur.Exists {
					fc.Pending = true
				} else if fc.New, err = f.Edit(cur.Content); err != nil {
					return nil, fmt.Errorf("%s: step %s: %s: %w", h.Name, st.Name(), f.Path, err)
				}
			} else {
				fc.New = f.Content
			}
			fc.ContentChanged = fc.Pending || !cur.Exists || !bytes.Equal(cur.Content, fc.New)
			fc.MetaChanged = cur.Exists && (cur.Mode != uint32(f.Mode) || cur.Owner != f.Owner)
			if fc.ContentChanged || fc.MetaChanged {
				sp.Files = append(sp.Files, fc)
			}
		}
		if a, ok := st.(steps.Activator); ok && len(sp.Files) > 0 {
			sp.Activate = a.Activation(steps.Target{Cluster: c, Host: h, Facts: sn.Facts})
		}
		for _, s := range d.Services {
			cur, known := sn.Services[s.Name]
			a := ServiceAction{Name: s.Name, Changed: len(sp.Files) > 0}
			a.Enable = !known || cur.Enabled != "enabled"
			switch {
			case !known || cur.Active != "active":
				a.Action = "start"
			case a.Changed && s.OnChange == steps.Reload:
				a.Action = "reload"
			case a.Changed && s.OnChange == steps.Restart:
				a.Action = "restart"
			}
			sp.Services = append(sp.Services, a)
		}
		hp.Steps = append(hp.Steps, sp)
	}
	return hp, nil
}

// Redactor hides secret values in anything shown or logged.
type Redactor struct {
	secrets []string
	// blocks are the multi-line secrets (a TLS key), whose pieces are
	// masked too.
	blocks []string
}

// NewRedactor collects the inventory's secrets (the fields tagged secret).
func NewRedactor(c *inventory.Cluster) *Redactor {
	r := &Redactor{secrets: c.Secrets()}
	for _, s := range r.secrets {
		if strings.Contains(s, "\n") {
			r.blocks = append(r.blocks, s)
		}
	}
	return r
}

// base64Run is a piece of a PEM body long enough to be worth masking.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/=]{16,}`)

// Redact replaces every secret with a mask. A multi-line secret (a PEM key)
// is masked whole and by any piece of 16 characters or more of its body, so
// that an output cut mid-key or quoting one line shows nothing of it.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, "********")
	}
	if len(r.blocks) > 0 {
		s = base64Run.ReplaceAllStringFunc(s, func(run string) string {
			for _, b := range r.blocks {
				if strings.Contains(b, run) {
					return "********"
				}
			}
			return run
		})
	}
	return s
}

// Diff is a unified diff of a file change with secrets masked. Secret-bearing
// lines of files marked Secret are masked even when the secret is unknown to
// this inventory (an old password on the host).
func (r *Redactor) Diff(fc FileChange) string {
	if fc.Pending {
		return fmt.Sprintf("--- %s\n+++ %s\n(edited once the package is installed: Listen line set to the web port)\n", fc.Path, fc.Path)
	}
	if fc.Secret {
		d := fmt.Sprintf("--- %s\n+++ %s\n(secret file, content not shown: %s → %s)\n", fc.Path, fc.Path, fingerprint(fc.Old, fc.OldExists), fingerprint(fc.New, true))
		if fc.Summary != "" {
			d += r.Redact(fc.Summary) + "\n"
		}
		if fc.MetaChanged {
			d += fmt.Sprintf("(mode/owner set to %o %s)\n", fc.Mode, fc.Owner)
		}
		return d
	}
	old, nw := maskSecretLines(string(fc.Old), fc.SecretLines), maskSecretLines(string(fc.New), fc.SecretLines)
	old, nw = r.Redact(old), r.Redact(nw)
	from := fc.Path
	if !fc.OldExists {
		from = "/dev/null"
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(old), B: splitLines(nw),
		FromFile: from, ToFile: fc.Path, Context: 3,
	})
	if d == "" && fc.ContentChanged {
		d = fmt.Sprintf("--- %s\n+++ %s\n(a secret value changed)\n", fc.Path, fc.Path)
	}
	if fc.MetaChanged {
		d += fmt.Sprintf("(mode/owner set to %o %s)\n", fc.Mode, fc.Owner)
	}
	return d
}

// fingerprint names content without showing it.
func fingerprint(b []byte, exists bool) string {
	if !exists {
		return "(absent)"
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("sha256:%x", sum[:8])
}

func maskSecretLines(s string, keys []string) string {
	if len(keys) == 0 {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		for _, k := range keys {
			if strings.HasPrefix(t, k+" ") {
				indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
				nl := ""
				if strings.HasSuffix(l, "\n") {
					nl = "\n"
				}
				lines[i] = indent + k + " ********" + nl
			}
		}
	}
	return strings.Join(lines, "")
}

// splitLines keeps line endings and adds no phantom empty line (unlike
// difflib.SplitLines), so a new file's diff is only "+" lines.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	ls := strings.SplitAfter(s, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	} else {
		ls[len(ls)-1] += "\n\\ No newline at end of file\n"
	}
	return ls
}
