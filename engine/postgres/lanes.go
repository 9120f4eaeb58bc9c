package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wxflow/wxflow/engine"
)

// DefaultLease is how long a node's lease lasts without renewal: a node
// that stops renewing (killed, paused, cut off) loses its lanes this long
// after its last renewal, and they move to the other nodes.
const DefaultLease = 5 * time.Second

// queueChannel is the channel of the notifications sent when work is
// queued for another node (one per schema: notifications are the
// database's).
func queueChannel(schema string) string { return notifyChannel("wxflow_queued/", schema) }

// notifyChannel names a schema's notification channel: prefix and the
// schema or, when that is longer than PostgreSQL's names (63 bytes:
// pg_notify refuses a longer channel, and LISTEN cuts it), prefix and a
// hash of the schema.
func notifyChannel(prefix, schema string) string {
	if c := prefix + schema; len(c) <= maxName {
		return c
	}
	sum := sha256.Sum256([]byte(schema))
	return prefix + hex.EncodeToString(sum[:12])
}

// maxName is the longest name PostgreSQL keeps, in bytes (NAMEDATALEN-1).
const maxName = 63

// lease is a joined node's state (nil before Join).
type lease struct {
	id, name string
	dur      time.Duration
	// channel is the notification channel of the store's schema.
	channel string
	// pool holds the connection lanes are balanced, released and left
	// on: never behind the writer's transactions.
	pool *pgxpool.Pool

	// renewMu guards renewConn, the connection the lease is renewed on
	// and nothing else (Renew): a renewal waits for no balancing, no
	// writer, no listener and no pool. It is opened again after an
	// error. connConfig is what it connects with.
	renewMu    sync.Mutex
	renewConn  *pgx.Conn
	connConfig *pgx.ConnConfig

	mu sync.Mutex
	// held are the lanes the node works on (Work): the engine's.
	held []int32

	notify chan struct{}
	// changedChannel is the channel of changes other nodes committed
	// (engine.ChangeFeed): changes receives their word, publish asks
	// the publisher to send this node's.
	changedChannel   string
	changes, publish chan struct{}
	// listening is set while the listener's connection listens.
	listening  atomic.Bool
	listenStop context.CancelFunc
	// listenDone and publishDone are closed when the listener and the
	// publisher have stopped.
	listenDone, publishDone chan struct{}
}

// nowSQL is the lease clock in SQL: $n when the store has a test clock
// (Options.Now), else the database's clock in Unix nanoseconds.
func (s *Store) nowArg() any {
	if s.opts.Now != nil {
		return s.opts.Now().UnixNano()
	}
	return nil
}

// nowExpr is the SQL for the lease clock, given the placeholder of
// nowArg's value.
func nowExpr(ph string) string {
	return `coalesce(` + ph + `::bigint, (extract(epoch from clock_timestamp()) * 1e9)::bigint)`
}

// wallNow is the time rows are stamped with outside the engine's
// transactions (Options.Now in tests).
func (s *Store) wallNow() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// heldLanes returns the lanes the node holds, for the statements that
// filter by lane; ok is false when the store is not a node (it then
// works on every lane).
func (s *Store) heldLanes() (lanes []int32, ok bool) {
	if s.lease == nil {
		return nil, false
	}
	s.lease.mu.Lock()
	defer s.lease.mu.Unlock()
	return append([]int32(nil), s.lease.held...), true
}

// NodeID returns the node's id in the nodes table ("" until it joins):
// its name and a random suffix, new at each start.
func (s *Store) NodeID() string {
	if s.lease == nil {
		return ""
	}
	return s.lease.id
}

// claimer is the name outbox entries are claimed under.
func (s *Store) claimer() string {
	if s.lease == nil {
		return "-"
	}
	return s.lease.id
}

// Lease returns the node's lease length.
func (s *Store) Lease() time.Duration {
	if s.opts.Lease > 0 {
		return s.opts.Lease
	}
	return DefaultLease
}

// Renewal returns how often the node's lease is renewed (Options.Renew,
// by default a fifth of the lease).
func (s *Store) Renewal() time.Duration {
	if s.opts.Renew > 0 {
		return s.opts.Renew
	}
	return s.Lease() / 5
}

