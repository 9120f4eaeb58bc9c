package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// The operators' tokens of the tests: none may ever appear in a message.
const (
	amyToken   = "amy-t0ken-0123456789"
	bobToken   = "bob-t0ken-0123456789"
	adminToken = "admin-t0ken-0123456789"
)

// peopleEnv is the environment of the people tests.
var peopleEnv = mergeEnv(testEnv, map[string]string{
	"WXFLOW_AMY_TOKEN":   amyToken,
	"WXFLOW_BOB_TOKEN":   bobToken,
	"WXFLOW_ADMIN_TOKEN": adminToken,
	"WXFLOW_SAME_TOKEN":  amyToken,
})

const peopleSrc = `admin: { token: "${WXFLOW_ADMIN_TOKEN}" }
teams:
  support:
    timezone: Asia/Shanghai
    open: { mon-fri: "09:00-18:00" }
    holidays: [2026-10-01]
  night:
  sales: {}
operators:
  bob:
    display_name: " Bob Wang "
    teams: [support, night]
    token: ${WXFLOW_BOB_TOKEN}
  amy:
    teams: [support]
    token: ${WXFLOW_AMY_TOKEN}
  carol-2:
    token: carol_token_written_here
accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    auto_close: 24h
  - id: other
    app_id: wxfedcba9876543210
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
`

