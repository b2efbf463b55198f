package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// Fault kinds besides a systemctl verb on one service.
const (
	// FaultFreeze stops keepalived's and haproxy's processes with SIGSTOP:
	// the host is there but says and serves nothing, like a crashed or hung
	// master, without pulling a cable.
	FaultFreeze = "freeze"
	// FaultPartition drops the holder's outgoing VRRP adverts: its peers stop
	// hearing it while clients still reach it.
	FaultPartition = "partition"
)

// Transient units on the failed lb that undo the fault by themselves if
// hadeploy dies (or its connection does) before it undoes it.
const (
	thawUnit      = "hadeploy-failover-thaw"
	unpartUnit    = "hadeploy-failover-unpartition"
	partitionPrio = "4912" // the tc filter's priority, so removal takes only ours
	partitionMark = "/run/hadeploy-failover-clsact"
)

// vrrpDrop is a classic BPF program for tc's bpf classifier in
// direct-action mode (cls_bpf without the gact action, which some kernels
// lack, as the lab's): it drops IPv4 packets of protocol 112 (VRRP), to the
// multicast group or unicast peers alike, and lets everything else through.
// Offsets count from the Ethernet header: ethertype at 12, protocol at 14+9.
const vrrpDrop = "6," +
	"40 0 0 12," + // ldh [12]          ethertype
	"21 0 2 2048," + // jeq 0x0800       else pass
	"48 0 0 23," + // ldb [23]          IP protocol
	"21 1 0 112," + // jeq 112 (VRRP) → drop
	"6 0 0 4294967295," + // ret TC_ACT_UNSPEC (pass)
	"6 0 0 2" // ret TC_ACT_SHOT (drop)

// frozenUnits are SIGSTOPped together: a frozen host serves nothing.
var frozenUnits = []string{"keepalived.service", "haproxy.service"}

// safetyNet schedules undo on the host in after (a transient systemd timer),
// replacing any left by an earlier run; it goes in the same program as the
// fault, before it, so a fault never runs without its net.
func safetyNet(s *shell.Script, unit string, after time.Duration, undo string) {
	secs := int((after + time.Second - 1) / time.Second)
	s.Raw(`systemctl stop ` + shell.Quote(unit+".timer") + ` ` + shell.Quote(unit+".service") + ` 2>/dev/null || true`)
	s.Raw(`systemctl reset-failed ` + shell.Quote(unit+".timer") + ` ` + shell.Quote(unit+".service") + ` 2>/dev/null || true`)
	// No net, no fault: the program stops here (it runs without errexit).
	// AccuracySec: a timer's default accuracy is a minute (systemd.timer(5)),
	// so without it the net fires up to a minute late.
	s.Raw(`systemd-run --quiet --collect --unit=` + shell.Quote(unit) + ` --on-active=` + fmt.Sprint(secs) + `s --timer-property=AccuracySec=100ms /bin/sh -c ` + shell.Quote(undo) +
		` || { echo "systemd-run could not schedule the safety net ` + unit + `; nothing was done" >&2; return 1; }`)
}

// cancelNet removes the timer once the fault was undone by hand.
func cancelNet(s *shell.Script, unit string) {
	s.Raw(`systemctl stop ` + shell.Quote(unit+".timer") + ` 2>/dev/null || true`)
}

func thawCmd() string {
	return `systemctl kill --signal=CONT ` + shell.Join(frozenUnits...)
}

// unpartitionCmd removes our filter, and the clsact qdisc if we added it.
func unpartitionCmd(dev string) string {
	d := shell.Quote(dev)
	return `tc filter del dev ` + d + ` egress protocol ip prio ` + partitionPrio + ` 2>/dev/null; ` +
		`if [ -e ` + partitionMark + ` ]; then tc qdisc del dev ` + d + ` clsact 2>/dev/null; rm -f ` + partitionMark + `; fi; true`
}

// faultScript is the program that injects sc's fault on host h; net is how
// long its safety net waits before undoing it by itself.
func faultScript(sc Scenario, h *inventory.Host, net time.Duration) *shell.Script {
	s := &shell.Script{}
	switch sc.Fault {
	case FaultFreeze:
		safetyNet(s, thawUnit, net, thawCmd())
		s.Raw(`systemctl kill --signal=STOP ` + shell.Join(frozenUnits...))
	case FaultPartition:
		d := shell.Quote(h.Interface)
		safetyNet(s, unpartUnit, net, unpartitionCmd(h.Interface))
		s.Raw(`if ! tc qdisc show dev ` + d + ` | grep -q 'qdisc clsact'; then tc qdisc add dev ` + d + ` clsact && touch ` + partitionMark + `; fi`)
		s.Raw(`tc filter del dev ` + d + ` egress protocol ip prio ` + partitionPrio + ` 2>/dev/null || true`)
		s.Raw(`tc filter add dev ` + d + ` egress protocol ip prio ` + partitionPrio + ` bpf da bytecode ` + shell.Quote(vrrpDrop))
	default:
		s.Raw(`systemctl ` + shell.Join(sc.Fail...) + ` ` + shell.Quote(sc.Service))
	}
	return s
}

// restoreScript undoes sc's fault on host h (idempotent: also run when the
// fault was never injected, or was undone already).
func restoreScript(sc Scenario, h *inventory.Host) *shell.Script {
	s := &shell.Script{}
	switch sc.Fault {
	case FaultFreeze:
		s.Raw(thawCmd())
		cancelNet(s, thawUnit)
	case FaultPartition:
		s.Raw(unpartitionCmd(h.Interface))
		cancelNet(s, unpartUnit)
	default:
		s.Raw(`systemctl start ` + shell.Quote(sc.Service))
	}
	return s
}

// run executes a fault or restore program on host, naming host and what.
func (f *Failover) run(ctx context.Context, host, what string, s *shell.Script) error {
	res, err := f.Runner.Exec(ctx, host, s)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", host, what, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: %s: %s", host, what, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}
