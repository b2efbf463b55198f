package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/ui"
)

func newLabCmd(g *globals) *cobra.Command {
	labCmd := &cobra.Command{
		Use:   "lab",
		Short: "A local lab of real hosts (systemd-nspawn containers with systemd and sshd)",
		Long: `The lab boots one real host per inventory host on this machine: its own root
filesystem (an overlay over a cached Debian 12 or 13 image, one per release), network
namespace, host key and sshd, on a bridge in the VIP's subnet. Packages reach the hosts
only through a local proxy. Needs root.`,
	}
	var release string
	var hostRelease []string
	up := &cobra.Command{
		Use:   "up INVENTORY",
		Short: "Boot one lab host per inventory host (idempotent)",
		Long: `Boot one lab host per inventory host (idempotent). Hosts boot Debian 12 (bookworm)
unless --release says otherwise; --host-release picks a release per host, so a lab can
mix releases (a rolling OS upgrade). A host already running another release than the
one asked for is rebuilt; the others are kept.`,
		Example: `  sudo hadeploy lab up e2e/lab-cluster.yaml
  sudo hadeploy lab up e2e/lab-cluster.yaml --release trixie
  sudo hadeploy lab up e2e/lab-cluster.yaml --host-release lb1=13 --host-release lb2=13`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := inventory.Load(args[0])
			if err != nil {
				return err
			}
			spec, err := labSpec(c, release, hostRelease)
			if err != nil {
				return err
			}
			if err := lab.CheckPrereqs(); err != nil {
				return err
			}
			return lab.Up(cmd.Context(), spec, cmd.OutOrStdout())
		},
	}
	up.Flags().StringVar(&release, "release", "", "Debian release of every host that --host-release does not name: bookworm (12, the default) or trixie (13)")
	up.Flags().StringArrayVar(&hostRelease, "host-release", nil, "HOST=RELEASE: the Debian release of one host (repeatable)")
	labCmd.AddCommand(up, &cobra.Command{
		Use:     "down",
		Short:   "Remove every trace of the lab (also after a crash)",
		Example: `  sudo hadeploy lab down`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("lab down needs root (run it with sudo)")
			}
			return lab.Down(cmd.Context(), cmd.OutOrStdout())
		},
	}, &cobra.Command{
		Use:     "status",
		Short:   "Show the lab's hosts",
		Example: `  sudo hadeploy lab status`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := lab.Status(cmd.Context())
			if err != nil {
				return err
			}
			rows := [][]string{{"host", "address", "running", "system", "ssh"}}
			for _, h := range st {
				rows = append(rows, []string{h.Name, h.Address, fmt.Sprint(h.Running), h.SystemState, fmt.Sprint(h.SSH)})
			}
			fmt.Fprint(cmd.OutOrStdout(), ui.Table(rows, false))
			return nil
		},
	})
	return labCmd
}

// labSpec is the lab for an inventory: one host per inventory host, on the
// VIP's subnet, with the releases asked for (each checked, and each
// --host-release naming an inventory host).
func labSpec(c *inventory.Cluster, release string, hostRelease []string) (lab.Spec, error) {
	spec := lab.Spec{Subnet: c.VIPPrefix.Masked(), Release: release}
	per := map[string]string{}
	for _, hr := range hostRelease {
		name, r, ok := strings.Cut(hr, "=")
		if !ok || name == "" || r == "" {
			return spec, fmt.Errorf("--host-release %q: want HOST=RELEASE, e.g. lb1=trixie", hr)
		}
		if c.Host(name) == nil {
			return spec, fmt.Errorf("--host-release %q: %s has no host %q", hr, c.File, name)
		}
		per[name] = r
	}
	for _, h := range c.Hosts {
		spec.Hosts = append(spec.Hosts, lab.HostSpec{Name: h.Name, Address: h.Address, Release: per[h.Name]})
	}
	return spec, spec.Validate()
}
