package sim

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

// Delivery is one message the simulated platform accepted.
type Delivery struct {
	// Seq numbers the deliveries of a Channel from 1, in the order Send
	// accepted them.
	Seq     int
	Account string
	Contact string
	// Message is a copy of the message as it was sent.
	Message channels.Message
}

// Channel is a simulated WeChat channel. It is safe for concurrent use.
type Channel struct {
	policies map[string]channels.Policy
	def      channels.Policy

	mu        sync.Mutex
	seq       int
	delivered []Delivery
	failures  []error // the errors the next sends return, first first
	countOnly bool
}

// CountOnly makes the channel count deliveries without keeping them, for
// load tests where the messages themselves do not matter.
func (c *Channel) CountOnly() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.countOnly = true
	c.delivered = nil
}

// Count returns how many messages the channel accepted.
func (c *Channel) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

var _ channels.Channel = (*Channel)(nil)

// New returns a simulated channel whose accounts follow WeChat's policy with
// the given settings; accounts not in settings use def. Zero settings fields
// mean the defaults, as for wechat.NewPolicy.
func New(settings map[string]wechat.Settings, def wechat.Settings) *Channel {
	c := &Channel{
		policies: make(map[string]channels.Policy, len(settings)),
		def:      wechat.NewPolicy(def),
	}
	for account, s := range settings {
		c.policies[account] = wechat.NewPolicy(s)
	}
	return c
}

// Policy returns the rules of the given account.
func (c *Channel) Policy(account string) channels.Policy {
	if p, ok := c.policies[account]; ok {
		return p
	}
	return c.def
}

// Send records msg as delivered to contact and returns nil, unless FailNext
// queued a failure, which it returns instead, recording nothing. It does
// not check the policy: like the real channel, it is only asked to send
// what the policy allowed. A cancelled ctx returns its error and records
// nothing.
func (c *Channel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if msg == nil {
		return errors.New("sim: send of a nil message")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) > 0 {
		err := c.failures[0]
		c.failures = c.failures[1:]
		return err
	}
	c.seq++
	if c.countOnly {
		return nil
	}
	c.delivered = append(c.delivered, Delivery{Seq: c.seq, Account: account, Contact: contact, Message: clone(msg)})
	return nil
}

// FailNext makes the next n sends return err, after any failures already
// queued. err is typically a *channels.Refusal with Reason api_error and a
// WeChat error code (45015, 45047), or an error wrapping
// channels.ErrUnknown. A nil err stands for a refusal with Reason api_error
// and no code.
func (c *Channel) FailNext(n int, err error) {
	if err == nil {
		err = &channels.Refusal{Reason: channels.ReasonAPIError}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.failures = append(c.failures, err)
	}
}

// Delivered returns every delivery so far, in order.
func (c *Channel) Delivered() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Delivery, 0, len(c.delivered))
	for _, d := range c.delivered {
		out = append(out, d.copy())
	}
	return out
}

// DeliveredTo returns the deliveries to one contact of one account, in
// order.
func (c *Channel) DeliveredTo(account, contact string) []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Delivery
	for _, d := range c.delivered {
		if d.Account == account && d.Contact == contact {
			out = append(out, d.copy())
		}
	}
	return out
}

// Reset forgets the deliveries and the queued failures, and numbers the
// next delivery 1 again.
func (c *Channel) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = 0
	c.delivered = nil
	c.failures = nil
}

// copy returns d with its own copy of the message, so that callers cannot
// change the record.
func (d Delivery) copy() Delivery {
	d.Message = clone(&d.Message)
	return d
}

// clone copies a message deeply enough that the caller changing its own
// message afterwards does not change the record.
func clone(m *channels.Message) channels.Message {
	out := *m
	if m.Media != nil {
		media := *m.Media
		out.Media = &media
	}
	if m.Thumb != nil {
		thumb := *m.Thumb
		out.Thumb = &thumb
	}
	if m.News != nil {
		news := *m.News
		out.News = &news
	}
	if m.Menu != nil {
		menu := *m.Menu
		menu.Items = slices.Clone(m.Menu.Items)
		out.Menu = &menu
	}
	return out
}
