package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBenchPage is scripts/bench-web's measurement, not a test: it runs
// only with FERRY_WEB_BENCH=1 and asserts nothing about speed. It prints
// what a first visit downloads (compressed), and for a file of
// FERRY_WEB_BENCH_SIZE bytes (1 GiB by default) sent by `ferry send` to
// the page over WebRTC and over the WebSocket transit relay: MB/s, the
// page's JavaScript heap after the transfer (after a garbage collection)
// and the WebAssembly program's memory.
func TestBenchPage(t *testing.T) {
	if os.Getenv("FERRY_WEB_BENCH") != "1" {
		t.Skip("a benchmark: run scripts/bench-web")
	}
	size := int64(1 << 30)
	if s := os.Getenv("FERRY_WEB_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		size = n
	}
	r := startRelay(t)
	c := newChrome(t)

	var mu sync.Mutex
	var firstVisit float64
	if err := chromedp.Listen(c.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventLoadingFinished); ok {
			mu.Lock()
			firstVisit += ev.EncodedDataLength
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(c.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	c.run(t, chromedp.Navigate(r.page+"?save=sw"))
	c.state(t, "ready")
	time.Sleep(time.Second) // the service worker's own fetches
	mu.Lock()
	fmt.Printf("first visit: %.2f MB transferred (compressed)\n", firstVisit/1e6)
	mu.Unlock()
	if _, err := chromedp.Call(c.ctx, network.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(t.TempDir(), "bench.bin")
	mkfile(t, src, size, 42)
	for _, path := range []struct{ name, transport string }{{"webrtc", "webrtc"}, {"websocket transit", "relay"}} {
		if only := os.Getenv("FERRY_WEB_BENCH_ONLY"); only != "" && only != path.transport {
			continue // FERRY_WEB_BENCH_ONLY=webrtc or relay: one path
		}
		sender, code := sendFerry(t, r, nil, "--transport", path.transport, src)
		c.run(t, chromedp.Navigate("about:blank"))
		openCode(t, c, r, code)
		c.state(t, "offer")
		pids := map[string]int{"ferry send": sender.cmd.Process.Pid, "ferry relay": r.proc.cmd.Process.Pid,
			"chromium": chromedp.FromContext(c.ctx).Browser.Process().Pid}
		stopProfile := startProfile(t, c, path.name)
		cpu := watchCPU(pids)
		drops := udpDrops()
		start := time.Now()
		c.run(t, chromedp.Click(chromedp.CSS("#accept")))
		c.state(t, "done")
		secs := time.Since(start).Seconds()
		cpuBefore, cpuAfter := cpu()
		drops = udpDrops() - drops
		stopProfile()
		dl, _ := c.download(t)
		os.Remove(dl)
		c.mu.Lock()
		clear(c.done)
		c.mu.Unlock()
		if err := sender.wait(t, time.Minute); err != nil {
			t.Fatalf("ferry send: %v", err)
		}
		chromedp.Call(c.ctx, heapprofiler.CollectGarbage, cdp.Empty{})
		heap, err := chromedp.Call(c.ctx, runtime.GetHeapUsage, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		wasmMem, _ := chromedp.Run(c.ctx, chromedp.Evaluate[float64](`globalThis.ferryWasmMemory ? globalThis.ferryWasmMemory() : -1`))
		fmt.Printf("%s: %d MiB in %.1f s = %.1f MB/s; JS heap after: %.1f MiB used (%.1f MiB allocated); WebAssembly memory: %.1f MiB; page says %q\n",
			path.name, size>>20, secs, float64(size)/secs/1e6, heap.UsedSize/(1<<20), heap.TotalSize/(1<<20), wasmMem/(1<<20), c.text(t, "#summary"))
		printCPU(cpuBefore, cpuAfter, secs)
		fmt.Printf("  UDP datagrams dropped for a full receive buffer meanwhile (the whole machine's): %d\n", drops)
	}
}
