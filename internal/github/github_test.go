package github_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/github/fakehub"
	"github.com/perflab/perflab/internal/github/githubtest"
)

const token = "ghs_testTOKENvalue0123456789"

func newClient(t *testing.T, srv *githubtest.Server) *github.Client {
	t.Helper()
	c, err := github.NewClient(token, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Sleep = func(time.Duration) {}
	return c
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"ftp://x", "::", "api.github.com"} {
		if _, err := github.NewClient("", u); err == nil {
			t.Errorf("NewClient(%q): no error", u)
		}
	}
}

func TestEnterpriseAPIURLIsUsedAsIs(t *testing.T) {
	srv := githubtest.New(t)
	srv.Reply("GET", "/api/v3/repos/o/r/compare/a...b", 200, map[string]any{"merge_base_commit": map[string]any{"sha": "base1"}})
	c, err := github.NewClient(token, srv.URL+"/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := c.MergeBase(context.Background(), "o", "r", "a", "b")
	if err != nil || sha != "base1" {
		t.Fatalf("MergeBase = %q, %v", sha, err)
	}
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization header %q", got)
	}
}

// hubClient is a client of a fakehub for acme/app with token tok.
func hubClient(t *testing.T, hub *fakehub.Hub, tok string) *github.Client {
	t.Helper()
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	c, err := github.NewClient(tok, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHub() *fakehub.Hub {
	return fakehub.New("acme", "app", map[string]fakehub.Token{
		"bot":  {Login: "github-actions[bot]", Type: "Bot", Write: true, App: true},
		"pat":  {Login: "octocat", Type: "User", Write: true},
		"pat2": {Login: "hubot", Type: "User", Write: true},
	})
}

// The sticky comment is the token's own: a reviewer's comment quoting or starting with the
// marker is never edited, another key's comment neither, and pages are followed.
func TestUpsertCommentOwnCommentOnly(t *testing.T) {
	const marker = "<!-- m -->"
	tests := []struct {
		name   string
		token  string
		others []fakehub.Comment // before the first upsert
	}{
		{"workflow token", "bot", nil},
		{"reviewer quotes the marker", "bot", []fakehub.Comment{
			{Login: "alice", Type: "User", Body: "> " + marker + "\n> old verdict\nwhy?"},
			{Login: "bob", Type: "User", Body: marker + "\nI copied the whole comment"}}},
		{"another key", "bot", []fakehub.Comment{{Login: "github-actions[bot]", Type: "Bot", Body: "<!-- m:full -->\nother workflow"}}},
		{"personal token ignores other users' copies", "pat", []fakehub.Comment{{Login: "hubot", Type: "User", Body: marker + "\nnot octocat's"}}},
		{"many pages", "bot", func() []fakehub.Comment {
			var cs []fakehub.Comment
			for i := 0; i < 230; i++ {
				cs = append(cs, fakehub.Comment{Login: "alice", Type: "User", Body: fmt.Sprint("comment ", i)})
			}
			return cs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newHub()
			for _, o := range tt.others {
				hub.AddComment(7, o)
			}
			c := hubClient(t, hub, tt.token)
			ctx := context.Background()
			id1, _, created, err := c.UpsertComment(ctx, "acme", "app", 7, marker, marker+"\nfirst")
			if err != nil || !created {
				t.Fatalf("first upsert: created %v, err %v", created, err)
			}
			// A fresh client, as the next workflow run has.
			id2, _, created, err := hubClient(t, hub, tt.token).UpsertComment(ctx, "acme", "app", 7, marker, marker+"\nsecond")
			if err != nil || created || id2 != id1 {
				t.Fatalf("second upsert: id %d (first %d), created %v, err %v; want the first edited", id2, id1, created, err)
			}
			st := hub.Snapshot()
			if len(st.Comments) != len(tt.others)+1 {
				t.Fatalf("%d comments, want %d", len(st.Comments), len(tt.others)+1)
			}
			for i, o := range tt.others {
				if st.Comments[i].Body != o.Body || st.Comments[i].Edits != 0 {
					t.Errorf("someone else's comment %d was edited: %q", i, st.Comments[i].Body)
				}
			}
			if mine := st.Comments[len(st.Comments)-1]; mine.Body != marker+"\nsecond" || mine.Edits != 1 {
				t.Errorf("own comment %q, %d edits", mine.Body, mine.Edits)
			}
		})
	}
}

func TestHasMarker(t *testing.T) {
	for body, want := range map[string]bool{
		"<!-- m -->\nx": true, "<!-- m -->": true, "\n<!-- m -->\r\nx": true,
		"> <!-- m -->\nx": false, "see <!-- m -->": false, "<!-- m -->x": false, "<!-- m:full -->\n": false,
	} {
		if got := github.HasMarker(body, "<!-- m -->"); got != want {
			t.Errorf("HasMarker(%q) = %v", body, got)
		}
	}
}

func TestUpsertCommentNeedsMarker(t *testing.T) {
	srv := githubtest.New(t)
	if _, _, _, err := newClient(t, srv).UpsertComment(context.Background(), "o", "r", 7, "<!-- m -->", "no marker"); err == nil {
		t.Fatal("no error for a body without its marker")
	}
}

func TestUpsertCommentReadOnlyToken(t *testing.T) {
	srv := githubtest.New(t)
	srv.Reply("GET", "/repos/o/r/issues/7/comments", 200, []any{})
	srv.Reply("POST", "/repos/o/r/issues/7/comments", 403, githubtest.Message("Resource not accessible by integration"))
	_, _, _, err := newClient(t, srv).UpsertComment(context.Background(), "o", "r", 7, "<!-- m -->", "<!-- m -->")
	if !github.IsPermission(err) {
		t.Fatalf("err %v (kind %v); want a permission error", err, github.KindOf(err))
	}
	if strings.Contains(err.Error(), token) {
		t.Error("the error shows the token")
	}
	if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Resource not accessible") {
		t.Errorf("error %q lacks the status and GitHub's message", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		method string
		status int
		msg    string
		want   github.Kind
	}{
		{"GET", 404, "Not Found", github.KindNotFound},
		{"GET", 401, "Bad credentials", github.KindPermission},
		{"GET", 500, "oops", github.KindTransient},
		{"GET", 503, "unavailable", github.KindTransient},
		{"PUT", 404, "Not Found", github.KindPermission},
		{"PUT", 403, "Resource not accessible by integration", github.KindPermission},
		{"PUT", 409, "is at abc but expected def", github.KindConflict},
		{"PUT", 422, "Invalid request. \"sha\" wasn't supplied.", github.KindConflict},
		{"PUT", 409, "Repository rule violations found", github.KindRefused},
		{"PUT", 409, "Required status check \"perf\" is expected.", github.KindRefused},
		{"PUT", 422, "Protected branch update failed for refs/heads/main.", github.KindRefused},
		{"PUT", 409, "baselines/x.json does not match abc123", github.KindConflict},
		{"PUT", 422, "Invalid request. content is not valid Base64", github.KindRefused},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d %s", tt.method, tt.status, tt.msg), func(t *testing.T) {
			srv := githubtest.New(t)
			c := newClient(t, srv)
			c.PutRetries, c.ReadRetries = 0, 0
			var err error
			if tt.method == "GET" {
				srv.Reply("GET", "/repos/o/r/contents/f.json", tt.status, githubtest.Message(tt.msg))
				_, err = c.GetFile(context.Background(), "o", "r", "f.json", "main")
			} else {
				srv.Reply("PUT", "/repos/o/r/contents/f.json", tt.status, githubtest.Message(tt.msg))
				_, err = c.PutFile(context.Background(), "o", "r", github.PutRequest{Path: "f.json", Message: "m", Content: []byte("x")})
			}
			if got := github.KindOf(err); got != tt.want {
				t.Errorf("kind %v, want %v (err %v)", got, tt.want, err)
			}
			if got := github.IsBadToken(err); got != (tt.status == 401) {
				t.Errorf("IsBadToken = %v (err %v)", got, err)
			}
		})
	}
}

