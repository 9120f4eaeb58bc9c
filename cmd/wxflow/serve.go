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
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/cmd/wxflow/console"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/wechatstate"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// runServe is `wxflow serve`: the callback server, the engine's workers,
// timers and schedules, until SIGINT or SIGTERM.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file (docs/config.md)")
	flowsDir := fl.String("flows", "", "the flow folder (overrides the config's; default for the sandbox: "+sandboxFlows+")")
	listen := fl.String("listen", "", "the address to listen on (overrides the config's listen)")
	database := fl.String("database", "", "the store: a SQLite file or a postgres:// URL (overrides the config's database)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow serve [--config FILE] [--flows DIR] [--listen HOST:PORT] [--database FILE|URL]")
		fmt.Fprintln(w, "\nRuns the WeChat callback endpoint (/wechat/{account}), the engine, its timers")
		fmt.Fprintln(w, "and schedules, and the operator console. Flows reload when their files change")
		fmt.Fprintln(w, "and on SIGHUP; SIGINT or SIGTERM stop it gracefully.")
		fmt.Fprintln(w, "\nWithout "+defaultConfigFile+" (and no --config), it runs the sandbox: SQLite in ./wxflow.db,")
		fmt.Fprintln(w, "the example flows, the built-in sandbox account on the simulated channel, and")
		fmt.Fprintln(w, "the console with its simulator at http://"+config.DefaultListen+"/.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	given := flagGiven(fl, "config")
	var cfg *config.Config
	var err error
	if _, serr := os.Stat(*cfgPath); !given && errors.Is(serr, fs.ErrNotExist) {
		cfg = sandboxConfig()
	} else if cfg, err = loadServeConfig(*cfgPath, *database); err != nil {
		fmt.Fprintf(stderr, "wxflow serve: %v\n", err)
		if errors.Is(err, fs.ErrNotExist) {
			return exitUsage
		}
		return exitProblems
	}
	if *flowsDir != "" {
		cfg.Flows = *flowsDir
	}
	if *database != "" {
		if err := config.CheckDatabase(*database); err != nil {
			fmt.Fprintf(stderr, "wxflow serve: --database: %v\n", err)
			return exitUsage
		}
		cfg.Database = *database
	}
	if cfg.Sandbox {
		if err := checkSandboxDatabase(cfg.Database); err != nil {
			fmt.Fprintf(stderr, "wxflow serve: %v\n", err)
			return exitUsage
		}
	}
	// A folder or a text file for the store said "lock DIR: open DIR: is
	// a directory" or "read schema: file is not a database" (exit 1).
	if err := notSQLiteFile(cfg.Database, "--database"); err != nil {
		if *database == "" && !cfg.Sandbox {
			err = fmt.Errorf("the database: of %s: %w", *cfgPath, err)
		}
		fmt.Fprintf(stderr, "wxflow serve: %v\n", err)
		return exitUsage
	}
	if _, serr := os.Stat(cfg.Flows); cfg.Sandbox && errors.Is(serr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "wxflow serve: no flow folder %s here (the sandbox runs the example flows of the repository: start it from the repository's root, or pass --flows DIR)\n", cfg.Flows)
		return exitUsage
	}
	if *listen != "" {
		if cfg.Admin.Listen == cfg.Listen {
			cfg.Admin.Listen = *listen
		}
		cfg.Listen = *listen
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
	s.printAddresses(stdout)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			var err error
			if !within(2*cfg.ShutdownTimeout, func() {
				sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				defer cancel()
				err = s.Shutdown(sctx)
			}) {
				log.Error(stopOverdue, "shutdown_timeout", cfg.ShutdownTimeout)
				return exitProblems
			}
			if err != nil {
				log.Error("stop", "err", err)
				return exitProblems
			}
			log.Info("stopped")
			return exitOK
		case <-s.fenced:
			// Another node has this node's lanes: nothing it does may
			// count any more. Its supervisor starts it again, as a new
			// node that takes lanes like any other.
			if why := s.engine.Fenced(); errors.Is(why, engine.ErrNewerSchema) {
				log.Error("wxflow serve: a newer wxflow migrated the database since this node started; this node stops (its code does not know the new schema): start it again with the new version", "err", why)
			} else {
				log.Error("wxflow serve: this node lost its lease on the database (it was paused, cut off from the database, or the database took no writes, for longer than the lease); it stops so that it can be started again as a new node")
			}
			if !within(cfg.ShutdownTimeout, s.Close) {
				log.Error(stopOverdue, "shutdown_timeout", cfg.ShutdownTimeout)
			}
			return exitProblems
		case <-hup:
			s.Reload(true)
		case <-poll.C:
			s.Reload(false)
		}
	}
}

