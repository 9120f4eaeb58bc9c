package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxflow/wxflow/engine"
)

// TestUnavailable checks which errors say the database could not be
// reached or did not answer (engine.ErrUnavailable: the console's 503)
// and which are about the request (its 500 or its own status).
func TestUnavailable(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	pg := func(code string) error { return fmt.Errorf("read contacts: %w", &pgconn.PgError{Code: code}) }
	for _, c := range []struct {
		name   string
		caller context.Context
		err    error
		want   bool
	}{
		{"connection failure (08006)", live, pg("08006"), true},
		{"cannot connect now (57P03)", live, pg("57P03"), true},
		{"admin shutdown (57P01)", live, pg("57P01"), true},
		{"too many connections (53300)", live, pg("53300"), true},
		{"a standby after a failover (25006)", live, pg("25006"), true},
		{"refused connection", live, fmt.Errorf("begin read: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"closed connection", live, fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), true},
		{"closed by the driver", live, pgconn.ErrConnClosed, true},
		{"the store's deadline", live, fmt.Errorf("begin: %w", context.DeadlineExceeded), true},
		{"unique violation (23505)", live, pg("23505"), false},
		{"serialization failure (40001)", live, pg("40001"), false},
		{"syntax error (42601)", live, pg("42601"), false},
		{"not found", live, fmt.Errorf("run 7: %w", engine.ErrNotFound), false},
		{"fenced", live, engine.ErrFenced, false},
		{"the caller gave up", gone, fmt.Errorf("begin: %w", context.Canceled), false},
		{"the caller gave up, the connection closed", gone, io.ErrUnexpectedEOF, false},
	} {
		got := unavailable(c.caller, c.err)
		if is := errors.Is(got, engine.ErrUnavailable); is != c.want {
			t.Errorf("%s: %v: unavailable %v, want %v", c.name, got, is, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%s: %v does not wrap %v", c.name, got, c.err)
		}
		if c.want && unavailable(live, got) != got {
			t.Errorf("%s: wrapped twice: %v", c.name, unavailable(live, got))
		}
	}
	if unavailable(live, nil) != nil {
		t.Error("unavailable(nil) is not nil")
	}
}
