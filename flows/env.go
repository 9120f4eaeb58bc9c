package flows

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// Env is the typed environment every `if:`, `audience:`, `until:` and
// `${...}` expression is compiled against and evaluated in. The expr names
// are the ones of the flow language (FLOW-LANGUAGE.md, "The environment").
type Env struct {
	Contact ContactEnv     `expr:"contact"`
	Event   EventEnv       `expr:"event"`
	Answer  any            `expr:"answer"`
	Vars    map[string]any `expr:"vars"`
	// Conversation is the contact's conversation with the account, as it
	// is when the step runs; the engine fills it.
	Conversation ConversationEnv `expr:"conversation"`
	HTTP         HTTPEnv         `expr:"http"`
	Now          time.Time       `expr:"now"`
	Flow         FlowEnv         `expr:"flow"`
	Account      AccountEnv      `expr:"account"`
	// Secret is there so that `${secret.NAME}` compiles; it stays nil. A
	// secret is never evaluated: templates write the placeholder
	// `${secret.NAME}` in its place, and the engine puts the value in
	// when it sends an `http` step's request (see steps.Request).
	Secret map[string]string `expr:"secret" json:"-"`
}

// ContactEnv is the contact a run is for.
type ContactEnv struct {
	ID        string         `expr:"id"`
	Tags      []string       `expr:"tags"`
	Fields    map[string]any `expr:"fields"`
	Followed  bool           `expr:"followed"`
	FirstSeen time.Time      `expr:"first_seen"`
	LastSeen  time.Time      `expr:"last_seen"`
	Window    WindowEnv      `expr:"window"`
}

// WindowEnv is the contact's WeChat session as the channel sees it now.
type WindowEnv struct {
	Open      bool      `expr:"open"`
	ExpiresAt time.Time `expr:"expires_at"`
	QuotaLeft int       `expr:"quota_left"`
}

// EventEnv is the event that started or last resumed the run. Its JSON
// (kept with the run) leaves out the fields an event does not have.
type EventEnv struct {
	Type     string      `expr:"type" json:"Type,omitempty"`
	Text     string      `expr:"text" json:"Text,omitempty"`
	Scene    string      `expr:"scene" json:"Scene,omitempty"`
	Key      string      `expr:"key" json:"Key,omitempty"`
	Match    []string    `expr:"match" json:"Match,omitempty"`
	MediaID  string      `expr:"media_id" json:"MediaID,omitempty"`
	Location LocationEnv `expr:"location" json:"Location,omitzero"`
	At       time.Time   `expr:"at" json:"At,omitzero"`
}

// LocationEnv is a location a contact sent.
type LocationEnv struct {
	Lat   float64 `expr:"lat"`
	Lng   float64 `expr:"lng"`
	Scale int     `expr:"scale"`
	Label string  `expr:"label"`
}

// ConversationEnv is the contact's conversation (FLOW-LANGUAGE.md,
// "Conversations and people").
type ConversationEnv struct {
	// Status is "open" or "closed".
	Status string `expr:"status"`
	// Assignee is the operator who holds the conversation, "" when none.
	Assignee string `expr:"assignee"`
	// Team is the team that holds it, "" when none.
	Team string `expr:"team"`
	// OpenedAt is when it last opened; zero when it never did.
	OpenedAt time.Time `expr:"opened_at"`
}

// HTTPEnv is the response of the run's last `http` step.
type HTTPEnv struct {
	Status  int               `expr:"status"`
	Body    any               `expr:"body"`
	Headers map[string]string `expr:"headers"`
}

// FlowEnv names the flow a run belongs to.
type FlowEnv struct {
	Name    string `expr:"name"`
	Version string `expr:"version"`
}

// AccountEnv names the account a run belongs to.
type AccountEnv struct {
	ID string `expr:"id"`
}

// envShape maps each struct type of Env to its dotted path ("contact.window")
// and its field names, so expr's messages can be rewritten in the language's
// own words.
type envShape struct {
	path   string
	fields []string
}

var envShapes = func() map[string]envShape {
	m := map[string]envShape{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("expr")
			names = append(names, name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(f.Type, strings.TrimPrefix(path+"."+name, "."))
			}
		}
		sort.Strings(names)
		m[t.String()] = envShape{path: path, fields: names}
	}
	walk(reflect.TypeOf(Env{}), "")
	return m
}()

// EnvNames lists the top-level names an expression may use.
func EnvNames() []string { return envShapes[reflect.TypeOf(Env{}).String()].fields }
