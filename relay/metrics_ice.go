package relay

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons the TURN server refuses a request.
const (
	turnRefusedFull        = "allocations" // MaxAllocations
	turnRefusedPerClient   = "allocations_per_client"
	turnRefusedCredentials = "credentials" // unknown user, wrong realm, expired
	turnRefusedPeer        = "peer"        // a permission for a peer the policy forbids
)

// iceMetrics are an ICEServer's counters.
type iceMetrics struct {
	allocations atomic.Int64 // TURN allocations created
	refused     *refusals
}

func newICEMetrics() iceMetrics {
	return iceMetrics{refused: newRefusals(turnRefusedFull, turnRefusedPerClient, turnRefusedCredentials, turnRefusedPeer)}
}

var (
	descTURNAllocations = prometheus.NewDesc("ferry_turn_allocations",
		"TURN allocations live now.", nil, nil)
	descTURNAllocationsTotal = prometheus.NewDesc("ferry_turn_allocations_total",
		"TURN allocations created.", nil, nil)
	descTURNRefusals = prometheus.NewDesc("ferry_turn_refusals_total",
		"TURN requests refused, by reason.", []string{"reason"}, nil)
)

// Describe implements prometheus.Collector.
func (s *ICEServer) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTURNAllocations
	ch <- descTURNAllocationsTotal
	ch <- descTURNRefusals
}

// Collect implements prometheus.Collector. A server without TURN reports
// zeros.
func (s *ICEServer) Collect(ch chan<- prometheus.Metric) {
	live := 0
	if s.quota != nil {
		live = s.quota.live()
	}
	ch <- prometheus.MustNewConstMetric(descTURNAllocations, prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(descTURNAllocationsTotal, prometheus.CounterValue, float64(s.metrics.allocations.Load()))
	s.metrics.refused.collect(descTURNRefusals, ch)
}
