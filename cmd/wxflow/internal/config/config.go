package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone: is checked against the embedded IANA database
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// Config is wxflow serve's configuration, read from a YAML file by
// Load. docs/config.md describes every key.
type Config struct {
	// Listen is the address of the HTTP server (default 127.0.0.1:8080).
	Listen string
	// Database is the store: a SQLite database file (default wxflow.db;
	// a relative path is resolved against the config file's directory) or
	// a PostgreSQL database's postgres:// or postgresql:// URL.
	Database string
	// Flows is the folder of flow files (default flows/). A relative path is
	// resolved against the config file's directory.
	Flows string
	// Timezone is the zone of schedules and opening hours (default the
	// machine's local zone). It is never nil.
	Timezone *time.Location
	// TimezoneName is the zone's IANA name as written, or "Local".
	TimezoneName string
	// Log says how wxflow serve logs.
	Log LogConfig
	// Callback holds the rules of the callback endpoints /wechat/{id}.
	Callback CallbackConfig
	// ShutdownTimeout is how long a stop waits for requests and runs in
	// progress before giving up (default 10s).
	ShutdownTimeout time.Duration
	// Accounts are the Official Accounts served, in the file's order: at
	// least one, unless Sandbox is set.
	Accounts []AccountConfig
	// Sandbox runs the built-in sandbox account on the simulated channel
	// instead of WeChat accounts (`wxflow serve` without a config file).
	Sandbox bool
	// Admin says where the console, its JSON API and /metrics are served.
	Admin AdminConfig
	// Retention says how long the store keeps each kind of data, and how
	// often it is pruned.
	Retention RetentionConfig
	// Nodes says how a node on PostgreSQL keeps its lease (nodes:).
	Nodes NodesConfig
	// File is the path the configuration was loaded from.
	File string
	// Secrets are the values flows read as ${secret.NAME}: each name
	// listed under secrets:, with the value of the environment variable
	// of that name.
	Secrets SecretValues
	// Operators are the people who answer conversations in the console
	// (operators:), in the file's order: round_robin takes them in this
	// order.
	Operators []OperatorConfig
	// Teams are the teams (teams:) by name, each with the business hours
	// when its operators are on shift; nil hours mean always.
	Teams map[string]*steps.Hours
}

// SecretValues maps the names of the secrets flows may read to their values.
// Its String, GoString and LogValue show the names, never a value.
type SecretValues map[string]string

// Names returns the secrets' names, sorted.
func (s SecretValues) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// String lists the names.
func (s SecretValues) String() string { return "secrets[" + strings.Join(s.Names(), " ") + "]" }

// GoString is String.
func (s SecretValues) GoString() string { return s.String() }

// LogValue logs the names.
func (s SecretValues) LogValue() slog.Value { return slog.StringValue(strings.Join(s.Names(), ",")) }

// AdminConfig says where the operator console, its JSON API and /metrics
// listen, and the token they require. Its String, GoString and LogValue
// never show the token.
type AdminConfig struct {
	// Listen is the console's address (default 127.0.0.1:8081). When it
	// is the same as the callback server's, one server serves both.
	Listen string
	// Token is required as a bearer token or through the console's login
	// (a cookie), unless the server runs the sandbox alone on a loopback
	// address. Without it, the console is off.
	Token string `json:"-"`
	// TrustedProxies are the reverse proxies in front of the console
	// (addresses or CIDR prefixes). A request from one of them is counted
	// (for the throttle of wrong tokens) and logged by the client address
	// its X-Forwarded-For names; every other request by its own address,
	// whatever it sends. Empty: no proxy is trusted.
	TrustedProxies []netip.Prefix
}

// String shows where the console listens, not its token.
func (a AdminConfig) String() string {
	return fmt.Sprintf("admin{listen:%s token:%s}", a.Listen, redacted(a.Token))
}

// GoString is String.
func (a AdminConfig) GoString() string { return a.String() }

// LogValue logs where the console listens, not its token.
func (a AdminConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("listen", a.Listen), slog.Bool("token", a.Token != "")}
	if len(a.TrustedProxies) > 0 {
		attrs = append(attrs, slog.Any("trusted_proxies", a.TrustedProxies))
	}
	return slog.GroupValue(attrs...)
}

// redacted stands for a secret: "set" or "unset", never the value.
func redacted(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "set"
}

// RetentionConfig says how long the store keeps each kind of data
// (retention:); zero keeps it forever.
type RetentionConfig struct {
	engine.Retention
	// Every is how often the pruner runs (default 1m).
	Every time.Duration
}

// LogConfig says how wxflow serve logs.
type LogConfig struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is "debug", "info" (default), "warn" or "error".
	Level string
}

// CallbackConfig holds the rules of the callback endpoints, where WeChat
// posts the messages and events of the contacts.
type CallbackConfig struct {
	// MaxBody is the largest request body accepted, in bytes (default 1 MB).
	MaxBody int64
	// TimestampTolerance is how far a callback's signed timestamp may be
	// from the server's clock (default 5m); zero turns the check off.
	TimestampTolerance time.Duration
	// PassiveReply says whether the first reply of a flow may go out in the
	// response to the callback instead of through the customer service API
	// (default false). Accounts may override it.
	PassiveReply bool
	// PassiveReplyWait is how long the callback waits for that first reply
	// before answering "success" (default 1s, less than WeChat's 5s).
	PassiveReplyWait time.Duration
}

// AccountConfig is one Official Account. Its String, GoString and LogValue
// never show its secrets (AppSecret, Token, AESKey, AESKeyPrevious).
type AccountConfig struct {
	// ID names the account in flows and in its callback URL /wechat/{id}.
	ID string
	// AppID is the account's AppID (wx...).
	AppID string
	// AppSecret is the account's AppSecret, used to get access tokens.
	AppSecret string `json:"-"`
	// Token is the Token of the server configuration, used to check the
	// signature of callbacks.
	Token string `json:"-"`
	// AESKey is the EncodingAESKey (43 characters) of the compatible and
	// safe modes; empty means plain mode only.
	AESKey string `json:"-"`
	// AESKeyPrevious is the EncodingAESKey in force before the last change,
	// still accepted for decryption; empty means none.
	AESKeyPrevious string `json:"-"`
	// OriginalID is the account's original ID (gh_...), the FromUserName of
	// passive replies; empty means the ToUserName of the callback.
	OriginalID string
	// Region is "mainland" (default) or "international".
	Region string
	// APIBase is the base URL of WeChat's API, without a trailing slash
	// (default https://api.weixin.qq.com).
	APIBase string
	// TokenMode is "stable" (default, /cgi-bin/stable_token) or "classic"
	// (/cgi-bin/token).
	TokenMode string
	// PassiveReply overrides Callback.PassiveReply for this account when
	// not nil.
	PassiveReply *bool
	// Session holds the account's window and quota rules; its Region is
	// the account's.
	Session wechat.Settings
	// AutoClose is how long a conversation stays open after the contact's
	// last interaction (default engine.DefaultAutoClose, 48h).
	AutoClose time.Duration
	// Line is the line of the account in the config file, for messages.
	Line int
}

// String names the account without its secrets.
func (a AccountConfig) String() string {
	return fmt.Sprintf("account %s (app_id %s, %s)", a.ID, a.AppID, a.Region)
}

// GoString is String, so that %#v does not print the secrets either.
func (a AccountConfig) GoString() string { return a.String() }

