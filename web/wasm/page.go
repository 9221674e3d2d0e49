//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall/js"

	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/web"
)

// page is what the page knows of the relay that served it.
type page struct {
	relay     string // the mailbox, ws(s)://HOST/v1
	transitWS string // the transit relay over WebSocket, ws(s)://HOST/transit
	cfg       web.Config
}

// maxConfig caps /ferry.json.
const maxConfig = 64 << 10

// loadPage reads the page's own address and /ferry.json.
func loadPage(ctx context.Context) (*page, error) {
	loc := js.Global().Get("location")
	origin, host := loc.Get("origin").String(), loc.Get("host").String()
	ws := "ws://"
	if loc.Get("protocol").String() == "https:" {
		ws = "wss://"
	}
	p := &page{relay: ws + host + "/v1", transitWS: ws + host + "/transit"}
	req, err := http.NewRequestWithContext(ctx, "GET", origin+"/ferry.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the relay that served this page: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the relay that served this page answered %s for its settings", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxConfig)).Decode(&p.cfg); err != nil {
		return nil, fmt.Errorf("read the relay's settings: %w", err)
	}
	return p, nil
}

// link fills a side's connection settings: WebRTC with the relay's STUN
// and TURN servers, and its transit relay, which the page reaches over
// WebSocket while the peer is told its TCP address.
func (p *page) link(transport, transitRelay *string, cfg *natconf.Config, dial *func(ctx context.Context, addr string) (net.Conn, error)) {
	*transport = "auto"
	for _, s := range p.cfg.ICEServers {
		for _, u := range s.URLs {
			switch {
			case strings.HasPrefix(u, "stun:"):
				cfg.STUN = append(cfg.STUN, u)
			case strings.HasPrefix(u, "turn:"), strings.HasPrefix(u, "turns:"):
				cfg.TURN = append(cfg.TURN, natconf.TURNServer{URL: u, Username: s.Username, Password: s.Credential})
			}
		}
	}
	if p.cfg.Transit == "" {
		return
	}
	*transitRelay = p.cfg.Transit
	ours := p.cfg.Transit
	*dial = func(ctx context.Context, addr string) (net.Conn, error) {
		if addr != ours {
			return nil, errors.New("a browser reaches only its own relay's transit relay")
		}
		return receive.DialTransitWebSocket(ctx, p.transitWS)
	}
}
