package lan

import (
	"context"
	"net"
	"testing"
	"time"
)

// loopback is the network of tests that run on one host: the loopback
// interface only.
func loopback(t *testing.T) Network {
	t.Helper()
	lo, err := loopbackInterface()
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	return Network{Loopback: true, Interfaces: func() ([]net.Interface, error) { return []net.Interface{lo}, nil }}
}

func loopbackInterface() (net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return net.Interface{}, err
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 && ifc.Flags&net.FlagUp != 0 {
			return ifc, nil
		}
	}
	return net.Interface{}, net.UnknownNetworkError("no loopback")
}

// browseFor browses for nameplate for d, or until it found one, and
// returns what was found.
func browseFor(t *testing.T, n Network, nameplate string, d time.Duration) []Found {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got []Found
	if err := n.Browse(ctx, nameplate, func(f Found) { got = append(got, f); cancel() }); err != nil {
		t.Fatalf("browse: %v", err)
	}
	return got
}

// TestAdvertiseBrowse: an advert is found by a browse for its nameplate,
// with the advertiser's address and port, and not by a browse for
// another nameplate.
func TestAdvertiseBrowse(t *testing.T) {
	n := loopback(t)
	ad := Advert{Version: Version, Nameplate: "4242", ID: NewID()}
	adv, err := n.Advertise(ad, 4321)
	if err != nil {
		t.Fatalf("advertise: %v", err)
	}
	defer adv.Close()
	got := browseFor(t, n, "4242", 5*time.Second)
	if len(got) != 1 || got[0].URL != "ws://127.0.0.1:4321/v1" || got[0].ID != ad.ID {
		t.Fatalf("browse for 4242 found %+v, want one mailbox at ws://127.0.0.1:4321/v1 with id %s", got, ad.ID)
	}
	if got := browseFor(t, n, "4243", 2*time.Second); len(got) != 0 {
		t.Fatalf("browse for 4243 found %+v, want nothing", got)
	}
}
