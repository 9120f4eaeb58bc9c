package storecopy_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/storecopy"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/sqlite"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// sqliteStore makes a SQLite store in a file and fills it with fill.
func sqliteStore(t *testing.T, fill func(tx engine.Tx) error) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "wxflow.db")
	st, err := sqlite.Open(context.Background(), file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if fill != nil {
		if err := st.Update(context.Background(), fill); err != nil {
			t.Fatal(err)
		}
	}
	return file
}

// TestCopyRecoversMessagesInFlight: messages the SQLite server was
// sending when it stopped are copied as a restart would recover them: one
// whose request may have started is unknown, one claimed and not started
// and one held back by a pause are pending (to be sent once), the others
// as they were.
func TestCopyRecoversMessagesInFlight(t *testing.T) {
	msg := func(text string) *engine.OutboxEntry {
		return &engine.OutboxEntry{Account: "main", Contact: "alice", Message: channels.Message{Type: "text", Text: text},
			Status: engine.OutboxPending, CreatedAt: t0, UpdatedAt: t0}
	}
	ids := map[string]int64{}
	file := sqliteStore(t, func(tx engine.Tx) error {
		for _, text := range []string{"started", "claimed", "paused", "sent", "waiting"} {
			o := msg(text)
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids[text] = o.ID
		}
		if _, err := tx.ClaimOutbox(4, t0); err != nil {
			return err
		}
		if err := tx.StartOutbox([]int64{ids["started"]}, t0); err != nil {
			return err
		}
		if err := tx.FinishOutbox(ids["paused"], engine.OutboxPending, channels.ReasonPaused, 0, "sends paused", t0); err != nil {
			return err
		}
		return tx.FinishOutbox(ids["sent"], engine.OutboxSent, "", 0, "", t0)
	})
	// SQLite's statistics tables, made by an ANALYZE someone ran, are
	// SQLite's own: not copied.
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dsn, _ := pgtest.Schema(t, "wxcopy_")
	later := t0.Add(time.Hour)
	res, err := storecopy.Copy(context.Background(), file, dsn, later)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unknown != 1 || res.Released != 1 {
		t.Errorf("unknown %d, released %d, want 1 and 1", res.Unknown, res.Released)
	}
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadOnly: true, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []*engine.OutboxEntry
	err = st.View(context.Background(), func(tx engine.ReadTx) error {
		got, err = tx.Outbox(engine.OutboxFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"started": "unknown", "claimed": "pending", "paused": "pending", "sent": "sent", "waiting": "pending"}
	for _, o := range got {
		if string(o.Status) != want[o.Message.Text] {
			t.Errorf("%s: %s, want %s", o.Message.Text, o.Status, want[o.Message.Text])
		}
		switch o.Message.Text {
		case "started":
			if !strings.Contains(o.Detail, "stopped while the message was being sent") || !o.UpdatedAt.Equal(later) {
				t.Errorf("the started message: %q at %v", o.Detail, o.UpdatedAt)
			}
		case "paused":
			if o.Reason != "" || o.Detail != "" {
				t.Errorf("the paused message keeps %q %q", o.Reason, o.Detail)
			}
		}
	}
	if len(got) != 5 {
		t.Errorf("%d messages copied, want 5", len(got))
	}
}

// TestCopyRefuses: a store another wxflow migrated, and a database with
// data, are refused with nothing written.
func TestCopyRefuses(t *testing.T) {
	file := sqliteStore(t, nil)
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE name = (SELECT max(name) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dsn, _ := pgtest.Schema(t, "wxcopy_")
	if _, err := storecopy.Copy(context.Background(), file, dsn, t0); err == nil || !strings.Contains(err.Error(), "older wxflow") {
		t.Errorf("a store an older wxflow migrated: %v", err)
	}

	file = sqliteStore(t, func(tx engine.Tx) error {
		return tx.PutChannelState("k", "v", t0.Add(time.Hour), t0)
	})
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(context.Background(), func(tx engine.Tx) error {
		return tx.PutFlowVersion(&engine.FlowVersion{Version: "v1", Name: "welcome", File: "welcome.yaml", Source: []byte("x"), LoadedAt: t0})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = storecopy.Copy(context.Background(), file, dsn, t0)
	if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), "flow_versions") {
		t.Fatalf("a database with a flow version: %v", err)
	}
	st, err = postgres.Open(context.Background(), dsn, postgres.Options{ReadOnly: true, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(context.Background(), func(tx engine.ReadTx) error {
		if _, _, ok, _ := tx.ChannelState("k", t0); ok {
			t.Error("the refused copy wrote the channel state")
		}
		return nil
	})
}

// TestCopyRefusesAStoreThatChanges: a commit to the SQLite store while it
// is copied (a wxflow serve still running) fails the copy, which writes
// nothing; a copy with nothing committed meanwhile goes through.
func TestCopyRefusesAStoreThatChanges(t *testing.T) {
	file := sqliteStore(t, func(tx engine.Tx) error { return tx.PutChannelState("k", "v", t0.Add(time.Hour), t0) })
	dsn, _ := pgtest.Schema(t, "wxcopy_")
	restore := storecopy.SetCopied(func() {
		st, err := sqlite.Open(context.Background(), file, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Update(context.Background(), func(tx engine.Tx) error { return tx.PutChannelState("late", "v", t0.Add(time.Hour), t0) }); err != nil {
			t.Fatal(err)
		}
	})
	_, err := storecopy.Copy(context.Background(), file, dsn, t0)
	restore()
	if !errors.Is(err, storecopy.ErrSourceChanged) {
		t.Fatalf("a commit during the copy: %v", err)
	}
	if _, err := storecopy.Copy(context.Background(), file, dsn, t0); err != nil {
		t.Fatalf("the copy again, nothing committed meanwhile: %v (the failed copy left something?)", err)
	}
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadOnly: true, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(context.Background(), func(tx engine.ReadTx) error {
		if _, _, ok, _ := tx.ChannelState("late", t0); !ok {
			t.Error("the second copy lacks what was committed before it")
		}
		return nil
	})
}

// TestCopyRefusesAnotherApplicationsSchema: a database (schema) that holds
// another program's tables is refused as not empty, naming them, and
// nothing is written to it: the copy created wxflow's tables beside them
// first, then failed saying that the PostgreSQL store "has a table orders
// the SQLite store lacks", as if wxflow's stores disagreed.
func TestCopyRefusesAnotherApplicationsSchema(t *testing.T) {
	file := sqliteStore(t, func(tx engine.Tx) error { return tx.PutChannelState("k", "v", t0.Add(time.Hour), t0) })
	dsn, schema := pgtest.Schema(t, "wxcopy_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id integer PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	_, err = storecopy.Copy(ctx, file, dsn, t0)
	if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("a schema with another program's table: %v, want ErrNotEmpty naming it", err)
	}
	rows, _ := conn.Query(ctx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tables, ",") != "orders" {
		t.Errorf("the refused copy left the schema with the tables %v, want orders alone", tables)
	}

	// A wxflow store with another program's table beside it.
	dsn, _ = pgtest.Schema(t, "wxcopy_")
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conn2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	if _, err := conn2.Exec(ctx, `CREATE TABLE orders (id integer PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err = storecopy.Copy(ctx, file, dsn, t0); !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("a wxflow schema with another program's table: %v, want ErrNotEmpty naming it", err)
	}
}
