package steps

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

// Switchover moves the VIP to load balancer to, make-before-break: every
// other lb's priority is lowered just below to's through its priority track
// file, so the holder keeps serving and advertising until to takes over (its
// master-down timer, about 3 × advert_int). The files stay: the VIP does not
// bounce back by itself; a switchover back to the highest-priority lb clears
// every file and so restores the configured priorities.
func Switchover(c *inventory.Cluster, to *inventory.Host, lbs []*inventory.Host) []Gate {
	lower := map[string]int{}
	for _, h := range lbs {
		if n := h.Priority - to.Priority + 1; h.Name != to.Name && n > 0 {
			lower[h.Name] = n
		}
	}
	set := Gate{
		Name: "priorities", Host: to.Name, Observers: lbs, Bound: MasterDownBound(c),
		OK: "priorities set: " + to.Name + " highest",
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
	moved := oneVIPHolder(c, lbs, false)
	moved.Host, moved.OK = to.Name, to.Name+" holds the VIP "+c.VIPAddr()
	onlyOne := moved.Passed
	moved.Passed = func(out map[string]string) (bool, string) {
		if ok, why := onlyOne(out); !ok {
			return false, why
		}
		if !strings.Contains(out[to.Name], "==holds") {
			return false, "the VIP is still elsewhere"
		}
		return true, ""
	}
	return []Gate{set, moved}
}
