package playbooks

import (
	"testing"

	"github.com/hadeploy/hadeploy/inventory"
)

func names(hs []*inventory.Host) (out []string) {
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return
}

func TestPhasesPutVIPHolderLast(t *testing.T) {
	hs := []*inventory.Host{
		{Name: "lb1", Roles: []string{"lb"}, Priority: 100},
		{Name: "web1", Roles: []string{"web"}},
		{Name: "lb2", Roles: []string{"lb"}, Priority: 80},
		{Name: "web2", Roles: []string{"web"}},
		{Name: "both", Roles: []string{"web", "lb"}, Priority: 90},
	}
	// Cold cluster: lowest priority first, would-be master last.
	ph := Phases(hs, nil)
	if len(ph) != 2 || ph[0].Name != "web" || ph[1].Name != "lb" {
		t.Fatalf("phases %+v", ph)
	}
	if got := names(ph[0].Hosts); len(got) != 2 || got[0] != "web1" || got[1] != "web2" {
		t.Errorf("web order %v", got)
	}
	if got := names(ph[1].Hosts); got[0] != "lb2" || got[1] != "both" || got[2] != "lb1" {
		t.Errorf("cold lb order %v", got)
	}
	// lb2 holds the VIP after a failover: it goes last.
	ph = Phases(hs, func(h *inventory.Host) bool { return h.Name == "lb2" })
	if got := names(ph[1].Hosts); got[0] != "both" || got[1] != "lb1" || got[2] != "lb2" {
		t.Errorf("holder-last order %v", got)
	}
	if !ph[0].Serial || !ph[1].Serial {
		t.Error("both phases must be serial")
	}
}

func TestStepsFor(t *testing.T) {
	web := StepsFor(&inventory.Host{Roles: []string{"web"}})
	lb := StepsFor(&inventory.Host{Roles: []string{"lb"}})
	if len(web) != 2 || web[0].Name() != "web" || web[1].Name() != "timesync" {
		t.Errorf("web steps %v", web)
	}
	if len(lb) != 4 || lb[0].Name() != "rsyslog" || lb[1].Name() != "haproxy" || lb[2].Name() != "keepalived" {
		t.Errorf("lb steps %v", lb)
	}
}
