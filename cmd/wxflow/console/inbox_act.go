package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// maxUpload bounds a request's body: an image to reply with (WeChat
// takes 10 MB) and the form around it.
const maxUpload = 11 << 20

func (c *Console) inboxRoutes(page, api func(string, http.HandlerFunc)) {
	page("GET /inbox", c.inboxPage)
	page("GET /inbox/live", c.inboxLive)
	page("GET /inbox/{account}/{id}", c.conversationPage)
	page("POST /inbox/{account}/{id}/{action}", c.conversationForm)
	page("POST /me/away", c.awayForm)
	api("GET /api/conversations", c.apiConversations)
	api("GET /api/conversations/{account}/{id}", c.apiConversation)
	api("POST /api/conversations/{account}/{id}/{action}", c.apiConversationAct)
	api("GET /api/me", c.apiMe)
	api("PUT /api/me/away", c.apiAway)
	api("POST /api/me/away", c.apiAway)
}

// ActRequest is the JSON body of POST /api/conversations/{account}/{id}/
// {action}. Which fields an action reads:
//
//   - reply: Text, or an image: ImageURL (https), MediaID (uploaded to
//     WeChat), or a file sent as multipart/form-data (field "image",
//     with "text" beside it for nothing: an image goes alone);
//   - assign: To "me", or Operator, or Team (with Pick round_robin or
//     least_open to pick an operator of the team on shift), or None
//     (back to flows);
//   - close: Note and Category;
//   - comment: Text;
//   - open: nothing;
//   - start: Flow and Vars.
type ActRequest struct {
	Text     string         `json:"text,omitempty"`
	ImageURL string         `json:"image_url,omitempty"`
	MediaID  string         `json:"media_id,omitempty"`
	To       string         `json:"to,omitempty"`
	Operator string         `json:"operator,omitempty"`
	Team     string         `json:"team,omitempty"`
	Pick     string         `json:"pick,omitempty"`
	None     bool           `json:"none,omitempty"`
	Note     string         `json:"note,omitempty"`
	Category string         `json:"category,omitempty"`
	Flow     string         `json:"flow,omitempty"`
	Vars     map[string]any `json:"vars,omitempty"`

	// image is an uploaded file (multipart).
	image *upload
}

// upload is an image file an operator sends.
type upload struct {
	name string
	data []byte // at most one byte over WeChat's limit
	size int64  // the file's size, as it came
}

