package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/wxflow/wxflow/steps"
)

// maxResponseBody is the most of an `http` step's response body kept.
const maxResponseBody = 1 << 20

// callRef names the run an `http` call resumes, and the run's Seq when
// the call was made.
type callRef struct {
	account, contact string
	runID, seq       int64
}

// call makes an `http` step's request outside any transaction, then
// resumes the run with the response. A crash before the resume commits
// makes the call again on start: calls are made at least once.
func (e *Engine) call(r *Run, req *steps.Request) {
	c := callRef{account: r.Account, contact: r.Contact, runID: r.ID, seq: r.Seq}
	e.addBusy(1)
	go func() {
		// The call stays busy until its resume is committed, so that Sync
		// never returns between the response and the resume.
		defer e.addBusy(-1)
		res := e.doRequest(req)
		err := e.submit(context.Background(), func(w *work) error { return w.resumeCall(c, res) })
		if err != nil && !errors.Is(err, ErrStopped) {
			e.log.Error("http step", "err", err)
		}
	}()
}

func (e *Engine) doRequest(req *steps.Request) *steps.HTTPResult {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return &steps.HTTPResult{Status: resp.StatusCode, Err: "reading the response: " + err.Error()}
	}
	headers := map[string]string{}
	for k, v := range resp.Header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	return &steps.HTTPResult{Status: resp.StatusCode, Headers: headers, Body: body}
}

// resumeCall resumes a run with its call's response, if the run still
// waits for it.
func (w *work) resumeCall(c callRef, res *steps.HTTPResult) error {
	cs, r, err := w.activeRun(c.account, c.contact, c.runID)
	if err != nil || r == nil || r.Status != RunCalling || r.Seq != c.seq {
		return err
	}
	r.State.Request = nil
	return w.resume(cs, r, steps.Input{Kind: steps.Response, Response: res}, nil)
}