func TestRateLimitIsNotPermission(t *testing.T) {
	srv := githubtest.New(t)
	srv.Handle("POST", "/repos/o/r/issues/7/comments", func(r *githubtest.Request) (int, any) {
		r.Reply.Set("X-RateLimit-Remaining", "0")
		r.Reply.Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Hour).Unix()))
		return 403, githubtest.Message("API rate limit exceeded")
	})
	srv.Reply("GET", "/repos/o/r/issues/7/comments", 200, []any{})
	_, _, _, err := newClient(t, srv).UpsertComment(context.Background(), "o", "r", 7, "<!-- m -->", "<!-- m -->")
	if err == nil || github.IsPermission(err) {
		t.Fatalf("err %v: a rate limit is not a permission problem", err)
	}
}

func TestGetFile(t *testing.T) {
	srv := githubtest.New(t)
	srv.Reply("GET", "/repos/o/r/contents/baselines/x.json", 200, map[string]any{
		"type": "file", "encoding": "base64", "sha": "blob1", "size": 5, "content": github.EncodeContent([]byte("hello")),
	}).WithQuery("ref", "abc")
	srv.Reply("GET", "/repos/o/r/contents/baselines/big.json", 200, map[string]any{
		"type": "file", "encoding": "none", "sha": "blob2", "size": 2000000, "content": "",
	})
	srv.Reply("GET", "/repos/o/r/git/blobs/blob2", 200, "big content")
	srv.Reply("GET", "/repos/o/r/contents/baselines/none.json", 404, githubtest.Message("Not Found"))
	c := newClient(t, srv)
	ctx := context.Background()
	f, err := c.GetFile(ctx, "o", "r", "baselines/x.json", "abc")
	if err != nil || string(f.Content) != "hello" || f.SHA != "blob1" {
		t.Fatalf("GetFile = %+v, %v", f, err)
	}
	f, err = c.GetFile(ctx, "o", "r", "baselines/big.json", "")
	if err != nil || string(f.Content) != "big content" || f.SHA != "blob2" {
		t.Fatalf("GetFile(big) = %+v, %v", f, err)
	}
	if _, err := c.GetFile(ctx, "o", "r", "baselines/none.json", "abc"); !github.IsNotFound(err) {
		t.Fatalf("GetFile(missing): %v; want not found", err)
	}
}

