// Package transport runs commands on one host over SSH: dialing through
// ProxyJump hops, authentication (agent, identity files, passphrase prompt),
// ~/.ssh/config resolution, known_hosts checking, exec with sudo wrapping and
// kill on cancel. It imports nothing else of hadeploy, so it can be tested and
// reasoned about alone; what to run is provision's business.
package transport

import (
	"context"
	"errors"
	"io"
)

// Errors to test for with errors.Is. A refused host key is a typed error
// instead, for its details: *HostKeyUnknownError or *HostKeyChangedError
// (errors.As). A timeout wraps context.DeadlineExceeded, a cancelled Run
// context.Canceled.
var (
	// ErrClosed: the transport was closed before the call.
	ErrClosed = errors.New("ssh: transport is closed")
	// ErrNoTerminal: an encrypted identity file was not used because there
	// is no terminal to ask its passphrase on (the message says to load it
	// into ssh-agent). Authentication errors wrap it when that is why no key
	// was left, or why signing failed.
	ErrNoTerminal = errors.New("no terminal to ask for the passphrase")
)

// Result is what one remote command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Transport is one host's connection. Implementations must be safe for use by
// one goroutine at a time per call, and count every network round trip.
type Transport interface {
	// Run executes cmd through the remote shell (as root: via sudo when the
	// login user is not root). stdin may be nil. A non-zero exit is NOT an
	// error: err is only for transport failures and timeouts.
	Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error)
	// RoundTrips is how many network round trips this transport has made.
	RoundTrips() int64
	// Name is the inventory host name. Errors do not carry it: callers name
	// the host once, with what they were doing.
	Name() string
	Close() error
}
