// Package githubtest is a fake GitHub REST API for tests: an httptest server answering
// registered stubs in order, recording every request, and failing the test when a request
// matches no stub or when a stub expected to be used was not (the way cli/cli's httpmock
// registry works).
package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Reply is the answer's header: a Responder may set e.g. a Link header here.
	Reply http.Header
}

// JSON decodes the request body into v.
func (r *Request) JSON(v any) error { return json.Unmarshal(r.Body, v) }

func (r *Request) String() string {
	s := r.Method + " " + r.Path
	if len(r.Query) > 0 {
		s += "?" + r.Query.Encode()
	}
	return s
}

// Responder answers a matched request with a status and a body (marshalled to JSON unless it
// is a string or []byte, sent as is).
type Responder func(r *Request) (status int, body any)

// Stub answers requests with a method and path (and, when Query is set, those query values).
type Stub struct {
	Method string
	Path   string
	Query  map[string]string
	times  int // uses expected
	used   int
	resp   Responder
}

// Times makes the stub answer exactly n requests (the default is 1).
func (s *Stub) Times(n int) *Stub { s.times = n; return s }

// WithQuery restricts the stub to requests with these query values.
func (s *Stub) WithQuery(kv ...string) *Stub {
	s.Query = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Query[kv[i]] = kv[i+1]
	}
	return s
}

func (s *Stub) matches(r *Request) bool {
	if s.Method != r.Method || s.Path != r.Path {
		return false
	}
	for k, v := range s.Query {
		if r.Query.Get(k) != v {
			return false
		}
	}
	return s.used < s.times
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	t        testing.TB
	mu       sync.Mutex
	stubs    []*Stub
	requests []*Request
}

// New starts a fake API; it is closed and verified when the test ends.
func New(t testing.TB) *Server {
	s := &Server{t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.Verify()
	})
	return s
}

// Handle registers a stub answering method path with resp, once unless told otherwise.
func (s *Server) Handle(method, path string, resp Responder) *Stub {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &Stub{Method: method, Path: path, times: 1, resp: resp}
	s.stubs = append(s.stubs, st)
	return st
}

// Reply registers a stub answering with a fixed status and body.
func (s *Server) Reply(method, path string, status int, body any) *Stub {
	return s.Handle(method, path, func(*Request) (int, any) { return status, body })
}

// Requests returns the requests received so far.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.requests...)
}

// Count returns how many requests had this method and path.
func (s *Server) Count(method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// Verify fails the test for every stub used fewer times than expected.
func (s *Server) Verify() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stubs {
		if st.used < st.times {
			s.t.Errorf("githubtest: stub %s %s was used %d of %d times; requests received:\n%s", st.Method, st.Path, st.used, st.times, s.log())
		}
	}
}

func (s *Server) log() string {
	var b strings.Builder
	for _, r := range s.requests {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}

func (s *Server) serve(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(hr.Body)
	r := &Request{Method: hr.Method, Path: hr.URL.Path, Query: hr.URL.Query(), Header: hr.Header.Clone(), Body: body, Reply: http.Header{}}
	s.mu.Lock()
	s.requests = append(s.requests, r)
	var st *Stub
	for _, c := range s.stubs {
		if c.matches(r) {
			st = c
			break
		}
	}
	if st != nil {
		st.used++
	}
	s.mu.Unlock()
	if st == nil {
		s.t.Errorf("githubtest: no stub for %s", r)
		http.Error(w, `{"message":"no stub"}`, http.StatusNotImplemented)
		return
	}
	status, out := st.resp(r)
	var b []byte
	switch v := out.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			s.t.Errorf("githubtest: encode the answer to %s: %v", r, err)
		}
	}
	for k, v := range r.Reply {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// Message is GitHub's error body.
func Message(msg string) map[string]any {
	return map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest"}
}