// ActAnswer is what an action on a conversation answers.
type ActAnswer struct {
	Conversation *ConversationView `json:"conversation,omitempty"`
	// Message is a reply's message: pending until sent, or failed with
	// the reason when it was refused.
	Message *MessageView `json:"message,omitempty"`
	Run     *RunSummary  `json:"run,omitempty"`
	// Queued is set when another node holds the contact and does the
	// action in a moment (202).
	Queued bool   `json:"queued,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Error, Reason and Why say why a reply was refused (409).
	Error  string          `json:"error,omitempty"`
	Reason channels.Reason `json:"reason,omitempty"`
	Why    string          `json:"why,omitempty"`
}

// actionFields are the JSON fields each action reads (see ActRequest).
var actionFields = map[string][]string{
	"reply":   {"text", "image_url", "media_id"},
	"assign":  {"to", "operator", "team", "pick", "none"},
	"close":   {"note", "category"},
	"comment": {"text"},
	"open":    {},
	"start":   {"flow", "vars"},
}

// fieldsNotOf lists the fields set in the request that the action does
// not read.
func (r *ActRequest) fieldsNotOf(kind string) []string {
	allowed, ok := actionFields[kind]
	if !ok {
		return nil // an unknown action is refused by its own error
	}
	set := map[string]bool{"text": r.Text != "", "image_url": r.ImageURL != "", "media_id": r.MediaID != "", "to": r.To != "",
		"operator": r.Operator != "", "team": r.Team != "", "pick": r.Pick != "", "none": r.None, "note": r.Note != "",
		"category": r.Category != "", "flow": r.Flow != "", "vars": r.Vars != nil}
	var out []string
	for _, f := range []string{"text", "image_url", "media_id", "to", "operator", "team", "pick", "none", "note", "category", "flow", "vars"} {
		if set[f] && !slices.Contains(allowed, f) {
			out = append(out, f)
		}
	}
	return out
}

// convActions are the actions on a conversation.
var convActions = []string{"reply", "assign", "open", "close", "comment", "start"}

// action builds the engine's action from a request, checking what the
// engine would otherwise fail on with less to say.
func (c *Console) action(ctx context.Context, kind string, req *ActRequest, who actor) (engine.Action, error) {
	a := engine.Action{Kind: engine.ActionKind(kind), Operator: who.Operator}
	people := c.eng.People()
	if extra := req.fieldsNotOf(kind); len(extra) > 0 {
		// One struct takes every action's fields: a field of another
		// action was taken in silence ({"operator": "amy"} on open).
		return a, badRequest("%s takes no %s", kind, strings.Join(extra, ", "))
	}
	if req.To == "me" && req.Operator != "" {
		return a, badRequest("to: me assigns the operator who asks; with operator it would name two: give one")
	}
	switch a.Kind {
	case engine.ActReply:
		msg, err := c.replyMessage(ctx, req)
		if err != nil {
			return a, err
		}
		a.Message = msg
	case engine.ActAssign:
		h := steps.Handover{Operator: req.Operator, Team: req.Team, Pick: req.Pick, None: req.None}
		switch req.To {
		case "":
		case "me":
			if who.Operator == "" {
				return a, badRequest("to: me assigns the operator who asks: the admin has no conversations of their own; name an operator")
			}
			h.Operator = who.Operator
		case "none":
			h.None = true
		default:
			return a, badRequest("to is me or none, not %q (use operator or team to name one)", req.To)
		}
		if h.None && (h.Operator != "" || h.Team != "") {
			return a, badRequest("assign none hands the conversation back to flows: name no operator or team with it")
		}
		if !h.None && h.Operator == "" && h.Team == "" {
			return a, badRequest("assign needs to: me, operator, team, or none")
		}
		if h.Operator != "" {
			if _, ok := people.Operator(h.Operator); !ok {
				return a, badRequest("no operator %q is declared (operators: %s)", h.Operator, strings.Join(operatorNames(people), ", "))
			}
		}
		if h.Team != "" {
			if _, ok := people.Teams[h.Team]; !ok {
				return a, badRequest("no team %q is declared (teams: %s)", h.Team, strings.Join(slices.Sorted(maps.Keys(people.Teams)), ", "))
			}
		}
		if h.Pick != "" {
			if h.Team == "" || h.Operator != "" {
				return a, badRequest("pick chooses an operator of a team: give team and no operator")
			}
			if h.Pick != "round_robin" && h.Pick != "least_open" {
				return a, badRequest("pick is round_robin or least_open, not %q", h.Pick)
			}
		}
		if h.Operator != "" && h.Team != "" {
			if op, _ := people.Operator(h.Operator); !slices.Contains(op.Teams, h.Team) {
				return a, badRequest("operator %s is not of team %s", h.Operator, h.Team)
			}
		}
		a.Handover = h
	case engine.ActClose:
		a.Note, a.Category = strings.TrimSpace(req.Note), strings.TrimSpace(req.Category)
	case engine.ActComment:
		a.Text = strings.TrimSpace(req.Text)
		if a.Text == "" {
			return a, badRequest("a comment needs a text")
		}
	case engine.ActOpen:
	case engine.ActStart:
		if req.Flow == "" {
			return a, badRequest("start needs a flow")
		}
		a.Flow, a.Vars = req.Flow, req.Vars
	default:
		return a, fmt.Errorf("%w: no action %q on a conversation (one of %s)", engine.ErrNotFound, kind, strings.Join(convActions, ", "))
	}
	return a, nil
}

func operatorNames(p *engine.People) []string {
	out := make([]string, len(p.Operators))
	for i, o := range p.Operators {
		out[i] = o.Name
	}
	return out
}

// isControl reports a C0 control character other than newline and tab,
// which a reply's text may not hold (WeChat would show them as nothing,
// or refuse the message).
func isControl(r rune) bool {
	return r < 0x20 && r != '\n' && r != '\t'
}

// replyMessage is a reply's message: a text, or an image (an upload, an
// https URL or a WeChat media id).
func (c *Console) replyMessage(ctx context.Context, req *ActRequest) (*channels.Message, error) {
	text := strings.TrimSpace(req.Text)
	images := 0
	for _, set := range []bool{req.image != nil, req.ImageURL != "", req.MediaID != ""} {
		if set {
			images++
		}
	}
	switch {
	case images > 1:
		return nil, badRequest("a reply sends one image: an upload, image_url or media_id")
	case images == 1 && text != "":
		return nil, badRequest("a reply is a text or an image, not both: WeChat sends them as two messages")
	case images == 0 && text == "":
		return nil, badRequest("a reply needs a text or an image")
	case images == 0:
		// A form's box sends its line breaks as CRLF: they are newlines.
		text = strings.ReplaceAll(text, "\r\n", "\n")
		if i := strings.IndexFunc(text, isControl); i >= 0 {
			return nil, badRequest("a reply's text may not hold control characters other than newline and tab (U+%04X at byte %d)", text[i], i)
		}
		return &channels.Message{Type: "text", Text: text}, nil
	}
	md := &channels.Media{Kind: "image"}
	switch {
	case req.ImageURL != "":
		if u, err := url.Parse(req.ImageURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(req.ImageURL, " \t\r\n") {
			return nil, badRequest("image_url must be an https URL with a host, like https://cdn.example.com/a.png")
		}
		md.URL = req.ImageURL
	case req.MediaID != "":
		if !mediaIDPattern.MatchString(req.MediaID) {
			return nil, badRequest("media_id must be a WeChat media id: 1 to 128 letters, digits, _ or -")
		}
		md.MediaID = req.MediaID
	default:
		key, size, err := c.saveUpload(ctx, req.image)
		if err != nil {
			return nil, err
		}
		md.Upload, md.Size = key, size
	}
	return &channels.Message{Type: "image", Media: md}, nil
}

// mediaIDPattern is what a WeChat media id looks like (letters, digits,
// _ and -): a reply with anything else would use up the contact's quota
// on a message WeChat refuses.
var mediaIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// imageExts are the image types an upload may be, by their sniffed
// content type.
var imageExts = map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp"}

// saveUpload keeps an uploaded image in the store (engine.UploadStore),
// where the node that sends the message and every node's console read
// it, and returns its key: the SHA-256 of its content with the extension
// of what it is.
func (c *Console) saveUpload(ctx context.Context, u *upload) (string, int64, error) {
	limit := flows.MediaLimits["image"]
	if len(u.data) == 0 {
		return "", 0, badRequest("the image %q is empty", u.name)
	}
	if size := max(u.size, int64(len(u.data))); size > limit.MaxBytes {
		return "", 0, badRequest("the image is %s (%d bytes); WeChat accepts %s (%d bytes) at most", formatSize(size), size, formatSize(limit.MaxBytes), limit.MaxBytes)
	}
	ext, ok := imageExts[http.DetectContentType(u.data)]
	if !ok {
		return "", 0, badRequest("%q is not an image WeChat accepts (%s)", u.name, strings.Join(limit.Exts, ", "))
	}
	sum := sha256.Sum256(u.data)
	key := hex.EncodeToString(sum[:]) + "." + ext
	if err := engine.SaveUpload(ctx, c.eng.Store(), &engine.Upload{Key: key, Data: u.data, Created: c.eng.Clock().Now()}); err != nil {
		return "", 0, fmt.Errorf("keep the upload: %w", err)
	}
	return key, int64(len(u.data)), nil
}

// multipartReply reads a multipart reply's fields as the JSON body's: a
// field given twice, an unknown one, or a file other than image is
// refused (it was dropped in silence: image_url beside text was not sent).
func multipartReply(f *multipart.Form, req *ActRequest) error {
	for name, vs := range f.Value {
		var into *string
		switch name {
		case "text":
			into = &req.Text
		case "image_url":
			into = &req.ImageURL
		case "media_id":
			into = &req.MediaID
		default:
			return badRequest("a reply takes the fields text, image_url, media_id and the file image, not %q", name)
		}
		if len(vs) != 1 {
			return badRequest("the field %s is given %d times", name, len(vs))
		}
		*into = vs[0]
	}
	for name, fs := range f.File {
		if name != "image" {
			return badRequest("a reply takes one file, image, not %q", name)
		}
		if len(fs) != 1 {
			return badRequest("a reply takes one image, not %d", len(fs))
		}
	}
	return nil
}

// readUpload reads the multipart form's image, if any.
func readUpload(r *http.Request) (*upload, error) {
	f, h, err := r.FormFile("image")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil, nil
	}
	if err != nil {
		return nil, badRequest("the upload could not be read: %v", err)
	}
	defer f.Close()
	return readPart(f, h)
}

func readPart(f multipart.File, h *multipart.FileHeader) (*upload, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, flows.MediaLimits["image"].MaxBytes+1)); err != nil {
		return nil, badRequest("the upload could not be read: %v", err)
	}
	if buf.Len() == 0 && h.Filename == "" {
		return nil, nil // a file input left empty
	}
	return &upload{name: filepath.Base(h.Filename), data: buf.Bytes(), size: max(h.Size, int64(buf.Len()))}, nil
}

// act does an action on a conversation for the request's actor. A reply
// that cannot go is refused (engine.ErrRefused) and kept in the
// transcript as failed with the reason.
func (c *Console) act(r *http.Request, account, id, kind string, req *ActRequest) (*engine.ActResult, error) {
	who := actorOf(r)
	a, err := c.action(r.Context(), kind, req, who)
	if err != nil {
		return nil, err
	}
	res, err := c.eng.Act(r.Context(), engine.ContactRef{Account: account, ID: id}, a)
	by := "admin"
	if who.Operator != "" {
		by = who.Operator
	}
	if errors.Is(err, engine.ErrQueued) {
		// Not a refusal: the node holding the contact does it.
		c.log.Info("conversation action queued", "action", kind, "account", account, "contact", id, "by", by, "detail", err)
		return res, err
	}
	if err != nil {
		c.log.Info("conversation action not done", "action", kind, "account", account, "contact", id, "by", by, "why", err)
		return res, err
	}
	c.log.Info("conversation action", "action", kind, "account", account, "contact", id, "by", by)
	if c.cfg.Sandbox != nil {
		// The simulator shows what the action sent at once.
		if err := c.eng.Sync(r.Context()); err != nil {
			return nil, fmt.Errorf("wait for the engine: %w", err)
		}
	}
	return res, nil
}

// refusalOf is the channel's refusal of a refused reply, or nil.
func refusalOf(err error) *channels.Refusal {
	var ref *channels.Refusal
	if errors.Is(err, engine.ErrRefused) && errors.As(err, &ref) {
		return ref
	}
	return nil
}

func (c *Console) apiConversations(w http.ResponseWriter, r *http.Request) {
	who := actorOf(r)
	iq, err := readInboxQuery(r.URL.Query(), who)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	list, next, err := c.inbox(r.Context(), iq, who)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	ans := map[string]any{"conversations": list, "view": iq.View, "status": iq.Status}
	if next != "" {
		ans["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, ans)
}

func (c *Console) apiConversation(w http.ResponseWriter, r *http.Request) {
	d, err := c.conversation(r.Context(), r.PathValue("account"), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (c *Console) apiConversationAct(w http.ResponseWriter, r *http.Request) {
	account, id, kind := r.PathValue("account"), r.PathValue("id"), r.PathValue("action")
	var req ActRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if kind != "reply" {
			c.fail(w, r, badRequest("only a reply takes an upload; send the body as JSON"), true)
			return
		}
		if err := r.ParseMultipartForm(maxUpload); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than the console takes (%d MB: an image up to 10 MB and its texts)", maxUpload>>20))
				return
			}
			c.fail(w, r, badRequest("the form could not be read: %v", err), true)
			return
		}
		if err := multipartReply(r.MultipartForm, &req); err != nil {
			c.fail(w, r, err, true)
			return
		}
		up, err := readUpload(r)
		if err != nil {
			c.fail(w, r, err, true)
			return
		}
		req.image = up
	} else if err := decodeJSON(r, &req); err != nil {
		c.fail(w, r, err, true)
		return
	}
	res, err := c.act(r, account, id, kind, &req)
	var ans ActAnswer
	if res != nil {
		if res.Outbox != nil {
			m := messageView(res.Outbox)
			ans.Message = &m
		}
		if res.Run != nil {
			rs, err := c.startedRun(r.Context(), res.Run)
			if err != nil {
				// The run started: say so, without its messages' outcomes.
				c.log.Warn("reading a started run's messages", "run", res.Run.ID, "err", err)
			}
			ans.Run = &rs
		}
	}
	if ref := refusalOf(err); ref != nil {
		ans.Error = "the reply was refused before it reached WeChat: " + ref.Error()
		ans.Reason, ans.Why = ref.Reason, ref.Reason.Describe()
		writeJSON(w, http.StatusConflict, ans)
		return
	}
	if errors.Is(err, engine.ErrQueued) {
		ans.Queued, ans.Detail = true, "another node holds this contact: it does the action in a moment"
		writeJSON(w, http.StatusAccepted, ans)
		return
	}
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	// The conversation after the action, with the window now.
	if d, err := c.conversation(r.Context(), account, id); err == nil {
		ans.Conversation = &d.ConversationView
	}
	status := http.StatusOK
	if kind == "reply" || kind == "start" || kind == "comment" {
		status = http.StatusCreated
	}
	writeJSON(w, status, ans)
}

// MeView is who calls: an operator, with their teams and away switch,
// or the admin.
type MeView struct {
	Operator string   `json:"operator,omitempty"`
	Name     string   `json:"name"`
	Teams    []string `json:"teams"`
	Away     bool     `json:"away"`
	Admin    bool     `json:"admin,omitempty"`
}

func (c *Console) me(r *http.Request) (MeView, error) {
	who := actorOf(r)
	if who.Operator == "" {
		return MeView{Name: "admin", Admin: true, Teams: []string{}}, nil
	}
	op, ok := c.eng.People().Operator(who.Operator)
	if !ok {
		return MeView{}, fmt.Errorf("%w: %q", engine.ErrUnknownOperator, who.Operator)
	}
	away, err := c.eng.Away(r.Context())
	if err != nil {
		return MeView{}, err
	}
	v := MeView{Operator: op.Name, Name: op.Display, Teams: append([]string{}, op.Teams...), Away: away[op.Name]}
	if v.Name == "" {
		v.Name = op.Name
	}
	return v, nil
}

func (c *Console) apiMe(w http.ResponseWriter, r *http.Request) {
	v, err := c.me(r)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// AwayRequest is the body of PUT /api/me/away.
type AwayRequest struct {
	Away *bool `json:"away"`
}

func (c *Console) apiAway(w http.ResponseWriter, r *http.Request) {
	var req AwayRequest
	if err := decodeJSON(r, &req); err != nil {
		c.fail(w, r, err, true)
		return
	}
	if req.Away == nil {
		c.fail(w, r, badRequest(`send {"away": true} or {"away": false}`), true)
		return
	}
	if err := c.setAway(r, *req.Away); err != nil {
		c.fail(w, r, err, true)
		return
	}
	c.apiMe(w, r)
}

// setAway marks the request's operator away or back.
func (c *Console) setAway(r *http.Request, away bool) error {
	who := actorOf(r)
	if who.Operator == "" {
		return badRequest("the away switch is an operator's: log in, or call the API, with an operator's token")
	}
	if err := c.eng.SetAway(r.Context(), who.Operator, away); err != nil {
		return err
	}
	c.log.Info("operator away switch", "operator", who.Operator, "away", away)
	return nil
}

// inboxPage lists conversations.
func (c *Console) inboxPage(w http.ResponseWriter, r *http.Request) {
	who := actorOf(r)
	q := r.URL.Query()
	iq, err := readInboxQuery(q, who)
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	list, next, err := c.inbox(r.Context(), iq, who)
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	data := map[string]any{"Conversations": list, "Q": iq, "Me": who.Operator, "Views": inboxViews,
		"Accounts": c.cfg.Accounts}
	if next != "" {
		nq := url.Values{"view": {iq.View}, "status": {iq.Status}, "cursor": {next}}
		if iq.Account != "" {
			nq.Set("account", iq.Account)
		}
		if q.Get("limit") != "" {
			nq.Set("limit", fmt.Sprint(iq.Limit))
		}
		data["Next"] = pageLink("/inbox", nq)
	}
	c.render(w, r, "inbox", "Inbox", data)
}

// conversationPage shows a conversation.
func (c *Console) conversationPage(w http.ResponseWriter, r *http.Request) {
	d, err := c.conversation(r.Context(), r.PathValue("account"), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	people := c.eng.People()
	var teams []string
	for t := range people.Teams {
		teams = append(teams, t)
	}
	slices.Sort(teams)
	q := r.URL.Query()
	c.render(w, r, "conversation", "Conversation with "+d.Contact, map[string]any{"Conv": d, "Me": actorOf(r).Operator,
		"Operators": people.Operators, "Teams": teams, "Flows": c.flowChoices(), "Error": c.flash(q, "error"),
		"Reason": c.flash(q, "reason"), "Done": c.flash(q, "done"), "Queued": c.flash(q, "queued"), "Kept": c.kept(q)})
}

// conversationForm does the action of a form of the conversation page
// and shows the page again, with the error or the refusal's reason.
func (c *Console) conversationForm(w http.ResponseWriter, r *http.Request) {
	account, id, kind := r.PathValue("account"), r.PathValue("id"), r.PathValue("action")
	req := ActRequest{Text: r.PostFormValue("text"), Note: r.PostFormValue("note"), Category: r.PostFormValue("category"),
		Flow: r.PostFormValue("flow")}
	back := "/inbox/" + url.PathEscape(account) + "/" + url.PathEscape(id)
	q := url.Values{}
	switch kind {
	case "reply":
		up, err := readUpload(r)
		if err != nil {
			q.Set("error", errText(err))
			q.Set("keep", url.Values{"action": {kind}, "text": {req.Text}}.Encode())
			c.backToConversation(w, r, back, q, "#reply")
			return
		}
		req.image = up
	case "start":
		// The flow's variables, from the Variables box (boxVars).
		if f := c.eng.Flows().Flow(req.Flow); f != nil {
			vars, err := boxVars(f, r.PostFormValue("vars"))
			if err != nil {
				q.Set("error", errText(err))
				if k := startKept(&req, r); len(k) <= maxKept {
					q.Set("keep", k)
				}
				c.backToConversation(w, r, back, q, "#end")
				return
			}
			req.Vars = vars
		}
	case "assign":
		// to: me, none, op:NAME, team:NAME, or pick:NAME (round robin)
		to := r.PostFormValue("to")
		switch {
		case to == "me" || to == "none":
			req.To = to
		case strings.HasPrefix(to, "op:"):
			req.Operator = strings.TrimPrefix(to, "op:")
		case strings.HasPrefix(to, "team:"):
			req.Team = strings.TrimPrefix(to, "team:")
		case strings.HasPrefix(to, "pick:"):
			req.Team, req.Pick = strings.TrimPrefix(to, "pick:"), "round_robin"
		default:
			req.To = to
		}
	}
	_, err := c.act(r, account, id, kind, &req)
	switch {
	case err == nil:
		q.Set("done", kind)
	case refusalOf(err) != nil:
		ref := refusalOf(err)
		q.Set("error", "Not sent: "+ref.Error())
		q.Set("reason", string(ref.Reason))
	case errors.Is(err, engine.ErrQueued):
		// Not done yet: a reply, above all, may still be refused there
		// (the window or the quota, checked when it is sent).
		queued := kind + ": another node holds this contact and does it in a moment"
		if kind == "reply" {
			queued = "reply: another node holds this contact and sends it in a moment, if WeChat's window and quota allow it then; the conversation shows what came of it"
		}
		q.Set("queued", queued)
	case statusOf(err) >= http.StatusInternalServerError:
		c.fail(w, r, err, false)
		return
	default:
		q.Set("error", errText(err))
		// What was typed stays in the form, to mend and send again: it
		// was refused before it was recorded anywhere.
		keep := url.Values{"action": {kind}}
		switch kind {
		case "reply", "comment":
			keep.Set("text", req.Text)
		case "close":
			keep.Set("note", req.Note)
			keep.Set("category", req.Category)
		}
		k := keep.Encode()
		if kind == "start" {
			k = startKept(&req, r)
		}
		if (len(keep) > 1 || kind == "start") && len(k) <= maxKept {
			q.Set("keep", k)
		}
	}
	anchor := "#end"
	if kind == "reply" && err != nil {
		anchor = "#reply"
	}
	c.backToConversation(w, r, back, q, anchor)
}

// maxBackURL bounds the URL a form of the conversation page redirects
// to: nginx's default buffers (8 KiB) refuse a longer request line (414),
// and a refused text kept in the URL (twice escaped, 15 bytes a Chinese
// character) passed it at about 500 characters.
const maxBackURL = 6 << 10

// backToConversation leads a form's POST back to the conversation page
// back with the flash keys q: a redirect, or, when the URL would be too
// long for the proxies in front (maxBackURL), the page itself as this
// response, so that the text kept is not lost to a 414.
func (c *Console) backToConversation(w http.ResponseWriter, r *http.Request, back string, q url.Values, anchor string) {
	c.backTo(w, r, back, q, anchor, c.conversationPage, "account", "id")
}

// backTo leads a form's POST back to the page back (drawn by page, whose
// path values named are the POST's too) with the flash keys q: a
// redirect, or, when its URL would pass maxBackURL, the page itself as
// this response.
func (c *Console) backTo(w http.ResponseWriter, r *http.Request, back string, q url.Values, anchor string, page http.HandlerFunc, named ...string) {
	query := c.signFlash(q).Encode()
	if len(back)+1+len(query)+len(anchor) <= maxBackURL {
		http.Redirect(w, r, back+"?"+query+anchor, http.StatusSeeOther)
		return
	}
	g := r.Clone(r.Context())
	g.Method, g.Body = http.MethodGet, http.NoBody
	g.URL = &url.URL{Path: back, RawQuery: query}
	for _, n := range named {
		g.SetPathValue(n, r.PathValue(n))
	}
	page(w, g)
}

// startKept is what the conversation page's Start form was given (the
// flow chosen and the Variables box), as the flash key keep, to fill
// the form again when the start is refused.
func startKept(req *ActRequest, r *http.Request) string {
	return url.Values{"action": {"start"}, "flow": {req.Flow}, "vars": {r.PostFormValue("vars")}}.Encode()
}

// maxKept bounds what a refused form's fields put in the URL of the page
// it leads back to (a text refused for its size is not kept past it).
const maxKept = 64 << 10

// awayForm sets the operator's away switch from the header's form.
func (c *Console) awayForm(w http.ResponseWriter, r *http.Request) {
	if err := c.setAway(r, r.PostFormValue("away") == "1"); err != nil {
		c.fail(w, r, err, false)
		return
	}
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// flowChoice is a flow the conversation page can start: its name and
// the variables it declares, in a line ("order: text, n: number").
type flowChoice struct {
	Name string
	Vars string
}

// flowChoices are the loaded flows, sorted by name.
func (c *Console) flowChoices() []flowChoice {
	var out []flowChoice
	for _, f := range c.eng.Flows().Flows {
		out = append(out, flowChoice{Name: f.Name, Vars: varsSummary(f)})
	}
	slices.SortFunc(out, func(a, b flowChoice) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// liveHeartbeat is how often a live stream says it is alive, so that
// proxies keep it open.
const liveHeartbeat = 25 * time.Second

// inboxLive streams server-sent events: "changed" after every commit
// that changes a contact or a message's outcome (engine.Changed), for
// the pages to refresh what they show; and at once when since (the
// page's data-since) says the page was read before a change that came
// since, or was read by another process. It ends when the client goes,
// the console closes, or the login it was opened with ends: at once for
// a logout on this node; on another node's logout, or a changed token,
// at its next event or heartbeat.
func (c *Console) inboxLive(w http.ResponseWriter, r *http.Request) {
	// Watched before the stream says it is open: a client that acts on
	// seeing it open gets the event of its change.
	changed, n := c.eng.Watch()
	// Taken before the login is looked at again below: a logout that
	// comes after is heard.
	logouts := c.logoutSignal()
	since := r.URL.Query().Get("since")
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 2000\n: live\n\n"); err != nil {
		return
	}
	if since != "" && since != c.since(n) {
		if _, err := io.WriteString(w, "event: changed\ndata: {}\n\n"); err != nil {
			return
		}
	}
	rc.Flush()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	loggedIn := actorOf(r).session != nil
	var checked time.Time
	// stillIn is false once the stream's login has ended; it reads the
	// store at most once a second for the change events.
	stillIn := func(force bool) bool {
		if !loggedIn || (!force && c.now().Sub(checked) < time.Second) {
			return true
		}
		checked = c.now()
		s, err := c.session(r)
		return err != nil || s != nil // a store that fails ends nothing
	}
	if !stillIn(true) {
		return // logged out since the request was let in
	}
	for {
		select {
		case <-changed:
			changed = c.eng.Changed() // before the client hears of this one
			if !stillIn(false) {
				return
			}
			if _, err := io.WriteString(w, "event: changed\ndata: {}\n\n"); err != nil {
				return
			}
		case <-logouts:
			logouts = c.logoutSignal()
			if !stillIn(true) {
				return
			}
			continue
		case <-beat.C:
			if !stillIn(true) {
				return
			}
			if _, err := io.WriteString(w, ": alive\n\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
