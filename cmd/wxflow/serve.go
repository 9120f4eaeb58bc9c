package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// runServe is `wxflow serve`: the callback server, the engine's workers,
// timers and schedules, until SIGINT or SIGTERM.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "wxflow.yaml", "the configuration file (docs/config.md)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: wxflow serve [--config FILE]")
		fmt.Fprintln(stderr, "\nRuns the WeChat callback endpoint (/wechat/{account}), the engine, its timers")
		fmt.Fprintln(stderr, "and schedules. Flows reload when their files change and on SIGHUP; SIGINT or")
		fmt.Fprintln(stderr, "SIGTERM stop it gracefully.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	cfg, err := loadConfig(*cfgPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow serve: %v\n", err)
		if errors.Is(err, fs.ErrNotExist) {
			return exitUsage
		}
		return exitProblems
	}
	log := slog.New(cfg.Log.Handler(stderr))
	s, err := newServer(ctx, cfg, serverOptions{Logger: log})
	if err != nil {
		log.Error("wxflow serve: cannot start", "err", err)
		return exitProblems
	}
	if err := s.Start(); err != nil {
		log.Error("wxflow serve: cannot start", "err", err)
		s.Close()
		return exitProblems
	}
	fmt.Fprintf(stdout, "wxflow serving on http://%s (callbacks at /wechat/{account}, health at /healthz)\n", s.Addr())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			err := s.Shutdown(sctx)
			cancel()
			if err != nil {
				log.Error("stop", "err", err)
				return exitProblems
			}
			log.Info("stopped")
			return exitOK
		case <-hup:
			s.Reload(true)
		case <-poll.C:
			s.Reload(false)
		}
	}
}

// serverOptions are what tests and the benchmark change about a server.
type serverOptions struct {
	Logger *slog.Logger
	// Clock defaults to the system clock.
	Clock engine.Clock
	// APIClient makes the WeChat API calls (default: the client's own).
	APIClient *http.Client
	// Synchronous is the store's synchronous setting (default FULL).
	Synchronous string
}

// server is a running `wxflow serve`: store, channel, engine and HTTP.
type server struct {
	cfg     *Config
	log     *slog.Logger
	store   *engine.SQLiteStore
	engine  *engine.Engine
	http    *http.Server
	ln      net.Listener
	loadOpt flows.Options

	reloadMu sync.Mutex
	// print is the fingerprint of the flow files last loaded or tried.
	print string
}

