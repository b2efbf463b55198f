package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/steps"
)

// webHost finds the web host an operator command names, or says why not.
func webHost(c *inventory.Cluster, name string) (*inventory.Host, error) {
	h := c.Host(name)
	if h == nil {
		var names []string
		for _, x := range c.HostsWithRole(inventory.RoleWeb) {
			names = append(names, x.Name)
		}
		return nil, fmt.Errorf("%s: no host %q in the inventory (web hosts: %s)", c.File, name, strings.Join(names, ", "))
	}
	if !h.HasRole(inventory.RoleWeb) {
		return nil, fmt.Errorf("%s is a load balancer, not a web host: drain and ready take a web host (to move the VIP, use switchover)", name)
	}
	return h, nil
}

func newDrainCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "drain INVENTORY HOST",
		Short: "Take a web host out of rotation on every load balancer, waiting for its sessions to end",
		Long: `Through each haproxy's runtime API: drain (no new requests; open and cookie-pinned
ones finish), wait until the server has no session left (at most --timeout), then
maintenance. The state survives haproxy reloads. Refused, with nothing changed, when
no other server would carry one of the host's backends (--force to do it anyway).
Undo with: hadeploy ready INVENTORY HOST.`,
		Example: `  hadeploy drain e2e/lab-cluster.yaml web1
  hadeploy drain cluster.yaml web3 --timeout 2m`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(cmd, g, args, "drain", func(c *inventory.Cluster, h *inventory.Host, f steps.Fleet) ([]steps.Gate, error) {
				gs := steps.DrainGates(c, h, steps.RunningHAProxy(f.Connected(), f), f, timeout, force)
				if len(gs) == 0 {
					return nil, fmt.Errorf("%s shares no backend with another server on a running haproxy: nothing can take its traffic", h.Name)
				}
				return gs, nil
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", steps.DefaultDrainTimeout, "how long the host's sessions may take to end")
	cmd.Flags().BoolVar(&force, "force", false, "drain even when no other server would carry a backend")
	return cmd
}

func newReadyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ready INVENTORY HOST",
		Short:   "Put a drained web host back in rotation, waiting until every haproxy has it UP",
		Example: `  hadeploy ready e2e/lab-cluster.yaml web1`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(cmd, g, args, "ready", func(c *inventory.Cluster, h *inventory.Host, f steps.Fleet) ([]steps.Gate, error) {
				gs := steps.Web{}.Gates(steps.Target{Cluster: c, Host: h, Facts: f.Facts(h.Name)}, f)
				if len(gs) == 0 {
					return nil, fmt.Errorf("no running haproxy to put %s back into", h.Name)
				}
				for i := range gs {
					gs[i].DependsOn = ""
				}
				return gs, nil
			})
		},
	}
}

// operate validates the host, then runs the action's gates under the lock.
func operate(cmd *cobra.Command, g *globals, args []string, name string, build func(*inventory.Cluster, *inventory.Host, steps.Fleet) ([]steps.Gate, error)) error {
	s, err := newSession(cmd, g, args[0], name)
	if err != nil {
		return err
	}
	defer s.close()
	h, err := webHost(s.cluster, args[1])
	if err != nil {
		return err
	}
	_, err = s.runner.Operate(cmd.Context(), name, func(f steps.Fleet) ([]steps.Gate, error) { return build(s.cluster, h, f) })
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, h.Name, err)
	}
	return nil
}
