package provision

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/shell"
)

// Journal is what one run changed on one host, in order.
type Journal struct {
	Status   string
	Files    []JournalFile    // first occurrence per path: the state before the run
	Services []JournalService // first occurrence per unit
	Packages []string
	Steps    []string // steps that began
	// Activations are the commands that made files take effect, replayed
	// after the files are restored.
	Activations []string
}

// JournalFile says how to restore a file.
type JournalFile struct {
	Path      string
	HadBackup bool // false: the file did not exist before the run
}

// JournalService is a unit's state before the run touched it.
type JournalService struct {
	Name, Active, Enabled string
}

// ParseJournal reads a run's journal lines.
func ParseJournal(status string, data []byte) *Journal {
	j := &Journal{Status: strings.TrimSpace(status)}
	seenF, seenS := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "file":
			if len(f) == 3 && !seenF[f[1]] {
				seenF[f[1]] = true
				j.Files = append(j.Files, JournalFile{Path: f[1], HadBackup: f[2] == "backup"})
			}
		case "service":
			if !seenS[f[1]] {
				seenS[f[1]] = true
				s := JournalService{Name: f[1]}
				if len(f) > 2 {
					s.Active = f[2]
				}
				if len(f) > 3 {
					s.Enabled = f[3]
				}
				j.Services = append(j.Services, s)
			}
		case "activate":
			if cmd, err := base64.StdEncoding.DecodeString(f[1]); err == nil {
				j.Activations = append(j.Activations, string(cmd))
			}
		case "pkg":
			j.Packages = append(j.Packages, f[1])
		case "begin":
			j.Steps = append(j.Steps, f[1])
		}
	}
	return j
}

// ReadJournalScript prints a run's status and journal.
func ReadJournalScript(runID string) *shell.Script {
	s := &shell.Script{}
	r := RunDir(runID)
	s.Line(`if [ ! -d %s ]; then echo "==norun"; exit 0; fi`, r)
	s.Line(`printf '==status %%s\n' "$(cat %s/status 2>/dev/null)"`, r)
	s.Line(`cat %s/journal 2>/dev/null`, r)
	return s
}

// RollbackScript restores every file the run changed from its backups (or
// removes files it created), then returns each unit it touched to its state
// before the run: running units are reloaded or restarted with the old files,
// units that were stopped are stopped, units that were disabled are disabled.
// Packages it installed are kept (removing them is rarely what an operator
// wants and is logged in the journal). Running it twice is harmless.
func RollbackScript(runID string, j *Journal) *shell.Script {
	s := &shell.Script{}
	r := RunDir(runID)
	s.Raw(`rc=0`)
	for _, f := range j.Files {
		if f.HadBackup {
			b := r + "/files" + f.Path
			s.Line(`if [ -e %s ]; then `+restoreCmd(b, f.Path)+` || { echo "==fail restore %s"; rc=1; }; else echo "==fail backup missing %s"; rc=1; fi`, b, f.Path, b)
		} else {
			s.Line(`rm -f %s`, f.Path)
		}
	}
	// Replay the activations with the old files in place.
	for _, a := range j.Activations {
		s.Raw(`{ ` + a + `; } >/dev/null 2>&1 || { echo "==fail activate"; rc=1; }`)
	}
	for _, sv := range j.Services {
		switch sv.Active {
		case "active", "reloading", "activating":
			s.Line(`systemctl reload-or-restart %s >/dev/null 2>&1 || systemctl restart %s >/dev/null 2>&1 || { echo "==fail service %s"; rc=1; }`, sv.Name, sv.Name, sv.Name)
		default:
			s.Line(`systemctl stop %s >/dev/null 2>&1 || true`, sv.Name)
		}
		if sv.Enabled == "disabled" {
			s.Line(`systemctl disable -q %s >/dev/null 2>&1 || true`, sv.Name)
		}
	}
	// Wait for the restored units that were running to be active again.
	var conds []string
	for _, sv := range j.Services {
		if sv.Active == "active" {
			conds = append(conds, "systemctl is-active -q "+shell.Quote(sv.Name))
		}
	}
	s.WaitUntil(conds, `echo "==fail services not active after rollback"; rc=1; break`)
	s.Line(`if [ $rc -eq 0 ]; then echo rolled-back > %s/status; echo "==rolledback"; else echo rollback-failed > %s/status; fi`, r, r)
	s.Raw(`exit $rc`)
	return s
}

// ReleaseScript marks the run done, keeps the newest `keep` runs' backups and
// releases the lock if it is still the one this run took (lockInfo).
func ReleaseScript(runID, status string, keep int, touched bool, lockInfo string) *shell.Script {
	s := &shell.Script{}
	r := RunDir(runID)
	if touched {
		s.Line(`[ -d %s ] && echo %s > %s/status`, r, status, r)
	}
	if keep > 0 {
		// Count the runs, then remove the oldest beyond keep (unless still
		// running): builtins only, so a no-op release forks nothing for it.
		s.Line(`if [ -d %s ]; then n=0; for d in %s/*/; do [ -d "$d" ] && n=$((n+1)); done; for d in %s/*/; do [ "$n" -gt %s ] || break; n=$((n-1)); st=; { read -r st < "${d}status"; } 2>/dev/null; [ "$st" = running ] || rm -rf "$d"; done; fi`,
			RunsRoot, RunsRoot, RunsRoot, strconv.Itoa(keep))
	}
	unlock(s, lockInfo)
	return s
}

// UnlockScript releases the lock if it is still the one this run took: for
// a host whose locking program failed half-way (it may or may not have
// taken it).
func UnlockScript(lockInfo string) *shell.Script {
	s := &shell.Script{}
	unlock(s, lockInfo)
	return s
}

// unlock removes the lock only when its info is ours: a run releasing what it
// took must never remove a lock another run holds (while ours stands no one
// else can create it, so the check and the removal cannot be split).
func unlock(s *shell.Script, lockInfo string) {
	s.Line(`li=; { IFS= read -r li < %s/info; } 2>/dev/null; if [ "$li" = %s ]; then rm -rf %s; fi`, LockDir, lockInfo, LockDir)
}

// restoreCmd puts a backup back over path atomically (copy beside, rename).
func restoreCmd(backup, path string) string {
	tmp := path + ".hadeploy-restore"
	return "cp -a " + shell.Quote(backup) + " " + shell.Quote(tmp) + " && mv -f " + shell.Quote(tmp) + " " + shell.Quote(path)
}
