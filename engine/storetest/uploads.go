package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// testUploads: an upload comes back as saved, byte for byte; the same key
// saved again is kept once, with the later time; pruning deletes the
// uploads older than the cut that no pending or sending message names,
// up to the limit, oldest first.
func testUploads(t *testing.T, s engine.Store) {
	data := func(n int) []byte { return bytes.Repeat([]byte{0x89, 'P', 0, 0xff}, n) }
	save := func(key string, d []byte, created time.Duration) {
		t.Helper()
		update(t, s, func(tx engine.Tx) error {
			return tx.(engine.UploadStore).SaveUpload(&engine.Upload{Key: key, Data: d, Created: at(created)})
		})
	}
	get := func(key string) *engine.Upload {
		t.Helper()
		var u *engine.Upload
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			u, err = tx.(engine.UploadStore).Upload(key)
			if errors.Is(err, engine.ErrNotFound) {
				u, err = nil, nil
			}
			return err
		})
		return u
	}
	prune := func(before time.Duration, limit int) int {
		t.Helper()
		var n int
		update(t, s, func(tx engine.Tx) error {
			var err error
			n, err = tx.(engine.UploadStore).PruneUploads(at(before), limit)
			return err
		})
		return n
	}
	big := data(300_000) // 1.2 MB
	save("a.png", big, 0)
	save("b.png", data(1), time.Minute)
	save("c.jpg", data(2), 2*time.Minute)
	save("d.png", data(3), 3*time.Minute)
	save("new.png", data(4), time.Hour)
	if u := get("a.png"); u == nil || !bytes.Equal(u.Data, big) {
		t.Fatal("the upload does not come back as saved")
	}
	if get("nope.png") != nil {
		t.Error("an unknown upload is found")
	}
	// Saved again later: one row, the later time; an earlier save does
	// not take it back.
	save("b.png", data(1), 2*time.Hour)
	save("b.png", data(1), 30*time.Minute)
	checkTime(t, "b's time", get("b.png").Created, at(2*time.Hour))

	// c is named by a pending message, d by a message being sent, a by
	// a sent one.
	msg := func(key string) channels.Message {
		return channels.Message{Type: "image", Media: &channels.Media{Kind: "image", Upload: key}}
	}
	var sending, sent int64
	update(t, s, func(tx engine.Tx) error {
		for _, key := range []string{"c.jpg", "d.png", "a.png"} {
			o := pending("a", "alice", "", 0, at(0))
			o.Message = msg(key)
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			switch key {
			case "d.png":
				sending = o.ID
			case "a.png":
				sent = o.ID
			}
		}
		return nil
	})
	update(t, s, func(tx engine.Tx) error {
		if _, err := tx.ClaimOutbox(10, at(time.Second)); err != nil {
			return err
		}
		if err := tx.StartOutbox([]int64{sending}, at(time.Second)); err != nil {
			return err
		}
		return tx.FinishOutbox(sent, engine.OutboxSent, "", 0, "", at(2*time.Second))
	})
	mustEqual(t, "pruned with limit 0", prune(10*time.Minute, 0), 0)
	mustEqual(t, "pruned before 10m", prune(10*time.Minute, 10), 1) // a
	var left []string
	for _, k := range []string{"a.png", "b.png", "c.jpg", "d.png", "new.png"} {
		if get(k) != nil {
			left = append(left, k)
		}
	}
	mustEqual(t, "uploads left", left, []string{"b.png", "c.jpg", "d.png", "new.png"})

	// Their messages finished, c and d go too: oldest first, up to the
	// limit.
	update(t, s, func(tx engine.Tx) error {
		for _, o := range listOutbox(t, s, engine.OutboxFilter{}) {
			if o.Status == engine.OutboxPending || o.Status == engine.OutboxSending {
				if err := tx.FinishOutbox(o.ID, engine.OutboxFailed, channels.ReasonWindowClosed, 0, "", at(3*time.Second)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	mustEqual(t, "pruned before 3h, limit 1", prune(3*time.Hour, 1), 1)
	if get("c.jpg") != nil || get("d.png") == nil {
		t.Error("the oldest upload was not the one pruned")
	}
	mustEqual(t, "pruned before 3h", prune(3*time.Hour, 10), 3)
}
