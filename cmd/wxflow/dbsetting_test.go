package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestDatabaseFlagsRefused: a --database (or --from) that is neither a
// SQLite path nor a postgres:// URL is a usage error that does not repeat
// its password, and no command takes it as the name of a new SQLite file.
func TestDatabaseFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	const secret = "Flag-Secret-7"
	dsn := "host=db.internal dbname=wxflow user=wx password=" + secret
	for _, args := range [][]string{
		{"serve", "--database", dsn},
		{"serve", "--database", "mysql://wx:" + secret + "@db/wxflow"},
		{"backup", "--database", dsn, "backup.db"},
		{"copy-store", "--from", dsn, "--to", "postgres://wx@127.0.0.1:1/wxflow"},
		{"bench", "--followers", "10", "--database", dsn},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d (usage); %s", args[0], code, exitUsage, out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("%s: the output shows the password: %s", args[0], out)
		}
		want := "connection string of keywords"
		if strings.HasPrefix(args[2], "mysql") {
			want = "a mysql:// URL is not a store wxflow can use"
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: output %q does not say %q", args[0], out, want)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		t.Errorf("the commands left %v in their folder (%v)", ents, err)
	}
}
