package web_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// What scripts/bench-web prints besides the speed: where the CPU went
// during a transfer (per process and thread, from /proc), and, with
// FERRY_WEB_PROFILE=DIR, a CPU profile of the page's main thread
// (Chromium's Profiler; build the program with FERRY_WASM_NAMES=1 to keep
// Go's function names in it) written to DIR and summarised.

// cpuTimes is the CPU seconds used so far by each thread, keyed by
// "process kind/thread name", for the processes in pids and their
// descendants.
func cpuTimes(pids map[string]int) map[string]float64 {
	tick := 100.0 // USER_HZ on Linux
	parent := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st := procStat(filepath.Join("/proc", e.Name(), "stat")); st != nil {
			ppid, _ := strconv.Atoi(st[1])
			parent[ppid] = append(parent[ppid], pid)
		}
	}
	out := map[string]float64{}
	var walk func(label string, pid int)
	walk = func(label string, pid int) {
		kind := label
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			if m := regexp.MustCompile(`--type=([a-z-]+)`).FindSubmatch(cmd); m != nil {
				kind = label + " " + string(m[1])
			}
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			st := procStat(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if st == nil {
				continue
			}
			u, _ := strconv.ParseFloat(st[11], 64)
			s, _ := strconv.ParseFloat(st[12], 64)
			// group numbered thread names ("ThreadPoolForeg…", "ferry")
			name := strings.TrimRight(st[0], "0123456789")
			out[kind+"/"+name] += (u + s) / tick
		}
		for _, c := range parent[pid] {
			walk(label, c)
		}
	}
	for label, pid := range pids {
		walk(label, pid)
	}
	return out
}

// watchCPU samples cpuTimes(pids) now and every 200 ms until the
// function it returns is called, which returns the first sample and the
// most seen of each thread group (a process may exit before the end, its
// threads one by one: the sender does once the page confirmed).
func watchCPU(pids map[string]int) func() (first, last map[string]float64) {
	first := cpuTimes(pids)
	last := maps.Clone(first)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				keepMax(last, cpuTimes(pids))
				return
			case <-time.After(200 * time.Millisecond):
				keepMax(last, cpuTimes(pids))
			}
		}
	}()
	return func() (map[string]float64, map[string]float64) {
		close(stop)
		<-done
		return first, last
	}
}

// udpDrops is the system's count of UDP datagrams dropped for a full
// receive buffer (RcvbufErrors in /proc/net/snmp): WebRTC's packets lost
// on the way into the browser (or into the sender), which SCTP must
// resend, and shrink its window for.
func udpDrops() int64 {
	b, _ := os.ReadFile("/proc/net/snmp")
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return -1
}

// keepMax sets each of m's values to the larger of it and next's.
func keepMax(m, next map[string]float64) {
	for k, v := range next {
		m[k] = max(m[k], v)
	}
}

// procStat splits a /proc stat line into comm and the fields after it
// (so [1] is the parent's pid, [11] utime, [12] stime).
func procStat(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return nil
	}
	return append([]string{s[i+1 : j]}, strings.Fields(s[j+1:])[1:]...)
}

// printCPU prints the CPU each thread group used between two cpuTimes,
// largest first, those under 2% of the total folded into "other".
func printCPU(before, after map[string]float64, secs float64) {
	type row struct {
		name string
		cpu  float64
	}
	var rows []row
	total := 0.0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			rows = append(rows, row{k, d})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].cpu > rows[j].cpu })
	fmt.Printf("  CPU during the transfer: %.1f s in %.1f s (%.2f cores)\n", total, secs, total/secs)
	other := 0.0
	for _, r := range rows {
		if r.cpu < total/50 {
			other += r.cpu
			continue
		}
		fmt.Printf("    %6.1f s  %5.1f%%  %s\n", r.cpu, 100*r.cpu/total, r.name)
	}
	fmt.Printf("    %6.1f s  %5.1f%%  other\n", other, 100*other/total)
}

// startProfile starts the page's CPU profiler when FERRY_WEB_PROFILE is
// set; the function it returns stops it, writes DIR/NAME.cpuprofile and
// prints the functions with the most samples.
func startProfile(t *testing.T, c *chrome, name string) func() {
	dir := os.Getenv("FERRY_WEB_PROFILE")
	if dir == "" {
		return func() {}
	}
	if _, err := chromedp.Call(c.ctx, profiler.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(c.ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(c.ctx, profiler.Start, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return func() {
		res, err := chromedp.Call(c.ctx, profiler.Stop, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res.Profile)
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".cpuprofile")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("  page profile: %s\n", file)
		summarize(res.Profile, 30)
	}
}

// summarize prints the functions with the most samples on top of the
// stack (self) and anywhere on it (total).
func summarize(p *profiler.Profile, top int) {
	byID := map[int64]*profiler.ProfileNode{}
	up := map[int64]int64{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
		for _, c := range n.Children {
			up[c] = n.ID
		}
	}
	name := func(n *profiler.ProfileNode) string {
		f := n.CallFrame.FunctionName
		if f == "" {
			f = "(anonymous)"
		}
		if u := n.CallFrame.URL; u != "" && !strings.HasPrefix(f, "(") {
			f += " " + filepath.Base(u)
		}
		return f
	}
	self, total := map[string]int{}, map[string]int{}
	samples := 0
	for _, id := range p.Samples {
		n := byID[id]
		if n == nil {
			continue
		}
		samples++
		self[name(n)]++
		seen := map[string]bool{}
		for x, ok := id, true; ok; x, ok = up[x] {
			if f := name(byID[x]); !seen[f] {
				seen[f] = true
				total[f]++
			}
		}
	}
	show := func(title string, m map[string]int) {
		type kv struct {
			k string
			v int
		}
		var s []kv
		for k, v := range m {
			s = append(s, kv{k, v})
		}
		sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
		fmt.Printf("  %s (of %d samples):\n", title, samples)
		for i := 0; i < len(s) && i < top; i++ {
			fmt.Printf("    %5.1f%%  %s\n", 100*float64(s[i].v)/float64(samples), s[i].k)
		}
	}
	show("self", self)
	show("total", total)
}
