// Command relayflood floods a running ferry relay's mailbox the way the
// abuse cases of issue 10 did, from many loopback networks at once (every
// 127.0.0.0/8 address is this machine): clients stuff mailboxes until the
// relay refuses, then clients open the stuffed mailboxes and never read
// what the relay sends them. It prints what the relay answered and keeps
// the idle clients connected until it is killed, so that the relay's
// memory can be read meanwhile. scripts/bench-relay-flood runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ferrydrop/ferry/scripts/internal/counts"
)

const appID = "lothar.com/wormhole/text-or-file-xfer"

func dial(ctx context.Context, url, from string) (*websocket.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err == nil {
		c.SetReadLimit(8 << 20)
	}
	return c, err
}

func send(ctx context.Context, c *websocket.Conn, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// stuff adds body to mailbox id until the relay refuses or drops c,
// reading the echo of each add, as an honest client would.
func stuff(ctx context.Context, c *websocket.Conn, id, body string, why *counts.Tally) {
	send(ctx, c, map[string]any{"type": "bind", "appid": appID, "side": "stuffer"})
	send(ctx, c, map[string]any{"type": "open", "mailbox": id})
	for i := 0; i < 64; i++ {
		if err := send(ctx, c, map[string]any{"type": "add", "phase": fmt.Sprint(i), "body": body}); err != nil {
			why.Add("stuffer dropped by the relay")
			return
		}
		for echoed := false; !echoed; {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, b, err := c.Read(rctx)
			cancel()
			if err != nil {
				why.Add("stuffer dropped by the relay")
				return
			}
			var f map[string]any
			json.Unmarshal(b, &f)
			switch f["type"] {
			case "error":
				why.Add(fmt.Sprint("add refused: ", f["error"]))
				return
			case "message":
				echoed = true
			}
		}
	}
	why.Add("stuffer filled 64 messages")
}

func main() {
	url := flag.String("relay", "ws://127.0.0.1:4000/v1", "the relay's mailbox URL")
	networks := flag.Int("networks", 40, "IPv4 /24 networks the stuffers come from (2 addresses, 4 mailboxes each)")
	idle := flag.Int("idle", 200, "clients that open stuffed mailboxes and never read")
	flag.Parse()
	ctx := context.Background()
	body := strings.Repeat("a", 900<<10) // a frame just under the 1 MiB limit
	why := &counts.Tally{}
	var wg sync.WaitGroup
	for p := range *networks {
		for a := 1; a <= 2; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from := fmt.Sprintf("127.%d.0.%d", 10+p, a)
				for m := range 4 {
					c, err := dial(ctx, *url, from)
					if err != nil {
						why.Add("stuffer refused at connect")
						continue
					}
					stuff(ctx, c, fmt.Sprintf("stuff-%d-%d-%d", p, a, m), body, why)
					c.CloseNow()
				}
			}()
		}
	}
	wg.Wait()
	var held []*websocket.Conn
	for i := range *idle {
		from := fmt.Sprintf("127.%d.1.%d", 100+i%50, 1+i/50)
		c, err := dial(ctx, *url, from)
		if err != nil {
			why.Add("idle client refused at connect")
			continue
		}
		send(ctx, c, map[string]any{"type": "bind", "appid": appID, "side": fmt.Sprint("idle", i)})
		send(ctx, c, map[string]any{"type": "open", "mailbox": fmt.Sprintf("stuff-%d-1-0", i%*networks)})
		for j := range 20 {
			send(ctx, c, map[string]any{"type": "ping", "ping": j})
		}
		held = append(held, c)
	}
	fmt.Printf("relayflood: the relay answered:\n%s  %6d × idle clients connected and not reading (of %d)\n", why, len(held), *idle)
	os.Stdout.Sync()
	select {}
}
