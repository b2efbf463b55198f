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
	"syscall"

	"github.com/spf13/cobra"

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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	err := root.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != nil {
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
4 apply failed and every touched host was rolled back.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version + " (commit " + commit + ")",
	}
	g.register(root)
	root.AddCommand(newPlanCmd(g), newApplyCmd(g), newDrainCmd(g), newReadyCmd(g), newRollbackCmd(g), newHistoryCmd(g), newLockCmd(g),
		newVerifyCmd(g), newFailoverCmd(g), newLabCmd(g), newVersionCmd())
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
