package wechat

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/channels"
)

// ChannelAccount is one Official Account of a Channel: its API client and
// its window and quota rules.
type ChannelAccount struct {
	Client   *Client
	Settings Settings
	// Breaker tunes the account's circuit breaker (zero: the defaults).
	Breaker BreakerSettings
}

// Channel is the real WeChat channel: it sends through each account's
// Client and applies each account's Policy. It is safe for concurrent use.
type Channel struct {
	accounts map[string]*ChannelAccount
	policies map[string]channels.Policy
	breakers map[string]*breaker
	sendLogs map[string]*sendLog
	def      channels.Policy
}

var _ channels.Channel = (*Channel)(nil)

// NewChannel returns a channel for the given accounts, keyed by their id
// in wxflow's configuration. The map is copied.
func NewChannel(accounts map[string]*ChannelAccount) *Channel {
	c := &Channel{
		accounts: make(map[string]*ChannelAccount, len(accounts)),
		policies: make(map[string]channels.Policy, len(accounts)),
		breakers: make(map[string]*breaker, len(accounts)),
		sendLogs: make(map[string]*sendLog, len(accounts)),
		def:      NewPolicy(Settings{}),
	}
	for id, a := range accounts {
		if a == nil {
			continue
		}
		cp := *a
		c.accounts[id] = &cp
		c.policies[id] = NewPolicy(a.Settings)
		if a.Client != nil {
			br := newBreaker(a.Breaker, a.Client.clock)
			br.log, br.account = a.Client.log, id
			c.breakers[id] = br
			c.sendLogs[id] = newSendLog(a.Client.log, a.Client.clock, id)
		}
	}
	return c
}

// Policy returns the rules of the given account (the defaults for an
// account the channel does not know).
func (c *Channel) Policy(account string) channels.Policy {
	if p, ok := c.policies[account]; ok {
		return p
	}
	return c.def
}

// Client returns the API client of the given account, or nil.
func (c *Channel) Client(account string) *Client {
	if a, ok := c.accounts[account]; ok {
		return a.Client
	}
	return nil
}

// Send sends msg to contact (an OpenID) from account. It returns nil when
// WeChat accepted the message; an error wrapping channels.ErrUnknown when
// the request may have reached WeChat without an answer; otherwise a
// *channels.Refusal: window_closed for 45015, quota_exhausted for 45047,
// unfollowed for 43004, media_type or media_too_large for a media file
// refused before upload, and api_error (with the errcode when WeChat gave
// one) for everything else.
//
// After a storm of failures that say WeChat cannot take messages now (see
// BreakerSettings) it returns a *channels.Paused without calling WeChat,
// until a pause ends; then one send, the probe, goes through, and the
// sends resume when WeChat answers it.
//
// Failed and unknown sends, pauses and their ends are logged at level
// warn, at most a line a minute of each kind for an account.
func (c *Channel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	a, ok := c.accounts[account]
	if !ok || a.Client == nil {
		return &channels.Refusal{Reason: channels.ReasonAPIError,
			Detail: fmt.Sprintf("account %q is not configured on the WeChat channel", account)}
	}
	br, sl := c.breakers[account], c.sendLogs[account]
	sl.flush()
	probe, err := br.allow()
	if err != nil {
		return err
	}
	err = a.Client.SendMessage(ctx, contact, msg)
	if p := br.done(probe, err); p != nil {
		// It did not reach the contact in a storm: it waits for the
		// next probe.
		return p
	}
	err = chanSendError(err)
	sl.note(contact, err)
	return err
}

// chanSendError maps an error of SendMessage to what Channel.Send returns.
func chanSendError(err error) error {
	if err == nil {
		return nil
	}
	var ref *channels.Refusal
	if errors.As(err, &ref) {
		return ref
	}
	if errors.Is(err, channels.ErrUnknown) {
		return err
	}
	var ae *APIError
	if errors.As(err, &ae) {
		reason := channels.ReasonAPIError
		switch ae.Code {
		case 45015:
			reason = channels.ReasonWindowClosed
		case 45047:
			reason = channels.ReasonQuotaExhausted
		case 43004:
			reason = channels.ReasonUnfollowed
		}
		return &channels.Refusal{Reason: reason, Code: ae.Code, Detail: ae.Msg}
	}
	return &channels.Refusal{Reason: channels.ReasonAPIError, Detail: err.Error()}
}