// stopOverdue says why serve exits without waiting for its engine: the
// store does not answer (a database that stalls holds the writes and
// reads in flight). Exiting then is as a crash, which loses nothing: the
// node's lanes go to another node once its lease ends (or to it when it
// starts again), which recovers what was in flight.
const stopOverdue = "wxflow serve: the engine did not stop in time (a send under way, or the database, did not answer): exiting without it; what was in flight is recovered as after a crash"

// within runs stop and reports whether it returned within d; when not,
// it goes on in the background.
func within(d time.Duration, stop func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
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
	// Breaker tunes the accounts' circuit breakers (zero: the defaults).
	Breaker wechat.BreakerSettings
}

// server is a running `wxflow serve`: store, channel, engine and HTTP.
type server struct {
	cfg   *config.Config
	log   *slog.Logger
	store engine.Store
	// writers are the stores of the engine's other writers (PostgreSQL:
	// nodes: writers:), closed after the engine stops.
	writers []engine.Store
	engine  *engine.Engine
	sandbox *sandbox.Sandbox
	// pruner deletes what the store keeps no longer (nil in the sandbox).
	pruner  *engine.Pruner
	http    *http.Server
	ln      net.Listener
	loadOpt flows.Options

	// admin serves the console on its own address (nil when it shares
	// the callback server's, or is off); consoleOff says why it is off.
	admin      *http.Server
	adminLn    net.Listener
	console    *console.Console
	consoleOff string
	metrics    *metrics.Metrics

	// fenced is closed when the engine lost its node's lease (several
	// nodes on PostgreSQL): serve stops at once.
	fenced     chan struct{}
	fencedOnce sync.Once

	reloadMu sync.Mutex
	// print is the fingerprint of the flow files last loaded or tried.
	print string
	// printErr is the last error reading the flows folder, logged once.
	printErr string
	// loadErr is the last error of the engine loading the flows, logged
	// once; the load is tried again at each look until it succeeds.
	loadErr string
	// diags are the problems of the last load of the flow folder.
	diags atomic.Pointer[flows.Diagnostics]
}

// defaultConfigFile is the config file serve reads unless told.
const defaultConfigFile = "wxflow.yaml"

// sandboxFlows is the flow folder of the sandbox default.
const sandboxFlows = "flows/examples"

// sandboxConfig is the configuration of `wxflow serve` without a config
// file: the sandbox account, the example flows, ./wxflow.db, the console
// on the same loopback address, open, and two operators of the team
// support (always on shift), so that the inbox can be tried at once.
func sandboxConfig() *config.Config {
	return &config.Config{
		Sandbox: true, Listen: config.DefaultListen, Database: config.DefaultDatabase, Flows: sandboxFlows,
		Timezone: time.Local, TimezoneName: "Local",
		Log:             config.LogConfig{Format: config.DefaultLogFormat, Level: config.DefaultLogLevel},
		ShutdownTimeout: config.DefaultShutdownTimeout,
		Admin:           config.AdminConfig{Listen: config.DefaultListen},
		Callback:        config.CallbackConfig{MaxBody: config.DefaultMaxBody, TimestampTolerance: config.DefaultTimestampTolerance, PassiveReplyWait: config.DefaultPassiveReplyWait},
		Operators: []config.OperatorConfig{
			{Name: "amy", Display: "Amy", Teams: []string{"support"}, Token: sandboxAmyToken},
			{Name: "bob", Display: "Bob", Teams: []string{"support"}, Token: sandboxBobToken},
		},
		Teams: map[string]*steps.Hours{"support": nil},
	}
}

// The sandbox operators' tokens. They are not secret: the sandbox runs on
// one machine for trying flows, and docs/config.md prints them.
const (
	sandboxAmyToken = "amy-sandbox-token"
	sandboxBobToken = "bob-sandbox-token"
)

