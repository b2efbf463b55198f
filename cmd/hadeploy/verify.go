package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/ui"
	"github.com/hadeploy/hadeploy/verify"
)

func newVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify INVENTORY",
		Short: "Prove the cluster works end to end, from this machine and from the hosts",
		Long: `Checks, and reports as a table: every web host answers its health check with its own
page; every lb reaches every web host; exactly one lb holds the VIP (two is split
brain); the stats page answers on the VIP; the stats socket answers and lists every
server UP; requests through the VIP are spread over the default backend; each ACL
route reaches its backend; a request shows up in /var/log/haproxy.log; the time-sync
cron is in place; every service is enabled and running.
Exit codes: 0 all passed, 3 a check failed, 1 error.`,
		Example: `  hadeploy verify e2e/lab-cluster.yaml
  hadeploy verify cluster.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "verify")
			if err != nil {
				return err
			}
			defer s.close()
			start := time.Now()
			if err := s.runner.Open(cmd.Context(), false); err != nil {
				return err
			}
			defer s.runner.Close()
			v := &verify.Verifier{Cluster: s.cluster, Runner: s.runner, Hosts: s.runner.Hosts}
			checks := v.Run(cmd.Context())
			if err := cmd.Context().Err(); err != nil {
				// Checks cut short say nothing about the cluster.
				return fmt.Errorf("verify stopped before its checks were done: %w", err)
			}
			return reportChecks(s, checks, time.Since(start))
		},
	}
}

func reportChecks(s *session, checks []verify.Check, took time.Duration) error {
	failed := verify.Failed(checks)
	if s.ui.JSONMode() {
		for _, c := range checks {
			st := events.StatusOK
			if !c.OK {
				st = events.StatusFailed
			}
			data := map[string]any{"expected": c.Expected, "seen": c.Seen}
			if c.Warning {
				data["warning"] = true
			}
			s.runner.Sink.Emit(events.Event{Type: events.EvStep, Step: "verify", Host: c.Host, Status: st, Message: c.Name, Data: data})
		}
		s.runner.Sink.Emit(events.Event{Type: events.EvSummary, Summary: &events.Summary{Command: "verify", Failed: failed > 0, DurationMS: took.Milliseconds()}})
	} else {
		rows := [][]string{{"check", "where", "result", "expected", "seen"}}
		for _, c := range checks {
			r := "ok"
			switch {
			case !c.OK:
				r = "FAILED"
			case c.Warning:
				r = "WARNING"
			}
			rows = append(rows, []string{c.Name, c.Host, r, c.Expected, c.Seen})
		}
		s.ui.Print(ui.Table(rows, s.color))
		s.ui.Print(fmt.Sprintf("verify: %d of %d checks passed in %.2fs\n", len(checks)-failed, len(checks), took.Seconds()))
	}
	if failed > 0 {
		return &codeError{code: exitVerify, err: fmt.Errorf("verify: %d check(s) failed", failed)}
	}
	return nil
}

func newFailoverCmd(g *globals) *cobra.Command {
	var rate int
	var report string
	var scenarios []string
	var lockWait *time.Duration
	cmd := &cobra.Command{
		Use:   "failover-test INVENTORY",
		Short: "Kill the active load balancer's role, measure that the VIP moves and traffic flows, restore",
		Long: `While a bounded client loop sends about 20 requests per second to the VIP and a sampler
