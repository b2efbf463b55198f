package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/ui"
)

func newPlanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "plan INVENTORY",
		Short: "Show, per host, what apply would change (diffs), changing nothing",
		Example: `  hadeploy plan examples/seed-cluster.yaml
  hadeploy plan e2e/lab-cluster.yaml --output json
  hadeploy plan cluster.yaml --limit lb1,lb2`,
		Long: "Reads every host in one round trip and prints the packages, file diffs and\nservice actions apply would carry out. Secrets are masked.\nExit codes: 0 nothing to change, 2 changes pending, 1 error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "plan")
			if err != nil {
				return err
			}
			defer s.close()
			plans, err := s.runner.Plan(cmd.Context())
			if err != nil {
				return err
			}
			var stages []string
			for _, st := range s.runner.Stages() {
				stages = append(stages, st.Name+": "+st.Says)
			}
			s.ui.Stages(stages, s.runner.Sink)
			total := renderPlan(s, plans)
			if total > 0 {
				return &codeError{code: exitChanges}
			}
			return nil
		},
	}
}

// renderPlan hands the engine's plan to the renderer as data (diffs masked
// by the runner); returns the number of changes.
func renderPlan(s *session, plans []*provision.HostPlan) int {
	rts := s.runner.RoundTrips()
	var hosts []ui.PlanHost
	for _, hp := range plans {
		v := ui.PlanHost{Name: hp.Host.Name, OS: hp.Snapshot.Facts.ID + " " + hp.Snapshot.Facts.VersionID,
			Roles: strings.Join(hp.Host.Roles, ","), Changes: hp.Changes(), RoundTrips: rts[hp.Host.Name], Packages: hp.Packages}
		for _, sp := range hp.Steps {
			for _, fc := range sp.Files {
				v.Items = append(v.Items, ui.PlanItem{Step: sp.Step, Path: fc.Path, Diff: s.runner.Diff(fc)})
			}
			for _, a := range sp.Services {
				var acts []string
				if a.Enable {
					acts = append(acts, "enable")
				}
				if a.Action != "" {
					acts = append(acts, a.Action)
				}
				if len(acts) > 0 {
					v.Items = append(v.Items, ui.PlanItem{Step: sp.Step, Message: strings.Join(acts, " + ") + " " + a.Name})
				}
			}
		}
		hosts = append(hosts, v)
	}
	return s.ui.Plan(hosts, s.cluster.File, s.runner.Sink)
}

// lockWaitFlag adds --lock-wait to a command that takes the cluster lock.
func lockWaitFlag(cmd *cobra.Command) *time.Duration {
	d := new(time.Duration)
	cmd.Flags().DurationVar(d, "lock-wait", 0, "if another run holds the cluster lock, wait up to this long for it (e.g. 5m), saying who holds it; 0 fails at once")
	return d
}

