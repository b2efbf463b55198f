package steps

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// Switchover moves every VIP to load balancer to, make-before-break: every
// other lb's priority is lowered just below to's in each VIP's instance
// through its priority track file (one file for all instances: the largest
// offset any instance needs), so the holder keeps serving and advertising
// until to takes over (its master-down timer, about 3 × advert_int). The
// files stay: the VIPs do not bounce back by themselves; to nil clears every
// file, restoring the configured priorities, so each VIP goes back to its
// intended master (with one VIP: a switchover back to the highest-priority
// lb does the same).
func Switchover(c *inventory.Cluster, to *inventory.Host, lbs []*inventory.Host) []Gate {
	lower := map[string]int{}
	for _, h := range lbs {
		for _, v := range c.VIPList() {
			if to == nil || h.Name == to.Name {
				continue
			}
			if n := c.VIPPriority(v, h) - c.VIPPriority(v, to) + 1; n > lower[h.Name] {
				lower[h.Name] = n
			}
		}
	}
	name, highest := "", "configured priorities"
	if to != nil {
		name, highest = to.Name, to.Name+" highest"
	}
	set := Gate{
		Name: "priorities", Host: name, Observers: lbs, Bound: MasterDownBound(c),
		OK: "priorities set: " + highest,
		Probe: func(lb *inventory.Host) *shell.Script {
			s := &shell.Script{}
			s.Line(`mkdir -p %s && printf '%%s\n' %s > %s && printf '==prio %%s\n' "$(cat %s)"`, StateDir, strconv.Itoa(lower[lb.Name]), PriorityFile, PriorityFile)
			return s
		},
		Passed: func(out map[string]string) (bool, string) {
			var why []string
			for _, lb := range sortedNames(out) {
				if got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out[lb]), "==prio")); got != strconv.Itoa(lower[lb]) {
					why = append(why, fmt.Sprintf("%s: %s holds %q", lb, PriorityFile, got))
				}
			}
			return len(why) == 0, strings.Join(why, "; ")
		},
	}
	gates := []Gate{set}
	for _, v := range c.VIPList() {
		want := to
		if want == nil {
			want = c.VIPMaster(v)
		}
		moved := oneVIPHolder(c, v, lbs, false)
		moved.Host, moved.OK = want.Name, want.Name+" holds the VIP "+v.Addr()
		onlyOne := moved.Passed
		moved.Passed = func(out map[string]string) (bool, string) {
			if ok, why := onlyOne(out); !ok {
				return false, why
			}
			if !strings.Contains(out[want.Name], "==holds") {
				return false, "the VIP " + v.Addr() + " is still elsewhere"
			}
			return true, ""
		}
		gates = append(gates, moved)
	}
	return gates
}
