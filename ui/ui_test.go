package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/events"
)

func TestPlainHasNoEscapesAndColourDoes(t *testing.T) {
	ev := []events.Event{
		{Type: events.EvStep, Host: "web1", Step: "web", Status: events.StatusChanged, Message: "reloaded apache2"},
		{Type: events.EvStep, Host: "lb1", Step: "haproxy", Status: events.StatusFailed, Message: "validate failed\nline 3"},
		{Type: events.EvChange, Host: "lb1", Step: "haproxy", Path: "/etc/haproxy/haproxy.cfg", Diff: "--- a\n+++ b\n-\told\n+\tnew\n"},
		{Type: events.EvSummary, Summary: &events.Summary{Command: "apply", Hosts: []events.HostSummary{{Host: "web1", Changed: 1}}, Changes: 1}},
	}
	var plain, color bytes.Buffer
	p, c := New(&plain, Options{Diffs: true}), New(&color, Options{Color: true, Diffs: true})
	for _, e := range ev {
		p.Emit(e)
		c.Emit(e)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("plain output has escape codes:\n%q", plain.String())
	}
	if !strings.Contains(plain.String(), "+\tnew") {
		t.Errorf("plain diff lost its tab:\n%s", plain.String())
	}
	for _, want := range []string{"web1         web         changed", "    validate failed\n    line 3", "apply succeeded"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("plain output lacks %q:\n%s", want, plain.String())
		}
	}
	_ = color // lipgloss decides on escapes by the terminal profile; only plain is pinned.
}

func TestJSONIsOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, Options{JSON: true})
	r.Emit(events.Event{Type: events.EvStep, Host: "web1", Status: "ok"})
	r.Emit(events.Event{Type: events.EvSummary, Summary: &events.Summary{Command: "apply"}})
	r.Print("ignored in json mode")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), b.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not JSON: %q", l)
		}
	}
}

func TestTableAligns(t *testing.T) {
	got := Table([][]string{{"host", "ok"}, {"web1", "2"}, {"lb10", "12"}}, false)
	want := "host  ok\n────────\nweb1  2\nlb10  12\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
