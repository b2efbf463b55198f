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

// vrrpMulticastDrop is a classic BPF program for tc's bpf classifier in
// direct-action mode (the lab's kernel has cls_bpf but neither the gact nor
// the police action, and the machine has no iptables/nft): it drops IPv4
// packets of protocol 112 (VRRP) sent to 224.0.0.18, the VRRP multicast
// group, and lets everything else through, unicast VRRP included. Offsets
// count from the Ethernet header: ethertype at 12, protocol at 14+9,
// destination at 14+16.
const vrrpMulticastDrop = "8," +
	"40 0 0 12," + // ldh [12]          ethertype
	"21 0 4 2048," + // jeq 0x0800       else pass
	"48 0 0 23," + // ldb [23]          IP protocol
	"21 0 2 112," + // jeq 112 (VRRP)   else pass
	"32 0 0 30," + // ld [30]           destination
	"21 1 0 3758096402," + // jeq 224.0.0.18 → drop
	"6 0 0 4294967295," + // ret TC_ACT_UNSPEC (pass)
	"6 0 0 2" // ret TC_ACT_SHOT (drop)

// BlockVRRPMulticast drops the multicast VRRP adverts that host name sends
// (on its bridge-side veth, as they enter the bridge), or stops doing so:
// a network that does not carry multicast, as in most clouds. Unicast VRRP
// and every other packet still pass. Idempotent either way; the filter goes
// away with the veth at lab down.
func BlockVRRPMulticast(name string, block bool) error {
	h, err := labHost(name)
	if err != nil {
		return err
	}
	if h.Veth == "" {
		return fmt.Errorf("lab: no host %s in the lab", name)
	}
	ctx := context.Background()
	// Start from no filter: deleting the ingress qdisc drops its filters.
	out, err := run(ctx, "tc", "qdisc", "show", "dev", h.Veth)
	if err != nil {
		return err
	}
	if strings.Contains(string(out), "qdisc ingress ffff:") {
		if _, err := run(ctx, "tc", "qdisc", "del", "dev", h.Veth, "ingress"); err != nil {
			return err
		}
	}
	if !block {
		return nil
	}
	if _, err := run(ctx, "tc", "qdisc", "add", "dev", h.Veth, "handle", "ffff:", "ingress"); err != nil {
		return err
	}
	_, err = run(ctx, "tc", "filter", "add", "dev", h.Veth, "parent", "ffff:", "protocol", "ip", "prio", "1",
		"bpf", "da", "bytecode", vrrpMulticastDrop)
	return err
}
