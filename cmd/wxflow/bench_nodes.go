package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// benchBalancer is a round-robin reverse proxy on loopback in front of
// the nodes `wxflow bench --nodes N` starts, as a load balancer in front
// of several wxflow serve nodes would be: each request goes to the next
// node, whatever contact it is for (a node that does not hold the
// contact's lane queues the event for the one that does).
type benchBalancer struct {
	srv      *http.Server
	ln       net.Listener
	backends []string
	next     atomic.Uint64
}

// benchBackend is the context key of the node a request goes to.
type benchBackend struct{}

// newBenchBalancer starts the proxy in front of the nodes' addresses.
func newBenchBalancer(addrs []string, conns int) (*benchBalancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 2 * conns, IdleConnTimeout: time.Minute}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(benchBackend{}).(string)
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	b := &benchBalancer{ln: ln, backends: addrs}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := b.backends[int((b.next.Add(1)-1)%uint64(len(b.backends)))]
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), benchBackend{}, addr)))
	}), ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	return b, nil
}

// addr is the proxy's address.
func (b *benchBalancer) addr() string { return b.ln.Addr().String() }

// close stops the proxy.
func (b *benchBalancer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
}

// openBenchStore opens the store the bench reads its books from, beside
// the server: the SQLite file (WAL lets it read while the server writes)
// or the PostgreSQL database (a plain store, not one of the nodes).
func openBenchStore(ctx context.Context, db string) (engine.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, postgres.Options{})
	}
	return sqlite.Open(ctx, db, sqlite.Options{ReadConns: 2})
}

// urlPassword is the password of a database URL ("" for none), for the
// bench to redact from what its servers print.
func urlPassword(db string) string {
	if !postgres.IsURL(db) {
		return ""
	}
	u, err := url.Parse(db)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// sumBenchCounters adds up the counters of the nodes: each event is
// counted by the node that handled it (a node that queued it for
// another counts it queued, not ingested).
func sumBenchCounters(all []*benchCounters) *benchCounters {
	sum := &benchCounters{events: map[channels.Kind]int{}, pruned: map[string]int{}}
	for _, c := range all {
		for k, n := range c.events {
			sum.events[k] += n
		}
		for k, n := range c.pruned {
			sum.pruned[k] += n
		}
		sum.duplicates += c.duplicates
		sum.sent += c.sent
	}
	return sum
}

// benchNodesProblem says what is wrong with --nodes and --database, or "".
func benchNodesProblem(nodes int, db string, soak bool) string {
	switch {
	case nodes < 1:
		return "--nodes must be at least 1"
	case nodes > 1 && !postgres.IsURL(db):
		return "--nodes " + strconv.Itoa(nodes) + " needs --database postgres://...: several nodes share one PostgreSQL database (SQLite is one process's)"
	case soak && postgres.IsURL(db):
		return "--duration measures the SQLite file as it grows; it does not run on PostgreSQL"
	}
	return ""
}

// anyExited reports whether one of the nodes ended.
func anyExited(children []*benchChild) *benchChild {
	for _, c := range children {
		if c.exited() {
			return c
		}
	}
	return nil
}

// stopAll stops the nodes, each within timeout; the errors joined.
func stopAll(children []*benchChild, timeout time.Duration) error {
	var errs []error
	for _, c := range children {
		if err := c.stop(timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// databaseKind names the store of a database setting for the report.
func databaseKind(db string) string {
	if postgres.IsURL(db) {
		return "postgres"
	}
	return "sqlite"
}

// benchQueue counts the work queued for the node holding a contact's
// lane (PostgreSQL's queue table): the bench waits for it to be taken
// before it reads the books. Nil for SQLite, which queues nothing.
type benchQueue struct{ conn *pgx.Conn }

func openBenchQueue(ctx context.Context, db string) (*benchQueue, error) {
	if !postgres.IsURL(db) {
		return nil, nil
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("count the queue: %w", err)
	}
	return &benchQueue{conn: conn}, nil
}

// count returns how many items wait in the queue.
func (q *benchQueue) count(ctx context.Context) (int, error) {
	if q == nil {
		return 0, nil
	}
	var n int
	if err := q.conn.QueryRow(ctx, `SELECT count(*) FROM queue`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the queue: %w", err)
	}
	return n, nil
}

func (q *benchQueue) close() {
	if q != nil {
		q.conn.Close(context.Background())
	}
}
