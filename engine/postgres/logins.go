package postgres

import (
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/engine"
)

// The console's logins (migration 009), shared by the nodes.

var _ engine.LoginStore = (*pgTx)(nil)

func (t *pgTx) Login(id []byte) (*engine.Login, error) {
	l := &engine.Login{ID: id}
	var created, expires int64
	err := t.queryRow(`SELECT operator, credential, created_at, expires_at FROM console_logins WHERE id = $1`,
		[]any{id}, &l.Operator, &l.Credential, &created, &expires)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	l.Created, l.Expires = engine.FromUnixNanos(created), engine.FromUnixNanos(expires)
	return l, nil
}

func (t *pgTx) SaveLogin(l *engine.Login, keep int) error {
	if err := text("save login", l.Operator); err != nil {
		return err
	}
	created := engine.UnixNanos(l.Created)
	t.write("save login", `DELETE FROM console_logins WHERE expires_at <= $1`, created)
	t.write("save login", `INSERT INTO console_logins (id, operator, credential, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		l.ID, l.Operator, l.Credential, created, engine.UnixNanos(l.Expires))
	t.write("save login", `DELETE FROM console_logins WHERE id IN
		(SELECT id FROM console_logins ORDER BY expires_at DESC, id OFFSET $1)`, keep)
	return nil
}

func (t *pgTx) EndLogin(id []byte) error {
	t.write("end login", `DELETE FROM console_logins WHERE id = $1`, id)
	return nil
}
