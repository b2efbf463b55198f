package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Status reports every host of the lab (from state.json), sorted by name.
func Status(ctx context.Context) ([]HostStatus, error) {
	st, err := loadState()
	if err != nil {
		return nil, err
	}
	hosts := st.hostsCopy()
	out := make([]HostStatus, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := HostStatus{Name: h.Name, Address: h.Address, PID: h.PID}
			s.Running = nspawnAlive(h.PID, h.Root)
			if s.Running {
				if ini, err := initPID(h.PID); err == nil {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					o, _ := nsenter(cctx, ini, "systemctl", "is-system-running")
					cancel()
					s.SystemState = strings.TrimSpace(string(o))
				}
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address, "22"), 2*time.Second); err == nil {
				c.Close()
				s.SSH = true
			}
			out[i] = s
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nsenter runs a command in the namespaces of the container's init.
func nsenter(ctx context.Context, initPID int, args ...string) ([]byte, error) {
	bin, err := lookCmd("nsenter")
	if err != nil {
		return nil, err
	}
	argv := append([]string{"-t", strconv.Itoa(initPID), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = cleanEnv("DEBIAN_FRONTEND=noninteractive", "TERM=dumb")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// When its child stops, nsenter stops itself and waits for a SIGCONT
	// nobody sends: a host shutting down SIGSTOPs every process in it
	// (systemd-shutdown), which would hang us. Wake nsenter up.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if strings.HasPrefix(procStatus(cmd.Process.Pid, "State"), "T") {
					_ = cmd.Process.Signal(syscall.SIGCONT)
				}
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return out.Bytes(), err
}

// labHost is the state of the lab's host name.
func labHost(name string) (hostState, error) {
	st, err := loadState()
	if err != nil {
		return hostState{}, err
	}
	h, ok := st.host(name)
	if !ok {
		return hostState{}, fmt.Errorf("lab: no host %s in the lab", name)
	}
	return h, nil
}

func runningHost(name string) (hostState, error) {
	h, err := labHost(name)
	if err != nil {
		return hostState{}, err
	}
	if !nspawnAlive(h.PID, h.Root) {
		return h, fmt.Errorf("lab: host %s is not running", name)
	}
	return h, nil
}

// Exec runs a command inside a host (through nsenter, as root, outside of
// SSH) and returns its combined output.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("lab: Exec needs a command")
	}
	h, err := runningHost(name)
	if err != nil {
		return nil, err
	}
	ini, err := initPID(h.PID)
	if err != nil {
		return nil, err
	}
	out, err := nsenter(ctx, ini, args...)
	if err != nil {
		return out, fmt.Errorf("lab: on %s: %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// SetLink brings the bridge-side veth of a host down or up: down cuts the
// host off the lab network (its own eth0 stays configured).
func SetLink(name string, up bool) error {
	h, err := labHost(name)
	if err != nil {
		return err
	}
	if h.Veth == "" {
		return fmt.Errorf("lab: no host %s in the lab", name)
	}
	updown := "down"
	if up {
		updown = "up"
	}
	_, err = run(context.Background(), "ip", "link", "set", h.Veth, updown)
	return err
}
