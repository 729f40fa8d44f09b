// Command upstream is the tiny HTTP service that make bench-gateway puts
// behind each proxy: the same small JSON answer for every request, so what
// differs between runs is the proxy in front of it.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
)

// body is fixed and precomputed: the upstream should cost as little as
// possible, leaving the cores to the proxy and the load generator.
var body = []byte(`{"status":"success","data":{"id":42,"name":"tandem"},"error":null}` + "\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to serve on")
	flag.Parse()
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json"}
		hd["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*listen, h))
}
