package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// relayMetrics is ferry relay's Prometheus registry: the mailbox server,
// the transit relay and the STUN/TURN server when they run, and the Go
// runtime and process collectors. It is the relay's own registry, never
// the library's global default.
type relayMetrics struct{ reg *prometheus.Registry }

func newRelayMetrics(servers ...prometheus.Collector) *relayMetrics {
	m := &relayMetrics{reg: prometheus.NewRegistry()}
	m.add(collectors.NewGoCollector())
	m.add(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range servers {
		m.add(s)
	}
	return m
}

// add registers c. The relay's collectors have distinct metric names, so
// registering cannot fail.
func (m *relayMetrics) add(c prometheus.Collector) { m.reg.MustRegister(c) }

// handler serves the registry in the Prometheus text format.
func (m *relayMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// serveMetrics serves h at /metrics on its own plain-HTTP listener at
// addr until ctx is done or stop is called.
func (c *cli) serveMetrics(ctx context.Context, addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "ferry: metrics on http://%s/metrics\n", ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.errorf("metrics: %v", err)
		}
	}()
	stopCtx := context.AfterFunc(ctx, func() { hs.Close() })
	return func() { stopCtx(); hs.Close(); <-done }, nil
}
