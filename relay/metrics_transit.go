package relay

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a transit connection is refused or closed unpaired.
const (
	transitShutdown     = "shutting_down"
	transitConns        = "connections" // MaxConns, no idle pair to evict
	transitConnsPer     = "connections_per_client"
	transitPending      = "unpaired" // MaxPending
	transitPendingPer   = "unpaired_per_client"
	transitTokenBusy    = "token_relaying" // its token's pair is already relaying
	transitTokenSpares  = "token_spares"   // MaxPendingPerToken
	transitBadHandshake = "bad_handshake"
	transitImpatient    = "impatient"  // data before "ok"
	transitNoPartner    = "no_partner" // PairTimeout passed
	transitEvicted      = "evicted"    // an idle pair closed for a new connection
	transitIdle         = "idle"       // IdleTimeout passed
)

// transitMetrics are a TransitServer's counters.
type transitMetrics struct {
	pairs   atomic.Int64 // pairs made
	bytes   atomic.Int64 // bytes relayed, both directions
	refused *refusals
}

func newTransitMetrics() transitMetrics {
	return transitMetrics{refused: newRefusals(transitShutdown, transitConns, transitConnsPer, transitPending,
		transitPendingPer, transitTokenBusy, transitTokenSpares, transitBadHandshake, transitImpatient,
		transitNoPartner, transitEvicted, transitIdle)}
}

// transitAdmitReason classifies why admit or match refused a connection.
func transitAdmitReason(why string) string {
	switch {
	case strings.HasPrefix(why, "the relay is shutting down"):
		return transitShutdown
	case strings.HasPrefix(why, "too many connections from"):
		return transitConnsPer
	case strings.HasPrefix(why, "too many unpaired connections from"):
		return transitPendingPer
	case strings.HasPrefix(why, "too many unpaired"):
		return transitPending
	case strings.HasPrefix(why, "too many connections waiting with this token"):
		return transitTokenSpares
	case strings.HasPrefix(why, "too many connections"):
		return transitConns
	case strings.HasPrefix(why, "token already relaying"):
		return transitTokenBusy
	}
	return reasonOther
}

var (
	descTransitConns = prometheus.NewDesc("ferry_transit_connections",
		"Transit connections open now, TCP and WebSocket.", []string{"kind"}, nil)
	descTransitPending = prometheus.NewDesc("ferry_transit_unpaired",
		"Transit connections without a partner now.", nil, nil)
	descTransitPairs = prometheus.NewDesc("ferry_transit_pairs",
		"Transit pairs relaying now.", nil, nil)
	descTransitPairsTotal = prometheus.NewDesc("ferry_transit_pairs_total",
		"Transit pairs made.", nil, nil)
	descTransitBytes = prometheus.NewDesc("ferry_transit_bytes_total",
		"Bytes relayed between transit pairs, both directions.", nil, nil)
	descTransitRefusals = prometheus.NewDesc("ferry_transit_refusals_total",
		"Transit connections refused or closed without a partner, and pairs closed by the relay, by reason.",
		[]string{"reason"}, nil)
)

// Describe implements prometheus.Collector.
func (s *TransitServer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTransitConns, descTransitPending, descTransitPairs,
		descTransitPairsTotal, descTransitBytes, descTransitRefusals} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *TransitServer) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(descTransitConns, prometheus.GaugeValue, float64(st.Conns-st.WebSockets), "tcp")
	ch <- prometheus.MustNewConstMetric(descTransitConns, prometheus.GaugeValue, float64(st.WebSockets), "websocket")
	ch <- prometheus.MustNewConstMetric(descTransitPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descTransitPairs, prometheus.GaugeValue, float64(st.Pairs))
	ch <- prometheus.MustNewConstMetric(descTransitPairsTotal, prometheus.CounterValue, float64(s.metrics.pairs.Load()))
	ch <- prometheus.MustNewConstMetric(descTransitBytes, prometheus.CounterValue, float64(s.metrics.bytes.Load()))
	s.metrics.refused.collect(descTransitRefusals, ch)
}
