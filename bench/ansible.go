package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
	"github.com/hadeploy/hadeploy/inventory"
)

// ansibleInventory renders hosts.ini: groups web and lb, by address.
func ansibleInventory(c *inventory.Cluster) string {
	var b strings.Builder
	for _, role := range []string{inventory.RoleWeb, inventory.RoleLB} {
		fmt.Fprintf(&b, "[%s]\n", role)
		for _, h := range c.Hosts {
			if h.HasRole(role) {
				fmt.Fprintf(&b, "%s ansible_host=%s\n", h.Name, h.Address)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ansibleConfig renders ansible.cfg: the lab key and known_hosts with
// strict host key checking, 5 forks, pipelining on.
func ansibleConfig(localTmp string) string {
	return `[defaults]
inventory = hosts.ini
remote_user = root
private_key_file = ` + lab.KeyPath() + `
host_key_checking = True
forks = 5
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = ` + localTmp + `

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=` + lab.KnownHostsPath() + ` -o StrictHostKeyChecking=yes -o ConnectTimeout=10
`
}

const (
	toolHadeploy = "hadeploy"
	toolAnsible  = "ansible"
	toolMitogen  = "ansible+mitogen"
)

// ansiblePhase boots the 4-host lab fresh and runs bench/ansible/site.yml on
// it: once cold, reps times as a no-op. tool is toolAnsible (the default
// linear strategy) or toolMitogen (strategy mitogen_linear, everything else
// the same).
func (b *bench) ansiblePhase(ctx context.Context, tool string) error {
	ap, err := exec.LookPath("ansible-playbook")
	if err != nil {
		return errors.New("ansible-playbook not found (apt-get install -y ansible-core)")
	}
	c, err := inventory.Load(labInventory)
	if err != nil {
		return err
	}
	dir := filepath.Join("bench", "ansible")
	if _, err := os.Stat(filepath.Join(dir, "files")); err != nil {
		return errors.New("no rendered files to copy (the hadeploy phase did not get that far)")
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.ini"), []byte(ansibleInventory(c)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte(ansibleConfig(filepath.Join(b.tmp, "ansible-local"))), 0o644); err != nil {
		return err
	}
	if err := b.labUpPython(ctx, c); err != nil {
		return err
	}
	prefix := map[string]string{toolAnsible: "", toolMitogen: "mitogen-"}[tool]
	run := func(i int, log string) (time.Duration, cpuUse, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, ap, "site.yml")
		cmd.Dir = dir
		cmd.Env = ansibleEnv(dir, tool, b.home, filepath.Join(b.tmp, fmt.Sprintf("%scp%d", prefix, i)))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		_ = os.WriteFile(filepath.Join(dir, prefix+log), out.Bytes(), 0o644)
		if err != nil {
			return took, cpuUse{}, out.String(), fmt.Errorf("ansible-playbook (%s): %v\n%s", tool, err, tailStr(out.String()))
		}
		return took, cpuOf(cmd.ProcessState), out.String(), nil
	}
	logf("%s cold playbook", tool)
	took, cpu, out, err := run(0, "cold.log")
	if err != nil {
		return err
	}
	row := Row{Tool: tool, Op: "cold playbook"}
	row.addRun(took, cpu)
	row.Changes, row.TasksHost, row.Hosts = recapRow(out)
	b.add(row)
	row = Row{Tool: tool, Op: "no-op playbook"}
	for i := 1; i <= b.reps; i++ {
		lc := startLabCPU()
		took, cpu, out, err := run(i, "noop.log")
		if err != nil {
			return err
		}
		row.LabCPUMS = append(row.LabCPUMS, lc.stop())
		ch, tasks, hosts := recapRow(out)
		row.addRun(took, cpu)
		row.Hosts, row.TasksHost, row.Changes = hosts, tasks, row.Changes+ch
	}
	b.add(row)
	// Same end state? hadeploy's plan on the hosts Ansible configured.
	r, err := b.hadeploy(ctx, 5*time.Minute, "plan", labInventory)
	if err != nil {
		return err
	}
	switch r.code {
	case 0:
		b.note("equivalence: after the %s cold run, `hadeploy plan` finds nothing to change (same packages, files, modes, services)", tool)
	default:
		log := prefix + "plan-after-ansible.log"
		_ = os.WriteFile(filepath.Join(dir, log), []byte(r.stdout+r.stderr), 0o644)
		b.note("equivalence: after the %s cold run, `hadeploy plan` exits %d (%d change(s)); see bench/ansible/%s", tool, r.code, r.stats.Changes, log)
	}
	return nil
}

// ansibleEnv is ansible-playbook's environment: the bench's ansible.cfg, a
// fresh ControlPath directory per run (every run starts with new SSH
// connections, as every hadeploy run does), and for Mitogen its strategy.
func ansibleEnv(dir, tool, home, controlDir string) []string {
	abs, _ := filepath.Abs(filepath.Join(dir, "ansible.cfg"))
	env := append(os.Environ(), "ANSIBLE_CONFIG="+abs, "ANSIBLE_NOCOLOR=1", "HOME="+home,
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+controlDir)
	if tool == toolMitogen {
		env = append(env, mitogenEnv()...)
	}
	return env
}

// recapRow is recap's changes, most tasks per host and host count; failed or
// unreachable hosts make ansible-playbook exit non-zero, which run reports.
func recapRow(out string) (changes, tasks, hosts int) {
	changes, tasks, _, hosts = recap(out)
	return
}
