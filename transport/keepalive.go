package transport

import "time"

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after maxMissed unanswered ones. Keepalives are not counted as
// round trips: they are background traffic, not work.
func (t *SSHTransport) keepalive(interval time.Duration, maxMissed int) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	missed := 0
	for {
		select {
		case <-t.closed:
			return
		case <-ticker.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-t.closed:
			return
		case err := <-reply:
			if err != nil { // connection already gone
				return
			}
			missed = 0
			continue
		case <-time.After(interval):
			missed++
		}
		if missed >= maxMissed {
			if t.cfg.Log != nil {
				t.cfg.Log("%s: %d keepalives unanswered, closing the connection", t.name, missed)
			}
			t.client.Close()
			return
		}
	}
}
