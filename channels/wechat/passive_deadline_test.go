package wechat_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

// A passive reply ready after WeChat stopped waiting is not written: done
// says WeChat does not have it (the engine then sends it by the API), and
// the answer is success.
func TestHandlerPassiveReplyTooLateIsNotWritten(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		took    time.Duration
		written bool
	}{
		{"in time", 4 * time.Second, true},
		{"past WeChat's deadline", 5 * time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := &rlClock{now: hdlNow}
			acc := hdlPlainAccount()
			acc.PassiveReply = true
			env := hdlSetup(t, func(cfg *wechat.HandlerConfig) { cfg.Clock = clock }, acc)
			written := make(chan bool, 1)
			env.sink.set(func(channels.Event, time.Time) (*channels.Message, func(bool), error) {
				clock.Advance(c.took) // the store was slow
				return &channels.Message{Type: "text", Text: "Thanks!"}, func(w bool) { written <- w }, nil
			}, nil)
			a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "6001"))
			if a.status != http.StatusOK {
				t.Fatalf("status %d", a.status)
			}
			if got := hdlWaitDone(t, written); got != c.written {
				t.Errorf("done(%v), want done(%v)", got, c.written)
			}
			if wrote := a.body != "success"; wrote != c.written {
				t.Errorf("answer %q", a.body)
			}
		})
	}
}
