package gateway

import "golang.org/x/sys/unix"

// fdClosed peeks at a socket: 0 bytes means the peer shut it down, an error
// other than EAGAIN that it reset it. With data pending (a pipelined
// request, a TLS close_notify) a peek cannot see a FIN behind it, so poll
// asks for POLLRDHUP as well.
func fdClosed(fd int) bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false
	case err != nil:
		return true
	case n == 0:
		return true
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	if k, err := unix.Poll(fds, 0); err != nil || k == 0 {
		return false
	}
	return fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}

// fdQuiet peeks at a socket: only EAGAIN (nothing to read, no FIN, no
// reset) leaves it fit to carry a request.
func fdQuiet(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN
}