func newApplyCmd(g *globals) *cobra.Command {
	var diff bool
	var drainTimeout time.Duration
	var concurrency int
	var lockWait *time.Duration
	cmd := &cobra.Command{
		Use:   "apply INVENTORY",
		Short: "Make every host match the inventory, validated, reloaded and rolled back on failure",
		Long: `Takes the cluster lock, installs what is missing, then per host and step: backs up
every file it changes (under /var/backups/hadeploy/RUN/ on the host), validates new
configs with the daemon's own checker before they go live, swaps them in atomically
and reloads (restart only where reload cannot work). Web hosts go first, one at a
time, each drained on every haproxy first (its sessions end within --drain-timeout,
or the run stops and rolls back) and back in rotation before the next; load
balancers one at a time with the VIP holder last. If anything fails, every host
the run touched is rolled back and the exit code is 4. A change of web.port or
web.health_check on a serving cluster is staged (web hosts serve both, the load
balancers switch, web hosts drop the old; each stage a run of its own, rolled back
newest first); under --limit such a plan that would empty a backend is refused
before anything changes (exit 1).`,
		Example: `  hadeploy apply e2e/lab-cluster.yaml
  hadeploy apply cluster.yaml --diff
  hadeploy apply cluster.yaml --output json > events.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "apply")
			if err != nil {
				return err
			}
			defer s.close()
			s.ui = uiWithDiffs(s, diff)
			s.runner.LockWait = *lockWait
			s.runner.DrainTimeout = drainTimeout
			s.runner.PackageConcurrency = concurrency
			_, err = s.runner.Apply(cmd.Context())
			if err != nil && s.logPath != "" {
				s.ui.Print("debug log: " + s.logPath + "\n")
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&diff, "diff", false, "print the diff of every file changed")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", steps.DefaultDrainTimeout, "how long a drained web host's sessions may take to end; past it the run stops and rolls back")
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "install packages on at most `N` hosts at once (0: all at once); for many hosts that share a mirror, or the cores of one machine")
	lockWait = lockWaitFlag(cmd)
	return cmd
}

// uiWithDiffs rebuilds the renderer with or without diffs in change events.
func uiWithDiffs(s *session, diffs bool) *ui.Renderer {
	r := ui.New(s.uiWriter(), ui.Options{JSON: s.ui.JSONMode(), Color: s.color, Diffs: diffs})
	return r
}

func newRollbackCmd(g *globals) *cobra.Command {
	var run string
	var lockWait *time.Duration
	cmd := &cobra.Command{
		Use:   "rollback INVENTORY",
		Short: "Restore the cluster to its state before a run (default: the last run)",
		Long: `Restores every file a run changed from its backups on each host, returns the
services it touched to their previous state, and does the same for every later run
first (newest first). Load balancers go first with the VIP holder last.`,
		Example: `  hadeploy rollback cluster.yaml
  hadeploy rollback cluster.yaml --run 20261126T101500.000Z
  hadeploy history cluster.yaml   # to find run ids`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "rollback")
			if err != nil {
				return err
			}
			defer s.close()
			s.runner.LockWait = *lockWait
			_, err = s.runner.Rollback(cmd.Context(), run)
			return err
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "run id to undo (with every later run)")
	lockWait = lockWaitFlag(cmd)
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "history INVENTORY",
		Short:   "List the runs recorded on each host (the audit trail kept on the hosts)",
		Example: `  hadeploy history cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "history")
			if err != nil {
				return err
			}
			defer s.close()
			hist, err := s.runner.History(cmd.Context())
			if err != nil {
				return err
			}
			if s.ui.JSONMode() {
				for h, runs := range hist {
					for _, r := range runs {
						s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Host: h, Run: r.ID, Status: r.Status, Message: r.Meta})
					}
				}
				return nil
			}
			rows := [][]string{{"host", "run", "status", "by"}}
			for _, h := range s.runner.Hosts {
				for _, r := range hist[h.Name] {
					rows = append(rows, []string{h.Name, r.ID, r.Status, r.Meta})
				}
			}
			s.ui.Print(ui.Table(rows, s.color))
			return nil
		},
	}
}

func newLockCmd(g *globals) *cobra.Command {
	lock := &cobra.Command{Use: "lock", Short: "Show or release the cluster lock"}
	lock.AddCommand(&cobra.Command{
		Use:     "status INVENTORY",
		Short:   "Show who holds the lock on each host",
		Example: `  hadeploy lock status cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "lock-status")
			if err != nil {
				return err
			}
			defer s.close()
			st, err := s.runner.LockStatus(cmd.Context())
			if err != nil {
				return err
			}
			rows := [][]string{{"host", "lock"}}
			for _, h := range s.runner.Hosts {
				v := st[h.Name]
				if v == "" {
					v = "free"
				}
				rows = append(rows, []string{h.Name, v})
				if s.ui.JSONMode() {
					s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Host: h.Name, Step: "lock", Message: v})
				}
			}
			s.ui.Print(ui.Table(rows, s.color))
			return nil
		},
	}, &cobra.Command{
		Use:     "release INVENTORY",
		Short:   "Remove the lock on every host, whoever holds it",
		Example: `  hadeploy lock release cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "lock-release")
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.runner.LockRelease(cmd.Context()); err != nil {
				return err
			}
			s.ui.Print("lock released on every host\n")
			return nil
		},
	})
	return lock
}
