package relay

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics: Server, TransitServer and ICEServer are each a
// prometheus.Collector, so a program registers them with its own registry
// (ferry relay serves it at /metrics). Their counters are atomics updated
// where the events happen; gauges are read when the registry is
// collected. Refusals carry a reason from a fixed list, so that what a
// client sends can never add a label value.

// reasonOther counts a refusal whose reason is not in a counter's list.
const reasonOther = "other"

// refusals counts refusals by reason, from a fixed list.
type refusals struct {
	reasons []string
	n       []atomic.Int64
}

func newRefusals(reasons ...string) *refusals {
	reasons = append(reasons, reasonOther)
	return &refusals{reasons: reasons, n: make([]atomic.Int64, len(reasons))}
}

// add counts one refusal for reason (reasonOther if it is not in the list).
func (r *refusals) add(reason string) {
	for i, s := range r.reasons {
		if s == reason {
			r.n[i].Add(1)
			return
		}
	}
	r.n[len(r.n)-1].Add(1)
}

// collect sends one counter per reason.
func (r *refusals) collect(d *prometheus.Desc, ch chan<- prometheus.Metric) {
	for i, s := range r.reasons {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(r.n[i].Load()), s)
	}
}

// Reasons a mailbox client is refused or disconnected.
const (
	refusedConns          = "connections"            // MaxConns
	refusedConnsPerClient = "connections_per_client" // MaxConnsPerIP, MaxConnsPerPrefix
	refusedShutdown       = "shutting_down"
	refusedPermission     = "permission" // no or a bad proof of work
	refusedNameplates     = "nameplates" // MaxNameplates, MaxMailboxes
	refusedNameplatesPer  = "nameplates_per_client"
	refusedCrowded        = "crowded" // a third side, or a side that claimed again
	refusedMailboxFull    = "mailbox_full"
	refusedMailboxClosed  = "mailbox_closed"
	refusedStorage        = "storage" // MaxStoredBytes
	refusedStoragePer     = "storage_per_client"
	refusedBusy           = "busy"        // a command that kept losing races on a shared store
	refusedBadCommand     = "bad_command" // any other command error
	droppedSlow           = "slow_client" // its send queue overflowed
	droppedBuffers        = "buffers_full"
)

func newServerRefusals() *refusals {
	return newRefusals(refusedConns, refusedConnsPerClient, refusedShutdown, refusedPermission,
		refusedNameplates, refusedNameplatesPer, refusedCrowded, refusedMailboxFull, refusedMailboxClosed,
		refusedStorage, refusedStoragePer, refusedBusy, refusedBadCommand, droppedSlow, droppedBuffers)
}

// refusalReason classifies the error a command was refused with.
func refusalReason(err error) string {
	var ce clientError
	if !errors.As(err, &ce) {
		return reasonOther // an internal error
	}
	switch s := string(ce); {
	case ce == errPermission:
		return refusedPermission
	case ce == errCrowded, ce == errReclaimed:
		return refusedCrowded
	case ce == errBusy:
		return refusedBusy
	case s == "mailbox is full":
		return refusedMailboxFull
	case s == "mailbox is closed":
		return refusedMailboxClosed
	case strings.HasPrefix(s, "too many nameplates from your"):
		return refusedNameplatesPer
	case strings.HasPrefix(s, "too many nameplates"), strings.HasPrefix(s, "too many mailboxes"):
		return refusedNameplates
	case strings.HasPrefix(s, "relay is out of space"):
		return refusedStorage
	case strings.HasPrefix(s, "too much stored from your"):
		return refusedStoragePer
	}
	return refusedBadCommand
}

// admitReason classifies the error admit refused a connection with.
func admitReason(err error) string {
	switch s := err.Error(); {
	case strings.HasPrefix(s, "too many connections from"):
		return refusedConnsPerClient
	case strings.HasPrefix(s, "too many connections"):
		return refusedConns
	}
	return refusedShutdown
}

// serverMetrics are a Server's counters.
type serverMetrics struct {
	conns    atomic.Int64 // websocket connections accepted
	messages atomic.Int64 // messages added
	refused  *refusals
}

var (
	descMailboxConns = prometheus.NewDesc("ferry_mailbox_connections",
		"Websocket clients connected now.", nil, nil)
	descMailboxConnsTotal = prometheus.NewDesc("ferry_mailbox_connections_total",
		"Websocket clients accepted.", nil, nil)
	descNameplates = prometheus.NewDesc("ferry_mailbox_nameplates",
		"Nameplates that exist now, in all app ids.", nil, nil)
	descMailboxes = prometheus.NewDesc("ferry_mailbox_mailboxes",
		"Mailboxes that exist now, in all app ids.", nil, nil)
	descMessagesTotal = prometheus.NewDesc("ferry_mailbox_messages_total",
		"Messages added to mailboxes.", nil, nil)
	descStoredBytes = prometheus.NewDesc("ferry_mailbox_stored_bytes",
		"Bytes the stored messages count against MaxStoredBytes.", nil, nil)
	descMailboxRefusals = prometheus.NewDesc("ferry_mailbox_refusals_total",
		"Connections and commands refused, and clients disconnected, by reason.", []string{"reason"}, nil)
	descSharingRelays = prometheus.NewDesc("ferry_mailbox_sharing_relays",
		"Relays on the shared NATS store whose connection counts this one holds, itself included.", nil, nil)
	descSharedCountsBytes = prometheus.NewDesc("ferry_mailbox_shared_counts_bytes",
		"Bytes of the connection counts this relay last published to the others.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMailboxConns, descMailboxConnsTotal, descNameplates,
		descMailboxes, descMessagesTotal, descStoredBytes, descMailboxRefusals, descSharingRelays, descSharedCountsBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	nps, mbs, stored := s.state.gauges()
	ch <- prometheus.MustNewConstMetric(descMailboxConns, prometheus.GaugeValue, float64(s.Clients()))
	ch <- prometheus.MustNewConstMetric(descMailboxConnsTotal, prometheus.CounterValue, float64(s.metrics.conns.Load()))
	ch <- prometheus.MustNewConstMetric(descNameplates, prometheus.GaugeValue, float64(nps))
	ch <- prometheus.MustNewConstMetric(descMailboxes, prometheus.GaugeValue, float64(mbs))
	ch <- prometheus.MustNewConstMetric(descMessagesTotal, prometheus.CounterValue, float64(s.metrics.messages.Load()))
	ch <- prometheus.MustNewConstMetric(descStoredBytes, prometheus.GaugeValue, float64(stored))
	s.metrics.refused.collect(descMailboxRefusals, ch)
	if s.share != nil {
		relays, entry := s.share.gauges()
		ch <- prometheus.MustNewConstMetric(descSharingRelays, prometheus.GaugeValue, float64(relays))
		ch <- prometheus.MustNewConstMetric(descSharedCountsBytes, prometheus.GaugeValue, float64(entry))
	}
}

// gauges reads the state's sizes for Collect.
func (s *state) gauges() (nameplates, mailboxes int, storedBytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nameplates, mailboxes = s.store.counts()
	return nameplates, mailboxes, s.stored.total
}

// disconnectReason classifies why the relay dropped a client (cause is the
// connection context's cause), or "" when the client left or the
// connection failed on its own.
func disconnectReason(cause error) string {
	switch {
	case errors.Is(cause, errSlowClient):
		return droppedSlow
	case errors.Is(cause, errBuffersFull):
		return droppedBuffers
	}
	return ""
}