// Join makes the store a node: it starts a lease, renewed by Renew, and
// from then on every write transaction checks it.
func (s *Store) Join(ctx context.Context) error {
	if s.lease != nil {
		return errors.New("join: the store joined already")
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("join: %w", ErrReadOnly)
	}
	if r := s.Renewal(); r <= 0 || 2*r >= s.Lease() {
		return fmt.Errorf("join: the lease is renewed every %s; that must be less than half the lease (%s), so that a failed renewal is tried again before the lease ends", r, s.Lease())
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	name := s.opts.NodeName
	if name == "" {
		name = defaultNodeName()
	}
	if err := text("join", name, s.opts.Version); err != nil {
		return err
	}
	l := &lease{id: name + "/" + hex.EncodeToString(b[:]), name: name, dur: s.Lease(), notify: make(chan struct{}, 1)}
	cfg := s.w.Config().Copy()
	cfg.MaxConns, cfg.MinConns = 1, 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	l.pool = pool
	var schema string
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		pool.Close()
		return fmt.Errorf("join: %w", err)
	}
	l.channel, l.changedChannel = queueChannel(schema), changedChannel(schema)
	l.changes, l.publish = make(chan struct{}, 1), make(chan struct{}, 1)
	l.connConfig = cfg.ConnConfig
	// The renewal's connection is opened now: a node that cannot have
	// it (max_connections) does not join.
	if l.renewConn, err = pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy()); err != nil {
		pool.Close()
		return fmt.Errorf("join: the lease's connection: %w", err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO nodes (id, name, joined, expires, version) VALUES ($1, $2, `+nowExpr("$3")+`, `+nowExpr("$3")+` + $4, $5)`,
		l.id, name, s.nowArg(), l.dur.Nanoseconds(), s.opts.Version)
	if err != nil {
		pool.Close()
		l.renewConn.Close(context.Background())
		return fmt.Errorf("join: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	l.listenStop, l.listenDone, l.publishDone = cancel, make(chan struct{}), make(chan struct{})
	s.lease = l
	go s.listen(lctx, cfg.ConnConfig)
	go s.publishChanges(lctx)
	return nil
}

// listen forwards the notifications of queued work to Queued, and of the
// other nodes' changes to OthersChanged, on a connection of its own,
// until the node leaves; a lost connection is opened again. Whatever was
// notified while it was not listening is lost, so each time it listens
// again after a loss it says both once: the node reads its queue, and
// the live pages read themselves again. (Before the first listen, the
// node reads its queue in every batch, and no page has heard of
// anything.) The connection waits idle by design: a
// database's idle_session_timeout (PostgreSQL 14 and later) is turned off
// for it.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig) {
	defer close(s.lease.listenDone)
	listened := false
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cc.Copy())
		if err == nil {
			// 42704: a server too old to know the setting.
			if _, serr := conn.Exec(ctx, `SET idle_session_timeout = 0`); serr != nil && !hasCode(serr, "42704") {
				err = serr
			}
		}
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.lease.channel}.Sanitize()+`; LISTEN `+pgx.Identifier{s.lease.changedChannel}.Sanitize())
			if err == nil {
				s.lease.listening.Store(true)
				if listened {
					for _, to := range []chan struct{}{s.lease.notify, s.lease.changes} {
						select {
						case to <- struct{}{}:
						default:
						}
					}
				}
				listened = true
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						break
					}
					to := s.lease.notify
					if n.Channel == s.lease.changedChannel {
						if n.Payload == s.lease.id {
							continue // this node's own
						}
						to = s.lease.changes
					}
					select {
					case to <- struct{}{}:
					default:
					}
				}
			}
			s.lease.listening.Store(false)
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			// Queued work is taken by every batch meanwhile: only the
			// wake-up is late.
		}
	}
}

// hasCode reports whether err is the server's error of that SQLSTATE.
func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// changedChannel is the notification channel of the changes the nodes of
// a schema commit.
func changedChannel(schema string) string { return notifyChannel("wxflow_changed/", schema) }

// publishEvery is how often a node tells the others of its changes at
// most: the first change of a while goes out at once, the changes of
// the next publishEvery as one notification after it.
const publishEvery = 200 * time.Millisecond

// PublishChanged tells the other nodes that this one committed a change
// (engine.ChangeFeed): a notification on the lease's connection pool,
// sent by a goroutine of its own, never by the writer.
func (s *Store) PublishChanged() {
	if s.lease == nil {
		return
	}
	select {
	case s.lease.publish <- struct{}{}:
	default:
	}
}

// OthersChanged receives when another node published a change
// (engine.ChangeFeed); nil before the node joins.
func (s *Store) OthersChanged() <-chan struct{} {
	if s.lease == nil {
		return nil
	}
	return s.lease.changes
}

// publishChanges sends the notifications PublishChanged asks for, at
// most one every publishEvery, until the node leaves. One that fails is
// dropped: the live pages of the other nodes miss a change (until their
// next), nothing else does.
func (s *Store) publishChanges(ctx context.Context) {
	l := s.lease
	defer close(l.publishDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.publish:
		}
		pctx, cancel := context.WithTimeout(ctx, l.dur)
		l.pool.Exec(pctx, `SELECT pg_notify($1, $2)`, l.changedChannel, l.id)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(publishEvery):
		}
	}
}

// Listening reports whether the notifications of queued work arrive.
func (s *Store) Listening() bool {
	return s.lease != nil && s.lease.listening.Load()
}

// Queued returns the channel that receives when work was queued.
func (s *Store) Queued() <-chan struct{} {
	if s.lease == nil {
		return nil
	}
	return s.lease.notify
}

// Renew renews the node's lease, on a connection used for nothing else:
// the statement waits for no transaction of this node (the writer's lock
// its row FOR KEY SHARE, which an update of its expiry does not wait
// for) nor of another, except one reaping this node's expired lease.
// It returns engine.ErrFenced only when the server says the lease is
// over (expired, or reaped); any other error (the connection lost, ctx
// done) leaves the lease as the server has it, and the connection is
// opened again at the next call.
func (s *Store) Renew(ctx context.Context) error {
	l := s.lease
	if l == nil {
		return errors.New("renew lease: the store did not join")
	}
	l.renewMu.Lock()
	defer l.renewMu.Unlock()
	if l.renewConn == nil {
		c, err := pgx.ConnectConfig(ctx, l.connConfig.Copy())
		if err != nil {
			return fmt.Errorf("renew lease: connect: %w", err)
		}
		l.renewConn = c
	}
	// The renewal also reads the migrations this binary does not know:
	// a newer wxflow that started on the database since this node joined
	// migrated it, and this node stops (engine.ErrNewerSchema).
	var newer *string
	err := l.renewConn.QueryRow(ctx, `UPDATE nodes SET expires = `+nowExpr("$2")+` + $3 WHERE id = $1 AND expires > `+nowExpr("$2")+`
		RETURNING (SELECT string_agg(name, ', ' ORDER BY name) FROM schema_migrations WHERE name <> ALL($4::text[]))`,
		l.id, s.nowArg(), l.dur.Nanoseconds(), s.known).Scan(&newer)
	if errors.Is(err, pgx.ErrNoRows) {
		return engine.ErrFenced
	}
	if err != nil {
		// Whatever state the connection is in, the next renewal starts
		// on a new one.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.renewConn.Close(cctx)
		cancel()
		l.renewConn = nil
		return fmt.Errorf("renew lease: %w", err)
	}
	if newer != nil {
		return fmt.Errorf("renew lease: %w since this node started: it has migration %s, which this wxflow does not know", engine.ErrNewerSchema, *newer)
	}
	return nil
}

// balanceLockTimeout bounds how long Balance waits for a dead node's
// transaction under way (the server ends it: idle_in_transaction_session_timeout).
const balanceLockTimeout = "1s"

// Balance reaps the nodes whose lease expired, and takes free lanes up
// to this node's share, recovering their messages in the same commit. It
// does not renew the lease (Renew does, on a connection of its own);
// it returns engine.ErrFenced when this node's lease was reaped.
func (s *Store) Balance(ctx context.Context) (engine.Taken, error) {
	l := s.lease
	if l == nil {
		return engine.Taken{}, errors.New("balance: the store did not join")
	}
	now := s.nowArg()
	var t engine.Taken
	ctx, cancel := s.bounded(ctx, true)
	defer cancel()
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		t = engine.Taken{}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+balanceLockTimeout+`'`); err != nil {
			return err
		}
		// Deleting a dead node's row waits for its transaction under
		// way, which holds the row (the fence): once deleted, it can
		// commit nothing more.
		if _, err := tx.Exec(ctx, `DELETE FROM nodes WHERE expires <= `+nowExpr("$1"), now); err != nil {
			return err
		}
		// Lanes this node holds in the store but does not work on (Work):
		// a round whose commit went through while the client saw an
		// error (the connection lost at COMMIT) took them, or a Release
		// that failed kept them. Nothing works on them: their queue
		// and messages would wait until the node leaves. Freed here,
		// they are taken below like any free lane (by this node, when
		// under its share), and the engine starts them. Balance runs
		// between the engine's rounds, never while it gives lanes back;
		// a lane with a message this node claimed and did not finish is
		// kept all the same (its send may be under way: lanes given
		// back whose sends were not recorded in time, and that the
		// engine could not keep).
		held, _ := s.heldLanes()
		if _, err := tx.Exec(ctx, `UPDATE lanes SET owner = '' WHERE owner = $1 AND NOT (lane = ANY($2))
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.lane = lanes.lane AND o.claimed_by = $1 AND o.status IN ('pending', 'sending'))`,
			l.id, append([]int32{}, held...)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT n.id, count(l.lane) FROM nodes n LEFT JOIN lanes l ON l.owner = n.id GROUP BY n.id`)
		if err != nil {
			return err
		}
		counts := map[string]int{}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			counts[id] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, ok := counts[l.id]; !ok {
			return engine.ErrFenced
		}
		live := len(counts)
		share := (engine.LaneCount + live - 1) / live
		mine := counts[l.id]
		if want := share - mine; want > 0 {
			rows, err := tx.Query(ctx, `UPDATE lanes SET owner = $1 WHERE lane IN (
				SELECT lane FROM lanes f WHERE f.owner = '' OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = f.owner)
				ORDER BY lane LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING lane`, l.id, want)
			if err != nil {
				return err
			}
			taken, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				return err
			}
			if len(taken) > 0 {
				// Sends their former owner started may have gone out:
				// unknown. Its other claims are released: sent once, here.
				ct, err := tx.Exec(ctx, `UPDATE outbox SET status = 'unknown',
					detail = CASE WHEN detail = '' THEN '' ELSE detail || ': ' END || 'the node sending it stopped while the message was being sent or marked to be sent next: it may have reached WeChat', updated_at = $2
					WHERE (`+outboxSending+`) AND lane = ANY($1)`, taken, s.wallNow().UnixNano())
				if err != nil {
					return err
				}
				t.Unknown = int(ct.RowsAffected())
				if _, err := tx.Exec(ctx, unclaimOutbox+`
					WHERE status = 'pending' AND claimed_by <> '' AND lane = ANY($1)`, taken); err != nil {
					return err
				}
				for _, lane := range taken {
					t.Lanes = append(t.Lanes, int(lane))
				}
				// Another node may have written their contacts.
				s.cache.clear()
				mine += len(taken)
			}
		}
		// Give back only to a node that has fewer than its share and no
		// free lane to take.
		floor := engine.LaneCount / live
		var free int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM lanes f WHERE f.owner = '' OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = f.owner)`).Scan(&free); err != nil {
			return err
		}
		hungry := false
		for id, n := range counts {
			if id != l.id && n < floor {
				hungry = true
			}
		}
		if hungry && free == 0 && mine > share {
			t.Surplus = mine - share
		}
		return nil
	})
	if err != nil {
		if hasCode(err, "55P03") {
			// lock_timeout: a dead node's transaction is still being
			// ended; the next round takes its lanes.
			return engine.Taken{}, nil
		}
		if errors.Is(err, engine.ErrFenced) {
			return engine.Taken{}, err
		}
		return engine.Taken{}, fmt.Errorf("balance lanes: %w", err)
	}
	return t, nil
}

