package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

func newSwitchoverCmd(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "switchover INVENTORY [--to LB]",
		Short: "Move the VIP to another load balancer without a failed request (make-before-break)",
		Long: `Lowers every other load balancer's priority just below the target's, through a
keepalived track file (/var/lib/hadeploy/vrrp-priority): the holder keeps the VIP
and keeps serving until the target takes over (about 3 × advert_int). The files
stay, so the VIP does not move back by itself, not even when the old holder
restarts; switching over back to the highest-priority load balancer clears them
and restores the configured priorities. Without --to: the best load balancer that
does not hold the VIP.`,
		Example: `  hadeploy switchover e2e/lab-cluster.yaml --to lb2
  hadeploy switchover e2e/lab-cluster.yaml --to lb1   # back: configured priorities`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "switchover")
			if err != nil {
				return err
			}
			defer s.close()
			c := s.cluster
			if to != "" {
				h := c.Host(to)
				if h == nil || !h.HasRole(inventory.RoleLB) {
					return fmt.Errorf("--to %s: not a load balancer of %s (load balancers: %s)", to, c.File, lbNames(c))
				}
			}
			var target *inventory.Host
			_, err = s.runner.Operate(cmd.Context(), "switchover", func(f steps.Fleet) ([]steps.Gate, error) {
				lbs := c.HostsWithRole(inventory.RoleLB)
				if to == "" {
					cands := append([]*inventory.Host(nil), lbs...)
					sort.SliceStable(cands, func(i, j int) bool { return cands[i].Priority > cands[j].Priority })
					for _, h := range cands {
						if !f.HoldsAddr(h.Name, c.VIPAddr()) {
							target = h
							break
						}
					}
					if target == nil {
						return nil, fmt.Errorf("no load balancer without the VIP to move it to")
					}
				} else {
					target = c.Host(to)
				}
				for _, u := range []string{"haproxy", "keepalived"} {
					if !f.Active(target.Name, u) {
						return nil, fmt.Errorf("%s's %s is not running: it cannot take the VIP (run apply or verify first)", target.Name, u)
					}
				}
				s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Host: target.Name, Step: "switchover", Message: "moving the VIP " + c.VIPAddr() + " to " + target.Name})
				return steps.Switchover(c, target, lbs), nil
			})
			if err != nil {
				return fmt.Errorf("switchover: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the load balancer to move the VIP to")
	return cmd
}

func lbNames(c *inventory.Cluster) string {
	var out []string
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		out = append(out, h.Name)
	}
	return fmt.Sprint(out)
}