watches which lb holds it: (1) stops keepalived on the master, measures the time for
the VIP to move, the longest gap without a successful response and the failed
requests, starts it again and measures the fail-back; (2) does the same by stopping
haproxy (the health tracker must move the VIP), and by killing it. Fails if the VIP
does not move within the bound derived from the rendered config, if two lbs ever hold
the VIP, if the new holder's notify script did not record its MASTER transition (or a
configured vrrp.notify script or webhook failed for it: it reads
/var/lib/hadeploy/vrrp-transitions.log), or if the cluster is not back to its starting
state. The master's return (fail-back) is measured on its own: its failed requests and
longest gap. --scenario picks others: master-crash freezes keepalived and haproxy on
the master (SIGSTOP; a timer on the host thaws them should hadeploy die),
vrrp-partition drops the master's VRRP adverts (a tc filter that removes itself) and
passes when the split brain is seen and heals. Holds the cluster lock; always restores,
also on Ctrl-C. --report FILE.html writes the timelines and the table as one
self-contained page, also when a scenario failed.
Exit codes: 0 passed, 3 failed, 1 error.`,
		Example: `  hadeploy failover-test e2e/lab-cluster.yaml
  hadeploy failover-test e2e/lab-cluster.yaml --report failover.html
  hadeploy failover-test e2e/lab-cluster.yaml --scenario master-crash,vrrp-partition`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			picked, err := verify.SelectScenarios(scenarios)
			if err != nil {
				return err
			}
			// A bad --report path is found now, not after a minute of failovers.
			if report != "" {
				if err := checkReportPath(report); err != nil {
					return err
				}
			}
			s, err := newSession(cmd, g, args[0], "failover-test")
			if err != nil {
				return err
			}
			defer s.close()
			s.runner.LockWait = *lockWait
			if err := s.runner.Open(cmd.Context(), true); err != nil {
				return err
			}
			defer s.runner.Close()
			defer s.runner.Unlock(context.WithoutCancel(cmd.Context()))
			f := &verify.Failover{Cluster: s.cluster, Runner: s.runner, Rate: rate, Scenarios: picked, Log: func(m string) {
				s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Step: "failover", Message: m})
			}}
			began := time.Now()
			results, runErr := f.Run(cmd.Context())
			bad := 0
			rows := [][]string{{"scenario", "from→to", "moved", "bound", "fail-back", "longest gap", "failed/requests", "fail-back failed, gap", "notified", "result"}}
			for _, r := range results {
				res := "ok"
				if !r.OK {
					bad++
					res = "FAILED: " + r.Problem
				}
				scen := r.Scenario
				if len(s.cluster.VIPList()) > 1 {
					scen = r.VIP + ": " + scen
				}
				notified := r.Notified
				if notified == "" {
					notified = "—"
				}
				rows = append(rows, []string{scen, r.Master + "→" + r.NewHolder, secs(r.Moved), secs(r.Bound), secs(r.FailBack), secs(r.LongestGap),
					fmt.Sprintf("%d/%d", r.Failed, r.Requests), fmt.Sprintf("%d, %s", r.FailBackFailed, secs(r.FailBackGap)), notified, res})
				if s.ui.JSONMode() {
					st := events.StatusOK
					if !r.OK {
						st = events.StatusFailed
					}
					s.runner.Sink.Emit(events.Event{Type: events.EvStep, Step: "failover", Status: st, Message: r.Scenario, Data: map[string]any{
						"id": r.ID, "vip": r.VIP, "master": r.Master, "new_holder": r.NewHolder, "moved_ms": r.Moved.Milliseconds(), "bound_ms": r.Bound.Milliseconds(),
						"failback_ms": r.FailBack.Milliseconds(), "longest_gap_ms": r.LongestGap.Milliseconds(), "requests": r.Requests,
						"failed": r.Failed, "failback_failed": r.FailBackFailed, "failback_gap_ms": r.FailBackGap.Milliseconds(),
						"split_brain": r.SplitBrain, "detected": r.Detected, "notified": r.Notified, "problem": r.Problem}})
				}
			}
			s.ui.Print("\n" + ui.Table(rows, s.color))
			if report != "" {
				// Whatever the verdict: a failed run is when the page matters
				// most. Not writing it is a warning; the exit code stays the test's.
				where := report
				if abs, err := filepath.Abs(report); err == nil {
					where = abs
				}
				if err := writeReport(report, s.cluster.Name, results, began); err != nil {
					s.runner.Sink.Emit(events.Event{Type: events.EvWarning, Step: "failover", Message: "no report written: " + err.Error()})
				} else if s.ui.JSONMode() {
					s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Step: "failover", Message: "report written to " + where})
				} else {
					s.ui.Print("failover-test: report written to " + where + "\n")
				}
			}
			if err := cmd.Context().Err(); err != nil {
				return fmt.Errorf("failover-test stopped part-way (the services it stopped were started again): %w", err)
			}
			if runErr != nil {
				return &codeError{code: exitVerify, err: runErr}
			}
			if bad > 0 {
				return &codeError{code: exitVerify, err: fmt.Errorf("failover-test: %d scenario(s) failed", bad)}
			}
			s.ui.Print("failover-test: passed; the cluster is back in its starting state\n")
			return nil
		},
	}
	cmd.Flags().IntVar(&rate, "rate", 20, "requests per second to the VIP during the test (bounded: it stops by itself)")
	cmd.Flags().StringSliceVar(&scenarios, "scenario", nil, "scenario ids to run, comma-separated (keepalived-stop, haproxy-stop, haproxy-kill, master-crash, vrrp-partition; all; default: the first three)")
	cmd.Flags().StringVar(&report, "report", "", "write the timelines and the table to `FILE.html` (one self-contained page)")
	lockWait = lockWaitFlag(cmd)
	return cmd
}

// checkReportPath refuses a report path that could not be written: a
// directory, or a file in a directory that does not exist.
func checkReportPath(p string) error {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fmt.Errorf("--report %s is a directory; give the file to write", p)
	}
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
		return fmt.Errorf("--report %s: there is no directory %s", p, filepath.Dir(p))
	}
	return nil
}

// writeReport renders the page first, so a failure leaves no half file, and
// never replaces a directory. A new file gets 0644: a report is for reading.
func writeReport(path, cluster string, results []verify.Result, when time.Time) error {
	if len(results) == 0 {
		return fmt.Errorf("no scenario ran")
	}
	var b bytes.Buffer
	if err := verify.Report(&b, cluster, results, when); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
