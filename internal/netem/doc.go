// Package netem emulates a long, slow or lossy link between two network
// namespaces, for tests and benchmarks on a kernel without the netem
// qdisc (this one has tbf and htb, but neither netem nor fq).
//
// Link.Start joins namespaces A and B through a third, M. M routes every
// packet from A or B into a TUN device, where a DelayLine (a Go type that
// reads a packet, holds it, writes it, and runs over any packet reader and
// writer, so its tests need no root) holds it for RTT/2 and drops it at
// random with the configured probability, and writes it back into M,
// which forwards it on through a tbf qdisc of the configured rate on the
// veth towards its destination. InNS and OpenTUN are the two pieces of
// kernel plumbing: a thread inside a namespace, and a TUN device through
// /dev/net/tun (golang.org/x/sys/unix). scripts/netem builds such a link
// and runs a command at each end.
//
// The emulator's own ceiling: with no delay, loss or rate limit, one TCP
// stream through the delay line (BenchmarkCeiling, 256 MiB per run)
// reaches 150 to 200 MB/s (1.2 to 1.6 Gbit/s) on this 2-core machine,
// measured at nice 19 with other tests running (three runs of four). The
// delay line costs one read and one write system call per packet of at
// most 1500 bytes, in both directions, and sender, receiver and emulator
// share the two cores. Links for benchmarks must stay well under it:
// 100 Mbit/s (12.5 MB/s) is less than a tenth of it.
package netem