func TestConfigPeople(t *testing.T) {
	t.Parallel()
	c, err := Parse("wxflow.yaml", []byte(peopleSrc), envOf(peopleEnv))
	if err != nil {
		t.Fatal(err)
	}
	want := []OperatorConfig{
		{Name: "bob", Display: "Bob Wang", Teams: []string{"support", "night"}, Token: bobToken, Line: 10},
		{Name: "amy", Display: "amy", Teams: []string{"support"}, Token: amyToken, Line: 14},
		{Name: "carol-2", Display: "carol-2", Token: "carol_token_written_here", Line: 17},
	}
	if !reflect.DeepEqual(c.Operators, want) {
		type plain OperatorConfig
		for _, o := range c.Operators {
			t.Errorf("operator %+v", plain(o))
		}
	}
	if got := c.OperatorNames(); !reflect.DeepEqual(got, []string{"bob", "amy", "carol-2"}) {
		t.Errorf("OperatorNames = %v: not in the file's order", got)
	}
	if got := c.TeamNames(); !reflect.DeepEqual(got, []string{"night", "sales", "support"}) {
		t.Errorf("TeamNames = %v", got)
	}
	if c.Teams["night"] != nil || c.Teams["sales"] != nil {
		t.Errorf("empty teams have hours: %v %v", c.Teams["night"], c.Teams["sales"])
	}
	support := c.Teams["support"]
	if support == nil || support.Location == nil || support.Location.String() != "Asia/Shanghai" {
		t.Fatalf("support's hours %+v", support)
	}
	sh := support.Location
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 11, 23, 10, 0, 0, 0, sh), true},  // a Monday
		{time.Date(2026, 11, 23, 18, 0, 0, 0, sh), false}, // closing time
		{time.Date(2026, 11, 22, 10, 0, 0, 0, sh), false}, // a Sunday
		{time.Date(2026, 10, 1, 10, 0, 0, 0, sh), false},  // a holiday
		{time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC), true},
	} {
		if got := support.Open(tc.at); got != tc.open {
			t.Errorf("support open at %v = %v", tc.at, got)
		}
	}

	people := c.People()
	wantPeople := engine.People{
		Operators: []engine.Operator{
			{Name: "bob", Display: "Bob Wang", Teams: []string{"support", "night"}},
			{Name: "amy", Display: "amy", Teams: []string{"support"}},
			{Name: "carol-2", Display: "carol-2"},
		},
		Teams: c.Teams,
	}
	if !reflect.DeepEqual(people, wantPeople) {
		t.Errorf("People = %+v", people)
	}
	wantFlow := &flows.People{
		Operators: map[string][]string{"bob": {"support", "night"}, "amy": {"support"}, "carol-2": {}},
		Teams:     []string{"night", "sales", "support"},
	}
	if got := c.FlowPeople(); !reflect.DeepEqual(got, wantFlow) {
		t.Errorf("FlowPeople = %+v", got)
	}
	if got := c.AutoClose(); !reflect.DeepEqual(got, map[string]time.Duration{"main": 24 * time.Hour, "other": engine.DefaultAutoClose}) {
		t.Errorf("AutoClose = %v", got)
	}

	for tok, name := range map[string]string{amyToken: "amy", bobToken: "bob", "carol_token_written_here": "carol-2"} {
		if o, ok := c.OperatorByToken(tok); !ok || o.Name != name || o != &c.Operators[indexOf(c.OperatorNames(), name)] {
			t.Errorf("OperatorByToken(%s's) = %v, %v", name, o, ok)
		}
	}
	for _, tok := range []string{"", adminToken, amyToken[:len(amyToken)-1], amyToken + "x", strings.ToUpper(amyToken)} {
		if o, ok := c.OperatorByToken(tok); ok {
			t.Errorf("OperatorByToken(%q) = %v", tok, o)
		}
	}
	if o, ok := c.Operator("amy"); !ok || o.Token != amyToken {
		t.Errorf("Operator(amy) = %v, %v", o, ok)
	}
	if _, ok := c.Operator("zed"); ok {
		t.Error("Operator(zed) found someone")
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestConfigNoPeople checks the defaults: no operators, no teams, 48h.
func TestConfigNoPeople(t *testing.T) {
	t.Parallel()
	c, err := Parse("", []byte("operators:\nteams:\n"+minimal), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.Operators != nil || c.Teams != nil || !reflect.DeepEqual(c.People(), engine.People{}) {
		t.Errorf("operators %v teams %v people %+v", c.Operators, c.Teams, c.People())
	}
	if got := c.AutoClose(); !reflect.DeepEqual(got, map[string]time.Duration{"main": 48 * time.Hour}) {
		t.Errorf("AutoClose = %v", got)
	}
	if _, ok := c.OperatorByToken(""); ok {
		t.Error("the empty token names an operator")
	}
	sb, err := Parse("", []byte("sandbox: true\n"), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if sb.AutoClose() != nil {
		t.Errorf("the sandbox's AutoClose = %v, want nil (the engine's default)", sb.AutoClose())
	}
}

func TestConfigPeopleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"undeclared team, did you mean", `teams: { support: }
operators:
  amy: { teams: [suport], token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:3:18: error: team suport is not declared (did you mean "support"?)`},
		{"undeclared team, no teams", `operators:
  amy: { teams: [support], token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:2:18: error: team support is not declared (declare it under teams: at the top level (support: with nothing is always on shift))`},
		{"undeclared team, other teams", `teams: { sales: }
operators:
  amy: { teams: [support], token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:3:18: error: team support is not declared (declare it under teams:, or use one of sales)`},
		{"misspelt teams key", `tems: { support: }
operators:
  amy: { teams: [support], token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:1:1: error: unknown key "tems" (did you mean "teams"?)`},
		{"team listed twice", `teams: { support: }
operators:
  amy: { teams: [support, support], token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:3:27: error: team support is listed twice`},
		{"teams not a list", `teams: { support: }
operators:
  amy: { teams: support, token: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:3:17: error: teams must be a list of team names, got text (write a list: teams: [support])`},
		{"names", `teams:
  Support:
  none:
  "sales team":
operators:
  Amy: { token: "${WXFLOW_AMY_TOKEN}" }
  none: { token: "${WXFLOW_BOB_TOKEN}" }
  -bob: { token: "${WXFLOW_BOB_TOKEN}" }
  ` + strings.Repeat("x", 33) + `: { token: "${WXFLOW_BOB_TOKEN}" }
`, `wxflow.yaml:2:3: error: team name "Support" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (did you mean "support"?)
wxflow.yaml:3:3: error: "none" cannot name a team (assign: none hands a conversation back to nobody; choose another name)
wxflow.yaml:4:3: error: team name "sales team" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (flows name it, as in assign: amy or assign: {team: support})
wxflow.yaml:6:3: error: operator name "Amy" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (did you mean "amy"?)
wxflow.yaml:7:3: error: "none" cannot name an operator (assign: none hands a conversation back to nobody; choose another name)
wxflow.yaml:8:3: error: operator name "-bob" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (flows name it, as in assign: amy or assign: {team: support})
wxflow.yaml:9:3: error: operator name "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit (flows name it, as in assign: amy or assign: {team: support})`},
		{"declared twice", `teams:
  support:
  support:
operators:
  amy: { token: "${WXFLOW_AMY_TOKEN}" }
  amy: { token: "${WXFLOW_BOB_TOKEN}" }
`, `wxflow.yaml:3:3: error: team support is declared twice (it is first given at line 2)
wxflow.yaml:6:3: error: operator amy is declared twice (it is first given at line 5)`},
		{"same token", `operators:
  amy: { token: "${WXFLOW_AMY_TOKEN}" }
  bob: { token: "${WXFLOW_BOB_TOKEN}" }
  carol: { token: "${WXFLOW_SAME_TOKEN}" }
`, `wxflow.yaml:4:19: error: operator carol has the same token as operator amy (each operator needs their own token: the token says who acts)`},
		{"admin token", `admin: { token: "${WXFLOW_ADMIN_TOKEN}" }
operators:
  amy: { token: "${WXFLOW_ADMIN_TOKEN}" }
`, `wxflow.yaml:3:17: error: operator amy's token is the admin token (each operator needs their own token; the admin token is for the administrator)`},
		{"admin token given after", `operators:
  amy: { token: ` + adminToken + ` }
admin: { token: "${WXFLOW_ADMIN_TOKEN}" }
`, `wxflow.yaml:2:17: error: operator amy's token is the admin token (each operator needs their own token; the admin token is for the administrator)`},
		{"token variable unset", `operators:
  amy: { token: "${WXFLOW_NOPE}" }
`, `wxflow.yaml:2:18: error: WXFLOW_NOPE is not set (set it in the environment of the wxflow command that reads this config, or give a default: ${WXFLOW_NOPE:-default})`},
		{"token variable empty", `operators:
  amy: { token: "${WXFLOW_EMPTY}" }
  bob: { token: "" }
  carol: { token: }
`, `wxflow.yaml:2:17: error: operator amy's token is empty (the environment variable it names is empty)
wxflow.yaml:3:17: error: operator bob's token is empty (write token: ${NAME} and set the environment variable NAME)
wxflow.yaml:4:19: error: operator carol's token is empty (write token: ${NAME} and set the environment variable NAME)`},
		{"no token", `operators:
  amy: { teams: [] }
  bob-2:
  carol: { tokn: "${WXFLOW_AMY_TOKEN}" }
`, `wxflow.yaml:2:8: error: operator amy has no token (every operator logs in to the console with their own token: token: ${WXFLOW_AMY_TOKEN})
wxflow.yaml:3:3: error: operator bob-2 has no token (every operator needs a token to log in to the console: write display_name:, teams: [...] and token: ${NAME} under it)
wxflow.yaml:4:12: error: unknown key "tokn" in an operator (did you mean "token"?)`},
		{"bad tokens", `operators:
  amy: { token: short-token }
  bob: { token: "has a space in the token" }
  carol: { token: [a, b] }
`, `wxflow.yaml:2:17: error: operator amy's token is too short (11 characters; at least 16) (generate one with: openssl rand -hex 24)
wxflow.yaml:3:17: error: operator bob's token must not contain spaces
wxflow.yaml:4:19: error: token must be text, got a list`},
		{"operator keys", `operators:
  amy:
    name: Amy
    display_name: "Amy\nLi"
    token: ${WXFLOW_AMY_TOKEN}
  bob:
    display_name: ` + strings.Repeat("B", 65) + `
    token: ${WXFLOW_BOB_TOKEN}
  carol: [support]
`, `wxflow.yaml:3:5: error: unknown key "name" in an operator (the operator's name is its key under operators:; display_name is the name the console shows)
wxflow.yaml:4:19: error: display_name must be one line without control characters
wxflow.yaml:7:19: error: display_name must be at most 64 characters
wxflow.yaml:9:10: error: operator carol must be a map of keys, got a list (write display_name:, teams: [...] and token: ${NAME} under it)`},
		{"not maps", `operators: [amy, bob]
teams: [support]
`, `wxflow.yaml:1:12: error: operators must be a map of operator names, got a list (write operators: then, under it, amy: { teams: [support], token: "${WXFLOW_AMY_TOKEN}" })
wxflow.yaml:2:8: error: teams must be a map of team names to hours, got a list (write teams: { support: { timezone: Asia/Shanghai, open: { mon-fri: "09:00-18:00" } } }, or support: with nothing for always)`},
		{"team hours", `teams:
  support: always
  sales:
    timezone: Asia/Shanghia
    open: { mon-fri: "09:00-18:00" }
  night:
    open: { mon-fry: "09:00-18:00" }
  weekend:
    timezone: UTC
`, `wxflow.yaml:2:12: error: team support's hours must be a map, got text (write the map of an hours step: { timezone: Asia/Shanghai, open: { mon-fri: "09:00-18:00" } }, or nothing for always)
wxflow.yaml:4:15: error: team sales: unknown time zone "Asia/Shanghia" (did you mean "Asia/Shanghai"?)
wxflow.yaml:7:13: error: team night: unknown day "fry" (days are mon, tue, wed, thu, fri, sat, sun; ranges like mon-fri; lists like sat,sun)
wxflow.yaml:9:5: error: team weekend: missing key "open" in hours (add open:, e.g. open: { mon-fri: "09:00-18:00" })`},
		{"operator keys elsewhere", `display_name: Amy
`, `wxflow.yaml:1:1: error: unknown key "display_name" (display_name belongs to an operator: put it under operators:, under the operator's name)`},
		{"auto_close", `accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    auto_close: 0
  - id: two
    app_id: wx0123456789abcde2
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    auto_close: -1h
  - id: three
    app_id: wx0123456789abcde3
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    auto_close: 12
  - id: four
    app_id: wx0123456789abcde4
    app_secret: ${WXFLOW_MAIN_SECRET}
    token: ${WXFLOW_MAIN_TOKEN}
    auto_close: soon
auto_close: 24h
`, `wxflow.yaml:6:17: error: auto_close must be longer than zero
wxflow.yaml:11:17: error: auto_close must be longer than zero (write how long a conversation stays open after the contact's last message, like 24h)
wxflow.yaml:16:17: error: auto_close needs a unit (write 12s for seconds or 12m for minutes)
wxflow.yaml:21:17: error: auto_close "soon" is not a duration: "soon" is not a number (write it like 30s, 10m, 48h, 1h30m or 7d: the units are ms, s, m, h and d)
wxflow.yaml:22:1: error: unknown key "auto_close" (auto_close belongs to an account: put it under accounts:)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := tt.src
			if !strings.Contains(src, "accounts:") {
				src += minimal
			}
			_, err := Parse("wxflow.yaml", []byte(src), envOf(peopleEnv))
			if err == nil {
				t.Fatalf("no error; want\n%s", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s\nsource:\n%s", got, tt.want, src)
			}
			for _, tok := range []string{amyToken, bobToken, adminToken, "short-token", "has a space"} {
				if strings.Contains(err.Error(), tok) {
					t.Errorf("the error shows a token: %s", err)
				}
			}
		})
	}
}

// TestConfigOperatorTokensNeverShown checks that printing or logging an
// operator, the operators or the config never shows a token.
func TestConfigOperatorTokensNeverShown(t *testing.T) {
	t.Parallel()
	c, err := Parse("wxflow.yaml", []byte(peopleSrc), envOf(peopleEnv))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Operators[0]
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("operator", "operator", o, "pointer", &o, "operators", c.Operators, "config", c)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("operator", "operator", o, "operators", c.Operators, "config", c)
	fmt.Fprintf(&b, "%v %+v %#v %s %v %+v %#v %+v\n", o, o, o, &o, c.Operators, c.Operators, c.Operators, *c)
	out := b.String() + logged(t, c)
	for _, tok := range []string{amyToken, bobToken, adminToken, "carol_token_written_here"} {
		if strings.Contains(out, tok) {
			t.Errorf("a token shows in:\n%s", out)
		}
	}
	if got, want := o.String(), "operator bob (Bob Wang; teams support,night; token set)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, want := range []string{"operator.name=bob", `operator.display_name="Bob Wang"`, "operator.teams=support,night", "config.operators=bob,amy,carol-2", "config.teams=night,sales,support"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}

// FuzzConfigPeople checks that no operators: or teams: makes Parse panic
// or show an operator's token in its errors.
func FuzzConfigPeople(f *testing.F) {
	f.Add(peopleSrc)
	f.Add("operators:\n  amy: { teams: [suport], token: \"${WXFLOW_AMY_TOKEN}\" }\nteams: { support: }\n")
	f.Add("operators:\n  amy: { token: \"${WXFLOW_SAME_TOKEN}\" }\n  bob: { token: " + amyToken + " }\n")
	f.Add("teams:\n  night: { open: { sat: \"22:00-02:00\" }, workdays: [2026-10-10] }\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("wxflow.yaml", []byte(src), envOf(peopleEnv))
		if err != nil {
			for _, tok := range []string{amyToken, bobToken, adminToken} {
				if strings.Contains(err.Error(), tok) && !strings.Contains(src, tok) {
					t.Fatalf("the error shows a token from the environment: %s", err)
				}
			}
			return
		}
		for _, o := range c.Operators {
			if o.Token == "" || o.Name == "" {
				t.Fatalf("operator %v without a name or token", o)
			}
			if got, ok := c.OperatorByToken(o.Token); !ok || got.Name != o.Name {
				t.Fatalf("OperatorByToken(%s's token) = %v, %v", o.Name, got, ok)
			}
			for _, team := range o.Teams {
				if _, ok := c.Teams[team]; !ok {
					t.Fatalf("operator %s's team %s is not declared", o.Name, team)
				}
			}
		}
	})
}
