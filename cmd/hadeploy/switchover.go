package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

func newSwitchoverCmd(g *globals) *cobra.Command {
	var to string
	var restore bool
	cmd := &cobra.Command{
		Use:   "switchover INVENTORY [--to LB]",
		Short: "Move the VIP to another load balancer without a failed request (make-before-break)",
		Long: `Lowers every other load balancer's priority just below the target's, through a
keepalived track file (/var/lib/hadeploy/vrrp-priority): the holder keeps the VIP
and keeps serving until the target takes over (about 3 × advert_int). The files
stay, so the VIP does not move back by itself, not even when the old holder
restarts; switching over back to the highest-priority load balancer clears them
and restores the configured priorities. Without --to: the best load balancer that
does not hold the VIP. With several VIPs (vips:), every VIP moves to the target;
--restore clears the files everywhere so each VIP goes back to its intended master.`,
		Example: `  hadeploy switchover e2e/lab-cluster.yaml --to lb2
  hadeploy switchover e2e/lab-cluster.yaml --to lb1   # back: configured priorities
  hadeploy switchover active-active.yaml --restore     # each VIP back on its master`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, g, args[0], "switchover")
			if err != nil {
				return err
			}
			defer s.close()
			c := s.cluster
			if restore && to != "" {
				return fmt.Errorf("--restore and --to: give one (--restore puts each VIP back on its intended master)")
			}
			if to != "" {
				h := c.Host(to)
				if h == nil || !h.HasRole(inventory.RoleLB) {
					return fmt.Errorf("--to %s: not a load balancer of %s (load balancers: %s)", to, c.File, lbNames(c))
				}
			}
			var target *inventory.Host
			_, err = s.runner.Operate(cmd.Context(), "switchover", func(f steps.Fleet) ([]steps.Gate, error) {
				lbs := c.HostsWithRole(inventory.RoleLB)
				if restore {
					s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Step: "switchover", Message: "restoring the configured priorities: each VIP back on its intended master"})
					return steps.Switchover(c, nil, lbs), nil
				}
				if to == "" {
					cands := append([]*inventory.Host(nil), lbs...)
					sort.SliceStable(cands, func(i, j int) bool { return cands[i].Priority > cands[j].Priority })
					for _, h := range cands {
						if !holdsAll(c, h, f) {
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
				s.runner.Sink.Emit(events.Event{Type: events.EvInfo, Host: target.Name, Step: "switchover", Message: "moving the VIP " + vipList(c) + " to " + target.Name})
				return steps.Switchover(c, target, lbs), nil
			})
			if err != nil {
				return fmt.Errorf("switchover: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the load balancer to move the VIP (every VIP) to")
	cmd.Flags().BoolVar(&restore, "restore", false, "clear every lowered priority: each VIP back on its intended master")
	return cmd
}

func lbNames(c *inventory.Cluster) string {
	var out []string
	for _, h := range c.HostsWithRole(inventory.RoleLB) {
		out = append(out, h.Name)
	}
	return fmt.Sprint(out)
}

// holdsAll reports whether lb h holds every VIP of c.
func holdsAll(c *inventory.Cluster, h *inventory.Host, f steps.Fleet) bool {
	for _, v := range c.VIPList() {
		if !f.HoldsAddr(h.Name, v.Addr()) {
			return false
		}
	}
	return true
}

func vipList(c *inventory.Cluster) string {
	var out []string
	for _, v := range c.VIPList() {
		out = append(out, v.Addr())
	}
	return strings.Join(out, ", ")
}
