//go:build unix

package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileError asserts that err is a single file-level inventory error about
// path whose message contains want.
func fileError(t *testing.T, err error, path, want string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("err = %v (%T), want one inventory error", err, err)
	}
	e := es[0]
	if e.File != path || e.Line != 0 || !strings.Contains(e.Msg, want) {
		t.Fatalf("got %#v, want a file-level error on %s containing %q", e, path, want)
	}
	if got := e.Error(); !strings.HasPrefix(got, path+": ") {
		t.Fatalf("%q does not start with %q", got, path+": ")
	}
}

// loadWithin runs Load and fails the test if it takes longer than d.
func loadWithin(t *testing.T, path string, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	deadline := time.After(d)
	for {
		select {
		case err := <-done:
			return err
		case <-deadline:
			// A runaway Load (reading /dev/zero) would go on eating memory
			// after the test failed: stop the test binary.
			panic(fmt.Sprintf("Load(%s) still running after %v", path, d))
		case <-time.After(20 * time.Millisecond):
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > 256<<20 {
				panic(fmt.Sprintf("Load(%s) holds %d MiB", path, m.HeapAlloc>>20))
			}
		}
	}
}

func TestLoadFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	t.Cleanup(func() {
		// Release a Load blocked in open (a FIFO opens once it has a writer).
		if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	fileError(t, loadWithin(t, p, time.Second), p, "is a named pipe (FIFO), not a regular file")
}

// allocated is the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestLoadDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip(err)
	}
	var err error
	n := allocated(func() { err = loadWithin(t, "/dev/zero", time.Second) })
	fileError(t, err, "/dev/zero", "is a character device, not a regular file")
	if n > 1<<20 {
		t.Errorf("allocated %d bytes", n)
	}
}

func TestLoadHugeSparseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<30); err != nil {
		t.Skip("truncate:", err)
	}
	var err error
	n := allocated(func() { err = loadWithin(t, p, time.Second) })
	fileError(t, err, p, "is 1073741824 bytes; an inventory may be at most 1 MiB")
	if n > 1<<20 {
		t.Errorf("allocated %d bytes to refuse a 1 GiB file", n)
	}
}

func TestLoadDirectory(t *testing.T) {
	d := t.TempDir()
	fileError(t, loadWithin(t, d, time.Second), d, "is a directory")
}

func TestLoadSocket(t *testing.T) {
	d, err := os.MkdirTemp("", "inv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	p := filepath.Join(d, "s.yaml") // short: socket paths are limited to ~100 bytes
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Skip("unix socket:", err)
	}
	defer l.Close()
	fileError(t, loadWithin(t, p, time.Second), p, "is a socket, not a regular file")
}

func TestLoadSymlinkToFile(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "real.yaml")
	if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	l := filepath.Join(d, "cluster.yaml")
	if err := os.Symlink(p, l); err != nil {
		t.Skip(err)
	}
	if _, err := Load(l); err != nil {
		t.Fatal(err)
	}
	z := filepath.Join(d, "zero.yaml")
	if err := os.Symlink("/dev/zero", z); err != nil {
		t.Fatal(err)
	}
	fileError(t, loadWithin(t, z, time.Second), z, "character device")
}

func TestLoadMissingFileIsNotExist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(p)
	fileError(t, err, p, "cannot read the inventory: no such file or directory")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

// endless is a 64 MiB source of bytes (endless for an inventory) that counts
// what was read from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.n >= 64<<20 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = '#'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// A file whose size on disk is wrong (procfs, a file still growing) is read
// no further than one byte past the limit.
func TestReadIsBounded(t *testing.T) {
	r := &endless{}
	var data []byte
	n := allocated(func() { data, _ = readLimited(r) })
	if len(data) != maxInventorySize+1 || r.n > maxInventorySize+1 {
		t.Errorf("read %d bytes, kept %d", r.n, len(data))
	}
	if n > 8*maxInventorySize {
		t.Errorf("allocated %d bytes", n)
	}
}