// Work sets the lanes the node's transactions work on (engine.Node).
func (s *Store) Work(lanes []int) {
	l := s.lease
	if l == nil {
		return
	}
	held := make([]int32, len(lanes))
	for i, lane := range lanes {
		held[i] = int32(lane)
	}
	sort.Slice(held, func(i, j int) bool { return held[i] < held[j] })
	l.mu.Lock()
	if !slices.Equal(l.held, held) {
		// Contacts of lanes no longer held may be written by another
		// node from now on (see cache.go).
		s.cache.clear()
	}
	l.held = held
	l.mu.Unlock()
}

// unclaimOutbox gives up claims (its WHERE says which): the messages are
// pending and unclaimed again, and those a pause held back are no longer
// marked paused, so that outbox_unclaimed holds them for the next claim.
const unclaimOutbox = `UPDATE outbox SET claimed_by = '', reason = CASE WHEN reason = 'paused' THEN '' ELSE reason END,
	detail = CASE WHEN reason = 'paused' THEN '' ELSE detail END`

// Release gives lanes back, with the claims of their pending messages
// but those started (sending: they may have gone out, and the lanes'
// next node marks them unknown).
func (s *Store) Release(ctx context.Context, give []int) error {
	l := s.lease
	if l == nil {
		return errors.New("release: the store did not join")
	}
	lanes := make([]int32, len(give))
	for i, g := range give {
		lanes[i] = int32(g)
	}
	s.cache.clear()
	ctx, cancel := s.bounded(ctx, true)
	defer cancel()
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, unclaimOutbox+`
			WHERE status = 'pending' AND NOT started AND claimed_by = $1 AND lane = ANY($2)`, l.id, lanes); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE lanes SET owner = '' WHERE owner = $1 AND lane = ANY($2)`, l.id, lanes)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lanes: %w", err)
	}
	return nil
}

// Leave gives every lane back and ends the lease: the other nodes take
// the lanes at their next round.
func (s *Store) Leave(ctx context.Context) error {
	l := s.lease
	if l == nil {
		return nil
	}
	s.cache.clear()
	ctx, cancel := s.bounded(ctx, true)
	defer cancel()
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, unclaimOutbox+`
			WHERE status = 'pending' AND NOT started AND claimed_by = $1`, l.id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE lanes SET owner = '' WHERE owner = $1`, l.id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, l.id)
		return err
	})
	l.mu.Lock()
	l.held = nil
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

