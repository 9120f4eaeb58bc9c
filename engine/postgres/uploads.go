package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxflow/wxflow/engine"
)

// Uploads (migration 011): files kept for the messages that name them, in
// the database so that every node reads them.

var _ engine.UploadStore = (*pgTx)(nil)

func (t *pgTx) Upload(key string) (*engine.Upload, error) {
	u := &engine.Upload{Key: key}
	var created int64
	err := t.queryRow(`SELECT data, created_at FROM uploads WHERE key = $1`, []any{key}, &u.Data, &created)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", key, err)
	}
	u.Created = engine.FromUnixNanos(created)
	return u, nil
}

func (t *pgTx) SaveUpload(u *engine.Upload) error {
	if err := text("save upload", u.Key); err != nil {
		return err
	}
	t.write("save upload", `INSERT INTO uploads (key, data, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET created_at = greatest(uploads.created_at, excluded.created_at)`, u.Key, u.Data, engine.UnixNanos(u.Created))
	return nil
}

func (t *pgTx) PruneUploads(before time.Time, limit int) (int, error) {
	var n int
	if t.err != nil {
		return 0, t.flush()
	}
	t.queue(`DELETE FROM uploads WHERE key IN (
		SELECT key FROM uploads WHERE created_at < $1 AND key NOT IN (
			SELECT message::jsonb -> 'media' ->> 'upload' FROM outbox
			WHERE status IN ('pending', 'sending') AND message::jsonb -> 'media' ->> 'upload' IS NOT NULL)
		ORDER BY created_at LIMIT $2)`, engine.UnixNanos(before), limit).Exec(func(tag pgconn.CommandTag) error {
		n = int(tag.RowsAffected())
		return nil
	})
	if err := t.flush(); err != nil {
		return 0, fmt.Errorf("prune uploads: %w", err)
	}
	return n, nil
}
