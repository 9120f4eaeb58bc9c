package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/flows"
)

// repoRoot is the repository's root, seen from this package's folder.
var repoRoot = filepath.Join("..", "..", "..", "..")

// examplesDir holds the example flows operators copy.
var examplesDir = filepath.Join(repoRoot, "flows", "examples")

// envOf returns a lookupEnv that knows only vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// The secrets of the test accounts: none may ever appear in a message.
const (
	testSecret = "0123456789abcdef0123456789abcdef"
	testToken  = "s3cretToken"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAESOld = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
)

// testEnv is the environment of the tests.
var testEnv = map[string]string{
	"WXFLOW_MAIN_SECRET":  testSecret,
	"WXFLOW_MAIN_TOKEN":   testToken,
	"WXFLOW_MAIN_AES_KEY": testAESKey,
	"WXFLOW_AMY_TOKEN":    "amy-example-token-0123456789",
	"WXFLOW_EMPTY":        "",
}

// minimal is the smallest valid config.
const minimal = `accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
`

func TestConfigFull(t *testing.T) {
	t.Parallel()
	src := `# wxflow serve
listen: 0.0.0.0:9000
database: /var/lib/wxflow/wxflow.db
flows: /etc/wxflow/flows
timezone: Asia/Shanghai
log: { format: json, level: debug }
callback:
  max_body: 512KB
  timestamp_tolerance: 0
  passive_reply: true
  passive_reply_wait: 1500ms
shutdown_timeout: 30s
accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    aes_key: ${WXFLOW_MAIN_AES_KEY}
    aes_key_previous: ` + testAESOld + `
    original_id: gh_0123456789ab
    region: mainland
    api_base: http://127.0.0.1:9999/
    token_mode: classic
    passive_reply: false
    session: { window: 7d, message_quota: 20, event_quota: 20, event_window: 1m }
  - id: hk-shop_2
    app_id: wxfedcba9876543210
    app_secret: other-secret
    token: ${WXFLOW_HK_TOKEN:-hktoken}
    region: international
`
	got, err := Parse("/etc/wxflow/wxflow.yaml", []byte(src), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got.Timezone == nil || got.Timezone.String() != "Asia/Shanghai" {
		t.Errorf("Timezone = %v, want Asia/Shanghai", got.Timezone)
	}
	got.Timezone = nil
	no := false
	want := &Config{
		Listen:          "0.0.0.0:9000",
		Database:        "/var/lib/wxflow/wxflow.db",
		Flows:           "/etc/wxflow/flows",
		TimezoneName:    "Asia/Shanghai",
		Log:             LogConfig{Format: "json", Level: "debug"},
		Callback:        CallbackConfig{MaxBody: 512 << 10, TimestampTolerance: 0, PassiveReply: true, PassiveReplyWait: 1500 * time.Millisecond},
		ShutdownTimeout: 30 * time.Second,
		Admin:           AdminConfig{Listen: "127.0.0.1:8081"},
		Retention:       testRetention,
		File:            "/etc/wxflow/wxflow.yaml",
		Accounts: []AccountConfig{{
			ID: "main", AppID: "wx0123456789abcdef", AppSecret: testSecret, Token: testToken,
			AESKey: testAESKey, AESKeyPrevious: testAESOld, OriginalID: "gh_0123456789ab",
			Region: "mainland", APIBase: "http://127.0.0.1:9999", TokenMode: "classic", PassiveReply: &no,
			Session: wechat.Settings{Window: 7 * 24 * time.Hour, MessageQuota: 20, EventQuota: 20, EventWindow: time.Minute, Region: "mainland"},
			Line:    14, AutoClose: 48 * time.Hour,
		}, {
			ID: "hk-shop_2", AppID: "wxfedcba9876543210", AppSecret: "other-secret", Token: "hktoken",
			Region: "international", APIBase: "https://api.weixin.qq.com", TokenMode: "stable",
			Session: wechat.Settings{Region: "international"},
			Line:    26, AutoClose: 48 * time.Hour,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%s\nwant\n%s", dump(got), dump(want))
	}
	if !got.PassiveReply(&got.Accounts[1]) || got.PassiveReply(&got.Accounts[0]) {
		t.Errorf("PassiveReply: main %v, hk-shop_2 %v; want false (own), true (callback's)",
			got.PassiveReply(&got.Accounts[0]), got.PassiveReply(&got.Accounts[1]))
	}
	if a, ok := got.Account("hk-shop_2"); !ok || a != &got.Accounts[1] {
		t.Errorf("Account(hk-shop_2) = %v, %v", a, ok)
	}
	if _, ok := got.Account("nope"); ok {
		t.Error("Account(nope) found an account")
	}
}

// dump prints a config with its secrets, for test failures only.
func dump(c *Config) string {
	var b strings.Builder
	acc := c.Accounts
	c2 := *c
	c2.Accounts = nil
	fmt.Fprintf(&b, "%+v\n", c2)
	for _, a := range acc {
		type plain AccountConfig // without the redacting methods
		pr := "nil"
		if a.PassiveReply != nil {
			pr = fmt.Sprint(*a.PassiveReply)
		}
		fmt.Fprintf(&b, "  %+v passive_reply=%s\n", plain(a), pr)
	}
	return b.String()
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := Parse("", []byte(minimal), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen:          "127.0.0.1:8080",
		Database:        "wxflow.db",
		Flows:           "flows/",
		Timezone:        time.Local,
		TimezoneName:    "Local",
		Log:             LogConfig{Format: "text", Level: "info"},
		Callback:        CallbackConfig{MaxBody: 1 << 20, TimestampTolerance: 5 * time.Minute, PassiveReplyWait: time.Second},
		ShutdownTimeout: 10 * time.Second,
		Admin:           AdminConfig{Listen: "127.0.0.1:8081"},
		Retention:       testRetention,
		Accounts: []AccountConfig{{
			ID: "main", AppID: "wx0123456789abcdef", AppSecret: testSecret, Token: testToken,
			Region: "mainland", APIBase: "https://api.weixin.qq.com", TokenMode: "stable",
			Session: wechat.Settings{Region: "mainland"}, Line: 2, AutoClose: 48 * time.Hour,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%s\nwant\n%s", dump(got), dump(want))
	}
	if got.PassiveReply(&got.Accounts[0]) {
		t.Error("passive replies are on by default")
	}
}

// TestConfigEmptyMeansDefault checks that empty values, written or from an
// empty ${NAME:-}, give the defaults.
func TestConfigEmptyMeansDefault(t *testing.T) {
	t.Parallel()
	src := `listen: ${WXFLOW_LISTEN:-}
database: ""
flows:
timezone: ${WXFLOW_EMPTY}
log:
callback:
shutdown_timeout: ""
` + minimal
	got, err := Parse("", []byte(src), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:8080" || got.Database != "wxflow.db" || got.Flows != "flows/" || got.TimezoneName != "Local" ||
		got.Log.Format != "text" || got.Callback.MaxBody != 1<<20 || got.ShutdownTimeout != 10*time.Second {
		t.Errorf("empty values did not give the defaults: %s", dump(got))
	}
}

func TestConfigEnvExpansion(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HOST":  "0.0.0.0",
		"PORT":  "9000",
		"EMPTY": "",
		"DIR":   "/srv/wx",
	}
	tests := []struct {
		name, value, want string
	}{
		{"whole value", `${DIR}`, "/srv/wx"},
		{"inside text", `${DIR}/data/wx.db`, "/srv/wx/data/wx.db"},
		{"two references", `${HOST}:${PORT}`, "0.0.0.0:9000"},
		{"quoted", `"${HOST}:${PORT}"`, "0.0.0.0:9000"},
		{"default when unset", `${NOPE:-fallback.db}`, "fallback.db"},
		{"default when empty", `${EMPTY:-fallback.db}`, "fallback.db"},
		{"default not used when set", `${DIR:-fallback}`, "/srv/wx"},
		{"empty default", `x${NOPE:-}y`, "xy"},
		{"default with colon and slash", `${NOPE:-/srv/a:1/b}`, "/srv/a:1/b"},
		{"literal ${", `$${DIR}`, "${DIR}"},
		{"literal ${ then reference", `$${DIR}=${DIR}`, "${DIR}=/srv/wx"},
		{"lone dollar", `$DIR/$5`, "$DIR/$5"},
		{"set but empty without default", `a${EMPTY}b`, "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "database: " + tt.value + "\n" + minimal
			c, err := Parse("", []byte(src), envOf(mergeEnv(env, testEnv)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Database != tt.want {
				t.Errorf("database: %s = %q, want %q", tt.value, c.Database, tt.want)
			}
		})
	}
}

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestConfigNoExpansion checks that ${...} is left alone outside string
// values: in comments, in keys, in numbers and in true/false.
func TestConfigNoExpansion(t *testing.T) {
	t.Parallel()
	src := "# ${UNSET_IN_COMMENT}\n" + minimal + "    aes_key: '" + testAESKey + "' # ${ALSO_UNSET}\n"
	if _, err := Parse("", []byte(src), envOf(testEnv)); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	account := func(lines ...string) string {
		return "accounts:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	valid := []string{"id: main", "app_id: wx0123456789abcdef", "app_secret: ${WXFLOW_MAIN_SECRET}", "token: ${WXFLOW_MAIN_TOKEN}"}
	with := func(extra ...string) string { return account(append(append([]string(nil), valid...), extra...)...) }
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty file", "", `
wxflow.yaml:1:1: error: no accounts: add at least one under accounts: (or write sandbox: true to run the flows on the built-in sandbox account)`},
		{"only comments", "# nothing yet\n", `
wxflow.yaml:1:1: error: no accounts: add at least one under accounts: (or write sandbox: true to run the flows on the built-in sandbox account)`},
		{"no accounts key", "listen: :8080\n", `
wxflow.yaml:1:1: error: no accounts: add at least one under accounts: (or write sandbox: true to run the flows on the built-in sandbox account)`},
		{"empty accounts", "listen: :8080\naccounts: []\n", `
wxflow.yaml:2:11: error: no accounts: add at least one under accounts: (or write sandbox: true to run the flows on the built-in sandbox account)`},
		{"null accounts", "accounts:\n", `
wxflow.yaml:1:10: error: no accounts: add at least one under accounts: (or write sandbox: true to run the flows on the built-in sandbox account)`},
		{"accounts as a map", "accounts:\n  main:\n    app_id: wx0123456789abcdef\n", `
wxflow.yaml:2:3: error: accounts must be a list, got a map (start each account with a dash: - id: main)`},
		{"not a map", "- listen\n", `
wxflow.yaml:1:1: error: the config must be a map of keys, got a list (start with accounts: and the keys of each account under it)`},
		{"yaml syntax", "listen: [1\n", `
wxflow.yaml:1:9: error: YAML syntax error: did not find expected ',' or ']' (close the list with ] (or quote a text holding [ or ,))`},
		{"tabs", "accounts:\n\t- id: main\n", `
wxflow.yaml:2:1: error: YAML syntax error: found character that cannot start any token (indent with spaces, not tabs)`},
		{"two documents", with() + "---\nlisten: :80\n", `
wxflow.yaml:6:1: error: a config file holds one document, but this one has another after --- (remove the second document)`},
		{"wrong type", "listen: [1]\n" + with(), `
wxflow.yaml:1:9: error: listen must be text, got a list`},
		{"bad listen", "listen: 8080\n" + with(), `
wxflow.yaml:1:9: error: listen must be host:port, not "8080" (write 127.0.0.1:8080 to listen on this machine only, or :8080 to listen on every interface)`},
		{"bad port", "listen: localhost:http\n" + with(), `
wxflow.yaml:1:9: error: listen must be host:port, not "localhost:http" (write 127.0.0.1:8080 to listen on this machine only, or :8080 to listen on every interface)`},
		{"unknown top key with hint", "databse: x.db\n" + with(), `
wxflow.yaml:1:1: error: unknown key "databse" (did you mean "database"?)`},
		{"unknown top key, account key", "app_id: wx0123456789abcdef\n" + with(), `
wxflow.yaml:1:1: error: unknown key "app_id" (app_id belongs to an account: put it under accounts:)`},
		{"unknown top key, callback key", "max_body: 1MB\n" + with(), `
wxflow.yaml:1:1: error: unknown key "max_body" (max_body goes under callback:)`},
		{"unknown top key, no hint", "wat: 1\n" + with(), `
wxflow.yaml:1:1: error: unknown key "wat" (the keys are listen, database, flows, timezone, log, callback, shutdown_timeout, admin, retention, nodes, secrets, sandbox, operators, teams, accounts)`},
		{"misspelt accounts", "acounts:\n  - id: main\n", `
wxflow.yaml:1:1: error: unknown key "acounts" (did you mean "accounts"?)`},
		{"duplicate key", "listen: :80\nlisten: :81\n" + with(), `
wxflow.yaml:2:1: error: duplicate key "listen" (it is first given at line 1)`},
		{"merge key", "base: &b\n  listen: :80\n<<: *b\n" + with(), `
wxflow.yaml:1:1: error: unknown key "base" (the keys are listen, database, flows, timezone, log, callback, shutdown_timeout, admin, retention, nodes, secrets, sandbox, operators, teams, accounts)
wxflow.yaml:3:1: error: merge keys (<<) are not supported (write the keys out)`},
		{"timezone", "timezone: Asia/Shanghi\n" + with(), `
wxflow.yaml:1:11: error: unknown time zone "Asia/Shanghi" (did you mean "Asia/Shanghai"?)`},
		{"timezone far off", "timezone: Mars/Olympus\n" + with(), `
wxflow.yaml:1:11: error: unknown time zone "Mars/Olympus" (use an IANA name such as Asia/Shanghai, or leave timezone out for the machine's zone)`},
		{"timezone path", "timezone: ../../etc/passwd\n" + with(), `
wxflow.yaml:1:11: error: unknown time zone "../../etc/passwd" (use an IANA name such as Asia/Shanghai, or leave timezone out for the machine's zone)`},
		{"log", "log: { format: xml, level: warning, colour: true }\n" + with(), `
wxflow.yaml:1:16: error: format must be text or json, not "xml"
wxflow.yaml:1:28: error: level must be debug, info, warn or error, not "warning"
wxflow.yaml:1:37: error: unknown key "colour" in log (the keys are format, level)`},
		{"log not a map", "log: json\n" + with(), `
wxflow.yaml:1:6: error: log must be a map of keys, got text`},
		{"callback", `callback:
  max_body: 1TB
  timestamp_tolerance: -1m
  passive_reply: yes
  passive_reply_wait: 5s
` + with(), `
wxflow.yaml:2:13: error: max_body must be a size, not "1TB" (write it like 1MB, 512KB, or 65536 for bytes)
wxflow.yaml:3:24: error: timestamp_tolerance must not be negative (write 0 to turn the check off)
wxflow.yaml:4:18: error: passive_reply must be true or false, got text (write true or false, without quotes)
wxflow.yaml:5:23: error: passive_reply_wait must be shorter than 5s (WeChat stops waiting for the response after 5 seconds and sends the callback again)`},
		{"zero sizes and durations", `callback: { max_body: 0, passive_reply_wait: 0s }
shutdown_timeout: 0
` + with(), `
wxflow.yaml:1:23: error: max_body must be larger than zero
wxflow.yaml:1:46: error: passive_reply_wait must be longer than zero
wxflow.yaml:2:19: error: shutdown_timeout must be longer than zero`},
		{"bad durations", `shutdown_timeout: 10
callback: { timestamp_tolerance: 5 minutes, passive_reply_wait: s }
` + with("session: { window: 2w, event_window: 1.2.3h }"), `
wxflow.yaml:1:19: error: shutdown_timeout needs a unit (write 10s for seconds or 10m for minutes)
wxflow.yaml:2:34: error: timestamp_tolerance "5 minutes" is not a duration: unknown unit " minutes" (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)
wxflow.yaml:2:65: error: passive_reply_wait "s" is not a duration: "s" is not a number (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)
wxflow.yaml:8:24: error: window "2w" is not a duration: unknown unit "w" (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)
wxflow.yaml:8:42: error: event_window "1.2.3h" is not a duration: "1.2.3" is not a number (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)`},
		{"unset env", "database: ${WXFLOW_DB}/wx.db\n" + with(), `
wxflow.yaml:1:11: error: WXFLOW_DB is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_DB:-default})`},
		{"unset env in the middle, column of the reference", "database: \"/srv/${WXFLOW_DIR}/wx.db\"\n" + with(), `
wxflow.yaml:1:17: error: WXFLOW_DIR is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_DIR:-default})`},
		{"unset env after an escape, column of the value", "database: \"\\t${WXFLOW_DIR}\"\n" + with(), `
wxflow.yaml:1:11: error: WXFLOW_DIR is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_DIR:-default})`},
		{"unset env on a folded line, column of the value", "database: >-\n  /srv\n  ${WXFLOW_DIR}\n" + with(), `
wxflow.yaml:1:11: error: WXFLOW_DIR is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_DIR:-default})`},
		{"unset env in single quotes", "database: 'it''s ${WXFLOW_DIR}'\n" + with(), `
wxflow.yaml:1:11: error: WXFLOW_DIR is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_DIR:-default})`},
		{"unset secret", account("id: main", "app_id: wx0123456789abcdef", "app_secret: ${WXFLOW_NOPE_SECRET}", "token: ${WXFLOW_MAIN_TOKEN}"), `
wxflow.yaml:4:17: error: WXFLOW_NOPE_SECRET is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_NOPE_SECRET:-default})`},
		{"unclosed reference", "database: ${WXFLOW_DB\n" + with(), `
wxflow.yaml:1:11: error: ${ is not closed by } (write $${ for a literal ${)`},
		{"bad variable name", "database: ${1DB}-${}\n" + with(), `
wxflow.yaml:1:11: error: ${...} must name an environment variable: letters, digits and _, not starting with a digit (write $${ for a literal ${)
wxflow.yaml:1:18: error: ${...} must name an environment variable: letters, digits and _, not starting with a digit (write $${ for a literal ${)`},
		{"nested default", "database: ${A:-${B}}\n" + with(), `
wxflow.yaml:1:11: error: the default of ${A:-...} cannot contain another ${...}`},
		{"custom tag", with("aes_key: !env WXFLOW_MAIN_AES_KEY"), `
wxflow.yaml:6:14: error: YAML tags such as !env are not supported (write ${NAME} for the environment variable NAME)`},
		// A tag of !! that is no plain kind read as "": an aes_key of 43
		// ! turned the account to plain mode without a word.
		{"a run of ! as a tag", with("aes_key: !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"), `
wxflow.yaml:6:14: error: YAML tags such as !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! are not supported (write ${NAME} for the environment variable NAME)`},
		{"binary tag", with("aes_key: !!binary abc"), `
wxflow.yaml:6:14: error: YAML tags such as !!binary are not supported (write ${NAME} for the environment variable NAME)`},
		{"reference in a boolean", "callback:\n  passive_reply: ${PR}\n" + with(), `
wxflow.yaml:2:18: error: passive_reply must be true or false, got text (${...} is expanded only in text values, not in true/false)`},
		{"reference in a number", with("session:", "  message_quota: ${Q}"), `
wxflow.yaml:7:22: error: message_quota must be a whole number, got text (${...} is expanded only in text values, not in numbers)`},
		{"missing required keys", "accounts:\n  - id: main\n    app_secert: x\n  - region: mainland\n", `
wxflow.yaml:2:5: error: account "main" has no app_id (every account needs id, app_id, app_secret and token)
wxflow.yaml:2:5: error: account "main" has no token (every account needs id, app_id, app_secret and token)
wxflow.yaml:3:5: error: unknown key "app_secert" in an account (did you mean "app_secret"?)
wxflow.yaml:4:5: error: account has no app_id (every account needs id, app_id, app_secret and token)
wxflow.yaml:4:5: error: account has no app_secret (every account needs id, app_id, app_secret and token)
wxflow.yaml:4:5: error: account has no id (every account needs id, app_id, app_secret and token)
wxflow.yaml:4:5: error: account has no token (every account needs id, app_id, app_secret and token)`},
		{"empty required keys", account("id: main", "app_id:", `app_secret: ""`, "token: ${WXFLOW_EMPTY}"), `
wxflow.yaml:3:12: error: app_id is empty
wxflow.yaml:4:17: error: app_secret is empty
wxflow.yaml:5:12: error: token is empty (the environment variable it names is empty)`},
		{"account not a map", "accounts:\n  - main\n", `
wxflow.yaml:2:5: error: an account must be a map of keys, got text (write - id: main, then app_id:, app_secret: and token: under it)`},
		{"unknown account keys", with("app_secert: x", "window: 1h", "listen: :80", "passive: true"), `
wxflow.yaml:6:5: error: unknown key "app_secert" in an account (did you mean "app_secret"?)
wxflow.yaml:7:5: error: unknown key "window" in an account (window goes under session:)
wxflow.yaml:8:5: error: unknown key "listen" in an account (listen goes at the top level, not in an account)
wxflow.yaml:9:5: error: unknown key "passive" in an account (the keys are id, app_id, app_secret, token, aes_key, aes_key_previous, original_id, region, api_base, token_mode, passive_reply, session, auto_close)`},
		{"bad ids", "accounts:\n" +
			"  - { id: Main, app_id: wx0000000000000001, app_secret: s, token: abc }\n" +
			"  - { id: my shop, app_id: wx0000000000000002, app_secret: s, token: abc }\n" +
			"  - { id: _x, app_id: wx0000000000000003, app_secret: s, token: abc }\n" +
			"  - { id: " + strings.Repeat("a", 33) + ", app_id: wx0000000000000004, app_secret: s, token: abc }\n", `
wxflow.yaml:2:11: error: account id "Main" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (did you mean "main"?)
wxflow.yaml:3:11: error: account id "my shop" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (it becomes the callback URL /wechat/{id})
wxflow.yaml:4:11: error: account id "_x" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (it becomes the callback URL /wechat/{id})
wxflow.yaml:5:11: error: account id "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (it becomes the callback URL /wechat/{id})`},
		{"duplicates", "accounts:\n" +
			"  - { id: main, app_id: wx0000000000000001, app_secret: s, token: abc }\n" +
			"  - { id: shop, app_id: wx0000000000000001, app_secret: s, token: abc }\n" +
			"  - { id: main, app_id: wx0000000000000002, app_secret: s, token: abc }\n", `
wxflow.yaml:3:25: error: app_id wx0000000000000001 is also the app_id of account "main" (line 2) (give each Official Account one entry)
wxflow.yaml:4:11: error: account id "main" is used twice (it is first given at line 2; ids name the callback URL /wechat/{id} and must differ)`},
		{"duplicate original_id", "accounts:\n" +
			"  - { id: main, app_id: wx0000000000000001, app_secret: s, token: abc, original_id: gh_0123456789ab }\n" +
			"  - { id: shop, app_id: wx0000000000000002, app_secret: s, token: abc, original_id: gh_0123456789ab }\n", `
wxflow.yaml:3:85: error: original_id gh_0123456789ab is also the original_id of account "main" (line 2) (each Official Account has its own original ID (gh_...): callbacks are told apart by it)`},
		{"duplicate account key", with("token: other"), `
wxflow.yaml:6:5: error: duplicate key "token" in an account (it is first given at line 5)`},
		{"bad app_id", account("id: main", "app_id: wx0123", "app_secret: s", "token: abc"), `
wxflow.yaml:3:13: error: app_id must be wx and 16 letters or digits, like wx0123456789abcdef (copy the AppID from the admin console: Settings and Development > Basic Configuration)`},
		{"bad region", with("region: china"), `
wxflow.yaml:6:13: error: region must be mainland or international, not "china"`},
		{"misspelt region", with("region: internationl"), `
wxflow.yaml:6:13: error: region must be mainland or international, not "internationl" (did you mean "international"?)`},
		{"bad api_base", with("api_base: ftp://example.com"), `
wxflow.yaml:6:15: error: api_base must be an http or https URL without query, like https://api.weixin.qq.com (leave api_base out for WeChat's own)`},
		{"api_base without scheme", with("api_base: api.weixin.qq.com"), `
wxflow.yaml:6:15: error: api_base must be an http or https URL without query, like https://api.weixin.qq.com (leave api_base out for WeChat's own)`},
		{"bad token_mode", with("token_mode: stabel"), `
wxflow.yaml:6:17: error: token_mode must be stable or classic, not "stabel" (did you mean "stable"?)`},
		{"bad original_id", with("original_id: wx0123456789abcdef"), `
wxflow.yaml:6:18: error: original_id must be gh_ and letters or digits, like gh_0123456789ab (it is the Original ID of the account's details in the admin console, or leave original_id out)`},
		{"bad passive_reply", with("passive_reply: 1"), `
wxflow.yaml:6:20: error: passive_reply must be true or false, got a number (write true or false, without quotes)`},
		{"bad aes_key length", with("aes_key: " + testAESKey[:40]), `
wxflow.yaml:6:14: error: aes_key must be 43 characters of base64, got 40 characters (it is the EncodingAESKey of the server configuration in the admin console)`},
		{"aes_key not base64", with("aes_key: " + testAESKey[:42] + "!"), `
wxflow.yaml:6:14: error: aes_key must be 43 characters of base64: letters, digits, + and / (it is the EncodingAESKey of the server configuration in the admin console)`},
		{"aes_key_previous without aes_key", with("aes_key_previous: " + testAESOld), `
wxflow.yaml:6:23: error: aes_key_previous needs aes_key (give the current EncodingAESKey as aes_key)`},
		{"session", with("session: { window: -1h, message_quota: -1, event_quota: 0, event_window: 0, region: mainland, quota: 5 }"), `
wxflow.yaml:6:24: error: window -1h0m0s is negative
wxflow.yaml:6:44: error: message quota -1 is negative
wxflow.yaml:6:61: error: event_quota must be at least 1 (leave it out for the default)
wxflow.yaml:6:78: error: event_window must be longer than zero
wxflow.yaml:6:81: error: unknown key "region" in session (region goes on the account, next to app_id)
wxflow.yaml:6:99: error: unknown key "quota" in session (the keys are window, message_quota, event_quota, event_window)`},
		{"session types", with("session: { window: [1], message_quota: 1.5 }"), `
wxflow.yaml:6:24: error: window must be text, got a list
wxflow.yaml:6:44: error: message_quota must be a whole number, got a number`},
		{"everything at once, sorted by position", "shutdown_timeout: soon\n" + account("id: Main", "app_id: wx0123456789abcdef", "app_secret: s", "token: ab") + "listen: nowhere\n", `
wxflow.yaml:1:19: error: shutdown_timeout "soon" is not a duration: "soon" is not a number (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)
wxflow.yaml:3:9: error: account id "Main" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (did you mean "main"?)
wxflow.yaml:6:12: error: token must be 3 to 32 letters or digits (it is the Token of the server configuration in the admin console)
wxflow.yaml:7:9: error: listen must be host:port, not "nowhere" (write 127.0.0.1:8080 to listen on this machine only, or :8080 to listen on every interface)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("wxflow.yaml", []byte(tt.src), envOf(testEnv))
			if err == nil {
				t.Fatalf("no error; config %s", dump(c))
			}
			if c != nil {
				t.Errorf("a config came back with the error")
			}
			want := strings.TrimPrefix(tt.want, "\n")
			if err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s\nsource:\n%s", err, want, tt.src)
			}
			var diags flows.Diagnostics
			if !errors.As(err, &diags) || len(diags) != strings.Count(want, "\n")+1 {
				t.Errorf("error is not one flows.Diagnostics per line: %T", err)
			}
		})
	}
}

// TestConfigSecretsNeverShown checks that no message shows a secret, even
// when the secrets are wrong in every way that is reported.
func TestConfigSecretsNeverShown(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"BAD_SECRET":  "sec ret-Value-1",              // a space
		"BAD_TOKEN":   "tok-en-Value-2",               // not letters or digits
		"BAD_AES":     "aesKeyValue3aesKeyValue3aes3", // 28 characters
		"BAD_AES_OLD": strings.Repeat("q", 42) + "#",  // 43, not base64
	}
	src := `accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${BAD_SECRET}
    token: ${BAD_TOKEN}
    aes_key: ${BAD_AES}
    aes_key_previous: ${BAD_AES_OLD}
  - id: written-in-the-file
    app_id: sec_ret_pasted_as_app_id
    app_secret: "line1\nline2-Secret"
    token: "tok en"
    aes_key: written-aes-key
    api_base: https://user:p4ssw0rd@proxy.example.com?x=1
  - id: types
    app_id: wx0000000000000009
    app_secret: [listed-secret]
    token: { mapped: token-in-a-map }
    aes_key: ${BAD_AES:-default-aes-key}
`
	_, err := Parse("wxflow.yaml", []byte(src), envOf(secrets))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "\n") + 1; n != 12 {
		t.Errorf("%d problems, want 12:\n%s", n, msg)
	}
	for _, s := range append(mapValues(secrets), "line1", "line2-Secret", "tok en", "written-aes-key", "sec_ret_pasted_as_app_id",
		"p4ssw0rd", "listed-secret", "token-in-a-map", "default-aes-key") {
		if strings.Contains(msg, s) {
			t.Errorf("the error shows the secret %q:\n%s", s, msg)
		}
	}
}

// TestConfigEnvValuesNeverShown: a setting whose value came from the
// environment is named as written (${NAME}) in its error, never by its
// value, as docs/config.md says of every variable; before, listen,
// timezone, region and durations showed it.
func TestConfigEnvValuesNeverShown(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LST": "SEKRIT-listen", "TZV": "SEKRIT/zone", "RG": "SEKRITregion", "WIN": "SEKRIT-window"}
	src := `listen: ${LST}
timezone: ${TZV}
accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: s3cretSecret
    token: s3cretToken
    region: ${RG}
    session: { window: "${WIN}" }
`
	_, err := Parse("wxflow.yaml", []byte(src), envOf(env))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`"${LST}"`, `"${TZV}"`, `"${RG}"`, `"${WIN}"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not name %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "SEKRIT") {
		t.Errorf("the error shows a variable's value:\n%s", msg)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestConfigLogValue checks that logging or printing an account or a
// config never shows a secret.
func TestConfigLogValue(t *testing.T) {
	t.Parallel()
	src := minimal + "    aes_key: ${WXFLOW_MAIN_AES_KEY}\n    aes_key_previous: " + testAESOld + "\n"
	c, err := Parse("wxflow.yaml", []byte(src), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounts[0]
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("account", "account", a)
	log.Info("account pointer", "account", &a)
	log.Info("config", "config", c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("account", "account", a, "config", c)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v\n", a, a, a, &a, c.Accounts, *c)
	out := buf.String()
	for _, s := range []string{testSecret, testToken, testAESKey, testAESOld} {
		if strings.Contains(out, s) {
			t.Errorf("a secret shows in:\n%s", out)
		}
	}
	if want := "account.id=main account.app_id=wx0123456789abcdef account.region=mainland"; !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
	if got, want := a.String(), "account main (app_id wx0123456789abcdef, mainland)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := a.LogValue().Resolve().Group(); len(got) != 3 {
		t.Errorf("LogValue has %d attributes, want id, app_id, region: %v", len(got), got)
	}
}

func TestConfigPaths(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "abs.db")
	tests := []struct {
		name, file, database, flows string
		wantDatabase, wantFlows     string
	}{
		{"defaults beside the file", filepath.Join("etc", "wxflow", "wxflow.yaml"), "", "",
			filepath.Join("etc", "wxflow", "wxflow.db"), filepath.Join("etc", "wxflow", "flows")},
		{"relative paths", filepath.Join("conf", "wxflow.yaml"), "data/wx.db", "../flows/examples",
			filepath.Join("conf", "data", "wx.db"), filepath.Join("flows", "examples")},
		{"file in the working directory", "wxflow.yaml", "wx.db", "flows/",
			"wx.db", "flows"},
		{"absolute paths kept", filepath.Join("conf", "wxflow.yaml"), abs, filepath.Dir(abs),
			abs, filepath.Dir(abs)},
		{"sqlite URI kept", filepath.Join("conf", "wxflow.yaml"), "file:wx.db?mode=rwc", "f",
			"file:wx.db?mode=rwc", filepath.Join("conf", "f")},
		{"no file name, nothing resolved", "", "wx.db", "flows/",
			"wx.db", "flows/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := minimal
			if tt.database != "" {
				src += "database: '" + tt.database + "'\n"
			}
			if tt.flows != "" {
				src += "flows: '" + tt.flows + "'\n"
			}
			c, err := Parse(tt.file, []byte(src), envOf(testEnv))
			if err != nil {
				t.Fatal(err)
			}
			if c.Database != tt.wantDatabase || c.Flows != tt.wantFlows {
				t.Errorf("database, flows = %q, %q; want %q, %q", c.Database, c.Flows, tt.wantDatabase, tt.wantFlows)
			}
		})
	}
}

func TestConfigLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte(minimal+"flows: my-flows\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path || c.Flows != filepath.Join(dir, "my-flows") || c.Database != filepath.Join(dir, "wxflow.db") {
		t.Errorf("File, Flows, Database = %q, %q, %q", c.File, c.Flows, c.Database)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"), envOf(testEnv))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	_, err = Load(path, envOf(nil))
	if want := path + ":4:17: error: WXFLOW_MAIN_SECRET is not set"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("without environment: %v, want it to start with %q", err, want)
	}
}

func TestConfigDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"0s", 0, ""},
		{"30s", 30 * time.Second, ""},
		{"1500ms", 1500 * time.Millisecond, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0.5d", 12 * time.Hour, ""},
		{"-1h", -time.Hour, ""},
		{"+2m", 2 * time.Minute, ""},
		{"", 0, "no number"},
		{"-", 0, "no number"},
		{"10", 0, "10 has no unit"},
		{"1h30", 0, "30 has no unit"},
		{"2w", 0, `unknown unit "w"`},
		{"1 h", 0, `unknown unit " h"`},
		{"h", 0, `"h" is not a number`},
		{"1..2s", 0, `"1..2" is not a number`},
		{"200000d", 0, "too long"},
		{"9999999999h", 0, "too long"},
		{strings.Repeat("1", 330) + "s", 0, "too long"},
		{strings.Repeat("1", 330) + "d", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("ParseDuration(%q) = %v, %q; want %v, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}

func TestConfigSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{"1MB", 1 << 20},
		{"512KB", 512 << 10},
		{"512kb", 512 << 10},
		{"1 MB", 1 << 20},
		{"1024KB", 1 << 20},
		{"100B", 100},
		{"65536", 65536},
		{"'65536'", 65536},
	}
	for _, tt := range tests {
		c, err := Parse("", []byte(minimal+"callback: { max_body: "+tt.in+" }\n"), envOf(testEnv))
		if err != nil {
			t.Errorf("max_body: %s: %v", tt.in, err)
			continue
		}
		if c.Callback.MaxBody != tt.want {
			t.Errorf("max_body: %s = %d, want %d", tt.in, c.Callback.MaxBody, tt.want)
		}
	}
	for _, in := range []string{"2MB", "1GB", "1048577"} {
		_, err := Parse("", []byte(minimal+"callback: { max_body: "+in+" }\n"), envOf(testEnv))
		if err == nil || !strings.Contains(err.Error(), "max_body must be at most 1MB") {
			t.Errorf("max_body: %s: err %v, want at most 1MB", in, err)
		}
	}
}

func TestConfigLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(LogConfig{Format: "json", Level: "warn"}.Handler(&buf))
	log.Info("hidden")
	log.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.HasPrefix(out, `{"time":`) || !strings.Contains(out, `"msg":"shown"`) {
		t.Errorf("json handler at warn wrote:\n%s", out)
	}
	buf.Reset()
	log = slog.New(LogConfig{Format: "text", Level: "debug"}.Handler(&buf))
	log.Debug("shown")
	if out := buf.String(); !strings.Contains(out, "level=DEBUG msg=shown") {
		t.Errorf("text handler at debug wrote:\n%s", out)
	}
}

// TestConfigExample checks that wxflow.example.yaml loads, with its
// secrets from the environment, and points at the example flows.
func TestConfigExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, "wxflow.example.yaml")
	c, err := Load(path, envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.Flows != examplesDir {
		t.Errorf("flows = %q, want %q", c.Flows, examplesDir)
	}
	if len(c.Accounts) == 0 || c.Accounts[0].AppSecret != testSecret || c.Accounts[0].APIBase != "https://api.weixin.qq.com" {
		t.Errorf("the example's first account does not take its secret from WXFLOW_MAIN_SECRET or changes api_base: %s", dump(c))
	}
	if _, err := os.Stat(c.Flows); err != nil {
		t.Errorf("the example's flows folder: %v", err)
	}
	// The example flows load with the example's people (handoff.yaml
	// assigns to team support): serve started with it refused them.
	set, err := flows.LoadDir(c.Flows, flows.Options{People: c.FlowPeople()})
	if err != nil || set.Diags.HasErrors() {
		t.Errorf("the example flows with the example config: %v %v", err, set.Diags.Err())
	}
	if _, err := Load(path, envOf(nil)); err == nil || !strings.Contains(err.Error(), "WXFLOW_MAIN_SECRET is not set") {
		t.Errorf("without environment: %v", err)
	}
}

// TestConfigDocs checks that docs/config.md describes every key, so that
// the reference and the parser do not drift apart.
func TestConfigDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, list := range [][]string{topKeys, logKeys, callbackKeys, adminKeys, accountKeys, sessionKeys, operatorKeys} {
		keys = append(keys, list...)
	}
	for _, k := range keys {
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(k) + "` \\|").Match(doc) {
			t.Errorf("docs/config.md has no table row for `%s`", k)
		}
	}
}

// TestConfigAdminSandbox checks admin: and sandbox:, and that the admin
// token never shows.
func TestConfigAdminSandbox(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-console"
	got, err := Parse("", []byte("sandbox: true\nadmin:\n  listen: 127.0.0.1:9090\n  token: ${ADMIN}\n"), envOf(map[string]string{"ADMIN": token}))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Sandbox || got.Admin.Listen != "127.0.0.1:9090" || got.Admin.Token != token || len(got.Accounts) != 0 {
		t.Errorf("got sandbox %v admin %+v accounts %d", got.Sandbox, got.Admin, len(got.Accounts))
	}
	if got.Admin.TrustedProxies != nil {
		t.Errorf("trusted proxies by default: %v, want none", got.Admin.TrustedProxies)
	}
	proxied, err := Parse("", []byte("sandbox: true\nadmin:\n  trusted_proxies: [127.0.0.1, \"::1\", 10.1.2.3/8, \"fd00::/8\", \"::ffff:192.0.2.1\"]\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(proxied.Admin.TrustedProxies), "[127.0.0.1/32 ::1/128 10.0.0.0/8 fd00::/8 192.0.2.1/32]"; got != want {
		t.Errorf("trusted proxies %s, want %s", got, want)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", got)
	for _, shown := range []string{fmt.Sprint(got.Admin), fmt.Sprintf("%#v", got.Admin), fmt.Sprintf("%+v", *got), logged.String()} {
		if strings.Contains(shown, token) {
			t.Errorf("the admin token shows in %q", shown)
		}
	}
	for _, c := range []struct{ name, src, want string }{
		{"sandbox with accounts", "sandbox: true\n" + minimal, "wxflow.yaml:1:10: error: sandbox: true runs the sandbox account alone; it cannot be combined with accounts: (remove accounts: to try flows in the sandbox, or sandbox: to serve the accounts)"},
		{"short token", "sandbox: true\nadmin:\n  token: short\n", "wxflow.yaml:3:10: error: admin token is too short (5 characters; at least 16) (generate one with: openssl rand -hex 24)"},
		{"bad listen", "sandbox: true\nadmin:\n  listen: nowhere\n", `wxflow.yaml:3:11: error: listen must be host:port, not "nowhere"`},
		{"unknown admin key", "sandbox: true\nadmin:\n  tokn: 0123456789abcdef0\n", `wxflow.yaml:3:3: error: unknown key "tokn"`},
		{"sandbox not a bool", "sandbox: yes please\n", "wxflow.yaml:1:10: error: sandbox"},
		{"trusted proxies not a list", "sandbox: true\nadmin:\n  trusted_proxies: 10.0.0.1\n", "wxflow.yaml:3:20: error: trusted_proxies must be a list of addresses, got text (write a list: trusted_proxies: [10.0.0.1])"},
		{"trusted proxy not an address", "sandbox: true\nadmin:\n  trusted_proxies: [127.0.0.1, proxy.local]\n", `wxflow.yaml:3:32: error: trusted proxy "proxy.local" is not an IP address (write an address`},
		{"trusted proxy not a network", "sandbox: true\nadmin:\n  trusted_proxies:\n    - 10.0.0.0/33\n", `wxflow.yaml:4:7: error: trusted proxy "10.0.0.0/33" is not a network`},
		{"trusting everyone", "sandbox: true\nadmin:\n  trusted_proxies: [\"::/0\"]\n", `wxflow.yaml:3:21: error: trusted proxy "::/0" takes in every address: any client could choose the address its wrong tokens are counted by`},
		{"trusting every IPv4", "sandbox: true\nadmin:\n  trusted_proxies: [0.0.0.0/0]\n", `error: trusted proxy "0.0.0.0/0" takes in every address`},
		{"IPv4 as IPv6", "sandbox: true\nadmin:\n  trusted_proxies: [\"::ffff:10.0.0.0/104\"]\n", `error: trusted proxy "::ffff:10.0.0.0/104" is an IPv4 network written as IPv6 (write the IPv4 network itself (10.0.0.0/8))`},
		{"trusted proxy twice", "sandbox: true\nadmin:\n  trusted_proxies: [10.0.0.0/8, 10.1.0.0/8]\n", `wxflow.yaml:3:33: error: trusted proxy 10.1.0.0/8 is listed twice`},
	} {
		_, err := Parse("wxflow.yaml", []byte(c.src), envOf(testEnv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n%v\nwant it to contain\n%s", c.name, err, c.want)
		}
	}
}

// TestLoadWithoutSecrets: the store's readers (export-test, plan) load a
// config whose secrets are not in the environment; the secrets are not
// read, and every other problem is still reported.
func TestLoadWithoutSecrets(t *testing.T) {
	t.Parallel()
	src := `database: ${WX_DB:-w.db}
timezone: Asia/Shanghai
secrets: [CRM_KEY]
admin:
  listen: 127.0.0.1:9
  token: ${UNSET_ADMIN}
teams: { support: }
operators:
  amy:
    teams: [support]
    token: ${UNSET_AMY}
accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${UNSET_SECRET}
    token: ${UNSET_TOKEN}
    aes_key: ${UNSET_AES}
    auto_close: 30m
`
	path := filepath.Join(t.TempDir(), "wxflow.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, envOf(nil)); err == nil {
		t.Fatal("Load with no secret set: no error")
	}
	c, err := LoadWithoutSecrets(path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Accounts[0]; a.AppSecret != "" || a.Token != "" || a.AESKey != "" || a.AutoClose != 30*time.Minute || c.TimezoneName != "Asia/Shanghai" {
		t.Errorf("account %+v, zone %s", a, c.TimezoneName)
	}
	bad := strings.Replace(src, "Asia/Shanghai", "Mars/Olympus", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWithoutSecrets(path, envOf(nil)); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("a bad time zone: %v", err)
	}
}