// flowLoadOptions are the options serve loads the config's flows with
// (wxflow plan checks a folder with them too): the accounts' regions and
// sessions, and only the secrets, operators and teams the config
// declares.
func flowLoadOptions(cfg *config.Config) flows.Options {
	opt := flows.Options{Regions: map[string]string{}, CheckSecrets: true, Secrets: cfg.Secrets.Names(), People: cfg.FlowPeople()}
	for _, a := range cfg.Accounts {
		opt.Regions[a.ID] = a.Region
		opt.Accounts = append(opt.Accounts, a.ID)
	}
	sessionOptions(&opt, cfg)
	return opt
}

// newServer builds everything serve runs and loads the flows; a flow
// folder with errors stops it here.
func newServer(ctx context.Context, cfg *config.Config, o serverOptions) (*server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = engine.SystemClock{}
	}
	// Flows may read only the secrets the config declares, and assign
	// only its operators and teams.
	s := &server{cfg: cfg, log: o.Logger, fenced: make(chan struct{}), loadOpt: flowLoadOptions(cfg)}
	warnShortSecrets(s.log, cfg.Secrets)
	s.metrics = metrics.New(func() engine.Stats { return s.engine.Stats() })
	s.metrics.SetBuild(build.Version, build.Go)
	s.metrics.CountOpenConversations(func(ctx context.Context) (map[string]int, error) { return s.engine.OpenByTeam(ctx) })
	print, err := flowsFingerprint(cfg.Flows)
	if err != nil {
		return nil, err
	}
	var handler http.Handler
	if cfg.Sandbox {
		err = s.openSandbox(ctx)
	} else {
		handler, err = s.openAccounts(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	if !cfg.Sandbox { // the sandbox loaded them
		if err := s.load(ctx); err != nil {
			s.closeEngine()
			return nil, err
		}
	}
	s.print = print
	mux := http.NewServeMux()
	if handler != nil {
		mux.Handle(wechat.Prefix, handler)
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	if err := s.openConsole(mux); err != nil {
		s.closeEngine()
		return nil, err
	}
	s.http = s.httpServer(mux)
	return s, nil
}

// openSandbox runs the engine on the sandbox account: the simulated
// channel, a virtual clock kept in the store, the console's simulator.
func (s *server) openSandbox(ctx context.Context) error {
	set, err := s.loadSet()
	if err != nil {
		return err
	}
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, DBPath: s.cfg.Database, Zone: s.cfg.Timezone, Logger: s.log, KeepClock: true, Secrets: s.cfg.Secrets, People: s.cfg.People()})
	if err != nil {
		return err
	}
	s.sandbox, s.engine, s.store = sb, sb.Engine(), sb.Engine().Store()
	return nil
}

// openAccounts opens the store and the WeChat channel of the configured
// accounts, and returns the callback endpoint.
func (s *server) openAccounts(ctx context.Context, o serverOptions) (http.Handler, error) {
	cfg := s.cfg
	st, err := openNodeStore(ctx, cfg.Database, o.Synchronous, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	s.store = st
	if s.writers, err = openWriterStores(ctx, cfg.Database, cfg.Nodes); err != nil {
		st.Close()
		return nil, err
	}
	state := wechatstate.New(st, o.Clock)
	accounts := map[string]*wechat.ChannelAccount{}
	handlerAccounts := map[string]*wechat.CallbackAccount{}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		client, err := wechat.NewClient(wechat.ClientConfig{
			Account: a.ID, AppID: a.AppID, AppSecret: a.AppSecret, APIBase: a.APIBase, TokenMode: a.TokenMode,
			HTTP: o.APIClient, Clock: o.Clock, Tokens: state, Media: state, Uploads: state, Logger: o.Logger,
			Observe: s.metrics.ObserveAPI(a.ID),
		})
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("account %s: %w", a.ID, err)
		}
		s.metrics.CountRefreshes(a.ID, client.Refreshes)
		settings := a.Session
		settings.Region = a.Region
		accounts[a.ID] = &wechat.ChannelAccount{Client: client, Settings: settings, Breaker: o.Breaker}
		ca := &wechat.CallbackAccount{ID: a.ID, Token: a.Token, OriginalID: a.OriginalID, PassiveReply: cfg.PassiveReply(a)}
		if a.AESKey != "" {
			if ca.Cipher, err = wechat.NewCipher(a.AESKey, a.AppID); err == nil && a.AESKeyPrevious != "" {
				ca.Previous, err = wechat.NewCipher(a.AESKeyPrevious, a.AppID)
			}
			if err != nil {
				s.closeStores()
				return nil, fmt.Errorf("account %s: %w", a.ID, err)
			}
		}
		handlerAccounts[a.ID] = ca
	}
	s.engine, err = engine.New(engine.Config{
		Store: st, Channel: wechat.NewChannel(accounts), Clock: o.Clock, Zone: cfg.Timezone, Logger: o.Logger, LoadOptions: s.loadOpt,
		Secrets: cfg.Secrets,
		People:  cfg.People(), AutoClose: cfg.AutoClose(),
		OnFenced: func() { s.fencedOnce.Do(func() { close(s.fenced) }) },
		Writers:  s.writers,
	})
	if err != nil {
		s.closeStores()
		return nil, err
	}
	s.pruner, err = engine.NewPruner(s.engine, engine.PrunerConfig{Retention: cfg.Retention.Retention, Every: cfg.Retention.Every})
	if err != nil {
		s.closeStores()
		return nil, err
	}
	return wechat.NewHandler(wechat.HandlerConfig{
		Accounts: handlerAccounts, Sink: engineSink{s.engine}, Clock: o.Clock, Logger: o.Logger,
		MaxBody: cfg.Callback.MaxBody, TimestampTolerance: cfg.Callback.TimestampTolerance,
		PassiveReplyWait: cfg.Callback.PassiveReplyWait, Observe: s.metrics.ObserveCallback,
	}), nil
}

