package gateway

import (
	"crypto/tls"
	"net"
	"syscall"
	"time"
)

// fasthttp gives a handler no cancellation when its client leaves, so a
// request still waiting on its service is watched: every watchInterval the
// client's socket is peeked at without consuming anything, and when the
// client has closed it the service's request is ended (exchange.abort).

const watchInterval = 100 * time.Millisecond

// watcher is the state of that watch, guarded by the exchange's mu. Its
// timer is kept with the pooled exchange.
type watcher struct {
	timer *time.Timer
	conn  net.Conn // the client connection watched; nil: none
}

// watchClient starts watching c until the exchange ends.
func (x *exchange) watchClient(c net.Conn) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.watch.conn = c
	if x.watch.timer == nil {
		x.watch.timer = time.AfterFunc(watchInterval, x.checkClient)
		return
	}
	x.watch.timer.Reset(watchInterval)
}

// checkClient runs on the watch timer. The timer lives with a pooled
// exchange, so a late run may find the exchange serving another request:
// it only acts for the connection being watched now.
func (x *exchange) checkClient() {
	x.mu.Lock()
	c := x.watch.conn
	x.mu.Unlock()
	if c == nil {
		return
	}
	closed := peerClosed(c)
	x.mu.Lock()
	current, gen := x.watch.conn == c && !x.ended, x.gen
	if current && !closed {
		x.watch.timer.Reset(watchInterval)
	}
	x.mu.Unlock()
	if current && closed {
		x.abortGen(gen, true)
	}
}

// unwatch stops watching: a tunnel watches its own connections.
func (x *exchange) unwatch() {
	x.mu.Lock()
	x.watch.conn = nil
	x.mu.Unlock()
	x.watch.stop()
}

func (w *watcher) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// peerClosed reports whether the other end of c has closed it (or reset
// it). Data waiting to be read (a pipelined request) is not a close.
func peerClosed(c net.Conn) bool {
	closed := true
	if !withFD(c, func(fd int) { closed = fdClosed(fd) }) {
		return false
	}
	return closed
}

// quiet reports whether an idle connection to a service has nothing to
// read: not closed, reset, nor carrying bytes nobody asked for.
func quiet(c net.Conn) bool {
	q := false
	if !withFD(c, func(fd int) { q = fdQuiet(fd) }) {
		return true // not a socket to peek at: the retry rules stand alone
	}
	return q
}

// withFD runs f on c's socket; false when c has none to offer. A socket
// that cannot be reached any more counts as closed (f not run).
func withFD(c net.Conn, f func(fd int)) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	_ = rc.Control(func(fd uintptr) { f(int(fd)) })
	return true
}