// LogValue shows the account's id, app_id and region, never its secrets.
func (a AccountConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("app_id", a.AppID),
		slog.String("region", a.Region),
	)
}

// LogValue shows where the server listens, its files and its accounts
// (without their secrets).
func (c *Config) LogValue() slog.Value {
	ids := make([]string, len(c.Accounts))
	for i, a := range c.Accounts {
		ids[i] = a.ID
	}
	return slog.GroupValue(
		slog.String("file", c.File),
		slog.String("listen", c.Listen),
		slog.String("database", DatabaseName(c.Database)),
		slog.String("flows", c.Flows),
		slog.String("timezone", c.TimezoneName),
		slog.String("accounts", strings.Join(ids, ",")),
		slog.Bool("sandbox", c.Sandbox),
		slog.Any("admin", c.Admin),
		slog.Any("secrets", c.Secrets),
		slog.String("operators", strings.Join(c.OperatorNames(), ",")),
		slog.String("teams", strings.Join(c.TeamNames(), ",")),
	)
}

// Account returns the account with the given id.
func (c *Config) Account(id string) (*AccountConfig, bool) {
	for i := range c.Accounts {
		if c.Accounts[i].ID == id {
			return &c.Accounts[i], true
		}
	}
	return nil, false
}

// PassiveReply says whether account a may reply passively: its own
// passive_reply when set, callback.passive_reply otherwise.
func (c *Config) PassiveReply(a *AccountConfig) bool {
	if a.PassiveReply != nil {
		return *a.PassiveReply
	}
	return c.Callback.PassiveReply
}

// SlogLevel returns the level as a slog.Level.
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Handler returns a slog handler writing to w in the format and from the
// level of the configuration.
func (l LogConfig) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// The defaults of the configuration.
const (
	DefaultListen      = "127.0.0.1:8080"
	defaultAdminListen = "127.0.0.1:8081"
	// minAdminToken is the shortest admin token accepted.
	minAdminToken             = 16
	DefaultDatabase           = "wxflow.db"
	defaultFlows              = "flows/"
	defaultAPIBase            = "https://api.weixin.qq.com"
	defaultTokenMode          = "stable"
	DefaultLogFormat          = "text"
	DefaultLogLevel           = "info"
	DefaultMaxBody            = 1 << 20
	DefaultTimestampTolerance = 5 * time.Minute
	DefaultPassiveReplyWait   = time.Second
	DefaultShutdownTimeout    = 10 * time.Second
	defaultPruneEvery         = time.Minute
	// weChatReplyTimeout is how long WeChat waits for the response to a
	// callback before it gives up and retries.
	weChatReplyTimeout = 5 * time.Second
)

// The keys of each map of the file, in the order of the documentation.
var (
	topKeys       = []string{"listen", "database", "flows", "timezone", "log", "callback", "shutdown_timeout", "admin", "retention", "nodes", "secrets", "sandbox", "operators", "teams", "accounts"}
	retentionKeys = []string{"dedupe", "locations", "runs", "messages", "transcript", "every"}
	adminKeys     = []string{"listen", "token", "trusted_proxies"}
	logKeys       = []string{"format", "level"}
	callbackKeys  = []string{"max_body", "timestamp_tolerance", "passive_reply", "passive_reply_wait"}
	accountKeys   = []string{"id", "app_id", "app_secret", "token", "aes_key", "aes_key_previous", "original_id", "region", "api_base", "token_mode", "passive_reply", "session", "auto_close"}
	sessionKeys   = []string{"window", "message_quota", "event_quota", "event_window"}
	// requiredAccountKeys are the keys every account needs.
	requiredAccountKeys = []string{"id", "app_id", "app_secret", "token"}
)

var (
	appIDPattern      = regexp.MustCompile(`^wx[0-9A-Za-z]{16}$`)
	originalIDPattern = regexp.MustCompile(`^gh_[0-9A-Za-z]+$`)
	tokenPattern      = regexp.MustCompile(`^[0-9A-Za-z]{3,32}$`)
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sizePattern       = regexp.MustCompile(`^(?i)([0-9]+)\s*(b|kb|mb|gb)?$`)
)

// zones are offered as suggestions for misspelt time zones.
var zones = []string{
	"Asia/Shanghai", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
	"Asia/Seoul", "Asia/Kuala_Lumpur", "Asia/Bangkok", "Europe/London", "Europe/Paris", "Europe/Berlin",
	"America/New_York", "America/Los_Angeles", "America/Toronto", "Australia/Sydney", "UTC",
}

// Load reads and checks the config file at path. lookupEnv gives the
// values of ${NAME} references (os.LookupEnv when nil). A file with problems
// returns them all as a flows.Diagnostics, sorted by position.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src, lookupEnv)
}

// Parse checks the config src read from file. Relative database and
// flows paths are resolved against file's directory. lookupEnv gives the
// values of ${NAME} references (os.LookupEnv when nil). A file with problems
// returns them all as a flows.Diagnostics, sorted by position; no message
// ever shows the value of a secret or of an environment variable.
func Parse(file string, src []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(file, src, lookupEnv, false)
}

// LoadWithoutSecrets reads the config file at path as Load does, but for
// the values of its secrets (the accounts' app_secret, token and AES
// keys, the admin and operators' tokens, secrets:), which it neither
// reads from the environment nor checks: the commands that only read
// the store (export-test, plan) need the rest, and a developer exporting
// from a production store should not need its AppSecret. The Config's
// secrets are empty.
func LoadWithoutSecrets(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, src, lookupEnv, true)
}

// LoadOverridingDatabase reads the config file at path as Load does,
// with database given on the command line (serve --database): the
// file's database: is neither expanded nor checked (its ${NAME} need not
// be set), and the Config's Database is database as given.
func LoadOverridingDatabase(path string, lookupEnv func(string) (string, bool), database string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	p := &parser{file: path, lines: strings.Split(string(src), "\n"), env: lookupEnv, skipDatabase: true}
	c, err := p.parse(src)
	if err != nil {
		return nil, err
	}
	c.Database = database
	return c, nil
}

// LoadWithoutSecretsOverridingDatabase reads the config file at path as
// LoadWithoutSecrets does, with database given on the command line
// (export-test --database): the file's database: is neither expanded nor
// checked, as LoadOverridingDatabase leaves it, and the Config's Database
// is database as given.
func LoadWithoutSecretsOverridingDatabase(path string, lookupEnv func(string) (string, bool), database string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	p := &parser{file: path, lines: strings.Split(string(src), "\n"), env: lookupEnv, skipDatabase: true, noSecrets: true}
	c, err := p.parse(src)
	if err != nil {
		return nil, err
	}
	c.Database = database
	return c, nil
}

// parse is Parse, with the secrets left unread when noSecrets is set.
func parse(file string, src []byte, lookupEnv func(string) (string, bool), noSecrets bool) (*Config, error) {
	p := &parser{file: file, lines: strings.Split(string(src), "\n"), env: lookupEnv, noSecrets: noSecrets}
	return p.parse(src)
}

