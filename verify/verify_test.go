package verify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
)

func TestGetReadsServerCookieAndHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && (u != "admin" || p != "s3cret") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "SERVERID", Value: "web2"})
		w.Write([]byte(" " + r.Host + "\n"))
	}))
	defer srv.Close()
	r, err := Get(context.Background(), NewHTTPClient(2*time.Second), srv.URL, "www.web1.com:80", &inventory.StatsAuth{User: "admin", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Server != "web2" || r.Body != "www.web1.com:80" {
		t.Errorf("got %+v", r)
	}
}

func TestCatchingUp(t *testing.T) {
	healthy := map[string]bool{"web2": true}
	infoOK := Check{Name: "stats socket: show info", OK: true}
	down := func(h string) Check { return Check{Name: "stats socket: server UP", Host: "lb1 web/" + h} }
	cases := []struct {
		name string
		cs   []Check
		want bool
	}{
		{"healthy server not UP yet", []Check{infoOK, down("web2")}, true},
		{"dead server", []Check{infoOK, down("web1")}, false},
		{"haproxy down", []Check{{Name: "stats socket: show info"}, down("web2")}, false},
		{"all UP", []Check{infoOK}, false},
	}
	for _, c := range cases {
		if got := catchingUp(c.cs, healthy); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if Failed([]Check{{OK: true}, {}, {}}) != 2 {
		t.Error("Failed miscounts")
	}
}

// After both servers of a backend were DOWN, haproxy answered 8 requests in
// a row from one server before alternating (issue 12): the check must still
// see every server, and still fail when one never answers.
func TestRoundRobinToleratesTheBurstAfterRecovery(t *testing.T) {
	want := map[string]bool{"web1": true, "web2": true}
	seq := func(bodies ...string) func() (string, error) {
		i := 0
		return func() (string, error) {
			b := bodies[i%len(bodies)]
			i++
			return b, nil
		}
	}
	burst := append(strings.Split(strings.Repeat("web2 ", 8), " ")[:8], "web1", "web2")
	if got, _, ok := roundRobin(want, rrMaxPerServer*2, seq(burst...)); !ok || got["web1"] != 1 {
		t.Errorf("burst of 8 then alternation: %v ok=%v", got, ok)
	}
	if got, _, ok := roundRobin(want, rrMaxPerServer*2, seq("web2")); ok || got["web2"] != 32 {
		t.Errorf("web1 never answers: %v ok=%v (the sample must stay bounded)", got, ok)
	}
	if _, errs, ok := roundRobin(want, 32, func() (string, error) { return "", fmt.Errorf("refused") }); ok || len(errs) != 1 {
		t.Errorf("a failed request must fail the check at once: %v", errs)
	}
}

func TestHAProxyDownEverywhereIsSaidPlainly(t *testing.T) {
	lbs := []*inventory.Host{{Name: "lb1"}, {Name: "lb2"}}
	down := []Check{
		{Name: "service running and enabled", Host: "lb1", Seen: "haproxy inactive enabled"},
		{Name: "service running and enabled", Host: "lb2", Seen: "haproxy failed enabled"},
	}
	if ck := haproxyAnywhere(down, lbs); ck.OK || !strings.Contains(ck.Seen, "EVERY load balancer") {
		t.Errorf("haproxy down everywhere: %+v", ck)
	}
	up := append(down, Check{Name: "service running and enabled", Host: "lb2", Seen: "haproxy active enabled"})
	if ck := haproxyAnywhere(up, lbs); !ck.OK {
		t.Errorf("haproxy up on lb2: %+v", ck)
	}
}