// closeLease stops the listener, the lease's pool and its renewal's
// connection.
func (s *Store) closeLease() {
	if l := s.lease; l != nil {
		l.listenStop()
		<-l.listenDone
		<-l.publishDone
		l.pool.Close()
		l.renewMu.Lock()
		if l.renewConn != nil {
			l.renewConn.Close(context.Background())
			l.renewConn = nil
		}
		l.renewMu.Unlock()
	}
}

// fence queues the check of the node's lease at the start of a write
// transaction: it locks the node's row (FOR KEY SHARE) until the commit,
// so that another node reaping an expired lease waits for the
// transaction, and fails it when the lease expired or was reaped.
func (t *pgTx) fence() {
	s := t.store
	q := t.queue(`SELECT wxflow_fence($1, `+nowExpr("$2")+`)`, s.lease.id, s.nowArg())
	q.Exec(func(pgconn.CommandTag) error { return nil })
	inner := q.Fn
	q.Fn = func(br pgx.BatchResults) error {
		err := inner(br)
		if err == nil {
			return nil
		}
		if hasCode(err, fenceCode) {
			err = engine.ErrFenced
		}
		if t.err == nil {
			t.err = fmt.Errorf("lease: %w", err)
		}
		return err
	}
}

// fenceCode is the SQLSTATE wxflow_fence raises.
const fenceCode = "WXFNC"

