package engine

import "time"

// Login is a console login session as the store keeps it, so that it
// outlives a restart and works on every node of a shared database. The
// store holds nothing that lets anyone in: the cookie's value is only
// known by its SHA-256 (ID), and the session is bound to the token it
// was made with by an HMAC keyed with the cookie's value (Credential).
type Login struct {
	// ID is the SHA-256 of the cookie's value.
	ID []byte
	// Operator is whose login it is ("" for the admin).
	Operator string
	// Credential is an HMAC of the token logged in with, keyed with the
	// cookie's value: a changed token ends the login.
	Credential []byte
	// Created and Expires bound the login's life.
	Created, Expires time.Time
}

// LoginStore is a store transaction that keeps the console's logins:
// both stores' transactions implement it (a ReadTx for Login, a Tx for
// the writes).
type LoginStore interface {
	// Login returns the login with the given ID, expired or not, or
	// ErrNotFound.
	Login(id []byte) (*Login, error)
	// SaveLogin stores a new login. It deletes the logins expired at its
	// creation and, beyond keep live ones, those closest to expiry.
	SaveLogin(l *Login, keep int) error
	// EndLogin deletes a login; an unknown ID is no error.
	EndLogin(id []byte) error
}
