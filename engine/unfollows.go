package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// unfollows are the contacts of this writer's lanes who unfollowed
// lately, with when: a message reserved for one before then and not sent
// yet is not sent (WeChat would refuse it, 43004), whether it waited in
// a round of sends, behind a slow send of the same contact, or while the
// account was paused. A follow, or any interaction, forgets the contact.
// Only lately (unfollowKeep): a message waits no longer than the
// account's pause after errors (at most an hour by default) and a round
// of sends; what this forgot, or never saw (a lane taken from a node
// that died), WeChat refuses as before.
type unfollows struct {
	// some is set while at may hold contacts (a cheap look for the
	// events of everyone else).
	some  atomic.Bool
	mu    sync.Mutex
	at    map[ContactRef]time.Time
	swept int // the size after the last sweep
}

// unfollowKeep is how long an unfollow is remembered here.
const unfollowKeep = 3 * time.Hour

// note records that a contact unfollowed at at (after the commit).
func (u *unfollows) note(c ContactRef, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = map[ContactRef]time.Time{}
	}
	u.at[c] = at
	u.some.Store(true)
	if len(u.at) >= 2*max(u.swept, 512) {
		for k, t := range u.at {
			if at.Sub(t) > unfollowKeep {
				delete(u.at, k)
			}
		}
		u.swept = len(u.at)
	}
}

// forget drops a contact who interacted again (after the commit).
func (u *unfollows) forget(c ContactRef) {
	u.mu.Lock()
	delete(u.at, c)
	if len(u.at) == 0 {
		u.some.Store(false)
	}
	u.mu.Unlock()
}

// refuses returns the refusal of a message the contact unfollowed after
// it was reserved, or nil.
func (u *unfollows) refuses(o *OutboxEntry) *channels.Refusal {
	if !u.some.Load() {
		return nil
	}
	u.mu.Lock()
	at, ok := u.at[ContactRef{o.Account, o.Contact}]
	u.mu.Unlock()
	if !ok || o.CreatedAt.After(at) {
		return nil
	}
	return &channels.Refusal{Reason: channels.ReasonUnfollowed, Detail: UnfollowedDetail + at.Format(time.RFC3339) + ", after it was reserved"}
}

// UnfollowedDetail starts the detail of a message not sent because its
// contact unfollowed after it was reserved.
const UnfollowedDetail = "not sent: the contact unfollowed at "
