// Command ferry-netem emulates a link between two existing network
// namespaces (see package netem) until it is interrupted. scripts/netem
// creates the namespaces, runs it, and runs a command at each end.
//
//	ferry-netem -a NS -m NS -b NS [-rtt 50ms] [-rate 100mbit] [-loss 0.005]
//
// Once the link works it prints "netem: ready A=10.79.1.2 B=10.79.2.2" on
// stderr; on SIGINT or SIGTERM it prints the delay line's counts and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ferrydrop/ferry/internal/netem"
)

func main() {
	a := flag.String("a", "", "namespace of end A (`name` as ip netns knows it)")
	m := flag.String("m", "", "namespace the delay line routes through (empty)")
	b := flag.String("b", "", "namespace of end B")
	rtt := flag.Duration("rtt", 0, "round-trip time to add")
	rate := flag.String("rate", "0", "rate each way, bits/s with an optional k, m or g and an optional \"bit\" (100mbit); 0 means none")
	loss := flag.Float64("loss", 0, "probability each packet is dropped, each way (0.005 is 0.5%)")
	flag.Parse()
	if *a == "" || *m == "" || *b == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	bits, err := parseRate(*rate)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netem:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := netem.Link{RTT: *rtt, Rate: bits, Loss: *loss}.Start(ctx, *a, *m, *b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "netem: ready A=%s B=%s (rtt %v, rate %d bit/s, loss %v)\n", e.A, e.B, *rtt, bits, *loss)
	<-ctx.Done()
	err = e.Close()
	s := e.Line.Stats()
	fmt.Fprintf(os.Stderr, "netem: %d packets read, %d lost at random, %d dropped as the line was full, %d written\n",
		s.Read, s.Lost, s.Overflow, s.Written)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netem:", err)
		os.Exit(1)
	}
}

// parseRate reads "100mbit", "100m", "1.5g" or "20000000" as bits/s.
func parseRate(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToLower(s), "bit")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1e9, strings.TrimSuffix(t, "g")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("rate %q is not a number of bits/s such as 100mbit", s)
	}
	return int64(f * mult), nil
}
