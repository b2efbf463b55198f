package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// MitogenCheck is whether Ansible loads the mitogen_linear strategy here,
// found before the lab is used by a trivial play on localhost (connection
// local): Mitogen checks the Ansible version when its strategy loads.
type MitogenCheck struct {
	Strategy   string `json:"strategy_dir,omitempty"`
	MaxAnsible string `json:"mitogen_max_ansible,omitempty"` // ANSIBLE_VERSION_MAX in ansible_mitogen/loaders.py
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
}

// mitogenStrategyDirs are where Debian (ansible-mitogen) and pip put the
// strategy plugins.
var mitogenStrategyDirs = []string{
	"/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy",
	"/usr/local/lib/python3*/dist-packages/ansible_mitogen/plugins/strategy",
	"/usr/lib/python3*/site-packages/ansible_mitogen/plugins/strategy",
}

func mitogenStrategyPath() string {
	for _, pat := range mitogenStrategyDirs {
		m, _ := filepath.Glob(filepath.Join(pat, "mitogen_linear.py"))
		if len(m) > 0 {
			return filepath.Dir(m[0])
		}
	}
	return ""
}

// mitogenEnv selects Mitogen for ansible-playbook: the plugin path (Debian
// also links the plugins into Ansible's own strategy folder) and the
// strategy. An unknown strategy is an error in Ansible, never a fallback.
func mitogenEnv() []string {
	return []string{"ANSIBLE_STRATEGY_PLUGINS=" + mitogenStrategyPath(), "ANSIBLE_STRATEGY=mitogen_linear"}
}

var versionMax = regexp.MustCompile(`(?m)^ANSIBLE_VERSION_MAX\s*=\s*\(([0-9, ]+)\)`)

// mitogenMaxAnsible reads the newest Ansible release Mitogen accepts from
// ansible_mitogen/loaders.py, as "2.14".
func mitogenMaxAnsible(loaders []byte) string {
	m := versionMax.FindSubmatch(loaders)
	if m == nil {
		return ""
	}
	var parts []string
	for _, p := range strings.Split(string(m[1]), ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

const mitogenProbe = `- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: /bin/true
      changed_when: false
`

// checkMitogen runs the probe play with the mitogen_linear strategy.
func (b *bench) checkMitogen(ctx context.Context) *MitogenCheck {
	mc := &MitogenCheck{Strategy: mitogenStrategyPath()}
	if mc.Strategy == "" {
		mc.Error = "no ansible_mitogen strategy plugins found (apt-get install -y ansible-mitogen)"
		return mc
	}
	if l, err := os.ReadFile(filepath.Join(mc.Strategy, "..", "..", "loaders.py")); err == nil {
		mc.MaxAnsible = mitogenMaxAnsible(l)
	}
	dir := filepath.Join(b.tmp, "mitogen-probe")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		mc.Error = err.Error()
		return mc
	}
	if err := os.WriteFile(filepath.Join(dir, "probe.yml"), []byte(mitogenProbe), 0o644); err != nil {
		mc.Error = err.Error()
		return mc
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", "localhost,", "-c", "local", "probe.yml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(mitogenEnv(), "ANSIBLE_NOCOLOR=1", "HOME="+b.home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"))...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		mc.Error = fmt.Sprintf("%v: %s", err, ansibleError(out.String()))
		return mc
	}
	mc.OK = true
	return mc
}

// ansibleError is the part of ansible-playbook's output that says what
// went wrong: from the first "ERROR!" or "fatal:" line on (5 lines), else
// the last 10 lines.
func ansibleError(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if strings.Contains(l, "ERROR!") || strings.HasPrefix(strings.TrimSpace(l), "fatal:") {
			return strings.Join(lines[i:min(len(lines), i+5)], "\n")
		}
	}
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// mitogenPhase checks that Mitogen loads with this Ansible, then runs the
// same playbook as the plain Ansible phase with it. If it does not load,
// that is the result: the error and the versions go into the results.
func (b *bench) mitogenPhase(ctx context.Context) error {
	mc := b.checkMitogen(ctx)
	b.res.Mitogen = mc
	if !mc.OK {
		b.note("Ansible + Mitogen not run: Mitogen (%s, supports Ansible up to %s) with %s does not load: %s",
			b.res.Tools["ansible-mitogen"], orDash(mc.MaxAnsible), b.res.Tools["ansible-playbook"], mc.Error)
		return nil
	}
	logf("mitogen_linear loads with %s (Mitogen supports Ansible up to %s)", b.res.Tools["ansible-playbook"], orDash(mc.MaxAnsible))
	return b.ansiblePhase(ctx, toolMitogen)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// toolVersions are the versions of what the bench compares: Debian's
// packages (dpkg-query) and ansible-playbook's own first line.
func toolVersions() map[string]string {
	v := map[string]string{}
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n",
		"ansible-core", "ansible", "ansible-mitogen", "python3-mitogen", "apt-cacher-ng").Output()
	for k, ver := range dpkgVersions(string(out)) {
		v[k] = ver
	}
	if out, err := exec.Command("ansible-playbook", "--version").Output(); err == nil {
		v["ansible-playbook"] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return v
}

// dpkgVersions reads dpkg-query lines "PACKAGE VERSION STATUS" and keeps
// the installed packages ("ii").
func dpkgVersions(out string) map[string]string {
	v := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "ii" {
			v[f[0]] = f[1]
		}
	}
	return v
}
