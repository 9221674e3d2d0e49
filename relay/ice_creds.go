package relay

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API convention specifies.
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// TURNCredentials mints a time-limited TURN credential from a shared secret
// (ICEConfig.SharedSecret), in the "TURN REST API" convention coturn uses:
// user is "<unix-expiry>" or, if name is not empty, "<unix-expiry>:<name>",
// the expiry being now+ttl; pass is base64(HMAC-SHA1(secret, user)). The
// credential is refused from its expiry second on (at once if ttl <= 0).
//
// Every TURN request is authenticated, refreshes included, so an allocation
// cannot be kept alive past its credential's expiry: mint credentials that
// outlive the longest session (coturn suggests a day).
func TURNCredentials(secret, name string, ttl time.Duration, now time.Time) (user, pass string) {
	user = strconv.FormatInt(now.Add(ttl).Unix(), 10)
	if name != "" {
		user += ":" + name
	}
	return user, turnRESTPassword(secret, user)
}

func turnRESTPassword(secret, user string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// turnRESTExpiry parses the expiry of a TURN REST API username:
// "<unix-expiry>" or "<unix-expiry>:<name>", the expiry being decimal
// digits only.
func turnRESTExpiry(user string) (time.Time, bool) {
	ts, _, _ := strings.Cut(user, ":")
	if ts == "" || len(ts) > 18 {
		return time.Time{}, false
	}
	for _, c := range ts {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// iceAuth is the TURN server's AuthHandler: it returns the long-term key
// (MD5(user:realm:password)) of a known user, with which pion checks the
// request's MESSAGE-INTEGRITY.
type iceAuth struct {
	realm   string
	user    string // static user, "" for none
	userKey []byte
	secret  string // TURN REST API shared secret, "" for none
	now     func() time.Time
	log     *slog.Logger
	refused *refusals // nil in tests that build one directly
}

func (a *iceAuth) handle(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	refuse := func(why string) (string, []byte, bool) {
		a.log.Debug("TURN credential refused", "client", ra.SrcAddr.String(), "user", ra.Username, "why", why)
		if a.refused != nil {
			a.refused.add(turnRefusedCredentials)
		}
		return "", nil, false
	}
	if ra.Realm != a.realm {
		return refuse("wrong realm")
	}
	if a.user != "" && ra.Username == a.user {
		return ra.Username, a.userKey, true
	}
	if a.secret == "" {
		return refuse("unknown user")
	}
	exp, ok := turnRESTExpiry(ra.Username)
	if !ok {
		return refuse("unknown user, or malformed time-limited username")
	}
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	if !now().Before(exp) {
		return refuse("expired")
	}
	pass := turnRESTPassword(a.secret, ra.Username)
	return ra.Username, turn.GenerateAuthKey(ra.Username, a.realm, pass), true
}
