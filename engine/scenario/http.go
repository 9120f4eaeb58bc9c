package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/wxflow/wxflow/flows"
)

// stubTransport answers a scenario's HTTP requests from its http: stubs,
// in process: nothing reaches the network. The first stub whose method
// and URL match answers; a request no stub matches fails as a network
// error that names it, so that a flow's on_error path runs.
type stubTransport struct {
	stubs []*Stub

	mu sync.Mutex
	// mark returns the ID of the last message in the transcript, to place
	// each request in it.
	mark  func() int64
	calls []call
}

// call is one request a flow made, as the transcript shows it.
type call struct {
	after  int64
	method string
	url    string
	result string
}

// newStubClient returns an http.Client that answers from stubs, and its
// transport.
func newStubClient(stubs []*Stub) (*http.Client, *stubTransport) {
	t := &stubTransport{stubs: stubs}
	return &http.Client{Transport: t}, t
}

// setMark sets the function that places requests in the transcript.
func (t *stubTransport) setMark(mark func() int64) {
	t.mu.Lock()
	t.mark = mark
	t.mu.Unlock()
}

// RoundTrip implements http.RoundTripper.
func (t *stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	u := req.URL.String()
	var st *Stub
	for _, s := range t.stubs {
		if (s.Method == "" || s.Method == req.Method) && flows.MatchGlob(s.URL, u) {
			st = s
			break
		}
	}
	c := call{method: req.Method, url: u}
	var resp *http.Response
	var err error
	switch {
	case st == nil:
		err = fmt.Errorf("no http: stub in the scenario matches %s %s", req.Method, u)
		c.result = "no stub matches: network error"
	case st.Error == "timeout":
		err = fmt.Errorf("stub at line %d: %w", st.Pos.Line, context.DeadlineExceeded)
		c.result = fmt.Sprintf("timeout (stub at line %d)", st.Pos.Line)
	case st.Error != "":
		err = fmt.Errorf("stub at line %d: %s", st.Pos.Line, st.Error)
		c.result = fmt.Sprintf("error %q (stub at line %d)", st.Error, st.Pos.Line)
	default:
		h := http.Header{}
		for k, v := range st.Headers {
			h.Set(k, v)
		}
		resp = &http.Response{
			Status:     strconv.Itoa(st.Status) + " " + http.StatusText(st.Status),
			StatusCode: st.Status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: io.NopCloser(bytes.NewReader(st.Body)), ContentLength: int64(len(st.Body)), Request: req,
		}
		c.result = fmt.Sprintf("%d (stub at line %d)", st.Status, st.Pos.Line)
	}
	t.mu.Lock()
	if t.mark != nil {
		c.after = t.mark()
	}
	t.calls = append(t.calls, c)
	t.mu.Unlock()
	return resp, err
}

// made returns the requests made so far.
func (t *stubTransport) made() []call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]call(nil), t.calls...)
}
