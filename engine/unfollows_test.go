package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// TestUnfollowStopsMessagesNotSentYet: a contact unfollowed while the
// first of the three messages reserved for them was at the API; the two
// others are failed as unfollowed without reaching WeChat (they were
// sent after the unfollow: WeChat refuses them, 43004, and a fake API
// that did not had them recorded sent). Following again sends as before.
func TestUnfollowStopsMessagesNotSentYet(t *testing.T) {
	r := newStormRig(t, 1)
	release := r.api.Hold(wechattest.PathSend)
	defer release()
	ingest := func(kind channels.Kind) {
		t.Helper()
		if err := r.e.Ingest(r.ctx, channels.Event{Account: "main", Contact: "ann", Kind: kind, At: r.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ingest(channels.Follow)
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second) // a bound on failure, not a wait
	defer cancel()
	if err := r.api.WaitCalls(ctx, wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	ingest(channels.Unfollow)
	release()
	r.sync()
	r.wantSends("after the unfollow", 1)
	outcomes := func() []string {
		t.Helper()
		var out []string
		err := r.st.View(r.ctx, func(tx ReadTx) error {
			list, err := tx.Outbox(OutboxFilter{Contact: "ann"})
			for _, o := range list {
				out = append(out, o.Message.Text+":"+string(o.Status)+":"+string(o.Reason))
				if o.Status == OutboxFailed && !strings.Contains(o.Detail, "unfollowed") {
					t.Errorf("%s: detail %q", o.Message.Text, o.Detail)
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := strings.Join(outcomes(), " "), "w1:sent: w2:failed:unfollowed w3:failed:unfollowed"; got != want {
		t.Errorf("outbox %s, want %s", got, want)
	}
	r.clock.Advance(time.Second)
	ingest(channels.Follow)
	r.sync()
	r.wantSends("after following again", 4)
}
