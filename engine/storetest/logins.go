package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// testLogins: a login comes back as saved, expired or not; ending it (or
// an unknown one) deletes it; a new login deletes the logins expired at
// its creation and, beyond keep live ones, those closest to expiry.
func testLogins(t *testing.T, s engine.Store) {
	login := func(id, op string, created, ttl time.Duration) *engine.Login {
		return &engine.Login{ID: []byte(id), Operator: op, Credential: []byte("cred-" + id), Created: at(created), Expires: at(created + ttl)}
	}
	save := func(l *engine.Login, keep int) {
		t.Helper()
		update(t, s, func(tx engine.Tx) error { return tx.(engine.LoginStore).SaveLogin(l, keep) })
	}
	get := func(id string) *engine.Login {
		t.Helper()
		var l *engine.Login
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			l, err = tx.(engine.LoginStore).Login([]byte(id))
			if errors.Is(err, engine.ErrNotFound) {
				l, err = nil, nil
			}
			return err
		})
		return l
	}
	save(login("a\x00\xff", "", 0, time.Hour), 10)
	save(login("b", "amy", time.Minute, 2*time.Hour), 10)
	got := get("a\x00\xff")
	if got == nil {
		t.Fatal("the saved login is not found")
	}
	mustEqual(t, "operator", got.Operator, "")
	if !bytes.Equal(got.Credential, []byte("cred-a\x00\xff")) || !bytes.Equal(got.ID, []byte("a\x00\xff")) {
		t.Errorf("login read as %q, %q", got.ID, got.Credential)
	}
	checkTime(t, "created", got.Created, at(0))
	checkTime(t, "expires", got.Expires, at(time.Hour))
	if b := get("b"); b == nil || b.Operator != "amy" {
		t.Fatalf("amy's login: %+v", b)
	}
	if get("c") != nil {
		t.Error("an unknown login is found")
	}

	// Ending one leaves the other; ending an unknown one is no error.
	update(t, s, func(tx engine.Tx) error {
		ls := tx.(engine.LoginStore)
		if err := ls.EndLogin([]byte("b")); err != nil {
			return err
		}
		return ls.EndLogin([]byte("nobody"))
	})
	if get("b") != nil || get("a\x00\xff") == nil {
		t.Error("EndLogin ended the wrong login")
	}

	// A login made at 1h deletes a (expired at 1h); with keep 2, the
	// third live login deletes the one closest to expiry.
	save(login("c", "amy", time.Hour, 3*time.Hour), 2)
	if get("a\x00\xff") != nil {
		t.Error("an expired login outlived the next login")
	}
	save(login("d", "bob", time.Hour, 5*time.Hour), 2)
	save(login("e", "", time.Hour, 4*time.Hour), 2)
	var left []string
	for _, id := range []string{"c", "d", "e"} {
		if get(id) != nil {
			left = append(left, id)
		}
	}
	mustEqual(t, "logins left with keep 2", left, []string{"d", "e"})

	// A duplicate ID fails and stores nothing.
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		return tx.(engine.LoginStore).SaveLogin(login("d", "eve", 2*time.Hour, time.Hour), 10)
	})
	if err == nil {
		t.Error("a second login with the same ID was saved")
	}
	if d := get("d"); d == nil || d.Operator != "bob" {
		t.Errorf("after a failed save, d is %+v", d)
	}
}