// parse reads src into a Config.
func (p *parser) parse(src []byte) (*Config, error) {
	if p.env == nil {
		p.env = os.LookupEnv
	}
	file := p.file
	c := &Config{
		Listen:          DefaultListen,
		Database:        DefaultDatabase,
		Flows:           defaultFlows,
		Timezone:        time.Local,
		TimezoneName:    "Local",
		Log:             LogConfig{Format: DefaultLogFormat, Level: DefaultLogLevel},
		ShutdownTimeout: DefaultShutdownTimeout,
		Admin:           AdminConfig{Listen: defaultAdminListen},
		Retention:       RetentionConfig{Retention: engine.DefaultRetention, Every: defaultPruneEvery},
		Callback: CallbackConfig{
			MaxBody:            DefaultMaxBody,
			TimestampTolerance: DefaultTimestampTolerance,
			PassiveReplyWait:   DefaultPassiveReplyWait,
		},
		File: file,
	}
	if root := p.document(src); root != nil {
		p.config(root, c)
	}
	if len(p.diags) > 0 {
		p.diags.Sort()
		return nil, p.diags
	}
	dir := ""
	if file != "" {
		dir = filepath.Dir(file)
	}
	c.Database = ResolvePath(dir, c.Database, true)
	c.Flows = ResolvePath(dir, c.Flows, false)
	return c, nil
}

// LoadDatabase reads only the database setting of the config file at
// path, for the commands that need nothing else (backup, copy-store,
// migrate): its ${NAME} references are expanded and it is checked as Load
// does, but the rest of the file is not, so that the accounts' secrets
// need not be in the environment. A file without database: names
// DefaultDatabase; a relative path is resolved against the file's folder.
func LoadDatabase(path string, lookupEnv func(string) (string, bool)) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	p := &parser{file: path, lines: strings.Split(string(src), "\n"), env: lookupEnv}
	db := DefaultDatabase
	if len(bytes.TrimSpace(src)) > 0 {
		if root := p.document(src); root != nil && root.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(root.Content); i += 2 {
				if root.Content[i].Value == "database" {
					if s, ok := p.database(root.Content[i+1]); ok {
						db = s
					}
				}
			}
		}
	}
	if len(p.diags) > 0 {
		p.diags.Sort()
		return "", p.diags
	}
	return ResolvePath(filepath.Dir(path), db, true), nil
}

// database reads the database setting: its text, ${NAME} expanded, and
// checked (CheckDatabase). ok is false for a problem (reported) or an
// empty value (the default).
func (p *parser) database(v *yaml.Node) (string, bool) {
	s, ok := p.text("database", v)
	if !ok || s == "" {
		return "", false
	}
	if postgres.IsURL(v.Value) && !p.urlRefsFit(v) {
		return "", false
	}
	if err := CheckDatabase(s); err != nil {
		p.errorf(v, "", "database: %v", err)
		return "", false
	}
	return s, true
}

// urlRefsFit reports whether the values of the ${NAME} references in a
// database URL's user and password, and in its query's values, fit
// there as they are: a password with @, /, ?, # or a % that starts no
// escape would cut the URL elsewhere than meant (part of the password
// then shows as the host in errors and logs, or is dropped and the
// login fails), and in a query value &, #, + and such a % do the same.
// Each misfit is reported at its reference, never with its value.
func (p *parser) urlRefsFit(n *yaml.Node) bool {
	raw := n.Value
	start := strings.Index(raw, "://") + 3
	// The authority ends at the first /, ? or # outside a reference; the
	// user information at the last @ before that.
	authEnd, userEnd := len(raw), -1
	for i := start; i < len(raw); i++ {
		if strings.HasPrefix(raw[i:], "${") {
			if end := strings.IndexByte(raw[i:], '}'); end > 0 {
				i += end
				continue
			}
		}
		if c := raw[i]; c == '/' || c == '?' || c == '#' {
			authEnd = i
			break
		} else if c == '@' {
			userEnd = i
		}
	}
	query := strings.IndexByte(raw[authEnd:], '?')
	ok := true
	for i := start; i < len(raw); i++ {
		if !strings.HasPrefix(raw[i:], "${") || (i > 0 && raw[i-1] == '$') {
			continue
		}
		end := strings.IndexByte(raw[i:], '}')
		if end < 0 {
			break
		}
		name, def, _ := strings.Cut(raw[i+2:i+end], ":-")
		v, set := p.env(name)
		if !set || v == "" {
			v = def
		}
		var where string
		switch {
		case i < userEnd && urlMisfit(v, "@/?# "):
			where = "the URL's user or password cannot hold as they are (@ / ? # a space, or a % that starts no escape)"
		case query >= 0 && i > authEnd+query && urlMisfit(v, "&#+"):
			where = "a value of the URL's query cannot hold as they are (& # + or a % that starts no escape)"
		}
		if where != "" {
			line, col := p.refPos(n, i)
			p.errorAt(line, col, "percent-encode them in the variable (@ as %40, / as %2F, ? as %3F, # as %23, & as %26, + as %2B, a space as %20, % as %25), or leave the password out of the URL and set PGPASSWORD in wxflow's environment",
				"database: the value of ${%s} holds characters that %s", name, where)
			ok = false
		}
		i += end
	}
	return ok
}