// loadSet loads the flow folder and keeps its diagnostics for the
// console; a folder with errors is an error that lists them.
func (s *server) loadSet() (*flows.Set, error) {
	set, err := flows.LoadDir(s.cfg.Flows, s.loadOpt)
	if err != nil {
		return nil, err
	}
	diags := set.Diags
	s.diags.Store(&diags)
	if set.Diags.HasErrors() {
		return nil, fmt.Errorf("the flows in %s have errors:\n%s", s.cfg.Flows, set.Diags.Err())
	}
	if len(set.Flows) == 0 {
		s.log.Warn("the flows folder holds no flow: nothing answers the followers until flows are added (they are loaded as they come)", "folder", s.cfg.Flows)
	}
	return set, nil
}

// load loads the flow folder into the engine.
func (s *server) load(ctx context.Context) error {
	set, err := s.loadSet()
	if err != nil {
		return err
	}
	return s.engine.Load(ctx, set)
}

// accountIDs are the ids of the accounts served.
func (s *server) accountIDs() []string {
	if s.sandbox != nil {
		return []string{s.sandbox.Account()}
	}
	ids := make([]string, len(s.cfg.Accounts))
	for i, a := range s.cfg.Accounts {
		ids[i] = a.ID
	}
	return ids
}

// openConsole builds the console and mounts it on the callback server's
// mux when it shares its address, or on its own server. Without a token
// it is off, except for a sandbox alone on a loopback address.
func (s *server) openConsole(mux *http.ServeMux) error {
	if s.cfg.Admin.Token == "" && !(s.sandbox != nil && loopback(s.cfg.Admin.Listen)) {
		s.consoleOff = "set admin.token in the config to turn on the console, its API and /metrics"
		s.log.Warn("console off: no admin.token", "hint", s.consoleOff)
		return nil
	}
	cc := console.Config{
		Engine: s.engine, Sandbox: s.sandbox, Token: s.cfg.Admin.Token, Accounts: s.accountIDs(),
		Diagnostics: func() flows.Diagnostics {
			if d := s.diags.Load(); d != nil {
				return *d
			}
			return nil
		},
		Metrics: s.metrics, Logger: s.log, TrustedProxies: s.cfg.Admin.TrustedProxies,
		ExportOptions: s.exportOptions, Plan: s.plan,
		Zone: s.cfg.Timezone, ZoneName: s.cfg.TimezoneName,
		Operator: s.operatorByToken(), OperatorToken: s.operatorToken(),
		Database: config.DatabaseName(s.cfg.Database), Version: build.Version,
	}
	if pg, ok := s.store.(*postgres.Store); ok {
		cc.Nodes, cc.Self = pg.Nodes, s.nodeIDs
	}
	c, err := console.New(cc)
	if err != nil {
		return err
	}
	s.console = c
	if s.cfg.Admin.Listen == s.cfg.Listen {
		mux.Handle("/", c)
		return nil
	}
	s.admin = s.httpServer(c)
	return nil
}

