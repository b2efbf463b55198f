package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/status"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status INVENTORY",
		Short: "One screen: who holds the VIP, VRRP states and priorities, servers and sessions, versions, last run, drift",
		Long: `Reads every host in two round trips (the snapshot plan reads, then one status
program), all hosts at once, changing nothing and taking no lock: which load
balancer holds the VIP; each one's VRRP state and effective priority (from
keepalived's data dump); each backend server's state (UP, DOWN, DRAIN, MAINT) and
current sessions on every haproxy (runtime API); the haproxy, keepalived and Apache
versions; the last run recorded on each host; and whether plan would change
anything (drift). What cannot be read is shown as "unknown".
Exit codes: 0 read, 1 error (a host unreachable or its status program failed).`,
		Example: `  hadeploy status e2e/lab-cluster.yaml
  hadeploy status cluster.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "status")
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.runner.Open(cmd.Context(), false); err != nil {
				return err
			}
			defer s.runner.Close()
			rep := status.Collect(cmd.Context(), s.runner, s.cluster, s.runner.Hosts)
			if err := cmd.Context().Err(); err != nil {
				return fmt.Errorf("status stopped before every host answered: %w", err)
			}
			s.ui.Status(rep, s.runner.Sink)
			if len(rep.Problems) > 0 {
				return errors.New(strings.Join(rep.Problems, "\n"))
			}
			return nil
		},
	}
}
