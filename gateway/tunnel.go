package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// tunnel relays a switched protocol (a WebSocket) once the service has
// answered 101: head (the cleaned 101) goes to the client, then bytes both
// ways until either side closes. clientR reads the client's connection
// with whatever its server had buffered; upBR the service's likewise. A
// Set does not touch tunnels; Shutdown closes them.
func (x *exchange) tunnel(client net.Conn, clientR io.Reader, head []byte, up *upConn, upBR *bufio.Reader) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			client.Close()
			up.Close()
		})
	}
	untrack := x.g.srv.trackTunnel(closeBoth)
	if _, err := client.Write(head); err == nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(up, clientR)
			closeBoth()
		}()
		n, _ := io.Copy(client, upBR)
		x.bytes += n
		closeBoth()
		<-done
	}
	closeBoth()
	untrack()
	x.release(up, false)
	releaseReader(upBR)
	x.status = http.StatusSwitchingProtocols
	x.finish()
}