// newServer builds everything serve runs and loads the flows; a flow
// folder with errors stops it here.
func newServer(ctx context.Context, cfg *Config, o serverOptions) (*server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = engine.SystemClock{}
	}
	s := &server{cfg: cfg, log: o.Logger}
	st, err := engine.OpenSQLite(ctx, cfg.Database, engine.SQLiteOptions{Synchronous: o.Synchronous})
	if err != nil {
		return nil, err
	}
	s.store = st
	state := engine.NewChannelState(st, o.Clock)
	accounts := map[string]*wechat.ChannelAccount{}
	handlerAccounts := map[string]*wechat.CallbackAccount{}
	s.loadOpt = flows.Options{Regions: map[string]string{}}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		client, err := wechat.NewClient(wechat.ClientConfig{
			Account: a.ID, AppID: a.AppID, AppSecret: a.AppSecret, APIBase: a.APIBase, TokenMode: a.TokenMode,
			HTTP: o.APIClient, Clock: o.Clock, Tokens: state, Media: state, Logger: o.Logger,
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("account %s: %w", a.ID, err)
		}
		settings := a.Session
		settings.Region = a.Region
		accounts[a.ID] = &wechat.ChannelAccount{Client: client, Settings: settings}
		s.loadOpt.Regions[a.ID] = a.Region
		ca := &wechat.CallbackAccount{ID: a.ID, Token: a.Token, OriginalID: a.OriginalID, PassiveReply: cfg.PassiveReply(a)}
		if a.AESKey != "" {
			if ca.Cipher, err = wechat.NewCipher(a.AESKey, a.AppID); err == nil && a.AESKeyPrevious != "" {
				ca.Previous, err = wechat.NewCipher(a.AESKeyPrevious, a.AppID)
			}
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("account %s: %w", a.ID, err)
			}
		}
		handlerAccounts[a.ID] = ca
	}
	s.engine, err = engine.New(engine.Config{
		Store: st, Channel: wechat.NewChannel(accounts), Clock: o.Clock, Zone: cfg.Timezone, Logger: o.Logger, LoadOptions: s.loadOpt,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	print, err := flowsFingerprint(cfg.Flows)
	var set *flows.Set
	if err == nil {
		set, err = flows.LoadDir(cfg.Flows, s.loadOpt)
	}
	if err == nil && set.Diags.HasErrors() {
		err = fmt.Errorf("the flows in %s have errors:\n%s", cfg.Flows, set.Diags.Err())
	}
	if err == nil {
		err = s.engine.Load(ctx, set)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	s.print = print
	mux := http.NewServeMux()
	mux.Handle(wechat.Prefix, wechat.NewHandler(wechat.HandlerConfig{
		Accounts: handlerAccounts, Sink: engineSink{s.engine}, Clock: o.Clock, Logger: o.Logger,
		MaxBody: cfg.Callback.MaxBody, TimestampTolerance: cfg.Callback.TimestampTolerance,
		PassiveReplyWait: cfg.Callback.PassiveReplyWait,
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// flowsFingerprint summarises the flow folder's YAML files (names, sizes,
// modification times), to notice edits without reading every file.
func flowsFingerprint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read flows folder: %w", err)
	}
	var lines []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %d %d", e.Name(), info.Size(), info.ModTime().UnixNano()))
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l+"\n")
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// Reload loads the flow folder again when its files changed (or always,
// when forced by SIGHUP). A folder with errors keeps the last good flows
// running and logs every diagnostic.
func (s *server) Reload(force bool) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	print, err := flowsFingerprint(s.cfg.Flows)
	if err != nil {
		s.log.Error("reload flows", "err", err)
		return
	}
	if !force && print == s.print {
		return
	}
	s.print = print
	set, err := flows.LoadDir(s.cfg.Flows, s.loadOpt)
	if err != nil {
		s.log.Error("reload flows: keeping the flows running", "err", err)
		return
	}
	for _, d := range set.Diags {
		if d.Severity == flows.SeverityError {
			s.log.Error("flow error", "at", d.String())
		}
	}
	if set.Diags.HasErrors() {
		s.log.Error("reload flows: the folder has errors; keeping the flows running", "errors", set.Diags.Count(flows.SeverityError))
		return
	}
	if err := s.engine.Load(context.Background(), set); err != nil {
		s.log.Error("reload flows: keeping the flows running", "err", err)
		return
	}
	s.log.Info("flows reloaded", "flows", len(set.Flows))
}

// Start starts the engine and listens.
func (s *server) Start() error {
	if err := s.engine.Start(context.Background()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		s.engine.Stop()
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	go func() {
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("the callback server stopped", "err", err)
		}
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "config", s.cfg)
	return nil
}

// Addr is the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting callbacks, waits for those under way (their
// events are committed), stops the engine (runs stay resumable) and
// closes the store.
func (s *server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		// Callbacks still waiting are answered with an error; WeChat
		// retries them.
		s.http.Close()
	}
	s.engine.Stop()
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Close stops everything at once (a failed start).
func (s *server) Close() {
	if s.http != nil {
		s.http.Close()
	}
	s.engine.Stop()
	s.store.Close()
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	err := s.store.View(r.Context(), func(tx engine.ReadTx) error {
		_, _, err := tx.NextTimer()
		return err
	})
	if err != nil {
		s.log.Error("health check", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// engineSink hands the callback endpoint's events to the engine.
type engineSink struct{ e *engine.Engine }

func (k engineSink) Ingest(ctx context.Context, ev channels.Event) error {
	return sinkErr(k.e.Ingest(ctx, ev))
}

func (k engineSink) IngestReply(ctx context.Context, ev channels.Event, deadline time.Time) (*channels.Message, func(bool), error) {
	r, err := k.e.IngestReply(ctx, ev, deadline)
	if err != nil || r == nil {
		return nil, nil, sinkErr(err)
	}
	return &r.Message, func(written bool) {
		if err := k.e.FinishReply(context.Background(), r, written); err != nil {
			// The entry stays `sending` and becomes `unknown` at the next
			// start: never sent twice.
			k.e.Logger().Error("passive reply", "err", err)
		}
	}, nil
}

func sinkErr(err error) error {
	if errors.Is(err, engine.ErrBadEvent) {
		return fmt.Errorf("%w: %w", wechat.ErrRejected, err)
	}
	return err
}
