package engine

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// maxResponseBody is the most of an `http` step's response body kept.
const maxResponseBody = 1 << 20

// noRedirects makes a client return a redirect as the response instead
// of following it: a request's headers, body and Referer may carry
// secrets, which go only to the address the flow wrote (Go's client
// drops Authorization on a redirect to another host, but not X-Api-Key,
// a body re-sent by 307, or a query's secret in the Referer). A 3xx
// answer is a non-2xx answer: the step takes on_error, and the
// response's Location header says where it pointed.
func noRedirects(c *http.Client) *http.Client {
	out := *c
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// callRef names the run an `http` call resumes, and the run's Seq when
// the call was made.
type callRef struct {
	account, contact string
	runID, seq       int64
}

// call makes an `http` step's request outside any transaction, then
// resumes the run with the response. A crash before the resume commits
// makes the call again on start: calls are made at least once. A call
// already under way here for the run at that step is not made again.
func (e *Engine) call(r *Run, req *steps.Request) {
	c := callRef{account: r.Account, contact: r.Contact, runID: r.ID, seq: r.Seq}
	if e.claimCall(c) {
		e.runCall(c, req)
	}
}

// claimCall notes that a call for c is under way here; false if one is.
func (e *Engine) claimCall(c callRef) bool {
	e.callsMu.Lock()
	defer e.callsMu.Unlock()
	if seq, ok := e.inCall[c.runID]; ok && seq == c.seq {
		return false
	}
	if e.inCall == nil {
		e.inCall = map[int64]int64{}
	}
	e.inCall[c.runID] = c.seq
	return true
}

// releaseCall forgets the call for c that claimCall noted.
func (e *Engine) releaseCall(c callRef) {
	e.callsMu.Lock()
	if e.inCall[c.runID] == c.seq {
		delete(e.inCall, c.runID)
	}
	e.callsMu.Unlock()
}

// runCall makes the call that claimCall noted for c and resumes its run.
func (e *Engine) runCall(c callRef, req *steps.Request) {
	e.addBusy(1)
	go func() {
		// The call stays busy until its resume is committed, so that Sync
		// never returns between the response and the resume.
		defer e.addBusy(-1)
		defer e.releaseCall(c)
		res := e.doRequest(req)
		// The response is recorded even across a database restart:
		// resuming is idempotent (resumeCall checks the run's step).
		failing := time.Now()
		for attempt := 0; ; attempt++ {
			err := e.submit(context.Background(), func(w *work) error { return w.resumeCall(c, res) })
			if err == nil || errors.Is(err, ErrStopped) || errors.Is(err, ErrFenced) {
				return
			}
			if time.Since(failing) > callResumeRetry || !e.pauseSends(backoff(attempt)) {
				e.log.Error("http step: recording the response failed; the call is made again at the next start", "err", err)
				return
			}
			e.log.Warn("http step: recording the response failed; retrying", "err", err)
		}
	}()
}

// callResumeRetry is how long recording an `http` call's response is
// tried (a database restarting is back well within it).
const callResumeRetry = time.Minute

// recallCalls, in the timer loop after a commit whose outcome was not
// seen (resync), makes the calls of the runs waiting for one that no
// call here is under way for: such a commit may have left a run calling
// whose call the writer, which saw it fail, never made.
func (e *Engine) recallCalls(ctx context.Context) error {
	if !e.recall.Swap(false) {
		return nil
	}
	var runs []*Run
	err := e.store.View(ctx, func(tx ReadTx) error {
		var err error
		runs, err = tx.Runs(RunFilter{Status: RunCalling})
		return err
	})
	if err != nil {
		e.recall.Store(true)
		return fmt.Errorf("runs waiting for calls: %w", err)
	}
	for _, r := range runs {
		if r.State.Request == nil || !e.owns(r.Account, r.Contact) {
			continue
		}
		c := callRef{account: r.Account, contact: r.Contact, runID: r.ID, seq: r.Seq}
		if !e.claimCall(c) {
			continue
		}
		// The list may predate a call here that resumed the run and let
		// go of it since: read the run again now that no other call for
		// it can start or end here (a call lets go after its resume
		// committed), and make the call only if the run still waits.
		still, err := e.stillCalling(ctx, c)
		if err != nil || !still {
			e.releaseCall(c)
			if err != nil {
				e.recall.Store(true)
				return err
			}
			continue
		}
		e.runCall(c, r.State.Request)
	}
	return nil
}

// stillCalling reports whether c's run still waits for the call made at
// c's step.
func (e *Engine) stillCalling(ctx context.Context, c callRef) (bool, error) {
	var still bool
	err := e.store.View(ctx, func(tx ReadTx) error {
		r, err := tx.Run(c.runID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("run %d: %w", c.runID, err)
		}
		still = r.Status == RunCalling && r.Seq == c.seq
		return nil
	})
	return still, err
}

// doRequest makes a call with the secrets put in, and returns its result
// with every secret's value replaced by its placeholder: the result is
// kept with the run, shown in the console, and may be logged.
func (e *Engine) doRequest(req *steps.Request) *steps.HTTPResult {
	res := e.makeCall(req)
	redactResult(res, e.cfg.Secrets)
	return res
}

// makeCall resolves a request's secrets and makes it. Redirects are not
// followed (see noRedirects); a body past maxResponseBody is an error.
func (e *Engine) makeCall(req *steps.Request) *steps.HTTPResult {
	if req.Unsendable != "" {
		return &steps.HTTPResult{Err: "not sent: " + req.Unsendable}
	}
	req, err := req.Resolve(func(name string) (string, bool) {
		v, ok := e.cfg.Secrets[name]
		return v, ok
	})
	if err != nil {
		return &steps.HTTPResult{Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return &steps.HTTPResult{Err: err.Error()}
	}
	if len(req.Body) == 0 {
		hr.Body = nil
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	resp, err := e.cfg.HTTPClient.Do(hr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &steps.HTTPResult{Err: "timed out after " + req.Timeout.String()}
		}
		return &steps.HTTPResult{Err: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := decompressed(resp)
	if err != nil {
		return &steps.HTTPResult{Status: resp.StatusCode, Err: "reading the response: " + err.Error()}
	}
	defer raw.Close()
	body, err := io.ReadAll(io.LimitReader(raw, maxResponseBody+1))
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The timeout bounds the whole call: an answer still coming is
		// one that timed out.
		return &steps.HTTPResult{Status: resp.StatusCode, Err: "timed out after " + req.Timeout.String() + " (the answer had started)"}
	}
	if err != nil {
		return &steps.HTTPResult{Status: resp.StatusCode, Err: "reading the response: " + err.Error()}
	}
	if len(body) > maxResponseBody {
		return &steps.HTTPResult{Status: resp.StatusCode, Err: fmt.Sprintf("the response is larger than %d bytes (1 MiB), the most an http step reads; nothing of it is kept", maxResponseBody)}
	}
	if body, err = toUTF8(body, resp.Header.Get("Content-Type")); err != nil {
		return &steps.HTTPResult{Status: resp.StatusCode, Err: "reading the response: " + err.Error()}
	}
	// A byte-order mark (.NET's Encoding.UTF8 writes one) is no part of
	// the text, and encoding/json would not take the body as JSON with it.
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	headers := map[string]string{}
	for k, v := range resp.Header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	return &steps.HTTPResult{Status: resp.StatusCode, Headers: headers, Body: body}
}

// decompressed reads a response's body through its Content-Encoding.
// Go's client decodes gzip itself only when it asked for it; a flow that
// gives Accept-Encoding (copied from curl or a browser) gets the answer
// as the service compressed it, which is decoded here (gzip, deflate),
// so that maxResponseBody bounds what is decoded. Then the response's
// Content-Encoding and Content-Length, which told of the bytes sent, are
// dropped, as Go's client does. An encoding wxflow cannot read is an
// error: the flow's on_error handles it.
func decompressed(resp *http.Response) (io.ReadCloser, error) {
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	var r io.ReadCloser
	var err error
	switch enc {
	case "", "identity":
		return io.NopCloser(resp.Body), nil
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(resp.Body)
	case "deflate":
		r, err = zlib.NewReader(resp.Body)
	default:
		return nil, fmt.Errorf("the response's Content-Encoding %q is not one wxflow reads (gzip, deflate); leave Accept-Encoding out of the headers", enc)
	}
	if errors.Is(err, io.EOF) { // an empty body
		r, err = io.NopCloser(bytes.NewReader(nil)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("decoding the %s response: %w", enc, err)
	}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	return r, nil
}

// toUTF8 decodes a body in the charset its Content-Type names (GBK and
// GB 18030 are common in China's services) into UTF-8, which the flows'
// texts and WeChat's messages are in. A body in UTF-8, or not text (an
// image), is kept as it is; a text that names no charset and is not
// UTF-8 is read as GB 18030 (GBK's superset, which China's services often
// send without saying so) when it is that, else the call fails; an
// unknown charset is an error too, so that the flow's on_error handles it
// rather than a follower getting mojibake.
func toUTF8(body []byte, contentType string) ([]byte, error) {
	if len(body) == 0 {
		return body, nil
	}
	var cs, media string
	if contentType != "" {
		if m, params, err := mime.ParseMediaType(contentType); err == nil {
			media, cs = m, strings.ToLower(strings.TrimSpace(params["charset"]))
		}
	}
	switch cs {
	case "":
		if utf8.Valid(body) || !textual(media) {
			return body, nil
		}
		out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(body)
		if err != nil || bytes.ContainsRune(out, utf8.RuneError) {
			return nil, errors.New("the response is not UTF-8 and names no charset in its Content-Type")
		}
		return out, nil
	case "utf-8", "utf8", "us-ascii", "ascii":
		return body, nil
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return nil, fmt.Errorf("the response's charset %q is not one wxflow knows", cs)
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, fmt.Errorf("decoding the response from %s: %w", cs, err)
	}
	return out, nil
}

// textual reports whether a body of a media type ("" when the response
// names none) is text: what a flow reads as text or JSON.
func textual(media string) bool {
	switch {
	case media == "", strings.HasPrefix(media, "text/"), steps.JSONMedia(media),
		media == "application/xml", strings.HasSuffix(media, "+xml"), media == "application/x-www-form-urlencoded",
		media == "application/javascript":
		return true
	}
	return false
}

// redactResult replaces, in everything a call gave back, each secret's
// value (as it is, and as it was escaped in the URL or a JSON body) by
// flows.SecretPlaceholder(NAME).
func redactResult(res *steps.HTTPResult, secrets map[string]string) {
	r := secretRedactor(secrets)
	if r == nil {
		return
	}
	res.Err = r.Replace(res.Err)
	if len(res.Headers) > 0 {
		h := make(map[string]string, len(res.Headers))
		for k, v := range res.Headers {
			h[r.Replace(k)] = r.Replace(v)
		}
		res.Headers = h
	}
	if len(res.Body) > 0 {
		res.Body = redactJSONStrings([]byte(r.Replace(string(res.Body))), r)
	}
}

// redactJSONStrings redacts the strings of a JSON body as the step will
// read them: a server may write a secret it echoes with escapes of its
// own (encoding/json's \u0026 for &, PHP's \/ for /, \u0065 for e), which
// no form redactResult replaces in the text matches, yet parsing gives
// back the value. Each string (member names too) whose decoded text
// changes under r is written again, decoded and redacted; the rest of
// the body, its numbers and layout, is kept. A body that is not JSON is
// returned as it is (the step keeps it as text).
func redactJSONStrings(body []byte, r *strings.Replacer) []byte {
	if !json.Valid(bytes.TrimSpace(body)) || bytes.IndexByte(body, '\\') < 0 {
		return body // without a backslash, no string is escaped
	}
	var out []byte
	last := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		// body is valid JSON: outside strings there is no quote, and a
		// string ends at the first quote no backslash escapes.
		j := i + 1
		for body[j] != '"' {
			if body[j] == '\\' {
				j++
			}
			j++
		}
		lit := body[i : j+1]
		if bytes.IndexByte(lit, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(lit, &s); err == nil {
				if red := r.Replace(s); red != s {
					esc, _ := steps.EscapeValue(steps.EscapeJSON, red) // JSON never fails
					out = append(out, body[last:i]...)
					out = append(out, '"')
					out = append(out, esc...)
					out = append(out, '"')
					last = j + 1
				}
			}
		}
		i = j
	}
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
}

// secretRedactor returns a replacer of every form of every secret's
// value (longest first, so that a value inside another does not cut it),
// or nil when there are none.
func secretRedactor(secrets map[string]string) *strings.Replacer {
	type pair struct{ from, to string }
	var pairs []pair
	for name, v := range secrets {
		if v == "" {
			continue
		}
		ph := flows.SecretPlaceholder(name)
		seen := map[string]bool{}
		var forms []string
		for _, esc := range []steps.Escape{steps.EscapeBody, steps.EscapePath, steps.EscapeQuery, steps.EscapeJSON} {
			if form, err := steps.EscapeValue(esc, v); err == nil {
				forms = append(forms, form)
			}
		}
		forms = append(forms, urlForms(v)...)
		for _, form := range forms {
			if form == "" || seen[form] {
				continue
			}
			seen[form] = true
			pairs = append(pairs, pair{form, ph})
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	sort.Slice(pairs, func(i, j int) bool {
		if len(pairs[i].from) != len(pairs[j].from) {
			return len(pairs[i].from) > len(pairs[j].from)
		}
		return pairs[i].from < pairs[j].from
	})
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.from, p.to)
	}
	return strings.NewReplacer(args...)
}

// urlForms returns the texts Go's client writes for a value that is an
// http(s) URL (a URL that is wholly a secret) in its errors, `Get "URL":
// ...`: net/url writes the URL again, the scheme in small letters, an
// empty fragment or query dropped, and a password as ***.
func urlForms(v string) []string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	s := u.String()
	forms := []string{s}
	if pass, ok := u.User.Password(); ok {
		forms = append(forms, strings.Replace(s, pass+"@", "***@", 1))
	}
	return forms
}

// resumeCall resumes a run with its call's response, if the run still
// waits for it.
func (w *work) resumeCall(c callRef, res *steps.HTTPResult) error {
	if !w.direct(c.account, c.contact) {
		// The lane moved while the call was made: its new node makes
		// the call again (calls are made at least once).
		return nil
	}
	cs, r, err := w.activeRun(c.account, c.contact, c.runID)
	if err != nil || r == nil || r.Status != RunCalling || r.Seq != c.seq {
		return err
	}
	r.State.Request = nil
	return w.resume(cs, r, steps.Input{Kind: steps.Response, Response: res}, nil)
}
