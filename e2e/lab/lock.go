package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Acquire reserves the lab for the caller until release is called: it
// takes an exclusive lock (StateDir/reserve.lock) that other Acquire calls,
// in this or another process, wait for (or give up when ctx ends). Up,
// Down and friends do not take it: it is for suites whose tests each bring
// a lab up and down (go test runs packages in parallel), so that one test's
// Down never pulls the lab from under another's feet.
func Acquire(ctx context.Context) (release func(), err error) {
	f, err := openLockFile(reservePath())
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lab: lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lab: waiting for the lab (another test or user holds it): %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockLab takes an exclusive lock so that two lab commands never interleave.
func lockLab() (func(), error) {
	f, err := openLockFile(lockPath())
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: lock %s: %w", lockPath(), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// openLockFile opens a lock file in StateDir, creating both if needed.
func openLockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}
