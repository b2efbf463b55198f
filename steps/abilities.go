package steps

import (
	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
)

// A step is Name, Applies and Desired. What else it can do is optional and
// found by type assertion, the way k0sctl's phase manager discovers Prepare
// or CleanUp: the playbook and the engine ask each step for these.

// Gater is a step that wants conditions to hold, after it changed a host (or a
// rollback restored it), before the next host goes.
type Gater interface {
	Gates(t Target, f Fleet) []Gate
}

// Surrounder is a step that takes a host out of service before changing it
// (web: drain, then maintenance); its Gates put it back.
type Surrounder interface {
	Before(t Target, f Fleet) []Gate
}

// FinalGater is a step that wants conditions to hold once every host of the
// phase it changed is done.
type FinalGater interface {
	FinalGates(t Target, f Fleet) []Gate
}

// Activator is a step whose files take effect through a command besides its
// services (`sysctl --system`): the command runs once the files are live, and
// a rollback runs it again once it restored them.
type Activator interface {
	Activation(t Target) string
}

// Checker is a step that adds facts to verify on a host. Each check is one
// shell command run there; Judge reads its output.
type Checker interface {
	Checks(t Target) []Check
}

// Check is one verified fact a step contributes.
type Check struct {
	Name     string
	Expected string
	// Command is shell code (values quoted with shell.Quote) whose output
	// Judge reads.
	Command string
	Judge   func(out string) bool
}

// Fleet is what the playbook may ask of the hosts, as the run's snapshot saw
// them; the engine implements it.
type Fleet interface {
	// Connected lists the hosts this run talks to (all, or --limit's).
	Connected() []*inventory.Host
	Facts(host string) facts.Facts
	Active(host, unit string) bool
	HoldsAddr(host, addr string) bool
	// Changing reports whether the plan changes step on host.
	Changing(host, step string) bool
	// ChangingFile reports whether the plan changes the file at path on host.
	ChangingFile(host, path string) bool
	// Content is the file at path on host as the run last read it (false:
	// absent or not read).
	Content(host, path string) ([]byte, bool)
}