// nodeIDs are the ids of the server's nodes on PostgreSQL, one per
// writer, for the console's nodes page.
func (s *server) nodeIDs() []string {
	var ids []string
	for _, st := range append([]engine.Store{s.store}, s.writers...) {
		if pg, ok := st.(*postgres.Store); ok {
			ids = append(ids, pg.NodeID())
		}
	}
	return ids
}

// operatorByToken names the operator of a console token (nil without
// operators).
func (s *server) operatorByToken() func(string) (string, bool) {
	if len(s.cfg.Operators) == 0 {
		return nil
	}
	return func(tok string) (string, bool) {
		if o, ok := s.cfg.OperatorByToken(tok); ok {
			return o.Name, true
		}
		return "", false
	}
}

// operatorToken gives an operator's token by name (nil without
// operators): the console checks that a login was made with it.
func (s *server) operatorToken() func(string) (string, bool) {
	if len(s.cfg.Operators) == 0 {
		return nil
	}
	return func(name string) (string, bool) {
		if o, ok := s.cfg.Operator(name); ok && o.Token != "" {
			return o.Token, true
		}
		return "", false
	}
}

// loopback reports whether a host:port address is on the loopback
// interface only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// closeEngine stops the engine and closes the store (a failed start).
func (s *server) closeEngine() {
	if s.sandbox != nil {
		s.sandbox.Close()
		return
	}
	if s.pruner != nil {
		s.pruner.Stop()
	}
	if s.engine != nil {
		s.engine.Stop()
	}
	s.closeStores()
}

// shortSecret is the length under which a secret's value is warned of:
// what a call gives back is redacted by the value's text, wherever it
// stands, so a short value is also found inside other words and numbers.
const shortSecret = 8

// warnShortSecrets warns, by name, of each secret whose value is shorter
// than shortSecret (never showing a value or its length).
func warnShortSecrets(log *slog.Logger, secrets config.SecretValues) {
	for _, name := range secrets.Names() {
		if v := secrets[name]; v != "" && utf8.RuneCountInString(v) < shortSecret {
			log.Warn(fmt.Sprintf("secret %s is shorter than %d characters: what http calls give back is redacted by its text wherever it stands, also inside other words and numbers of an answer, which then read differently (a number becomes a text); give a longer value where the service allows it", name, shortSecret))
		}
	}
}

// flowsFingerprint summarises the flow folder's YAML files (names, sizes,
// modification times, and on Linux inodes and status change times: a
// file replaced by a rename, or copied keeping its modification time,
// with its size unchanged), to notice edits without reading every file. A
// file that is a symbolic link counts by the file it leads to, as
// LoadDir reads that one: a Kubernetes ConfigMap's files are links
// through its ..data link, which an update moves, and a folder of links
// to files kept elsewhere changes only where they lead.
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
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			// A dangling link: LoadDir says so when it cannot read it.
			lines = append(lines, e.Name()+" unreadable")
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %d %d %s", e.Name(), info.Size(), info.ModTime().UnixNano(), fileStamp(info)))
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
// running and logs every diagnostic; the console shows them.
func (s *server) Reload(force bool) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	print, err := flowsFingerprint(s.cfg.Flows)
	if err != nil {
		// Once, not at every look: the folder may be gone for a while
		// (a deploy renaming it); the flows loaded keep running.
		if err.Error() != s.printErr {
			s.printErr = err.Error()
			s.log.Error("reload flows: keeping the flows running", "err", err)
		}
		return
	}
	if s.printErr != "" {
		s.printErr = ""
		s.log.Info("the flows folder can be read again", "folder", s.cfg.Flows)
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
	diags := set.Diags
	s.diags.Store(&diags)
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
		// The store refused it (the database away or locked): the next
		// look tries again, changed files or not, logging the same
		// error once.
		s.print = ""
		if err.Error() != s.loadErr {
			s.loadErr = err.Error()
			s.log.Error("reload flows: keeping the flows running; trying again", "err", err)
		}
		return
	}
	s.loadErr = ""
	if len(set.Flows) == 0 {
		s.log.Warn("flows reloaded: the flows folder holds no flow; no trigger starts a run until flows come back (runs already waiting go on, each on its own version)", "folder", s.cfg.Flows)
		return
	}
	s.log.Info("flows reloaded", "flows", len(set.Flows))
}

