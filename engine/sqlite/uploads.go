package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// Uploads (migration 011): files kept for the messages that name them.

var _ engine.UploadStore = (*sqliteTx)(nil)

func (t *sqliteTx) Upload(key string) (*engine.Upload, error) {
	u := &engine.Upload{Key: key}
	var created int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT data, created_at FROM uploads WHERE key = ?`, key).Scan(&u.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engine.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", key, err)
	}
	u.Created = engine.FromUnixNanos(created)
	return u, nil
}

func (t *sqliteTx) SaveUpload(u *engine.Upload) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO uploads (key, data, created_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET created_at = max(created_at, excluded.created_at)`, u.Key, u.Data, engine.UnixNanos(u.Created))
	if err != nil {
		return fmt.Errorf("save upload: %w", err)
	}
	return nil
}

func (t *sqliteTx) PruneUploads(before time.Time, limit int) (int, error) {
	res, err := t.tx.ExecContext(t.ctx, `DELETE FROM uploads WHERE key IN (
		SELECT key FROM uploads WHERE created_at < ? AND key NOT IN (
			SELECT json_extract(message, '$.media.upload') FROM outbox
			WHERE status IN ('pending', 'sending') AND json_extract(message, '$.media.upload') IS NOT NULL)
		ORDER BY created_at LIMIT ?)`, engine.UnixNanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune uploads: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
