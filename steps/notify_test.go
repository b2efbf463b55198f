package steps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
)

func fileOf(t *testing.T, d *Desired, path string) File {
	t.Helper()
	for _, f := range d.Files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("%s: no file %s", d.Step, path)
	return File{}
}

const secretHook = "https://hooks.example.com/vrrp?token=t0psecret"

func notifyCluster() *inventory.Cluster {
	c := seedCluster()
	c.VRRP.Notify = inventory.Notify{
		Email: []string{"acassen@firewall.loc", "sysadmin@firewall.loc"}, EmailFrom: "Alexandre.Cassen@firewall.loc",
		SMTPServer: "192.168.200.1", SMTPHost: "192.168.200.1", SMTPPort: 25, SMTPConnectTimeout: 30,
		Script: "/usr/local/bin/vrrp-alert", Webhook: secretHook,
	}
	return c
}

// TestGoldenNotify pins keepalived's files with every notification on: the
// article's email in global_defs, smtp_alert and the notify line in the
// instance, the notify script with both hooks, and the secret curl config.
func TestGoldenNotify(t *testing.T) {
	c := notifyCluster()
	for fam, facts := range families {
		d, err := Keepalived{}.Desired(Target{Cluster: c, Host: c.Host("haproxy1"), Facts: facts})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join("testdata", "golden", "notify", fam)
		for _, p := range []string{"/etc/keepalived/keepalived.conf", NotifyScript} {
			golden(t, filepath.Join(dir, filepath.Base(p)), fileOf(t, d, p).Content)
		}
		rc := fileOf(t, d, "/etc/keepalived/hadeploy-webhook.curlrc")
		if !rc.Secret || rc.Mode != 0o600 || !strings.Contains(string(rc.Content), `url = "`+secretHook+`"`) {
			t.Errorf("%s: curlrc must be secret, 0600 and hold the URL: %+v", fam, rc)
		}
		for _, f := range d.Files {
			if f.Path != rc.Path && strings.Contains(string(f.Content), "t0psecret") {
				t.Errorf("%s: %s holds the webhook URL", fam, f.Path)
			}
		}
		if v := fileOf(t, d, NotifyScript).Validate; !strings.Contains(v, "test -x /usr/local/bin/vrrp-alert") {
			t.Errorf("%s: the notify script's validation does not check the operator's script: %q", fam, v)
		}
		pk := strings.Join(d.Packages, " ")
		if want := map[string]string{"debian": "keepalived curl", "debian13": "keepalived curl", "rhel": "keepalived"}[fam]; pk != want {
			t.Errorf("%s: packages %q, want %q", fam, pk, want)
		}
	}
	// Without notify settings: no email lines, no curl, the log-only script.
	d, err := Keepalived{}.Desired(Target{Cluster: seedCluster(), Host: seedCluster().Host("haproxy1"), Facts: families["debian"]})
	if err != nil {
		t.Fatal(err)
	}
	conf := string(fileOf(t, d, "/etc/keepalived/keepalived.conf").Content)
	if strings.Contains(conf, "smtp") || strings.Contains(conf, "notification_email") || !strings.Contains(conf, `notify "`+NotifyScript+`"`) {
		t.Errorf("plain cluster: want only the notify line:\n%s", conf)
	}
	script := string(fileOf(t, d, NotifyScript).Content)
	if strings.Contains(script, "curl") || strings.Contains(script, "timeout") || len(d.Packages) != 1 {
		t.Errorf("plain cluster: the notify script runs hooks or curl is installed:\n%s\n%v", script, d.Packages)
	}
}

// TestNotifyScriptRuns runs the rendered script the way keepalived does, with
// a stand-in curl and operator script, and reads what it recorded and sent.
func TestNotifyScriptRuns(t *testing.T) {
	for _, tool := range []string{"bash", "flock", "timeout", "find"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "transitions.log")
	sent := filepath.Join(dir, "sent")
	curl := filepath.Join(dir, "curl")
	// The stand-in curl saves its arguments and the -K file and answers 204.
	writeExec(t, curl, "#!/bin/bash\nprintf '%s\\n' \"$@\" > "+shell.Quote(sent)+"\nwhile [ $# -gt 0 ]; do [ \"$1\" = -K ] && cat \"$2\" >> "+shell.Quote(sent)+"; shift; done\nprintf 204\n")
	op := filepath.Join(dir, "alert")
	writeExec(t, op, "#!/bin/bash\necho \"$@\" > "+shell.Quote(filepath.Join(dir, "alert.args"))+"\nexit 3\n")
	rc := filepath.Join(dir, "curlrc")
	if err := os.WriteFile(rc, []byte(`url = "`+secretHook+`"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := notifyCluster()
	c.VRRP.Notify.Script = op
	m := notifyModelFor(c, c.Host("haproxy1"), rc)
	m.Log, m.Curl = shell.Quote(logPath), shell.Quote(curl)
	script, err := render("vrrp-notify.sh.tmpl", m)
	if err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(dir, "vrrp-notify")
	writeExec(t, sp, string(script))
	start := time.Now()
	// A hostile instance name cannot reach the log or the JSON unfiltered.
	out, err := exec.Command(sp, "INSTANCE", `VI_51"}`, "MASTER", "100").CombinedOutput()
	if err != nil {
		t.Fatalf("notify script: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the notify script held keepalived for %s: hooks must run in the background", d)
	}
	var tr []Transition
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if tr = ParseTransitions(string(b)); len(tr) == 3 {
			break
		}
	}
	if len(tr) != 3 || tr[0].Kind != "transition" || tr[0].Instance != "VI_51" || tr[0].State != "MASTER" || tr[0].Detail != "100" {
		t.Fatalf("log: %+v", tr)
	}
	hooks := map[string]Transition{}
	for _, x := range tr[1:] {
		hooks[x.Kind] = x
	}
	// Run as root the script is the operator's and exits 3; as anyone else
	// it is not root's, which the notify script refuses (126).
	wantExit := "exit=3"
	if os.Geteuid() != 0 {
		wantExit = "exit=126"
	}
	if s := hooks["script"]; s.Detail != wantExit || s.HookOK() {
		t.Errorf("script hook: %+v, want %s", s, wantExit)
	}
	if w := hooks["webhook"]; w.Detail != "http=204 exit=0" || !w.HookOK() {
		t.Errorf("webhook hook: %+v", w)
	}
	b, err := os.ReadFile(sent)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`{"host":"haproxy1","instance":"VI_51","state":"MASTER","priority":100,"time":"`, "--max-time\n10\n", "Content-Type: application/json", `url = "` + secretHook + `"`} {
		if !strings.Contains(got, want) {
			t.Errorf("curl was not given %q:\n%s", want, got)
		}
	}
	if os.Geteuid() == 0 {
		if a, _ := os.ReadFile(filepath.Join(dir, "alert.args")); string(a) != "INSTANCE VI_51 MASTER 100\n" {
			t.Errorf("operator's script got %q", a)
		}
	}
}

func writeExec(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestParseTransitions(t *testing.T) {
	tr := ParseTransitions("2026-12-02T00:00:00.000Z transition VI_47 MASTER 100\ncut\n2026-12-02T00:00:00.100Z webhook VI_47 MASTER http=000 exit=7\n2026-12-02T00:00:00.200Z script VI_47 BACKUP exit=0\n")
	if len(tr) != 3 || tr[1].Detail != "http=000 exit=7" || tr[1].HookOK() || !tr[2].HookOK() || tr[0].HookOK() {
		t.Errorf("%+v", tr)
	}
}
