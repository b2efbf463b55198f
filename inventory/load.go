package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Load reads the inventory at path and parses it (see Parse). Problems with
// the file itself (missing, not a regular file, too large) are an Errors
// holding one file-level Error (Line 0).
func Load(path string) (*Cluster, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readFile reads a regular file of at most maxInventorySize bytes. Anything
// else is refused before a byte is read: opening a FIFO blocks until a writer
// comes, and a device such as /dev/zero never ends.
func readFile(path string) ([]byte, error) {
	fail := func(cause error, format string, args ...any) error {
		return Errors{{File: path, Msg: fmt.Sprintf(format, args...), Err: cause}}
	}
	fi, err := os.Stat(path) // follows symlinks: a link to a file is fine
	if err != nil {
		return nil, fail(err, "cannot read the inventory: %v", osCause(err))
	}
	if msg := fileProblem(fi); msg != "" {
		return nil, fail(nil, "%s", msg)
	}
	// The path may be replaced between Stat and Open: O_NONBLOCK keeps the
	// open of a FIFO from blocking, and what was opened is checked again.
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, fail(err, "cannot read the inventory: %v", osCause(err))
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fail(err, "cannot read the inventory: %v", osCause(err))
	}
	if msg := fileProblem(fi); msg != "" {
		return nil, fail(nil, "%s", msg)
	}
	data, err := readLimited(f)
	if err != nil {
		return nil, fail(err, "cannot read the inventory: %v", osCause(err))
	}
	if len(data) > maxInventorySize {
		// The size on disk was below the limit (a growing file, or one such as
		// /proc's that reports no size).
		return nil, fail(nil, "is larger than %d bytes; an inventory may be at most %s", maxInventorySize, sizeLimit)
	}
	return data, nil
}

// readLimited reads at most one byte past the limit, so that a file over it is
// refused without being read whole.
func readLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, maxInventorySize+1))
}

const sizeLimit = "1 MiB (1048576 bytes)"

// fileProblem says why fi cannot be an inventory, or "".
func fileProblem(fi fs.FileInfo) string {
	m := fi.Mode()
	var kind string
	switch {
	case m.IsRegular():
		if fi.Size() > maxInventorySize {
			return fmt.Sprintf("is %d bytes; an inventory may be at most %s", fi.Size(), sizeLimit)
		}
		return ""
	case m.IsDir():
		return "is a directory, not a file: give the path of the inventory's YAML file"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	default:
		kind = "a special file (" + m.Type().String() + ")"
	}
	return "is " + kind + ", not a regular file: the inventory must be a file (to use a command's output, write it to a file first)"
}

// osCause drops the "open PATH: " that *fs.PathError adds: messages start
// with the path already.
func osCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes an inventory, applies defaults and checks every rule. file is
// used in messages and stored in Cluster.File. On failure the error is an
// Errors holding every problem found, sorted by line, and the cluster is nil.
// Non-fatal findings are returned in Cluster.Warnings.
func Parse(file string, data []byte) (c *Cluster, err error) {
	defer func() {
		if r := recover(); r != nil {
			c = nil
			err = Errors{{File: file, Line: 0, Msg: fmt.Sprintf("internal error while checking the inventory (please report this): %v", r)}}
		}
	}()
	if len(data) > maxInventorySize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("is %d bytes; an inventory may be at most %s", len(data), sizeLimit)}}
	}
	if u, ok, problem := fromUTF16(data); ok {
		if problem != "" {
			return nil, Errors{{File: file, Line: newText(u).lineOf(len(u) - 1), Msg: problem}}
		}
		data = u
	}
	d := newDecoder(file)
	root := d.parseYAML(data)
	if root == nil {
		return nil, d.finish()
	}
	c = &Cluster{File: file}
	d.pos[""] = d.rootLine
	if r := d.deref(root, ""); r == nil {
		return nil, d.finish()
	} else if isNull(r) {
		d.errAt(r.Line, "", "%s", emptyInventory)
		return nil, d.finish()
	} else if r.Kind != yaml.MappingNode {
		d.errAt(root.Line, "", "the inventory must be a mapping of fields (name:, hosts:, vip:, vrrp:, ...), got %s", describe(r))
		return nil, d.finish()
	}
	d.value(root, "", reflect.ValueOf(c).Elem(), 0)
	if !d.stopped {
		(&check{decoder: d, c: c}).run()
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	d.warns.sort()
	for _, w := range d.warns {
		c.Warnings = append(c.Warnings, w.Error())
	}
	return c, nil
}

// finish returns the sorted errors, or nil when there are none.
func (d *decoder) finish() error {
	if len(d.errs) == 0 {
		return nil
	}
	d.errs.sort()
	return d.errs
}
