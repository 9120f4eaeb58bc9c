package config

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"
)

// TestDatabaseURL: database: takes a PostgreSQL URL, with ${ENV}
// expansion; it is not resolved as a path, and the log shows it without
// its password.
func TestDatabaseURL(t *testing.T) {
	env := maps.Clone(testEnv)
	env["WXFLOW_PG"] = "postgres://wx:pg-Secret-1@db.internal:5432/wxflow?sslmode=require"
	for _, src := range []string{
		"database: ${WXFLOW_PG}\n",
		"database: postgres://wx:pg-Secret-1@db.internal:5432/wxflow?sslmode=require\n",
	} {
		c, err := Parse("/etc/wxflow/wxflow.yaml", []byte(src+minimal), envOf(env))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if c.Database != env["WXFLOW_PG"] {
			t.Errorf("%q: Database = %q, want the URL as given", src, c.Database)
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
		if strings.Contains(buf.String(), "pg-Secret-1") || !strings.Contains(buf.String(), "postgres://wx:xxxxx@db.internal:5432/wxflow") {
			t.Errorf("%q: the log shows %s", src, buf.String())
		}
	}
	// A SQLite path is still resolved against the config's folder.
	c, err := Parse("/etc/wxflow/wxflow.yaml", []byte("database: data/wxflow.db\n"+minimal), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "/etc/wxflow/data/wxflow.db" {
		t.Errorf("Database = %q", c.Database)
	}
	if got := DatabaseName("postgresql://u:p4ss@h/db"); got != "postgresql://u:xxxxx@h/db" {
		t.Errorf("DatabaseName = %q", got)
	}
}