// queuedItem is a queued item's stored JSON (kind, lane and key have
// columns of their own).
type queuedItem struct {
	Account string              `json:"account"`
	Contact string              `json:"contact"`
	Event   *engine.EventRecord `json:"event,omitempty"`
	Name    string              `json:"name,omitempty"`
	Due     int64               `json:"due,omitempty"`
	Vars    map[string]any      `json:"vars,omitempty"`
}

// QueueItem keeps work for the node holding its lane, and wakes the
// nodes at the commit.
func (t *pgTx) QueueItem(q *engine.Queued) error {
	item := queuedItem{Account: q.Account, Contact: q.Contact, Event: q.Event, Name: q.Name, Vars: q.Vars}
	if !q.Due.IsZero() {
		item.Due = engine.UnixNanos(q.Due)
	}
	b, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("queue %s: %w", q.Kind, err)
	}
	if err := text("queue", q.Account, q.Contact, q.Key); err != nil {
		return err
	}
	for _, r := range t.queuedRows {
		if q.Key != "" && r.key == q.Key {
			return nil // queued already by this transaction
		}
	}
	t.queuedRows = append(t.queuedRows, queuedRow{lane: int32(q.Lane), kind: string(q.Kind), key: q.Key, item: string(b), at: engine.UnixNanos(q.QueuedAt)})
	return nil
}

