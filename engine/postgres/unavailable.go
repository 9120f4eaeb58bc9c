package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxflow/wxflow/engine"
)

// unavailableCodes are the SQLSTATEs of a server that cannot take the
// request now, besides class 08 (connection exceptions): shutting down
// (57P01-57P03), out of connections (53300), and read-only (25006: the
// server is a standby now, as after a failover that left the address on
// the old primary).
var unavailableCodes = map[string]bool{
	"57P01": true, "57P02": true, "57P03": true, "53300": true, "25006": true,
}

// unavailable wraps err in engine.ErrUnavailable when it says the
// database could not be reached or did not answer (within the store's
// TxTimeout), rather than that a statement was wrong: the server's
// error of a connection (class 08), of a shutdown, of too many
// connections or of a read-only server; a failure to connect; the
// network's errors; a connection that closed; a deadline the store set.
// An error the caller caused (its context ended) is returned as is.
func unavailable(caller context.Context, err error) error {
	if err == nil || caller.Err() != nil || errors.Is(err, engine.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if strings.HasPrefix(pe.Code, "08") || unavailableCodes[pe.Code] {
			return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
	}
	return err
}