// Start listens, then starts the engine and serves. The addresses are
// taken first: a node that cannot have them never joins the nodes
// sharing a database (restarted in a loop, it took lanes from the
// others at every try).
func (s *server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return listenError(err, s.cfg.Listen, "listen")
	}
	if s.admin != nil {
		if s.adminLn, err = net.Listen("tcp", s.cfg.Admin.Listen); err != nil {
			ln.Close()
			return listenError(err, s.cfg.Admin.Listen, "admin.listen")
		}
	}
	if err := s.engine.Start(context.Background()); err != nil {
		ln.Close()
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		return err
	}
	s.ln = ln
	if s.pruner != nil {
		s.pruner.Start(context.Background())
	}
	if s.admin != nil {
		go s.serve(s.admin, s.adminLn, "the console")
	}
	go s.serve(s.http, ln, "the callback server")
	s.log.Info("serving", "addr", ln.Addr().String(), "version", build.Version, "config", s.cfg)
	return nil
}

func (s *server) serve(srv *http.Server, ln net.Listener, what string) {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		s.log.Error(what+" stopped", "err", err)
	}
}

// Addr is the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// ConsoleURL is the console's address, or "" when it is off.
func (s *server) ConsoleURL() string {
	switch {
	case s.console == nil:
		return ""
	case s.adminLn != nil:
		return "http://" + s.adminLn.Addr().String() + "/"
	}
	return "http://" + s.Addr() + "/"
}

// printAddresses tells the operator where everything is.
func (s *server) printAddresses(w io.Writer) {
	if s.sandbox != nil {
		fmt.Fprintf(w, "wxflow sandbox: flows from %s, database %s, the sandbox account on the simulated channel\n", s.cfg.Flows, s.cfg.Database)
	} else {
		fmt.Fprintf(w, "%s%s (callbacks at /wechat/{account}, health at /healthz)\n", servingPrefix, s.Addr())
	}
	if u := s.ConsoleURL(); u != "" {
		fmt.Fprintf(w, "console: %s\n", u)
	} else {
		fmt.Fprintf(w, "console: off (%s)\n", s.consoleOff)
	}
}

// Shutdown stops accepting callbacks, waits for those under way (their
// events are committed), stops the engine (runs stay resumable) and
// closes the store.
func (s *server) Shutdown(ctx context.Context) error {
	if s.console != nil {
		s.console.Close() // its live streams would hold the shutdown
	}
	if s.admin != nil {
		if err := s.admin.Shutdown(ctx); err != nil {
			s.admin.Close()
		}
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		// Callbacks still waiting are answered with an error; WeChat
		// retries them.
		s.http.Close()
	}
	if s.sandbox != nil {
		if cerr := s.sandbox.Close(); cerr != nil && err == nil {
			err = cerr
		}
		return err
	}
	if s.pruner != nil {
		s.pruner.Stop()
	}
	s.engine.Stop()
	if lerr := s.engine.LeaveErr(); lerr != nil && err == nil {
		// serve exits 1: its lanes wait for its lease to end.
		err = fmt.Errorf("leaving the lanes: %w (another node takes them when this node's lease ends)", lerr)
	}
	if cerr := s.closeStores(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Close stops everything at once (a failed start).
func (s *server) Close() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.http != nil {
		s.http.Close()
	}
	s.closeEngine()
}

// healthz answers 200 when the store can be read and written (a write
// is committed through the engine's writer, as events are), 503 when not:
// a full disk must take the node out of a load balancer.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		_, _, err := tx.NextTimer()
		return err
	})
	if err == nil {
		err = s.engine.CheckWrite(ctx)
	}
	if err != nil {
		s.log.Error("health check", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// healthTimeout bounds a health check: a store that takes longer to
// commit is not healthy.
const healthTimeout = 5 * time.Second

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

// servingPrefix starts the line that tells where serve listens.
const servingPrefix = "wxflow serving on http://"

// loadServeConfig reads serve's config; with --database, the file's
// database: is left unread (its ${NAME} need not be set).
func loadServeConfig(path, database string) (*config.Config, error) {
	if database != "" {
		return config.LoadOverridingDatabase(path, os.LookupEnv, database)
	}
	return config.Load(path, os.LookupEnv)
}
