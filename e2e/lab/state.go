package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// state is what Up created, in StateDir/state.json, so Down can undo it even
// after a crash. It is saved after every step.
type state struct {
	Subnet     string      `json:"subnet,omitempty"`
	Bridge     string      `json:"bridge,omitempty"`
	BridgeAddr string      `json:"bridge_addr,omitempty"`
	ProxyPID   int         `json:"proxy_pid,omitempty"`
	Hosts      []hostState `json:"hosts,omitempty"`

	mu sync.Mutex `json:"-"`
}

type hostState struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Release is the Debian codename the host boots (its base image).
	Release string `json:"release,omitempty"`
	Netns   string `json:"netns,omitempty"`
	Veth    string `json:"veth,omitempty"`
	Root    string `json:"root,omitempty"`
	Upper   string `json:"upper,omitempty"`
	Work    string `json:"work,omitempty"`
	Mounted bool   `json:"mounted,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Console string `json:"console,omitempty"`
	// NspawnLock is the lock file systemd-nspawn leaves for the root's inode.
	NspawnLock string `json:"nspawn_lock,omitempty"`
}

// release is the host's Debian codename; state written before releases
// existed only ever ran DefaultRelease.
func (h hostState) release() string {
	if h.Release == "" {
		return DefaultRelease
	}
	return h.Release
}

func loadState() (*state, error) {
	b, err := os.ReadFile(statePath())
	if os.IsNotExist(err) {
		return &state{}, nil
	}
	if err != nil {
		return nil, err
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("lab: %s is damaged (%v); `hadeploy lab down` still cleans up by scanning", statePath(), err)
	}
	return st, nil
}

// update changes the state under its lock and saves it.
func (s *state) update(f func(s *state)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(statePath(), append(b, '\n'), 0o600)
}

// host returns a copy of the named host's state.
func (s *state) host(name string) (hostState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return hostState{}, false
}

// setHost replaces (or adds) a host's state and saves.
func (s *state) setHost(h hostState) error {
	return s.update(func(s *state) {
		for i := range s.Hosts {
			if s.Hosts[i].Name == h.Name {
				s.Hosts[i] = h
				return
			}
		}
		s.Hosts = append(s.Hosts, h)
	})
}

func (s *state) dropHost(name string) error {
	return s.update(func(s *state) {
		for i := range s.Hosts {
			if s.Hosts[i].Name == name {
				s.Hosts = append(s.Hosts[:i], s.Hosts[i+1:]...)
				return
			}
		}
	})
}

func (s *state) hostsCopy() []hostState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hostState(nil), s.Hosts...)
}
