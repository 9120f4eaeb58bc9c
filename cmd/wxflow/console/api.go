package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/wxflow/wxflow/engine"
)

// maxAPIBody bounds the JSON bodies the API reads.
const maxAPIBody = 64 << 10

func (c *Console) apiFlows(w http.ResponseWriter, r *http.Request) {
	views, err := c.flowViews(r.Context())
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": views, "other_diagnostics": c.otherDiagnostics(views)})
}

func (c *Console) apiFlow(w http.ResponseWriter, r *http.Request) {
	v, err := c.flowView(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// StartRequest is the body of POST /api/flows/{name}/start.
type StartRequest struct {
	// Account defaults to the only account served.
	Account string         `json:"account"`
	Contact string         `json:"contact"`
	Vars    map[string]any `json:"vars"`
}

// decodeJSON reads a JSON body into v, refusing unknown fields and
// trailing data.
func decodeJSON(r *http.Request, v any) error {
	lr := &io.LimitedReader{R: r.Body, N: maxAPIBody + 1}
	body, err := io.ReadAll(lr)
	if err != nil {
		return badRequest("the body could not be read: %v", err)
	}
	if key := duplicateKey(body); key != "" {
		// Go's decoder keeps the last; the multipart form refuses a
		// field given twice, and so does the JSON.
		return badRequest("the body gives %q twice: give each field once", clipText(key, 40))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case lr.N <= 0:
			return badRequest("the body is larger than the API takes (%d KiB)", maxAPIBody>>10)
		case errors.Is(err, io.EOF):
			return badRequest("the body is empty; send a JSON object")
		case errors.As(err, &te) && te.Field != "":
			return badRequest("%s: expected %s, got a JSON %s", te.Field, jsonKind(te.Type.Kind()), te.Value)
		case errors.As(err, &te):
			// The body itself is of another kind ([], "text", 3): Go's
			// message names the struct it was decoded into.
			return badRequest("the body must be %s, not a JSON %s", jsonKind(te.Type.Kind()), te.Value)
		}
		return badRequest("the body is not the JSON expected: %v", err)
	}
	if dec.More() {
		return badRequest("the body has more than one JSON value")
	}
	return nil
}

// duplicateKey returns a key given twice in one object of a JSON text
// (at any depth), or "" when there is none or the text is not JSON (the
// decoder says what is wrong with it).
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			k, _ := tok.(string)
			if top.keys[k] {
				return k
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
		if len(stack) == 0 {
			return ""
		}
	}
}

// jsonKind names a Go kind as JSON would.
func jsonKind(kind reflect.Kind) string {
	switch kind {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a text"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a number"
}

func (c *Console) apiFlowStart(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	if err := decodeJSON(r, &req); err != nil {
		c.fail(w, r, err, true)
		return
	}
	run, err := c.startFlow(r, r.PathValue("name"), req)
	if errors.Is(err, engine.ErrQueued) {
		// Another node holds the contact: it starts the flow.
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": true, "detail": err.Error()})
		return
	}
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	sum, err := c.startedRun(r.Context(), run)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusCreated, sum)
}

func (c *Console) apiContacts(w http.ResponseWriter, r *http.Request) {
	list, err := c.contactList(r.Context(), r.URL.Query(), 0)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": list})
}

func (c *Console) apiContact(w http.ResponseWriter, r *http.Request) {
	v, err := c.contactDetail(r.Context(), r.PathValue("account"), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Console) apiRuns(w http.ResponseWriter, r *http.Request) {
	list, err := c.runList(r.Context(), r.URL.Query(), 0)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": list})
}

func (c *Console) apiRun(w http.ResponseWriter, r *http.Request) {
	v, err := c.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Console) apiMessages(w http.ResponseWriter, r *http.Request) {
	list, err := c.messageList(r.Context(), r.URL.Query(), 0)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": list})
}

func (c *Console) apiSandboxState(w http.ResponseWriter, r *http.Request) {
	v, err := c.simView(r.Context(), r.URL.Query().Get("contact"))
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Console) apiSandboxAct(w http.ResponseWriter, r *http.Request) {
	var a SimAction
	if err := decodeJSON(r, &a); err != nil {
		c.fail(w, r, err, true)
		return
	}
	if err := c.simAct(r.Context(), a); err != nil {
		c.fail(w, r, err, true)
		return
	}
	v, err := c.simView(r.Context(), a.Contact)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// startFlow starts a flow for the request's contact.
func (c *Console) startFlow(r *http.Request, flow string, req StartRequest) (*engine.Run, error) {
	if req.Contact == "" {
		return nil, badRequest("contact is required (the contact's OpenID)")
	}
	if req.Account == "" {
		req.Account = c.defaultAccount()
		if req.Account == "" {
			return nil, badRequest("account is required: more than one account is served")
		}
	}
	var run *engine.Run
	var err error
	if op := actorOf(r).Operator; op != "" {
		// An operator's start is recorded as theirs (the run's "started
		// by operator NAME", the transcript's note), as from the
		// conversation page.
		var res *engine.ActResult
		res, err = c.eng.Act(r.Context(), engine.ContactRef{Account: req.Account, ID: req.Contact},
			engine.Action{Kind: engine.ActStart, Operator: op, Flow: flow, Vars: req.Vars})
		if err == nil && res.Run == nil {
			err = fmt.Errorf("start %s for %s: the engine started no run", flow, req.Contact)
		}
		if err == nil {
			run = res.Run
		}
	} else {
		run, err = c.eng.StartFlow(r.Context(), req.Account, req.Contact, flow, req.Vars)
	}
	if err != nil {
		return nil, err
	}
	by := "admin"
	if op := actorOf(r).Operator; op != "" {
		by = op
	}
	c.log.Info("flow started through the admin API", "flow", flow, "account", req.Account, "contact", req.Contact, "run", run.ID, "by", by)
	if c.cfg.Sandbox != nil {
		// The simulator shows what the run sent at once.
		if err := c.eng.Sync(r.Context()); err != nil {
			return nil, fmt.Errorf("wait for the run: %w", err)
		}
	}
	return run, nil
}
