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

func (b *bench) ansiblePhase(ctx context.Context) error {
	ap, err := exec.LookPath("ansible-playbook")
	if err != nil {
		b.note("ansible-playbook not found (apt-get install -y ansible-core): Ansible comparison skipped")
		return nil
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
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	if err := b.labUp(ctx, specOf(c)); err != nil {
		return err
	}
	if err := python3(ctx, names); err != nil {
		return err
	}
	run := func(i int, log string) (time.Duration, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, ap, "site.yml")
		cmd.Dir = dir
		abs, _ := filepath.Abs(filepath.Join(dir, "ansible.cfg"))
		// A fresh ControlPath directory per run: every run starts with new
		// SSH connections, as every hadeploy run does.
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+abs, "ANSIBLE_NOCOLOR=1", "HOME="+b.home,
			"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(b.tmp, fmt.Sprintf("cp%d", i)))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		_ = os.WriteFile(filepath.Join(dir, log), out.Bytes(), 0o644)
		if err != nil {
			return took, out.String(), fmt.Errorf("ansible-playbook: %v\n%s", err, tailStr(out.String()))
		}
		return took, out.String(), nil
	}
	logf("ansible cold playbook")
	took, out, err := run(0, "cold.log")
	if err != nil {
		return err
	}
	ch, tasks, failed, hosts := recap(out)
	b.add(Row{Tool: "ansible", Op: "cold playbook", Hosts: hosts, WallMS: []int64{took.Milliseconds()}, TasksHost: tasks, Changes: ch, Note: failNote(failed)})
	row := Row{Tool: "ansible", Op: "no-op playbook"}
	for i := 1; i <= b.reps; i++ {
		took, out, err := run(i, "noop.log")
		if err != nil {
			return err
		}
		ch, tasks, failed, hosts := recap(out)
		row.WallMS = append(row.WallMS, took.Milliseconds())
		row.Hosts, row.TasksHost, row.Changes = hosts, tasks, row.Changes+ch
		row.Note = failNote(failed)
	}
	b.add(row)
	// Same end state? hadeploy's plan on the hosts Ansible configured.
	r, err := b.hadeploy(ctx, "plan", labInventory)
	if err != nil {
		return err
	}
	switch r.code {
	case 0:
		b.note("equivalence: after the Ansible cold run, `hadeploy plan` finds nothing to change (same packages, files, modes, services)")
	default:
		_ = os.WriteFile(filepath.Join(dir, "plan-after-ansible.log"), []byte(r.stdout+r.stderr), 0o644)
		b.note("equivalence: after the Ansible cold run, `hadeploy plan` exits %d (%d change(s)); see bench/ansible/plan-after-ansible.log", r.code, r.stats.Changes)
	}
	return nil
}

func failNote(failed int) string {
	if failed > 0 {
		return fmt.Sprintf("%d failed/unreachable", failed)
	}
	return ""
}
