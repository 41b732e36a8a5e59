package wampx

import "fmt"

// Guard runs a client send (Publish, SendProgress, Call on a session that
// may be closing), turning the panic nexus raises when a session closes
// under a concurrent send ("send on closed channel") into an error, so a
// lost connection never takes the process down.
func Guard(send func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("session closed: %v", r)
		}
	}()
	return send()
}
