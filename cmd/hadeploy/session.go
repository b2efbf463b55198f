package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/transport"
	"github.com/hadeploy/hadeploy/ui"
)

// globals are the flags every command shares.
type globals struct {
	output            string
	verbose           bool
	limit             []string
	acceptNewHostKeys bool
	askBecomePass     bool
	logDir            string
}

func (g *globals) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json (one event per line)")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "show every remote program run (file contents and secrets elided)")
	f.StringSliceVar(&g.limit, "limit", nil, "act on these hosts only (comma-separated names)")
	f.BoolVar(&g.acceptNewHostKeys, "accept-new-host-keys", false, "record the keys of hosts not yet in known_hosts (a CHANGED key is always refused)")
	f.BoolVar(&g.askBecomePass, "ask-become-pass", false, "prompt for the sudo password (sent on stdin, never logged)")
	f.StringVar(&g.logDir, "log-dir", defaultLogDir(), "where the full debug log of every run is written")
}

func defaultLogDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "hadeploy", "logs")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "hadeploy", "logs")
	}
	return filepath.Join(os.TempDir(), "hadeploy-logs")
}

// testDial replaces SSH in this package's golden tests (fake hosts).
var testDial provision.DialFunc

// session is one command's wiring: the inventory, the renderer, the debug log
// and a runner whose dialer is the real SSH transport.
type session struct {
	cluster *inventory.Cluster
	ui      *ui.Renderer
	runner  *provision.Runner
	runID   string
	logPath string
	logMu   sync.Mutex
	logF    *os.File
	out     io.Writer
	color   bool
}

func (s *session) uiWriter() io.Writer { return s.out }

// newSession loads and validates the inventory BEFORE anything connects.
func newSession(cmd *cobra.Command, g *globals, file, name string) (*session, error) {
	if g.output != "text" && g.output != "json" {
		return nil, fmt.Errorf("--output must be text or json, not %q", g.output)
	}
	c, err := inventory.Load(file)
	if err != nil {
		return nil, err
	}
	hosts, err := c.Limit(g.limit)
	if err != nil {
		return nil, err
	}
	s := &session{cluster: c, runID: newRunID()}
	out := cmd.OutOrStdout()
	color := false
	if f, ok := out.(*os.File); ok {
		color = ui.ColorWanted(f)
	}
	s.out, s.color = out, color
	s.ui = ui.New(out, ui.Options{JSON: g.output == "json", Color: color, Diffs: true})
	for _, w := range c.Warnings {
		s.ui.Emit(events.Event{Type: events.EvWarning, Message: w})
	}
	if err := os.MkdirAll(g.logDir, 0o700); err == nil {
		s.logPath = filepath.Join(g.logDir, s.runID+"-"+name+".log")
		s.logF, _ = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	}
	var become string
	if g.askBecomePass {
		if become, err = readSecret(cmd.Context(), "sudo password: "); err != nil {
			return nil, err
		}
	}
	red := provision.NewRedactor(c)
	s.debug("hadeploy %s (commit %s) %s %s run %s", version, commit, name, file, s.runID)
	logf := func(format string, args ...any) {
		msg := red.Redact(fmt.Sprintf(format, args...))
		s.debug("%s", msg)
		if g.verbose && !s.ui.JSONMode() {
			s.ui.Print(msg + "\n")
		}
	}
	base := filepath.Dir(file)
	s.runner = &provision.Runner{
		Cluster: c, Hosts: hosts, RunID: s.runID,
		Meta: provision.Owner(name),
		Sink: events.SinkFunc(func(e events.Event) {
			// s.ui may be replaced after setup (apply --diff).
			s.ui.Emit(e)
			s.debug("event %s host=%s step=%s status=%s %s", e.Type, e.Host, e.Step, e.Status, red.Redact(e.Message))
		}),
		Log: logf,
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			if testDial != nil {
				return testDial(ctx, h)
			}
			return transport.DialSSH(ctx, sshConfig(c, h, base, g, become, logf))
		},
	}
	return s, nil
}

// sshConfig merges cluster defaults and host overrides; relative paths are
// taken from the inventory's folder.
func sshConfig(c *inventory.Cluster, h *inventory.Host, base string, g *globals, become string, logf func(string, ...any)) transport.SSHConfig {
	cfg := transport.SSHConfig{
		Name: h.Name, Address: h.Address, Port: c.SSH.Port, User: c.SSH.User,
		AcceptNewHostKeys: g.acceptNewHostKeys, BecomePassword: become,
		ConnectTimeout: time.Duration(c.SSH.ConnectTimeout) * time.Second,
		CommandTimeout: 15 * time.Minute,
		Log:            logf,
	}
	if h.Port != 0 {
		cfg.Port = h.Port
	}
	if h.User != "" {
		cfg.User = h.User
	}
	id := c.SSH.IdentityFile
	if h.IdentityFile != "" {
		id = h.IdentityFile
	}
	if id != "" {
		cfg.IdentityFiles = []string{resolvePath(base, id)}
	}
	if c.SSH.KnownHosts != "" {
		cfg.KnownHostsFiles = []string{resolvePath(base, c.SSH.KnownHosts)}
	}
	return cfg
}

func resolvePath(base, p string) string {
	if strings.HasPrefix(p, "~") || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// newRunID is a UTC timestamp; replaced in golden tests.
var newRunID = func() string { return time.Now().UTC().Format("20060102T150405.000Z") }

func (s *session) debug(format string, args ...any) {
	if s.logF == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.logF, time.Now().UTC().Format("15:04:05.000 ")+format+"\n", args...)
}

func (s *session) close() {
	if s.logF != nil {
		s.logF.Close()
	}
}

// readSecret reads one line from stdin without echo on a terminal. Ctrl-C
// ends the wait: the read cannot be cancelled, so it is left behind, echo
// restored.
func readSecret(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(os.Stderr, prompt)
	defer fmt.Fprintln(os.Stderr)
	fd := int(os.Stdin.Fd())
	type answer struct {
		s   string
		err error
	}
	got := make(chan answer, 1)
	st, _ := term.GetState(fd)
	go func() {
		if term.IsTerminal(fd) {
			b, err := term.ReadPassword(fd)
			got <- answer{string(b), err}
			return
		}
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err == io.EOF {
			err = nil
		}
		got <- answer{strings.TrimRight(line, "\r\n"), err}
	}()
	select {
	case a := <-got:
		return a.s, a.err
	case <-ctx.Done():
		if st != nil {
			term.Restore(fd, st)
		}
		return "", fmt.Errorf("reading the sudo password: %w", ctx.Err())
	}
}
