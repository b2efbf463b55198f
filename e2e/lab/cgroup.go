package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Each container gets its own cgroup.
//
// With --keep-unit and no systemd on the machine, systemd-nspawn puts the
// container in CGROUP/payload and itself in CGROUP/supervisor, where CGROUP
// is the cgroup it was started in (as systemd 252 finds it on this hybrid
// machine: its cgroup v2 path, mirrored into name=systemd). Started from the
// same process, all hosts would share /payload: their systemds then create
// and remove the same unit cgroups and trip over each other (seen: "Failed
// to attach to cgroup /system.slice/systemd-remount-fs.service: No such file
// or directory", a host booting "degraded").
//
// So each nspawn is born (clone3 CLONE_INTO_CGROUP) in the v2 cgroup
// hadeploy-lab/NAME; nspawn mirrors that path into name=systemd. The v2
// hierarchy is used where the machine mounts it (/sys/fs/cgroup/unified on
// a hybrid machine); if it does not, the lab mounts it at StateDir/cgroup2
// while it needs it.

const cgroupDirName = "hadeploy-lab"

// cgMu serializes the use of the temporary cgroup2 mount.
var cgMu sync.Mutex

func cgroup2Mount() string { return filepath.Join(StateDir, "cgroup2") }

// hostCgroupRel is a host's cgroup path, relative to a hierarchy root.
func hostCgroupRel(name string) string { return filepath.Join(cgroupDirName, name) }

// mountCgroup2 returns where the cgroup v2 hierarchy is mounted, mounting
// it at StateDir/cgroup2 if the machine has it nowhere, and a function that
// undoes what it mounted.
func mountCgroup2() (string, func(), error) {
	for _, m := range readMountinfo("/proc/self/mountinfo") {
		if m.fstype == "cgroup2" && m.point != cgroup2Mount() {
			return m.point, func() {}, nil // hybrid machine: /sys/fs/cgroup/unified
		}
	}
	mp := cgroup2Mount()
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(mp, &sfs); err == nil && sfs.Type == cgroup2Magic {
		return mp, func() {}, nil
	}
	if err := os.MkdirAll(mp, 0o700); err != nil {
		return "", nil, err
	}
	if err := syscall.Mount("cgroup2", mp, "cgroup2", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return "", nil, fmt.Errorf("lab: mount cgroup2 on %s: %w", mp, err)
	}
	return mp, func() {
		if err := syscall.Unmount(mp, 0); err != nil {
			_ = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		_ = os.Remove(mp)
	}, nil
}

const cgroup2Magic = 0x63677270

// removeCgroupTree removes dir and the cgroups below it, deepest first.
// A cgroup that still has processes is reported.
func removeCgroupTree(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		// Processes of a killed container may take a moment to leave.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("lab: remove cgroup %s: %w", d, err))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// systemdCgroupRoot is the mount point of the cgroup v1 name=systemd
// hierarchy, "" if the machine has none.
func systemdCgroupRoot() string {
	for _, m := range readMountinfo("/proc/self/mountinfo") {
		if m.fstype == "cgroup" && containsArg(m.superOpts, "name=systemd") {
			return m.point
		}
	}
	return ""
}

// removeHostCgroups removes the cgroups of one host (name) or of all lab
// hosts (name == "") in the v2 and the name=systemd hierarchies. It takes
// cgMu, for the cgroup2 mount.
func removeHostCgroups(name string) error {
	cgMu.Lock()
	defer cgMu.Unlock()
	rel := cgroupDirName
	if name != "" {
		rel = hostCgroupRel(name)
	}
	var errs []error
	if root := systemdCgroupRoot(); root != "" {
		errs = append(errs, removeCgroupTree(filepath.Join(root, rel)))
	}
	mp, umount, err := mountCgroup2()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, removeCgroupTree(filepath.Join(mp, rel)))
	umount()
	return errors.Join(errs...)
}
