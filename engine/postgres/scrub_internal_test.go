package postgres

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestScrubKeepsWords: an error's text loses the URL's password where it
// stands as itself, not inside a longer word: a short password made
// "failed" read "failxxxxx" and "context" "contexxxxxxt" (and so told
// what the password was).
func TestScrubKeepsWords(t *testing.T) {
	for _, c := range []struct{ pw, msg, want string }{
		{"ed", "failed to connect: password authentication failed", "failed to connect: password authentication failed"},
		{"x", "context canceled", "context canceled"},
		{"127", "dial tcp 127.0.0.1:5432", "dial tcp xxxxx.0.0.1:5432"},
		{"wxflow", `failed to connect to user=wxflow database=wxflow`, `failed to connect to user=xxxxx database=xxxxx`},
		{"s3cret-pw", "bad password s3cret-pw: nope", "bad password xxxxx: nope"},
		{"p@ss!", "cannot parse u:p@ss!@db and p@ss!", "cannot parse u:xxxxx@db and xxxxx"},
		{"p@ss!", "p%40ss%21 in the URL", "xxxxx in the URL"},
		{"上海", "密码上海错误", "密码上海错误"},
	} {
		dsn := "postgres://u:" + strings.NewReplacer("@", "%40", "!", "%21").Replace(c.pw) + "@db/wxflow"
		err := scrub(errors.New(c.msg), dsn)
		if err.Error() != c.want {
			t.Errorf("password %q: %q, want %q", c.pw, err.Error(), c.want)
		}
	}
}

// TestConnectTimeout: a server that takes the connection and never
// answers fails Open after DefaultConnectTimeout, not never (a URL's
// connect_timeout overrides it).
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answers
		}
	}()
	for _, c := range []struct {
		query string
		want  time.Duration
	}{{"", DefaultConnectTimeout}, {"&connect_timeout=1", time.Second}} {
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			_, err := Open(context.Background(), "postgres://u:pw@"+ln.Addr().String()+"/wxflow?sslmode=disable"+c.query, Options{})
			errc <- err
		}()
		select {
		case err := <-errc:
			took := time.Since(start)
			if err == nil || took < c.want-100*time.Millisecond {
				t.Errorf("%q: Open after %v: %v, want a timeout after %v", c.query, took, err, c.want)
			}
		case <-time.After(c.want + 20*time.Second):
			t.Fatalf("%q: Open still waits after %v", c.query, c.want+20*time.Second)
		}
	}
}

// TestScrubUnparsedURL: the password of a URL that Go's URLs refuse and
// pgx takes (a ] or a letter beyond ASCII in it) is taken out of an
// error's text too: scrub found no password in such a URL.
func TestScrubUnparsedURL(t *testing.T) {
	for _, pw := range []string{"ab]cd-pw", "密码pw^x", `q"w\e`} {
		dsn := "postgres://u:" + pw + "@db/wxflow"
		err := scrub(errors.New("the server said "+pw+" is wrong"), dsn)
		if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("password %q: %q", pw, err.Error())
		}
	}
}

// TestScrubAmbiguousPassword: a password with @ / ? # or : written as
// they are, which pgx reads otherwise than Go's URLs (it ends the user
// information at the first @), leaves no piece of itself in Open's
// error, and the error says to percent-encode it. Before, the errors
// read "lookup ss@127.0.0.1: no such host" and "cannot parse
// `postgres://u:xxxxx@ss:xxxxxx@...`: ... "rd#x%"".
func TestScrubAmbiguousPassword(t *testing.T) {
	for _, c := range []struct {
		dsn    string
		pieces []string
	}{
		{"postgres://u:p@ss@127.0.0.1:1/wxflow?sslmode=disable&connect_timeout=2", []string{"p@ss", "ss@"}},
		{"postgres://u:p@Qz9:w7/o?Rk3#x%&=1@127.0.0.1:1/wxflow?sslmode=disable&connect_timeout=2", []string{"Qz9", "w7", "Rk3", "x%"}},
		{"postgresql://u:tw@at@lk@127.0.0.1:1/wxflow?sslmode=disable&connect_timeout=2", []string{"at@", "lk@", "@at", "@lk"}},
	} {
		_, err := Open(context.Background(), c.dsn, Options{})
		if err == nil {
			t.Fatalf("%s: opened", c.dsn)
		}
		for _, p := range c.pieces {
			if strings.Contains(err.Error(), p) {
				t.Errorf("%s: the error shows %q of the password: %v", c.dsn, p, err)
			}
		}
		if !strings.Contains(err.Error(), "percent-encode them in the URL: @ as %40") {
			t.Errorf("%s: no hint to percent-encode the password: %v", c.dsn, err)
		}
	}
	// A password pgx and Go's URLs both read (percent-encoded, or an @
	// only in the query) gets no hint, and the host is not masked.
	for _, dsn := range []string{
		"postgres://u:p%40ss@127.0.0.1:1/wxflow?sslmode=disable&connect_timeout=2",
		"postgres://u:pw@127.0.0.1:1/wxflow?sslmode=disable&connect_timeout=2&application_name=a@b",
	} {
		_, err := Open(context.Background(), dsn, Options{})
		if err == nil || strings.Contains(err.Error(), "percent-encode") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("%s: %v", dsn, err)
		}
	}
}
