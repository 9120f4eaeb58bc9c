package config

import (
	"bytes"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
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

// TestDatabaseSettingsRefused: a database setting that is neither a
// SQLite path nor a postgres:// URL is refused at its line and column,
// without repeating its password, instead of being taken as the path of a
// new SQLite file (which the log would then show, password and all).
func TestDatabaseSettingsRefused(t *testing.T) {
	const secret = "Db-Secret-9"
	env := maps.Clone(testEnv)
	env["WXFLOW_DSN"] = "host=db.internal port=5432 dbname=wxflow user=wx password=" + secret
	for _, c := range []struct{ src, want string }{
		{"database: host=db.internal dbname=wxflow user=wx password=" + secret + "\n", "connection string of keywords"},
		{"database: \"dbname=wxflow password='" + secret + " x'\"\n", "connection string of keywords"},
		{"database: ${WXFLOW_DSN}\n", "connection string of keywords"},
		{"database: mysql://wx:" + secret + "@db/wxflow\n", "a mysql:// URL is not a store wxflow can use"},
		{"database: sqlite:///var/lib/wxflow.db\n", "write the SQLite file's path itself"},
		{"database: POSTGRES://wx:" + secret + "@db/wxflow\n", "lower case, postgres://"},
	} {
		_, err := Parse("/etc/wxflow/wxflow.yaml", []byte(c.src+minimal), envOf(env))
		if err == nil {
			t.Errorf("%q: accepted", c.src)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "/etc/wxflow/wxflow.yaml:1:11: error: database: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%q: error %q, want it at 1:11 saying %q", c.src, msg, c.want)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("%q: the error shows the password: %s", c.src, msg)
		}
	}
	for _, ok := range []string{"file:wx.db?cache=shared", "file:///var/lib/wx.db", "data/wx.db", "/var/lib/wxflow/wx=1.db", "postgresql://wx@db/wxflow"} {
		if err := CheckDatabase(ok); err != nil {
			t.Errorf("CheckDatabase(%q): %v", ok, err)
		}
	}
	// An in-memory database would be one per connection, and gone at exit.
	for _, mem := range []string{":memory:", "file:wx.db?mode=memory&cache=shared", "file::memory:?cache=shared"} {
		if err := CheckDatabase(mem); err == nil || !strings.Contains(err.Error(), "an in-memory database cannot be a store") {
			t.Errorf("CheckDatabase(%q): %v, want the in-memory refusal", mem, err)
		}
	}
	// What logs and errors show of a refused setting has no password.
	for in, want := range map[string]string{
		"host=db user=wx password=" + secret + " dbname=wxflow": "host=db user=wx password=xxxxx dbname=wxflow",
		"password = '" + secret + " x' host=db":                 "password = xxxxx host=db",
		"host=db sslpassword=" + secret:                         "host=db sslpassword=xxxxx",
		"mysql://wx:" + secret + "@db/wxflow":                   "mysql://wx:xxxxx@db/wxflow",
		"file:wx.db?mode=ro":                                    "file:wx.db?mode=ro",
	} {
		if got := DatabaseName(in); got != want {
			t.Errorf("DatabaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDatabaseName: what logs show of a database setting never holds its
// password, in a URL (any scheme, as user info or a parameter) or a
// connection string of keywords; and CheckDatabase never panics.
func FuzzDatabaseName(f *testing.F) {
	f.Add("s3cret", "db:5432/wxflow")
	f.Add("p@ss:w/rd", "h1,h2/wxflow?sslmode=require")
	f.Add("'quoted x'", "[::1]/db")
	f.Fuzz(func(t *testing.T, pw, rest string) {
		_ = CheckDatabase(pw + rest)
		secret := "Zq9" + pw + "9qZ"
		if strings.ContainsAny(secret, " \t\n\r\v\f'\\") || strings.Contains(rest, "Zq9") {
			t.Skip()
		}
		for _, s := range []string{
			"postgres://wx:" + url.QueryEscape(secret) + "@" + rest,
			"mysql://wx:" + url.PathEscape(secret) + "@" + rest,
			"postgresql://wx@db/wxflow?password=" + url.QueryEscape(secret) + "&x=" + url.QueryEscape(rest),
			"postgres://wx@db/wxflow?sslpassword=" + url.QueryEscape(secret),
			"host=db password=" + secret + " dbname=" + strings.Fields(rest + " x")[0],
			"host=db password='" + secret + "'",
		} {
			if got := DatabaseName(s); strings.Contains(got, secret) || strings.Contains(got, url.QueryEscape(secret)) || strings.Contains(got, url.PathEscape(secret)) {
				t.Errorf("DatabaseName(%q) = %q: shows the password", s, got)
			}
		}
	})
}

// TestLoadDatabase: only database: is read, its ${NAME} expanded and
// checked, without the accounts' secrets in the environment; a relative
// path is resolved against the file's folder; problems come at their line.
func TestLoadDatabase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := envOf(map[string]string{"PG_PASSWORD": "pw-Load-1"})
	accounts := "accounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: ${UNSET_SECRET}\n    token: ${UNSET_TOKEN}\n"
	for _, c := range []struct{ name, src, want string }{
		{"url.yaml", "database: postgres://wx:${PG_PASSWORD}@db/wxflow\n" + accounts, "postgres://wx:pw-Load-1@db/wxflow"},
		{"rel.yaml", accounts + "database: data/wx.db\n", filepath.Join(dir, "data/wx.db")},
		{"none.yaml", accounts, filepath.Join(dir, DefaultDatabase)},
		{"empty.yaml", "", filepath.Join(dir, DefaultDatabase)},
	} {
		got, err := LoadDatabase(write(c.name, c.src), env)
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct{ name, src, want string }{
		{"unset.yaml", "listen: x\ndatabase: postgres://wx:${NOPE}@db/wxflow\n", "unset.yaml:2:25: error: NOPE is not set"},
		{"dsn.yaml", "database: host=db password=pw-Load-2\n", "unset.yaml:1:11: error: database: a PostgreSQL connection string"},
		{"bad.yaml", "database: [a\n", "bad.yaml:"},
	} {
		_, err := LoadDatabase(write(c.name, c.src), env)
		want := strings.Replace(c.want, "unset.yaml", c.name, 1)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "pw-Load") {
			t.Errorf("%s: %v; want %q", c.name, err, want)
		}
	}
}

// TestDatabaseURLReferencesFit: a ${NAME} in a URL's user or password
// whose value holds @ / ? # or a lone % is refused at its line, never
// showing the value: unencoded, it cut the URL elsewhere, and part of
// the password showed as the host in errors and logs. So is one in a
// query value holding & # or +. Values that fit, percent-encoded ones,
// and the same characters elsewhere (a path in a query value), load.
func TestDatabaseURLReferencesFit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wxflow.yaml")
	load := func(src string, env map[string]string) (string, error) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadDatabase(path, envOf(env))
	}
	const pw = "database: postgres://wx:${PW}@db/wxflow?sslrootcert=${CERT}&application_name=${APP}\n"
	good := map[string]string{"CERT": "/etc/ssl/db.pem", "APP": "wxflow-web"}
	for _, v := range []string{"plain-Secret-1", "p%40ss%23w0rd", "a:b", "上海-pw"} {
		env := maps.Clone(good)
		env["PW"] = v
		if got, err := load(pw, env); err != nil || !strings.Contains(got, "wx:"+v+"@db") {
			t.Errorf("password %q: %q, %v", v, got, err)
		}
	}
	for _, c := range []struct{ name, value, want string }{
		{"PW", "Zq8/x+Yw@9#k?p%2", "1:25: error: database: the value of ${PW} holds characters that the URL's user or password cannot hold as they are"},
		{"PW", "a@bSECRET", "1:25: error: database: the value of ${PW} holds characters"},
		{"PW", "100%", "1:25: error: database: the value of ${PW} holds characters"},
		// pgx refuses it only when connecting ("unexpected spaces found
		// in password").
		{"PW", "p w", "1:25: error: database: the value of ${PW} holds characters"},
		{"APP", "a+b", "1:78: error: database: the value of ${APP} holds characters that a value of the URL's query cannot hold as they are"},
		{"CERT", "/x#y", "1:53: error: database: the value of ${CERT} holds characters that a value of the URL's query"},
	} {
		env := maps.Clone(good)
		env["PW"] = "fine-Secret-2"
		env[c.name] = c.value
		_, err := load(pw, env)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.value) {
			t.Errorf("%s=%q: %v; want %q, without the value", c.name, c.value, err, c.want)
		}
	}
}

// TestDatabaseOverridden: with serve --database, the file's database: is
// not read: its ${NAME} need not be set (it was an error: "PGPW is not
// set"), and the flag's value is the store; the rest is checked as ever.
func TestDatabaseOverridden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte("sandbox: true\ndatabase: postgres://wx:${PGPW}@db/wxflow\ntimezone: UTC\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	if _, err := Load(path, none); err == nil || !strings.Contains(err.Error(), "PGPW is not set") {
		t.Fatalf("Load: %v, want PGPW not set", err)
	}
	c, err := LoadOverridingDatabase(path, none, "other.db")
	if err != nil || c.Database != "other.db" || c.TimezoneName != "UTC" {
		t.Fatalf("LoadOverridingDatabase: %+v, %v", c, err)
	}
	if err := os.WriteFile(path, []byte("sandbox: true\ndatabase: x.db\ntimezone: Mars/Base\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOverridingDatabase(path, none, "other.db"); err == nil || !strings.Contains(err.Error(), "wxflow.yaml:3:") {
		t.Fatalf("a bad timezone beside an overridden database: %v", err)
	}
}
