// Command hadeploy turns an inventory of Linux hosts into a working
// high-availability web cluster over SSH, and proves that it works.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
)

// Exit codes (documented in the README).
const (
	exitOK         = 0
	exitError      = 1
	exitChanges    = 2 // plan: changes pending
	exitVerify     = 3 // verify or failover-test failed
	exitRolledBack = 4 // apply failed and was rolled back
	// exitForced: a second Ctrl-C ended the process at once (128+SIGINT).
	exitForced = 130
)

// exitError carries an exit code through cobra.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *codeError) Unwrap() error { return e.err }

// Set at build time: -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func init() {
	// Without -ldflags, take the commit from the build's VCS stamp.
	if commit != "unknown" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				commit = kv.Value[:12]
			}
		}
	}
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Notify before anything can prompt or connect: registered inside the
	// goroutine, a SIGINT that came before it ran killed the process outright
	// (a CI run caught it while the sudo prompt was up).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// ReadPassword turns echo off: a forced exit must not leave it so. The
	// state is read here, before any prompt can have changed it.
	var restore func()
	if st, err := term.GetState(int(os.Stdin.Fd())); err == nil {
		restore = func() { term.Restore(int(os.Stdin.Fd()), st) }
	}
	go onSignals(sigs, cancel, restore)
	root := newRoot()
	err := root.ExecuteContext(ctx)
	if err != nil && interrupted.Load() {
		err = &interruptedError{err}
	}
	os.Exit(exitCode(err))
}

// interrupted records that SIGINT or SIGTERM arrived.
var interrupted atomic.Bool

// onSignals turns the first SIGINT or SIGTERM into cancelling the command's
// context: every stage stops within a second (an apply then rolls back what
// it changed, which cannot be cut short). A second one exits at once.
func onSignals(sigs <-chan os.Signal, cancel context.CancelFunc, restore func()) {
	s := <-sigs
	interrupted.Store(true)
	fmt.Fprintf(os.Stderr, "\nhadeploy: interrupted (%s): stopping; an apply rolls back what it changed. Interrupt again to exit at once.\n", s)
	cancel()
	s = <-sigs
	fmt.Fprintf(os.Stderr, "hadeploy: interrupted again (%s): exiting now; the next apply rolls back whatever this one left half-done\n", s)
	if restore != nil {
		restore()
	}
	os.Exit(exitForced)
}

// interruptedError is a command's error after an interrupt: "context
// canceled" on its own does not say that the operator asked for it.
type interruptedError struct{ err error }

func (e *interruptedError) Error() string { return "interrupted: " + e.err.Error() }
func (e *interruptedError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		var ie *interruptedError
		if ce.err != nil && errors.As(err, &ie) {
			fmt.Fprintln(os.Stderr, "error: interrupted:", ce.err)
		} else if ce.err != nil {
			fmt.Fprintln(os.Stderr, "error:", ce.err)
		}
		return ce.code
	}
	var ae *provision.ApplyError
	if errors.As(err, &ae) {
		fmt.Fprintln(os.Stderr, "error:", err)
		if ae.RolledBack {
			return exitRolledBack
		}
		return exitError
	}
	var ie inventory.Errors
	if errors.As(err, &ie) {
		fmt.Fprintf(os.Stderr, "error: the inventory has %d problem(s); no host was contacted:\n%s\n", len(ie), err)
		return exitError
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return exitError
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "hadeploy",
		Short: "Deploy and prove a highly available web cluster (Apache, HAProxy, keepalived) over SSH",
		Long: `hadeploy turns a plain inventory of Linux hosts into a working high-availability
web cluster over SSH — Apache on the web hosts, HAProxy and keepalived (VRRP, one
virtual IP) on the load balancers, rsyslog for HAProxy's log, clock sync — and
proves that it works.

Exit codes: 0 ok, 1 error, 2 plan has changes, 3 verify/failover-test failed,
4 apply failed and every touched host was rolled back, 130 interrupted twice.
Ctrl-C stops any command within a second (an apply rolls back first); a second
Ctrl-C exits at once.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version + " (commit " + commit + ")",
	}
	g.register(root)
	root.AddCommand(newInitCmd(), newValidateCmd(g), newPlanCmd(g), newApplyCmd(g), newDrainCmd(g), newReadyCmd(g), newSwitchoverCmd(g), newRollbackCmd(g), newHistoryCmd(g), newLockCmd(g),
		newVerifyCmd(g), newStatusCmd(g), newFailoverCmd(g), newLabCmd(g), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "hadeploy %s (commit %s)\n", version, commit)
		},
	}
}