// urlMisfit reports whether v holds one of the characters in reserved,
// or a % that starts no escape (two hex digits).
func urlMisfit(v, reserved string) bool {
	if strings.ContainsAny(v, reserved) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && (i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2])) {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ResolvePath resolves a relative path against dir. SQLite's special
// names (":memory:", "file:" URIs) and PostgreSQL URLs are left alone
// when db is set.
func ResolvePath(dir, path string, db bool) string {
	if db && (path == ":memory:" || strings.HasPrefix(path, "file:") || postgres.IsURL(path)) {
		return path
	}
	if dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// DatabaseName is a database setting as logs and the console show it: a
// PostgreSQL URL without its password. A setting CheckDatabase refuses is
// shown without its password too (any URL's, or a keyword's).
func DatabaseName(database string) string {
	switch {
	case strings.HasPrefix(database, "file:"):
		return database
	case postgres.IsURL(database), dbScheme.MatchString(database):
		return postgres.Redact(database)
	case dbKeywords.MatchString(database):
		return dbKeywordSecret.ReplaceAllString(database, "${1}xxxxx")
	}
	return database
}

var (
	// dbScheme is a URL's scheme at the start of a database setting.
	dbScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
	// dbKeywords are the keywords of a libpq connection string
	// ("host=db dbname=wxflow user=wx").
	dbKeywords = regexp.MustCompile(`(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|sslmode|sslpassword|service|connect_timeout|application_name|options|target_session_attrs)\s*=`)
	// dbKeywordSecret is a secret's value in such a string, quoted or not.
	dbKeywordSecret = regexp.MustCompile(`((?:^|\s)(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)
)

// CheckDatabase says why a database setting names no store wxflow can
// use, or returns nil. A store is a SQLite file's path ("file:" URIs of a
// file are passed to SQLite as they are) or a postgres:// or
// postgresql:// URL. Refused: an in-memory database (":memory:",
// mode=memory: sqlite.ErrInMemory), a URL of any other scheme (mysql://,
// sqlite://, POSTGRES://), which SQLite would otherwise take as a path and
// create, and a PostgreSQL connection string of keywords (host=db
// dbname=wxflow). The error never repeats the setting, which may hold a
// password.
func CheckDatabase(database string) error {
	if sqlite.InMemory(database) {
		return sqlite.ErrInMemory
	}
	if postgres.IsURL(database) || strings.HasPrefix(database, "file:") {
		return nil
	}
	if m := dbScheme.FindStringSubmatch(database); m != nil {
		scheme := strings.ToLower(m[1])
		switch scheme {
		case "postgres", "postgresql":
			return fmt.Errorf("write the URL's scheme in lower case, %s://", scheme)
		case "sqlite", "sqlite3":
			return fmt.Errorf("a %s:// URL is not a path: write the SQLite file's path itself (database: /var/lib/wxflow/wxflow.db)", scheme)
		}
		return fmt.Errorf("a %s:// URL is not a store wxflow can use: it takes a SQLite file's path or a postgres:// URL", scheme)
	}
	if dbKeywords.MatchString(database) {
		return errors.New("a PostgreSQL connection string of keywords (host=... dbname=...) is not a store wxflow takes: write it as a URL, postgres://USER:PASSWORD@HOST:5432/DBNAME?sslmode=require")
	}
	return nil
}

// parser walks the YAML tree of a config file and collects its problems.
type parser struct {
	file  string
	lines []string
	env   func(string) (string, bool)
	diags flows.Diagnostics
	// tokenNodes are the operators' token values by operator name.
	tokenNodes map[string]*yaml.Node
	// skipDatabase leaves database: unread (LoadOverridingDatabase).
	skipDatabase bool
	// noSecrets leaves the secrets' values unread (LoadWithoutSecrets):
	// their keys count as given, their ${NAME} are not expanded.
	noSecrets bool
	// expanded are the values of the nodes whose ${NAME} expand put an
	// environment variable's value in: errorf shows the text written
	// (${NAME}) instead.
	expanded map[*yaml.Node]string
}

// errorAt reports a problem at a line and column.
func (p *parser) errorAt(line, col int, hint, format string, args ...any) {
	p.diags = append(p.diags, flows.Diagnostic{
		File: p.file, Line: line, Col: col, Severity: flows.SeverityError,
		Message: fmt.Sprintf(format, args...), Hint: hint,
	})
}

// errorf reports a problem at a node. A value the node got from the
// environment is shown as written (${NAME}), never as its value.
func (p *parser) errorf(n *yaml.Node, hint, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v, ok := p.expanded[n]; ok && v != "" {
		value, written := strconv.Quote(v), strconv.Quote(n.Value)
		msg = strings.ReplaceAll(msg, value, written)
		hint = strings.ReplaceAll(hint, value, written)
	}
	p.errorAt(n.Line, n.Column, hint, "%s", msg)
}

// document parses src and returns its root node, or nil when there is
// nothing to walk (the problem is reported).
func (p *parser) document(src []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorAt(1, 1, noAccountsHint, "no accounts: add at least one under accounts:")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorAt(extra.Line, extra.Column, "remove the second document", "a config file holds one document, but this one has another after ---")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root
}

// yamlError reports a syntax error where flows.PlaceYAMLError puts it.
func (p *parser) yamlError(err error) {
	s := flows.PlaceYAMLError([]byte(strings.Join(p.lines, "\n")), err)
	p.errorAt(s.Line, s.Col, s.Hint, "YAML syntax error: %s", s.Message)
}

// deref follows aliases.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether a node is empty (`key:` or `key: null`).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names the kind of a node for messages, never its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "true/false"
		case "!!int", "!!float":
			return "a number"
		}
		return "text"
	}
	return "an alias"
}

// yamlMap is a checked map: its known keys and their values.
type yamlMap struct {
	node   *yaml.Node
	order  []string
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
	// misspelt holds the known keys that an unknown key is a likely typo
	// of: they are not reported missing as well.
	misspelt map[string]bool
}

// get returns the value of key, or nil when it is not given.
func (m *yamlMap) get(key string) *yaml.Node { return m.values[key] }

// mapping checks that n is a map of the known keys and returns them. what
// names the map in messages ("" for the top level); elsewhere, when not
// nil, gives a hint for a key that belongs in another map.
func (p *parser) mapping(n *yaml.Node, what string, known []string, elsewhere func(string) string) (*yamlMap, bool) {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		subject, hint := what, ""
		if what == "" {
			subject, hint = "the config", "start with accounts: and the keys of each account under it"
		}
		p.errorf(n, hint, "%s must be a map of keys, got %s", subject, describe(n))
		return nil, false
	}
	in := ""
	if what != "" {
		in = " in " + what
	}
	m := &yamlMap{node: n, keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}, misspelt: map[string]bool{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "", "a key must be a name, got %s", describe(k))
			continue
		}
		if k.Value == "<<" {
			p.errorf(k, "write the keys out", "merge keys (<<) are not supported")
			continue
		}
		if first, dup := m.keys[k.Value]; dup {
			p.errorf(k, fmt.Sprintf("it is first given at line %d", first.Line), "duplicate key %q%s", k.Value, in)
			continue
		}
		if !contains(known, k.Value) {
			hint := flows.DidYouMean(k.Value, known)
			if hint != "" {
				// Find the key the hint names.
				for _, c := range known {
					if hint == flows.DidYouMean(c, []string{c}) {
						m.misspelt[c] = true
					}
				}
			} else if elsewhere != nil {
				hint = elsewhere(k.Value)
			}
			if hint == "" {
				hint = "the keys are " + strings.Join(known, ", ")
			}
			p.errorf(k, hint, "unknown key %q%s", k.Value, in)
			continue
		}
		m.order = append(m.order, k.Value)
		m.keys[k.Value] = k
		m.values[k.Value] = p.deref(v)
	}
	return m, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// plainTags are the YAML tags a value may be written with: a text, a
// number, true or false.
var plainTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true}

// text returns a value read as text, with ${NAME} expanded in YAML strings.
// An empty value (`key:` or `key: ""`) is "". ok is false when a problem was
// reported.
func (p *parser) text(key string, n *yaml.Node) (string, bool) {
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "", "%s must be text, got %s", key, describe(n))
		return "", false
	}
	if !strings.HasPrefix(n.Tag, "!!") || (n.Style&yaml.TaggedStyle != 0 && !plainTags[n.Tag]) {
		// A tag written out other than YAML's plain kinds (!!binary, or
		// a run of !) read as "": an aes_key so written turned the
		// account to plain mode without a word.
		p.errorf(n, "write ${NAME} for the environment variable NAME", "YAML tags such as %s are not supported", n.Tag)
		return "", false
	}
	if n.Tag != "!!str" {
		return n.Value, true // a number or true/false, read as written
	}
	return p.expand(n)
}

// expand replaces ${NAME} and ${NAME:-default} in a string value by the
// environment's values, and $${ by ${. It reports unset variables by name
// and never shows a value.
func (p *parser) expand(n *yaml.Node) (string, bool) {
	s := n.Value
	if !strings.Contains(s, "${") {
		return s, true
	}
	const literal = "write $${ for a literal ${"
	var b strings.Builder
	ok := true
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				line, col := p.refPos(n, i)
				p.errorAt(line, col, literal, "${ is not closed by }")
				return "", false
			}
			ref := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			line, col := p.refPos(n, i)
			switch v, set := p.env(name); {
			case !envNamePattern.MatchString(name):
				p.errorAt(line, col, literal, "${...} must name an environment variable: letters, digits and _, not starting with a digit")
				ok = false
			case hasDef && strings.Contains(def, "${"):
				p.errorAt(line, col, "", "the default of ${%s:-...} cannot contain another ${...}", name)
				ok = false
			case set && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				p.errorAt(line, col, fmt.Sprintf("set it in the environment of the wxflow command that reads this config, or give a default: ${%s:-default}", name), "%s is not set", name)
				ok = false
			}
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	if ok {
		if p.expanded == nil {
			p.expanded = map[*yaml.Node]string{}
		}
		p.expanded[n] = b.String()
	}
	return b.String(), ok
}

// refPos returns the position of the reference at byte offset off of a
// scalar's value: its own when the source line shows it there (one-line
// values without escapes before it), the value's start otherwise.
func (p *parser) refPos(n *yaml.Node, off int) (line, col int) {
	if n.Line < 1 || n.Line > len(p.lines) {
		return n.Line, n.Column
	}
	start := n.Column
	if n.Style == yaml.SingleQuotedStyle || n.Style == yaml.DoubleQuotedStyle {
		start++ // the opening quote
	}
	col = start + utf8.RuneCountInString(n.Value[:off])
	ref := n.Value[off:]
	if j := strings.IndexByte(ref, '}'); j >= 0 {
		ref = ref[:j+1]
	}
	if src := []rune(p.lines[n.Line-1]); col >= 1 && col-1 <= len(src) && strings.HasPrefix(string(src[col-1:]), ref) {
		return n.Line, col
	}
	return n.Line, n.Column
}

// boolean returns a true/false value.
func (p *parser) boolean(key string, n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		hint := "write true or false, without quotes"
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			hint = "${...} is expanded only in text values, not in true/false"
		}
		p.errorf(n, hint, "%s must be true or false, got %s", key, describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "write true or false", "%s must be true or false", key)
		return false, false
	}
	return b, true
}

// integer returns a whole number.
func (p *parser) integer(key string, n *yaml.Node) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		hint := ""
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			hint = "${...} is expanded only in text values, not in numbers"
		}
		p.errorf(n, hint, "%s must be a whole number, got %s", key, describe(n))
		return 0, false
	}
	return v, true
}

// duration returns a duration such as 30s, 10m, 48h or 7d; given is false
// when the value is empty. A zero is accepted only when zero is set.
func (p *parser) duration(key string, n *yaml.Node, zero bool) (d time.Duration, given, ok bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" && n.Value == "0" {
		if !zero {
			p.errorf(n, "", "%s must be longer than zero", key)
			return 0, true, false
		}
		return 0, true, true
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		p.errorf(n, fmt.Sprintf("write %ss for seconds or %sm for minutes", n.Value, n.Value), "%s needs a unit", key)
		return 0, true, false
	}
	s, ok := p.text(key, n)
	if !ok {
		return 0, true, false
	}
	if s == "" {
		return 0, false, true
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.errorf(n, "write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d", "%s %q is not a duration: %v", key, s, err)
		return 0, true, false
	}
	if d == 0 && !zero {
		p.errorf(n, "", "%s must be longer than zero", key)
		return 0, true, false
	}
	return d, true, true
}

// ParseDuration parses Go's durations (300ms, 1.5h, 2h45m) plus days
// (7d, 1d12h). A leading - gives a negative duration. Its errors say what
// is wrong without repeating s.
func ParseDuration(s string) (time.Duration, error) {
	rest, neg := s, false
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	if rest == "0" {
		return 0, nil
	}
	if rest == "" {
		return 0, errors.New("no number")
	}
	const limit = time.Duration(1 << 62)
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		switch {
		case num == "":
			return 0, fmt.Errorf("%q is not a number", unit)
		case unit == "":
			return 0, fmt.Errorf("%s has no unit", num)
		}
		f, err := strconv.ParseFloat(num, 64)
		if errors.Is(err, strconv.ErrRange) && f > 0 {
			return 0, errors.New("too long") // more digits than a float holds
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", num)
		}
		var d time.Duration
		if unit == "d" {
			if f*float64(24*time.Hour) >= float64(limit) {
				return 0, errors.New("too long")
			}
			d = time.Duration(f * float64(24*time.Hour))
		} else if d, err = time.ParseDuration(num + unit); err != nil {
			if f > 0 && !strings.Contains(err.Error(), "unknown unit") {
				return 0, errors.New("too long")
			}
			return 0, fmt.Errorf("unknown unit %q", unit)
		}
		if d >= limit || total >= limit {
			return 0, errors.New("too long")
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// oneOf returns a value that must be one of a few words.
func (p *parser) oneOf(key string, n *yaml.Node, words ...string) (string, bool) {
	s, ok := p.text(key, n)
	if !ok || s == "" {
		return "", ok
	}
	if contains(words, s) {
		return s, true
	}
	list := strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
	if len(words) == 2 {
		list = words[0] + " or " + words[1]
	}
	p.errorf(n, flows.DidYouMean(s, words), "%s must be %s, not %q", key, list, s)
	return "", false
}

// config walks the top level of the file.
func (p *parser) config(root *yaml.Node, c *Config) {
	root = p.deref(root)
	if isNull(root) {
		p.errorAt(1, 1, noAccountsHint, "no accounts: add at least one under accounts:")
		return
	}
	m, ok := p.mapping(root, "", topKeys, topElsewhere)
	if !ok {
		return
	}
	for _, key := range m.order {
		v := m.get(key)
		switch key {
		case "listen":
			if s, ok := p.text(key, v); ok && s != "" {
				if p.checkListen(v, s) {
					c.Listen = s
				}
			}
		case "database":
			if p.skipDatabase {
				continue // the command line gives it (LoadOverridingDatabase)
			}
			if s, ok := p.database(v); ok {
				c.Database = s
			}
		case "flows":
			if s, ok := p.text(key, v); ok && s != "" {
				c.Flows = s
			}
		case "timezone":
			if s, ok := p.text(key, v); ok && s != "" {
				if loc, ok := p.timezone(v, s); ok {
					c.Timezone, c.TimezoneName = loc, s
				}
			}
		case "log":
			p.logConfig(v, &c.Log)
		case "callback":
			p.callback(v, &c.Callback)
		case "shutdown_timeout":
			if d, given, ok := p.duration(key, v, false); ok && given {
				if d < 0 {
					p.errorf(v, "", "shutdown_timeout must not be negative")
				} else {
					c.ShutdownTimeout = d
				}
			}
		case "admin":
			p.admin(v, &c.Admin)
		case "retention":
			p.retention(v, &c.Retention)
		case "nodes":
			p.nodes(v, &c.Nodes)
		case "sandbox":
			if b, ok := p.boolean(key, v); ok {
				c.Sandbox = b
			}
		case "accounts":
			c.Accounts = p.accounts(v)
		case "secrets":
			c.Secrets = p.secrets(v)
		case "teams":
			c.Teams = p.teams(v)
		}
	}
	if v := m.get("operators"); v != nil {
		// A misspelt teams: is reported once, not at every team it declares.
		c.Operators = p.operators(v, c.Teams, m.get("teams") != nil, !m.misspelt["teams"])
		p.checkOperatorTokens(c.Operators, c.Admin.Token)
	}
	switch {
	case c.Sandbox && m.get("accounts") != nil:
		p.errorf(m.get("sandbox"), "remove accounts: to try flows in the sandbox, or sandbox: to serve the accounts", "sandbox: true runs the sandbox account alone; it cannot be combined with accounts:")
	case !c.Sandbox && m.get("accounts") == nil && !m.misspelt["accounts"]:
		p.errorf(m.node, noAccountsHint, "no accounts: add at least one under accounts:")
	}
}

// noAccountsHint points at the sandbox for who has no account yet.
const noAccountsHint = "or write sandbox: true to run the flows on the built-in sandbox account"

// section walks an optional mapping: nothing when it is null, else each
// known key's value, in the file's order.
func (p *parser) section(n *yaml.Node, what string, known []string, field func(key string, v *yaml.Node)) {
	if isNull(n) {
		return
	}
	m, ok := p.mapping(n, what, known, nil)
	if !ok {
		return
	}
	for _, key := range m.order {
		field(key, m.get(key))
	}
}

// admin walks admin:.
func (p *parser) admin(n *yaml.Node, a *AdminConfig) {
	p.section(n, "admin", adminKeys, func(key string, v *yaml.Node) {
		switch key {
		case "listen":
			if s, ok := p.text(key, v); ok && s != "" && p.checkListen(v, s) {
				a.Listen = s
			}
		case "token":
			if p.noSecrets {
				return
			}
			s, ok := p.text(key, v)
			switch {
			case !ok:
			case s != "" && len(s) < minAdminToken:
				p.errorf(v, "generate one with: openssl rand -hex 24", "admin token is too short (%d characters; at least %d)", len(s), minAdminToken)
			case strings.ContainsAny(s, " \t\r\n"):
				p.errorf(v, "", "admin token must not contain spaces")
			default:
				a.Token = s
			}
		case "trusted_proxies":
			a.TrustedProxies = p.trustedProxies(v)
		}
	})
}

// trustedProxiesHint is how trusted_proxies is written, and
// trustedProxyHint how one of its entries is.
const (
	trustedProxiesHint = "write the proxies' addresses or networks: trusted_proxies: [127.0.0.1, 10.0.0.0/8]"
	trustedProxyHint   = "write an address (10.0.0.5, ::1) or a network in CIDR form (10.0.0.0/8, fd00::/8)"
)

// trustedProxies walks admin: trusted_proxies:, a list of IP addresses
// and CIDR prefixes. A prefix that takes in every address is refused:
// any client could then choose the address it is throttled by.
func (p *parser) trustedProxies(n *yaml.Node) []netip.Prefix {
	n = p.deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		p.errorf(n, fmt.Sprintf("write a list: trusted_proxies: [%s]", n.Value), "trusted_proxies must be a list of addresses, got %s", describe(n))
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, trustedProxiesHint, "trusted_proxies must be a list of addresses, got %s", describe(n))
		return nil
	}
	var out []netip.Prefix
	for _, item := range n.Content {
		item = p.deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			p.errorf(item, trustedProxiesHint, "a trusted proxy is an address or a network, got %s", describe(item))
			continue
		}
		s := strings.TrimSpace(item.Value)
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pfx, err = netip.ParsePrefix(s); err != nil {
				p.errorf(item, trustedProxyHint, "trusted proxy %q is not a network", s)
				continue
			}
			pfx = pfx.Masked()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				p.errorf(item, trustedProxyHint, "trusted proxy %q is not an IP address", s)
				continue
			}
			a = a.Unmap()
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Addr().Is4In6() {
			p.errorf(item, "write the IPv4 network itself (10.0.0.0/8)", "trusted proxy %q is an IPv4 network written as IPv6", s)
			continue
		}
		if pfx.Bits() == 0 {
			p.errorf(item, "name the proxies' own addresses or network: X-Forwarded-For is believed only from them", "trusted proxy %q takes in every address: any client could choose the address its wrong tokens are counted by", s)
			continue
		}
		if slices.Contains(out, pfx) {
			p.errorf(item, "", "trusted proxy %s is listed twice", s)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// retention walks retention:.
func (p *parser) retention(n *yaml.Node, r *RetentionConfig) {
	p.section(n, "retention", retentionKeys, func(key string, v *yaml.Node) {
		if key == "every" {
			if d, given, ok := p.duration(key, v, false); ok && given {
				if d < time.Second {
					p.errorf(v, "the pruner deletes a small batch at a time; 1m is enough for most stores", "retention every must be at least 1s")
				} else {
					r.Every = d
				}
			}
			return
		}
		d, ok := p.keepFor(key, v)
		if !ok {
			return
		}
		switch key {
		case "dedupe":
			r.Dedupe = d
		case "locations":
			r.Locations = d
		case "runs":
			r.Runs = d
		case "messages":
			r.Messages = d
		case "transcript":
			r.Transcript = d
		}
	})
}

// keepFor returns how long a retention keeps its data: a duration of at
// least engine.MinRetention, or 0 or forever for no end.
func (p *parser) keepFor(key string, n *yaml.Node) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == "forever" {
		return 0, true
	}
	d, given, ok := p.duration(key, n, true)
	switch {
	case !ok || !given:
		return 0, false
	case d < 0:
		p.errorf(n, "write 0 or forever to keep it for good", "retention %s must not be negative", key)
		return 0, false
	case d > 0 && d < engine.MinRetention:
		hint := "write 0 or forever to keep it for good"
		if key == "dedupe" {
			hint = "WeChat retries a callback 3 times within about 15 seconds: its dedupe key must outlive the retries (the default is 24h)"
		}
		p.errorf(n, hint, "retention %s must be at least %s", key, minRetentionText)
		return 0, false
	}
	return d, true
}

// minRetentionText is engine.MinRetention as the config writes it.
const minRetentionText = "1m"

// secrets walks secrets:, a list of names, and reads each one's value
// from the environment variable of that name. A name whose variable is
// unset or empty is an error; no message shows a value.
func (p *parser) secrets(n *yaml.Node) SecretValues {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "list the names: secrets: [CRM_KEY, CRM_TOKEN]", "secrets must be a list of names, got %s", describe(n))
		return nil
	}
	out := SecretValues{}
	for _, item := range n.Content {
		item = p.deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) || item.Tag != "!!str" {
			p.errorf(item, "list the names: secrets: [CRM_KEY, CRM_TOKEN]", "a secret is a name, got %s", describe(item))
			continue
		}
		name := item.Value
		if strings.Contains(name, "${") {
			p.errorf(item, fmt.Sprintf("write the name alone: %s; the value comes from the environment variable of that name", strings.Trim(name, "${}")), "a secret is named, not given: ${...} is not expanded here")
			continue
		}
		if !envNamePattern.MatchString(name) {
			p.errorf(item, "letters, digits and _, not starting with a digit: the name of an environment variable", "invalid secret name %q", name)
			continue
		}
		if _, dup := out[name]; dup {
			p.errorf(item, "", "secret %s is listed twice", name)
			continue
		}
		if p.noSecrets {
			out[name] = ""
			continue
		}
		v, set := p.env(name)
		switch {
		case !set:
			p.errorf(item, fmt.Sprintf("set the environment variable %s for wxflow serve, or remove the secret from the list", name), "secret %s is not set", name)
		case v == "":
			p.errorf(item, fmt.Sprintf("the environment variable %s is empty", name), "secret %s is empty", name)
		default:
			out[name] = v
		}
	}
	return out
}

// topElsewhere hints where a key of another map goes.
func topElsewhere(key string) string {
	switch {
	case contains(accountKeys, key) || contains(sessionKeys, key):
		return fmt.Sprintf("%s belongs to an account: put it under accounts:", key)
	case contains(callbackKeys, key):
		return fmt.Sprintf("%s goes under callback:", key)
	case contains(logKeys, key):
		return fmt.Sprintf("%s goes under log:", key)
	case contains(retentionKeys, key):
		return fmt.Sprintf("%s goes under retention:", key)
	case contains(nodesKeys, key):
		return fmt.Sprintf("%s goes under nodes:", key)
	case key == "token":
		return "token: belongs to an account, or to admin: for the console, or to an operator"
	case contains(operatorKeys, key):
		return fmt.Sprintf("%s belongs to an operator: put it under operators:, under the operator's name", key)
	}
	return ""
}

// checkListen checks a host:port address.
func (p *parser) checkListen(n *yaml.Node, s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		if num, perr := strconv.Atoi(port); perr != nil || num < 0 || num > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		p.errorf(n, "write 127.0.0.1:8080 to listen on this machine only, or :8080 to listen on every interface", "listen must be host:port, not %q", s)
		return false
	}
	return true
}

// timezone loads an IANA time zone; "Local" is the machine's.
func (p *parser) timezone(n *yaml.Node, name string) (*time.Location, bool) {
	if name == "Local" {
		return time.Local, true
	}
	var loc *time.Location
	err := errors.New("unknown time zone")
	if !strings.HasPrefix(name, "/") && !strings.Contains(name, "..") {
		loc, err = time.LoadLocation(name)
	}
	if err != nil {
		hint := flows.DidYouMean(name, zones)
		if hint == "" {
			hint = "use an IANA name such as Asia/Shanghai, or leave timezone out for the machine's zone"
		}
		p.errorf(n, hint, "unknown time zone %q", name)
		return nil, false
	}
	return loc, true
}

// logConfig walks log:.
func (p *parser) logConfig(n *yaml.Node, l *LogConfig) {
	p.section(n, "log", logKeys, func(key string, v *yaml.Node) {
		switch key {
		case "format":
			if s, ok := p.oneOf("format", v, "text", "json"); ok && s != "" {
				l.Format = s
			}
		case "level":
			if s, ok := p.oneOf("level", v, "debug", "info", "warn", "error"); ok && s != "" {
				l.Level = s
			}
		}
	})
}

// callback walks callback:.
func (p *parser) callback(n *yaml.Node, cb *CallbackConfig) {
	p.section(n, "callback", callbackKeys, func(key string, v *yaml.Node) {
		switch key {
		case "max_body":
			if size, ok := p.size(key, v); ok && size > DefaultMaxBody {
				p.errorf(v, "WeChat's callbacks are a few KB; the callback parser reads no more than 1MB", "max_body must be at most 1MB")
			} else if ok && size > 0 {
				cb.MaxBody = size
			}
		case "timestamp_tolerance":
			if d, given, ok := p.duration(key, v, true); ok && given {
				if d < 0 {
					p.errorf(v, "write 0 to turn the check off", "timestamp_tolerance must not be negative")
				} else {
					cb.TimestampTolerance = d
				}
			}
		case "passive_reply":
			if b, ok := p.boolean(key, v); ok {
				cb.PassiveReply = b
			}
		case "passive_reply_wait":
			if d, given, ok := p.duration(key, v, false); ok && given {
				switch {
				case d < 0:
					p.errorf(v, "", "passive_reply_wait must not be negative")
				case d >= weChatReplyTimeout:
					p.errorf(v, "WeChat stops waiting for the response after 5 seconds and sends the callback again", "passive_reply_wait must be shorter than 5s")
				default:
					cb.PassiveReplyWait = d
				}
			}
		}
	})
}

// size returns a size in bytes: a number of bytes, or a number with the
// unit B, KB, MB or GB (powers of 1024). 0 means not given.
func (p *parser) size(key string, n *yaml.Node) (int64, bool) {
	s, ok := p.text(key, n)
	if !ok || s == "" {
		return 0, ok
	}
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(s))
	var v int64
	if m != nil {
		var err error
		v, err = strconv.ParseInt(m[1], 10, 64)
		shift := map[string]uint{"": 0, "b": 0, "kb": 10, "mb": 20, "gb": 30}[strings.ToLower(m[2])]
		if err != nil || v > (1<<62)>>shift {
			m = nil
		} else {
			v <<= shift
		}
	}
	if m == nil {
		p.errorf(n, "write it like 1MB, 512KB, or 65536 for bytes", "%s must be a size, not %q", key, s)
		return 0, false
	}
	if v <= 0 {
		p.errorf(n, "", "%s must be larger than zero", key)
		return 0, false
	}
	return v, true
}

// accounts walks accounts:.
func (p *parser) accounts(n *yaml.Node) []AccountConfig {
	if isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		p.errorf(n, noAccountsHint, "no accounts: add at least one under accounts:")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "start each account with a dash: - id: main", "accounts must be a list, got %s", describe(n))
		return nil
	}
	var out []AccountConfig
	ids := map[string]int{}     // id -> line
	appIDs := map[string]int{}  // app_id -> index in out
	origIDs := map[string]int{} // original_id -> index in out
	for _, item := range n.Content {
		a, m, ok := p.account(item)
		if !ok {
			continue
		}
		if a.ID != "" {
			if line, dup := ids[a.ID]; dup {
				p.errorf(m.get("id"), fmt.Sprintf("it is first given at line %d; ids name the callback URL /wechat/{id} and must differ", line), "account id %q is used twice", a.ID)
			} else {
				ids[a.ID] = m.get("id").Line
			}
		}
		// Each Official Account once: by its app_id and its original_id.
		unique := func(seen map[string]int, key, v, hint string) {
			if v == "" {
				return
			}
			if i, dup := seen[v]; dup {
				p.errorf(m.get(key), hint, "%s %s is also the %s of account %q (line %d)", key, v, key, out[i].ID, out[i].Line)
			} else {
				seen[v] = len(out)
			}
		}
		unique(appIDs, "app_id", a.AppID, "give each Official Account one entry")
		unique(origIDs, "original_id", a.OriginalID, "each Official Account has its own original ID (gh_...): callbacks are told apart by it")
		out = append(out, a)
	}
	return out
}

// accountElsewhere hints where a key of another map goes.
func accountElsewhere(key string) string {
	switch {
	case contains(sessionKeys, key):
		return fmt.Sprintf("%s goes under session:", key)
	case contains(topKeys, key):
		return fmt.Sprintf("%s goes at the top level, not in an account", key)
	case contains(callbackKeys, key):
		return fmt.Sprintf("%s goes under callback: at the top level", key)
	}
	return ""
}

// account walks one account. ok is false when it is not a map.
func (p *parser) account(n *yaml.Node) (AccountConfig, *yamlMap, bool) {
	n = p.deref(n)
	a := AccountConfig{Line: n.Line, Region: wechat.RegionMainland, APIBase: defaultAPIBase, TokenMode: defaultTokenMode, AutoClose: engine.DefaultAutoClose}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "write - id: main, then app_id:, app_secret: and token: under it", "an account must be a map of keys, got %s", describe(n))
		return a, nil, false
	}
	m, _ := p.mapping(n, "an account", accountKeys, accountElsewhere)
	for _, key := range m.order {
		v := m.get(key)
		switch key {
		case "id":
			a.ID = p.accountID(v)
		case "app_id":
			if s, ok := p.text(key, v); ok && s != "" {
				if appIDPattern.MatchString(s) {
					a.AppID = s
				} else {
					p.errorf(v, "copy the AppID from the admin console: Settings and Development > Basic Configuration", "app_id must be wx and 16 letters or digits, like wx0123456789abcdef")
				}
			}
		case "app_secret":
			if p.noSecrets {
				continue
			}
			if s, ok := p.text(key, v); ok && s != "" {
				if p.checkSecret(key, v, s) {
					a.AppSecret = s
				}
			}
		case "token":
			if p.noSecrets {
				continue
			}
			if s, ok := p.text(key, v); ok && s != "" {
				if tokenPattern.MatchString(s) {
					a.Token = s
				} else {
					p.errorf(v, "it is the Token of the server configuration in the admin console", "token must be 3 to 32 letters or digits")
				}
			}
		case "aes_key", "aes_key_previous":
			if p.noSecrets {
				continue
			}
			if s, ok := p.text(key, v); ok && s != "" {
				if p.checkAESKey(key, v, s) {
					if key == "aes_key" {
						a.AESKey = s
					} else {
						a.AESKeyPrevious = s
					}
				}
			}
		case "original_id":
			if s, ok := p.text(key, v); ok && s != "" {
				if originalIDPattern.MatchString(s) {
					a.OriginalID = s
				} else {
					p.errorf(v, "it is the Original ID of the account's details in the admin console, or leave original_id out", "original_id must be gh_ and letters or digits, like gh_0123456789ab")
				}
			}
		case "region":
			if s, ok := p.text(key, v); ok && s != "" {
				if s == wechat.RegionMainland || s == wechat.RegionInternational {
					a.Region = s
				} else {
					p.errorf(v, flows.DidYouMean(s, []string{wechat.RegionMainland, wechat.RegionInternational}), "region must be mainland or international, not %q", s)
				}
			}
		case "api_base":
			if s, ok := p.text(key, v); ok && s != "" {
				if base, ok := p.apiBase(v, s); ok {
					a.APIBase = base
				}
			}
		case "token_mode":
			if s, ok := p.oneOf(key, v, "stable", "classic"); ok && s != "" {
				a.TokenMode = s
			}
		case "passive_reply":
			if b, ok := p.boolean(key, v); ok {
				a.PassiveReply = &b
			}
		case "session":
			a.Session = p.session(v)
		case "auto_close":
			if d, given, ok := p.duration(key, v, false); ok && given {
				if d < 0 {
					p.errorf(v, "write how long a conversation stays open after the contact's last message, like 24h", "auto_close must be longer than zero")
				} else {
					a.AutoClose = d
				}
			}
		}
	}
	who := "account"
	if a.ID != "" {
		who = fmt.Sprintf("account %q", a.ID)
	}
	for _, key := range requiredAccountKeys {
		v := m.get(key)
		switch {
		case v == nil && !m.misspelt[key]:
			p.errorf(m.node, "every account needs id, app_id, app_secret and token", "%s has no %s", who, key)
		case v != nil && isNull(v):
			p.errorf(v, "", "%s is empty", key)
		case v != nil && p.isEmptyQuiet(v):
			hint := ""
			if strings.Contains(v.Value, "${") {
				hint = "the environment variable it names is empty"
			}
			p.errorf(v, hint, "%s is empty", key)
		}
	}
	if a.AESKeyPrevious != "" && a.AESKey == "" {
		if v := m.get("aes_key"); v == nil || p.isEmptyQuiet(v) {
			p.errorf(m.get("aes_key_previous"), "give the current EncodingAESKey as aes_key", "aes_key_previous needs aes_key")
		}
	}
	a.Session.Region = a.Region
	if err := a.Session.Validate(); err != nil {
		p.errorf(m.node, "", "session: %v", err)
	}
	return a, m, true
}

// textQuiet reads a value as text without reporting anything: the value
// was already checked when its key was read.
func (p *parser) textQuiet(n *yaml.Node) (string, bool) {
	q := &parser{file: p.file, lines: p.lines, env: p.env}
	s, ok := q.text("", n)
	return s, ok && len(q.diags) == 0
}

// isEmptyQuiet reports whether a value reads as "" without problems.
func (p *parser) isEmptyQuiet(n *yaml.Node) bool {
	s, ok := p.textQuiet(n)
	return ok && s == ""
}

// accountID checks an account id.
func (p *parser) accountID(n *yaml.Node) string {
	s, ok := p.text("id", n)
	if !ok || s == "" {
		return ""
	}
	if !flows.AccountIDPattern.MatchString(s) {
		hint := "it becomes the callback URL /wechat/{id}"
		if low := strings.ToLower(s); low != s && flows.AccountIDPattern.MatchString(low) {
			hint = fmt.Sprintf("did you mean %q?", low)
		}
		p.errorf(n, hint, "account id %q must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit", s)
		return ""
	}
	return s
}

// checkSecret refuses a secret with spaces or control characters, which
// are copy and paste accidents; the message never shows the value.
func (p *parser) checkSecret(key string, n *yaml.Node, s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			p.errorf(n, "check the value for a stray space or line break", "%s has spaces or control characters in it", key)
			return false
		}
	}
	return true
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// checkAESKey checks an EncodingAESKey: 43 characters of base64. The
// message never shows the key.
func (p *parser) checkAESKey(key string, n *yaml.Node, s string) bool {
	const hint = "it is the EncodingAESKey of the server configuration in the admin console"
	if c := utf8.RuneCountInString(s); c != 43 {
		p.errorf(n, hint, "%s must be 43 characters of base64, got %d %s", key, c, plural(c, "character"))
		return false
	}
	if _, err := base64.StdEncoding.DecodeString(s + "="); err != nil || strings.ContainsAny(s, "\r\n=") {
		p.errorf(n, hint, "%s must be 43 characters of base64: letters, digits, + and /", key)
		return false
	}
	return true
}

// apiBase checks the base URL of WeChat's API and removes its trailing
// slash. The message does not show the URL, which may hold a password.
func (p *parser) apiBase(n *yaml.Node, s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.errorf(n, "leave api_base out for WeChat's own", "api_base must be an http or https URL without query, like https://api.weixin.qq.com")
		return "", false
	}
	return strings.TrimRight(s, "/"), true
}

// session walks an account's session:, checking each value with
// wechat.Settings.Validate so that problems point at their key.
func (p *parser) session(n *yaml.Node) wechat.Settings {
	var st wechat.Settings
	if isNull(n) {
		return st
	}
	m, ok := p.mapping(n, "session", sessionKeys, func(key string) string {
		if key == "region" || contains(accountKeys, key) {
			return fmt.Sprintf("%s goes on the account, next to app_id", key)
		}
		return ""
	})
	if !ok {
		return st
	}
	check := func(v *yaml.Node, s wechat.Settings) bool {
		if err := s.Validate(); err != nil {
			p.errorf(v, "", "%v", err)
			return false
		}
		return true
	}
	for _, key := range m.order {
		v := m.get(key)
		switch key {
		case "window", "event_window":
			d, given, ok := p.duration(key, v, false)
			if !ok || !given {
				continue
			}
			s := wechat.Settings{Window: d}
			if key == "event_window" {
				s = wechat.Settings{EventWindow: d}
			}
			if !check(v, s) {
				continue
			}
			if key == "window" {
				st.Window = d
			} else {
				st.EventWindow = d
			}
		case "message_quota", "event_quota":
			q, ok := p.integer(key, v)
			if !ok {
				continue
			}
			s := wechat.Settings{MessageQuota: q}
			if key == "event_quota" {
				s = wechat.Settings{EventQuota: q}
			}
			if !check(v, s) {
				continue
			}
			if q == 0 {
				p.errorf(v, "leave it out for the default", "%s must be at least 1", key)
				continue
			}
			if key == "message_quota" {
				st.MessageQuota = q
			} else {
				st.EventQuota = q
			}
		}
	}
	return st
}
