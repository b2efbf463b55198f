//go:build unix

package inventory

import (
	"bytes"
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
	"unicode/utf16"
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

// checkLoaded asserts what Load promises whatever the file holds: a cluster,
// or inventory errors that each name the file and a line inside it (Line 0
// only when fileLevel: a problem with the file as a whole).
func checkLoaded(t *testing.T, path string, content []byte, fileLevel bool, c *Cluster, err error) {
	t.Helper()
	if err == nil {
		if c == nil || c.File != path {
			t.Fatalf("no error and cluster %+v", c)
		}
		return
	}
	if c != nil {
		t.Fatal("cluster returned with errors")
	}
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
	}
	if u, ok, _ := fromUTF16(content); ok {
		content = u
	}
	lines := newText(content).lines()
	for _, e := range es {
		switch {
		case e.File != path || e.Msg == "":
			t.Fatalf("bad error %#v", e)
		case strings.Contains(e.Msg, "internal error"):
			t.Fatalf("recovered panic: %v", e)
		case e.Line == 0 && !fileLevel:
			t.Fatalf("no line: %v", e)
		case e.Line < 0 || e.Line > lines:
			t.Fatalf("line %d of a %d-line file: %v", e.Line, lines, e)
		case !strings.HasPrefix(e.Error(), path+":"):
			t.Fatalf("%q does not start with the file name", e.Error())
		}
	}
	_ = err.Error()
}

// FuzzLoadFile writes fuzzed bytes to a file, mangled the ways files go
// wrong (byte order marks, NUL and invalid UTF-8 bytes, CRLF, long repeats,
// sizes over the limit) or replaced by a special file, and loads it: Load
// must return promptly, never panic, and answer a cluster or errors that
// name the file and a line in it.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(base), uint8(0), uint16(0), uint16(0))
	f.Add([]byte(base), uint8(1), uint16(40), uint16(0))      // UTF-8 BOM
	f.Add([]byte(base), uint8(2), uint16(40), uint16(0))      // UTF-16 BOM on UTF-8 bytes
	f.Add([]byte(base), uint8(4), uint16(300), uint16(0))     // NUL
	f.Add([]byte(base), uint8(8), uint16(300), uint16(0))     // invalid UTF-8
	f.Add([]byte(base), uint8(16), uint16(0), uint16(0))      // CRLF
	f.Add([]byte(base), uint8(64), uint16(0), uint16(0))      // UTF-16 encoded
	f.Add([]byte("x: 1\n"), uint8(0), uint16(0), uint16(500)) // repeated
	f.Add([]byte("#"), uint8(0), uint16(0), uint16(0xffff))   // over the limit
	for kind := uint8(1); kind <= 3; kind++ {
		f.Add([]byte(base), 0x80|kind<<5, uint16(0), uint16(0)) // FIFO, directory, link to /dev/zero
	}
	for _, tc := range badCases {
		f.Add([]byte(tc.input(f)), uint8(0), uint16(0), uint16(0))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, mangle uint8, at uint16, repeat uint16) {
		content := mangleFile(data, mangle, int(at), int(repeat))
		d, err := os.MkdirTemp(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(d)
		path := filepath.Join(d, "cluster.yaml")
		special := mangle >> 5 & 3
		if mangle&0x80 == 0 {
			special = 0
		}
		switch special {
		case 0:
			err = os.WriteFile(path, content, 0o600)
		case 1:
			err = syscall.Mkfifo(path, 0o600)
		case 2:
			err = os.Mkdir(path, 0o700)
		case 3:
			err = os.Symlink("/dev/zero", path)
		}
		if err != nil {
			t.Skip(err)
		}
		start := time.Now()
		c, err := Load(path)
		if special != 0 && time.Since(start) > time.Second {
			t.Fatalf("Load of a special file took %v", time.Since(start))
		}
		over := len(content) > maxInventorySize
		checkLoaded(t, path, content, special != 0 || over, c, err)
		if (special != 0 || over) && err == nil {
			t.Fatal("special or oversized file accepted")
		}
	})
}

// mangleFile damages data the ways inventory files go wrong. Bits of mangle:
// 1 UTF-8 byte order mark, 2 UTF-16 byte order mark (on UTF-8 bytes),
// 4 a NUL at at, 8 an invalid UTF-8 byte at at, 16 CRLF line ends, 64 the
// whole encoded as UTF-16 with its mark (bits 5-6 pick a special file when
// bit 7 is set). repeat repeats data, up to 8 KiB; 0xffff makes the file
// larger than the limit.
func mangleFile(data []byte, mangle uint8, at, repeat int) []byte {
	b := append([]byte(nil), data...)
	if repeat > 0 && len(b) > 0 {
		n := min(repeat, (8<<10)/len(b))
		if repeat == 0xffff {
			n = maxInventorySize/len(b) + 1
		}
		b = bytes.Repeat(b, max(n, 1))
	}
	insert := func(c ...byte) {
		i := 0
		if len(b) > 0 {
			i = at % (len(b) + 1)
		}
		b = append(b[:i], append(c, b[i:]...)...)
	}
	if mangle&4 != 0 {
		insert(0)
	}
	if mangle&8 != 0 {
		insert([]byte{0xff, 0xc3, 0x80, 0xed}[at%4])
	}
	if mangle&16 != 0 {
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	}
	if mangle&64 != 0 && mangle&0x80 == 0 {
		u := utf16.Encode([]rune(string(b)))
		b = []byte{0xff, 0xfe}
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
	}
	if mangle&2 != 0 {
		b = append([]byte{0xfe, 0xff}, b...)
	}
	if mangle&1 != 0 {
		b = append([]byte{0xef, 0xbb, 0xbf}, b...)
	}
	return b
}