// queuedRow is an item QueueItem keeps for the commit.
type queuedRow struct {
	lane      int32
	kind, key string
	item      string
	at        int64
}

// flushQueued writes the items the transaction queued, before its
// commit (or a read of the queue), and notifies the nodes. Their ids
// follow the order they were queued in (taken from the sequence first);
// they are inserted in key order, so that two nodes queueing the same
// retried callbacks take the key's locks in one order and never
// deadlock.
func (t *pgTx) flushQueued() error {
	rows := t.queuedRows
	if len(rows) == 0 {
		return nil
	}
	t.queuedRows = nil
	var ids []int64
	err := t.query(`SELECT nextval('queue_id_seq') FROM generate_series(1, $1)`, []any{len(rows)}, func(r pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(r, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if len(ids) != len(rows) {
		return fmt.Errorf("queue: the sequence gave %d ids for %d items", len(ids), len(rows))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := rows[order[i]].key, rows[order[j]].key
		return a != "" && (b == "" || a < b)
	})
	n := len(rows)
	idA, laneA, atA := make([]int64, n), make([]int32, n), make([]int64, n)
	kindA, itemA, keyA := make([]string, n), make([]string, n), make([]*string, n)
	for k, i := range order {
		r := rows[i]
		idA[k], laneA[k], atA[k], kindA[k], itemA[k] = ids[i], r.lane, r.at, r.kind, r.item
		if r.key != "" {
			key := r.key
			keyA[k] = &key
		}
	}
	t.write("queue", `INSERT INTO queue (id, lane, kind, key, item, queued_at)
		SELECT id, lane, kind, key, item, queued_at
		FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(id, lane, kind, key, item, queued_at, ord)
		ORDER BY ord ON CONFLICT (key) DO NOTHING`, idA, laneA, kindA, keyA, itemA, atA)
	if l := t.store.lease; l != nil {
		// A store that did not join (tests) queues without a word: the
		// nodes take the queue every tick all the same.
		t.write("queue", `SELECT pg_notify($1, '')`, l.channel)
	}
	return nil
}

// TakeQueued removes and returns up to limit queued items of the lanes,
// oldest first.
func (t *pgTx) TakeQueued(lanes []int, limit int) ([]*engine.Queued, error) {
	return t.TakeQueuedAhead(lanes, limit)()
}

// TakeQueuedAhead queues the take of TakeQueued with the transaction's
// next round trip (engine.QueueAheadTx): a batch's take of the queue goes
// with its events (AddEvents).
func (t *pgTx) TakeQueuedAhead(lanes []int, limit int) func() ([]*engine.Queued, error) {
	if err := t.flushQueued(); err != nil {
		return func() ([]*engine.Queued, error) { return nil, err }
	}
	if t.err != nil {
		err := t.flush()
		return func() ([]*engine.Queued, error) { return nil, err }
	}
	ls := make([]int32, len(lanes))
	for i, l := range lanes {
		ls[i] = int32(l)
	}
	var out []*engine.Queued
	answered := false
	q := t.queue(`DELETE FROM queue WHERE id IN (SELECT id FROM queue WHERE lane = ANY($1) ORDER BY id LIMIT $2)
		RETURNING id, lane, kind, coalesce(key, ''), item, queued_at`, ls, limit)
	q.Query(func(rows pgx.Rows) error {
		answered = true
		for rows.Next() {
			var q engine.Queued
			var lane int32
			var kind, item string
			var at int64
			if err := rows.Scan(&q.ID, &lane, &kind, &q.Key, &item, &at); err != nil {
				return err
			}
			var it queuedItem
			if err := json.Unmarshal([]byte(item), &it); err != nil {
				return fmt.Errorf("queued item %d: %w", q.ID, err)
			}
			q.Lane, q.Kind, q.QueuedAt = int(lane), engine.QueuedKind(kind), engine.FromUnixNanos(at)
			q.Account, q.Contact, q.Event, q.Name, q.Vars = it.Account, it.Contact, it.Event, it.Name, it.Vars
			if it.Due != 0 {
				q.Due = engine.FromUnixNanos(it.Due)
			}
			out = append(out, &q)
		}
		return rows.Err()
	})
	q.Fn = t.wrapFn("take queued", q.Fn)
	return func() ([]*engine.Queued, error) {
		if !answered {
			if err := t.flush(); err != nil {
				return nil, fmt.Errorf("take queued: %w", err)
			}
		}
		if t.err != nil {
			// The take failed, or a write sent with it did.
			return nil, t.err
		}
		if !answered {
			return nil, errors.New("take queued: the server did not answer")
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, nil
	}
}

// ClaimOutboxIDs claims the pending, unclaimed entries with these IDs.
// The rows are found by id alone: the test of status and claim is in a
// form no index answers, since outbox_unclaimed (whose predicate it is)
// otherwise had the planner read every unclaimed message and keep those
// with the IDs, 32,000 for a claim of 512 while the in-memory queue held
// that many (auto_explain).
func (t *pgTx) ClaimOutboxIDs(ids []int64, at time.Time) ([]int64, error) {
	var got []int64
	err := t.query(`UPDATE outbox SET claimed_by = $1 WHERE id = ANY($2) AND (status = 'pending' AND claimed_by = '') IS TRUE RETURNING id`,
		[]any{t.store.claimer(), ids}, func(rows pgx.Rows) error {
			var err error
			got, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return got, nil
}

// UnclaimIdle gives back the node's claims of pending messages of its
// lanes that were not started, but those in keep (engine.IdleUnclaimer:
// after a commit whose outcome the node did not see, which may have
// claimed messages it never sent). The rows are found through
// outbox_open: the messages pending, not every message sent.
func (t *pgTx) UnclaimIdle(keep []int64) error {
	if t.store.lease == nil {
		return nil
	}
	if keep == nil {
		keep = []int64{}
	}
	t.write("unclaim outbox", unclaimOutbox+`
		WHERE status = 'pending' AND NOT started AND claimed_by = $1 AND lane = ANY($2) AND NOT (id = ANY($3))`,
		t.store.claimer(), t.lanesArg(), keep)
	return nil
}

// backfillLanes computes the lane of the rows migration 003 added a lane
// column to (engine.LaneOf is wxflow's, not the database's).
func backfillLanes(ctx context.Context, conn *pgx.Conn) error {
	for _, table := range []string{"outbox", "timers"} {
		rows, err := conn.Query(ctx, `SELECT DISTINCT account, contact FROM `+table+` WHERE lane = -1`)
		if err != nil {
			return fmt.Errorf("lanes of %s: %w", table, err)
		}
		type ref struct{ a, c string }
		var refs []ref
		for rows.Next() {
			var r ref
			if err := rows.Scan(&r.a, &r.c); err != nil {
				rows.Close()
				return fmt.Errorf("lanes of %s: %w", table, err)
			}
			refs = append(refs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lanes of %s: %w", table, err)
		}
		for _, r := range refs {
			if _, err := conn.Exec(ctx, `UPDATE `+table+` SET lane = $1 WHERE account = $2 AND contact = $3 AND lane = -1`,
				int32(engine.LaneOf(r.a, r.c)), r.a, r.c); err != nil {
				return fmt.Errorf("lanes of %s: %w", table, err)
			}
		}
	}
	return nil
}
