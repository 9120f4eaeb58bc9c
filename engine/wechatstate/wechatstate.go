package wechatstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
)

// State keeps what the WeChat channel must not lose at a restart
// (access tokens, uploaded media ids) in the store, and reads the files
// kept there for messages. It implements wechat.TokenStore,
// wechat.MediaCache and wechat.UploadReader.
type State struct {
	store engine.Store
	clock engine.Clock
}

// New returns the channel state kept in store.
func New(store engine.Store, clock engine.Clock) *State {
	if clock == nil {
		clock = engine.SystemClock{}
	}
	return &State{store: store, clock: clock}
}

var (
	_ wechat.TokenStore   = (*State)(nil)
	_ wechat.MediaCache   = (*State)(nil)
	_ wechat.UploadReader = (*State)(nil)
)

// ReadUpload implements wechat.UploadReader: an upload kept in the
// store (engine.UploadStore).
func (c *State) ReadUpload(ctx context.Context, key string) ([]byte, error) {
	u, err := engine.ReadUpload(ctx, c.store, key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("the upload %s is no longer in the store", key)
	}
	if err != nil {
		return nil, fmt.Errorf("read the upload %s: %w", key, err)
	}
	return u.Data, nil
}

func (c *State) load(ctx context.Context, key string) (v string, exp time.Time, ok bool, err error) {
	err = c.store.View(ctx, func(tx engine.ReadTx) error {
		v, exp, ok, err = tx.ChannelState(key, c.clock.Now())
		return err
	})
	return v, exp, ok, err
}

func (c *State) save(ctx context.Context, key, value string, exp time.Time) error {
	return c.store.Update(ctx, func(tx engine.Tx) error {
		return tx.PutChannelState(key, value, exp, c.clock.Now())
	})
}

// LoadToken implements wechat.TokenStore.
func (c *State) LoadToken(ctx context.Context, appID string) (wechat.Token, bool, error) {
	v, exp, ok, err := c.load(ctx, "token|"+appID)
	if err != nil {
		return wechat.Token{}, false, fmt.Errorf("load the access token of %s: %w", appID, err)
	}
	return wechat.Token{Value: v, Expires: exp}, ok, nil
}

// SaveToken implements wechat.TokenStore.
func (c *State) SaveToken(ctx context.Context, appID string, t wechat.Token) error {
	if err := c.save(ctx, "token|"+appID, t.Value, t.Expires); err != nil {
		return fmt.Errorf("save the access token of %s: %w", appID, err)
	}
	return nil
}

// LoadMedia implements wechat.MediaCache.
func (c *State) LoadMedia(ctx context.Context, appID, key string) (string, time.Time, bool, error) {
	v, exp, ok, err := c.load(ctx, "media|"+appID+"|"+key)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("load a media id of %s: %w", appID, err)
	}
	return v, exp, ok, nil
}

// SaveMedia implements wechat.MediaCache.
func (c *State) SaveMedia(ctx context.Context, appID, key, mediaID string, expires time.Time) error {
	if err := c.save(ctx, "media|"+appID+"|"+key, mediaID, expires); err != nil {
		return fmt.Errorf("save a media id of %s: %w", appID, err)
	}
	return nil
}
