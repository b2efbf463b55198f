package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/playbooks"
	"github.com/hadeploy/hadeploy/steps"
	"github.com/hadeploy/hadeploy/ui"
)

func newInitCmd() *cobra.Command {
	var o inventory.ScaffoldOptions
	var force bool
	cmd := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented inventory to start from, to stdout or FILE",
		Long: `Writes a commented inventory: the hosts, VIP and VRRP router ID given as flags,
or without them the article's cluster (2 web hosts, 2 load balancers) with a
CHANGE-ME placeholder for every address, the VIP and the VRRP router ID (which has
no default on purpose). ` + "`hadeploy validate FILE`" + ` then names each placeholder left, on
its line. Values given as flags are checked by the inventory's own rules first.
An existing FILE is never overwritten without --force; the file is created
mode 0600 (it holds the generated VRRP password).`,
		Example: `  hadeploy init cluster.yaml
  hadeploy init --web 10.0.0.11,10.0.0.12 --lb 10.0.0.21,10.0.0.22 --vip 10.0.0.100/24 --router-id 47 cluster.yaml
  hadeploy init --web 10.0.0.11 --lb 10.0.0.21 --vip 10.0.0.100/24 --router-id 47 > cluster.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ""
			if len(args) == 1 && args[0] != "-" {
				file = args[0]
			}
			o.File, o.AuthPass = file, newAuthPass()
			data, err := inventory.Scaffold(o)
			if err != nil {
				return fmt.Errorf("init: nothing written: the inventory would refuse these values:\n%s", err)
			}
			if file == "" {
				if _, err := cmd.OutOrStdout().Write(data); err != nil {
					return err
				}
				file = "(stdout)"
			} else if err := writeNew(file, data, force); err != nil {
				return err
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", file)
			}
			initNext(cmd.ErrOrStderr(), file, data)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Web, "web", nil, "web host addresses, comma-separated (default: two CHANGE-ME placeholders)")
	f.StringSliceVar(&o.LB, "lb", nil, "load balancer addresses, comma-separated; the first starts as MASTER (default: two placeholders)")
	f.StringVar(&o.VIP, "vip", "", "the virtual IP with the lb subnet's prefix length, e.g. 10.0.0.100/24 (default: a placeholder)")
	f.StringVar(&o.Interface, "interface", inventory.DefaultInterface, "the lb hosts' interface for VRRP and the VIP")
	f.IntVar(&o.RouterID, "router-id", 0, "VRRP virtual_router_id 1-255, unique on the network (default: a placeholder; no default on purpose)")
	f.StringVar(&o.User, "user", inventory.DefaultSSHUser, "SSH user")
	f.StringVar(&o.Name, "name", inventory.DefaultName, "cluster name")
	f.BoolVar(&force, "force", false, "overwrite FILE if it exists")
	return cmd
}

// writeNew writes data to a new file (0600: it holds the VRRP password).
// O_EXCL: a file that appears meanwhile is not overwritten either.
func writeNew(file string, data []byte, force bool) error {
	if fi, err := os.Stat(file); err == nil {
		switch {
		case fi.IsDir():
			return fmt.Errorf("init: %s is a directory: give the path of the inventory file to write", file)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("init: %s exists and is not a regular file: nothing written", file)
		case !force:
			return fmt.Errorf("init: %s exists: nothing written (--force overwrites it)", file)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(file, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("init: %s exists: nothing written (--force overwrites it)", file)
	}
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("init: writing %s: %w", file, err)
	}
	return f.Close()
}

// initNext says on stderr what is left to do: fill in the placeholders, or
// plan. stdout stays the inventory alone.
func initNext(w io.Writer, file string, data []byte) {
	c, err := inventory.Parse(file, data)
	var es inventory.Errors
	if errors.As(err, &es) {
		fmt.Fprintf(w, "fill in %d value(s), then run `hadeploy validate`:\n%s\n", len(es), err)
		return
	}
	for _, warn := range c.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	fmt.Fprintf(w, "%s; next: hadeploy plan %s\n", validMessage(c), file)
}

// newAuthPass is a random VRRP password (8 letters and digits, the most
// keepalived uses); replaced in tests.
var newAuthPass = func() string {
	const chars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func validMessage(c *inventory.Cluster) string {
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	if len(names) > 20 {
		names = append(names[:20], fmt.Sprintf("and %d more", len(c.Hosts)-20))
	}
	return fmt.Sprintf("%s: valid (%d hosts: %s)", c.File, len(c.Hosts), strings.Join(names, ", "))
}

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate INVENTORY",
		Short: "Check the inventory offline, every rule, contacting no host (for CI and editors)",
		Long: `Runs every check plan and apply make before they connect: the file, YAML syntax,
types, every rule, and the rendering of every configuration for every OS family.
No host is contacted. Prints "INVENTORY: valid (N hosts: ...)", or every problem as
FILE:LINE: FIELD: message on stderr; --output json emits one event per problem.
Exit codes: 0 valid, 1 problems.`,
		Example: `  hadeploy validate cluster.yaml
  hadeploy validate cluster.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "text" && g.output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", g.output)
			}
			out := ui.New(cmd.OutOrStdout(), ui.Options{JSON: g.output == "json"})
			r := events.SinkFunc(func(e events.Event) { e.Time = time.Now().UTC(); out.Emit(e) })
			c, err := inventory.Load(args[0])
			if err == nil {
				_, err = c.Limit(g.limit)
			}
			if err == nil {
				// What the snapshot derives from the steps, before it connects.
				if _, rerr := steps.ReadsFor(c, c.Hosts, playbooks.Cluster{}.StepsFor); rerr != nil {
					err = fmt.Errorf("%s: the configuration cannot be rendered: %w", args[0], rerr)
				}
			}
			var es inventory.Errors
			if err != nil && errors.As(err, &es) && out.JSONMode() {
				for _, e := range es {
					r.Emit(events.Event{Type: events.EvError, Step: "validate", Message: e.Error(),
						Data: map[string]any{"file": e.File, "line": e.Line, "field": e.Field, "problem": e.Msg}})
				}
				r.Emit(events.Event{Type: events.EvSummary, Summary: &events.Summary{Command: "validate", Failed: true}})
				return &codeError{code: exitError, err: fmt.Errorf("%s: %d problem(s)", args[0], len(es))}
			}
			if err != nil {
				return err
			}
			for _, w := range c.Warnings {
				r.Emit(events.Event{Type: events.EvWarning, Step: "validate", Message: w})
			}
			msg := validMessage(c)
			if out.JSONMode() {
				r.Emit(events.Event{Type: events.EvInfo, Step: "validate", Message: msg, Data: map[string]any{"hosts": len(c.Hosts)}})
				r.Emit(events.Event{Type: events.EvSummary, Summary: &events.Summary{Command: "validate"}})
			}
			out.Print(msg + "\n")
			return nil
		},
	}
}
