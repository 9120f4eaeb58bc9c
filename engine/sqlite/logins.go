package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/engine"
)

// The console's logins (migration 010).

var _ engine.LoginStore = (*sqliteTx)(nil)

func (t *sqliteTx) Login(id []byte) (*engine.Login, error) {
	l := &engine.Login{ID: id}
	var created, expires int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT operator, credential, created_at, expires_at FROM console_logins WHERE id = ?`, id).
		Scan(&l.Operator, &l.Credential, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engine.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	l.Created, l.Expires = engine.FromUnixNanos(created), engine.FromUnixNanos(expires)
	return l, nil
}

func (t *sqliteTx) SaveLogin(l *engine.Login, keep int) error {
	created := engine.UnixNanos(l.Created)
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM console_logins WHERE expires_at <= ?`, created); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO console_logins (id, operator, credential, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		l.ID, l.Operator, l.Credential, created, engine.UnixNanos(l.Expires)); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM console_logins WHERE id IN
		(SELECT id FROM console_logins ORDER BY expires_at DESC, id LIMIT -1 OFFSET ?)`, keep); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	return nil
}

func (t *sqliteTx) EndLogin(id []byte) error {
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM console_logins WHERE id = ?`, id); err != nil {
		return fmt.Errorf("end login: %w", err)
	}
	return nil
}