func TestPutFileRetriesOnConflict(t *testing.T) {
	srv := githubtest.New(t)
	var puts []map[string]any
	srv.Handle("PUT", "/repos/o/r/contents/b.json", func(r *githubtest.Request) (int, any) {
		var in map[string]any
		r.JSON(&in)
		puts = append(puts, in)
		if len(puts) == 1 {
			return 409, githubtest.Message("b.json does not match old1")
		}
		return 200, map[string]any{"content": map[string]any{"sha": "blob3"}, "commit": map[string]any{"sha": "commit3"}}
	}).Times(2)
	srv.Reply("GET", "/repos/o/r/contents/b.json", 200, map[string]any{
		"type": "file", "encoding": "base64", "sha": "fresh2", "content": github.EncodeContent([]byte("theirs")),
	}).WithQuery("ref", "main")
	c := newClient(t, srv)
	var merged []string
	res, err := c.PutFile(context.Background(), "o", "r", github.PutRequest{
		Path: "b.json", Branch: "main", Message: "update [skip ci]", Content: []byte("mine"), SHA: "old1",
		Merge: func(fresh []byte) ([]byte, error) {
			merged = append(merged, string(fresh))
			return []byte(string(fresh) + "+mine"), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.CommitSHA != "commit3" || res.BlobSHA != "blob3" || res.Attempts != 2 {
		t.Errorf("result %+v", res)
	}
	if len(merged) != 1 || merged[0] != "theirs" {
		t.Errorf("merge called with %q", merged)
	}
	if puts[0]["sha"] != "old1" || puts[1]["sha"] != "fresh2" || puts[0]["branch"] != "main" || puts[1]["message"] != "update [skip ci]" {
		t.Errorf("PUT bodies %v", puts)
	}
	if puts[1]["content"] != github.EncodeContent([]byte("theirs+mine")) {
		t.Errorf("retried content %v", puts[1]["content"])
	}
}

func TestPutFileGivesUp(t *testing.T) {
	srv := githubtest.New(t)
	srv.Reply("PUT", "/repos/o/r/contents/b.json", 409, githubtest.Message("does not match")).Times(3)
	srv.Reply("GET", "/repos/o/r/contents/b.json", 200, map[string]any{
		"type": "file", "encoding": "base64", "sha": "s", "content": github.EncodeContent([]byte("x")),
	}).Times(2)
	c := newClient(t, srv)
	c.PutRetries = 2
	if _, err := c.PutFile(context.Background(), "o", "r", github.PutRequest{Path: "b.json", Message: "m", Content: []byte("y")}); github.KindOf(err) != github.KindConflict {
		t.Fatalf("err %v; want a conflict after the retries", err)
	}
}

func TestPutFileCreatedMeanwhile(t *testing.T) {
	srv := githubtest.New(t)
	n := 0
	srv.Handle("PUT", "/repos/o/r/contents/b.json", func(r *githubtest.Request) (int, any) {
		n++
		if n == 1 {
			return 422, githubtest.Message(`Invalid request. "sha" wasn't supplied.`)
		}
		return 201, map[string]any{"content": map[string]any{"sha": "b"}, "commit": map[string]any{"sha": "c"}}
	}).Times(2)
	srv.Reply("GET", "/repos/o/r/contents/b.json", 200, map[string]any{
		"type": "file", "encoding": "base64", "sha": "s", "content": github.EncodeContent([]byte("x")),
	})
	if _, err := newClient(t, srv).PutFile(context.Background(), "o", "r", github.PutRequest{Path: "b.json", Message: "m", Content: []byte("y")}); err != nil {
		t.Fatal(err)
	}
}

func TestMergeBase(t *testing.T) {
	srv := githubtest.New(t)
	srv.Reply("GET", "/repos/o/r/compare/base1...head1", 200, map[string]any{
		"base_commit": map[string]any{"sha": "base1"}, "merge_base_commit": map[string]any{"sha": "mb1"},
	})
	srv.Reply("GET", "/repos/o/r/compare/x...y", 404, githubtest.Message("Not Found"))
	c := newClient(t, srv)
	if sha, err := c.MergeBase(context.Background(), "o", "r", "base1", "head1"); err != nil || sha != "mb1" {
		t.Fatalf("MergeBase = %q, %v", sha, err)
	}
	if _, err := c.MergeBase(context.Background(), "o", "r", "x", "y"); !github.IsNotFound(err) {
		t.Fatalf("err %v", err)
	}
}

func TestFakeFailsOnUnusedStub(t *testing.T) {
	ft := &fakeT{TB: t}
	srv := githubtest.New(ft)
	srv.Reply("GET", "/never", http.StatusOK, nil)
	srv.Verify()
	if !ft.failed {
		t.Fatal("an unused stub did not fail the test")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}

// A transient 5xx from the contents API is retried with a doubling wait, a bounded number
// of times; then the error says how many tries were made. A 4xx is never retried.
func TestGetFileRetriesTransientErrors(t *testing.T) {
	ok := map[string]any{"type": "file", "encoding": "base64", "sha": "blob1", "size": 5, "content": github.EncodeContent([]byte("hello"))}
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantErr   string
		wantSleep []time.Duration
	}{
		{"502 then 503 then ok", []int{502, 503, 200}, "", []time.Duration{time.Second, 2 * time.Second}},
		{"always 500", []int{500, 500, 500, 500}, "HTTP 500", []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"401 is not retried", []int{401}, "HTTP 401", nil},
		{"404 is not retried", []int{404}, "HTTP 404", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := githubtest.New(t)
			n := 0
			srv.Handle("GET", "/repos/o/r/contents/b.json", func(*githubtest.Request) (int, any) {
				st := tc.statuses[n]
				n++
				if st == 200 {
					return 200, ok
				}
				return st, githubtest.Message("oops")
			}).Times(len(tc.statuses))
			c := newClient(t, srv)
			var slept []time.Duration
			c.Sleep = func(d time.Duration) { slept = append(slept, d) }
			f, err := c.GetFile(context.Background(), "o", "r", "b.json", "main")
			switch {
			case tc.wantErr == "" && (err != nil || string(f.Content) != "hello"):
				t.Fatalf("GetFile = %+v, %v", f, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if len(tc.statuses) == 4 && !strings.Contains(err.Error(), "(4 tries)") {
				t.Errorf("err %v does not say how many tries", err)
			}
			if fmt.Sprint(slept) != fmt.Sprint(tc.wantSleep) {
				t.Errorf("slept %v, want %v", slept, tc.wantSleep)
			}
		})
	}
}
