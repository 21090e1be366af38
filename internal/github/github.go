// Package github is the small part of GitHub's REST API that perflab's action uses, over
// go-github: one sticky pull request comment, files through the contents API (read at a
// commit, written with the blob sha and retried on conflict), and the merge base of two
// commits. The API root is GITHUB_API_URL's value, so GitHub Enterprise Server and a local
// fake in tests work the same way as api.github.com.
//
// Errors are classified (see Kind): a write refused because the token may not write (a fork
// pull request's read-only token) is KindPermission, which the caller degrades gracefully
// on; the token itself never appears in an error.
package github

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/perflab/perflab/internal/textfmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// Kind classifies an API error.
type Kind int

// Kinds of API errors.
const (
	KindOther      Kind = iota
	KindPermission      // 401, or 403/404 on a write: the token may not do this
	KindNotFound        // 404 on a read
	KindConflict        // a file write raced another one (409 "does not match", or 422 about the sha)
	KindRefused         // a file write refused by the branch: protection, rulesets, required checks
	KindTransient       // a 5xx or no answer: GitHub failed, not the request (reads are retried)
)

func (k Kind) String() string {
	switch k {
	case KindPermission:
		return "permission"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindRefused:
		return "refused by the branch"
	case KindTransient:
		return "transient"
	}
	return "error"
}

// Error is a failed API call.
type Error struct {
	Op     string // what was attempted, e.g. "create comment on #12"
	Status int    // HTTP status, 0 when no response came
	Kind   Kind
	Msg    string // GitHub's message
	Err    error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s: HTTP %d %s", e.Op, e.Status, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err (KindOther when it is not an *Error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// IsPermission reports whether err means the token may not do what was asked.
func IsPermission(err error) bool { return KindOf(err) == KindPermission }

// IsBadToken reports whether err is a 401: the token itself was refused (wrong, expired or
// revoked), which no permission in the workflow fixes. It is also a permission error.
func IsBadToken(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

// IsTransient reports whether err is GitHub failing (a 5xx, or no answer at all) rather
// than the request: worth retrying.
func IsTransient(err error) bool { return KindOf(err) == KindTransient }

// IsRefused reports whether err means the branch refuses direct writes (a protected
// branch, a ruleset, required status checks or reviews): store elsewhere (a baseline
// branch) rather than retry.
func IsRefused(err error) bool { return KindOf(err) == KindRefused }

// IsNotFound reports whether err means the thing read does not exist (or is not visible).
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }

// Client talks to one GitHub API root.
type Client struct {
	gh *gh.Client
	// PutRetries is how many times PutFile retries after a conflict (default 4).
	PutRetries int
	// ReadRetries is how many times a read (GetFile) is retried after a transient error
	// (a 5xx or no answer), waiting 1 s, 2 s, 4 s... (default 3).
	ReadRetries int
	// Sleep waits between retries; tests replace it.
	Sleep func(time.Duration)
	self  *Identity // the token's identity, once asked
}

// NewClient returns a client for apiURL (GITHUB_API_URL: "https://api.github.com",
// "https://HOST/api/v3" on GitHub Enterprise Server, or a test server) authenticating with
// token ("" for anonymous calls).
func NewClient(token, apiURL string) (*Client, error) {
	if apiURL == "" {
		apiURL = "https://api.github.com"
	}
	u, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GITHUB_API_URL %q is not an http(s) URL", apiURL)
	}
	c := gh.NewClient(&http.Client{Timeout: 60 * time.Second})
	if token != "" {
		c = c.WithAuthToken(token)
	}
	// GITHUB_API_URL is already the API root (with /api/v3 on Enterprise Server), so it is
	// used as is rather than through WithEnterpriseURLs, which would append /api/v3 to a
	// test server's URL.
	c.BaseURL = u
	c.UserAgent = "perflab-action"
	return &Client{gh: c, PutRetries: 4, ReadRetries: 3, Sleep: time.Sleep}, nil
}

// classify wraps an API error. write says whether the call was a write, where 403 and 404
// mean that the token lacks the permission.
func classify(op string, write bool, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err, Kind: KindOther}
	var resp *http.Response
	var er *gh.ErrorResponse
	var rl *gh.RateLimitError
	var arl *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &er):
		resp, e.Msg = er.Response, er.Message
		for _, x := range er.Errors {
			if x.Message != "" {
				e.Msg += " (" + x.Message + ")"
			}
		}
	case errors.As(err, &rl):
		resp, e.Msg = rl.Response, "rate limited: "+rl.Message
	case errors.As(err, &arl):
		resp, e.Msg = arl.Response, "secondary rate limit: "+arl.Message
	}
	if resp == nil {
		if rl == nil && arl == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			e.Kind = KindTransient // no answer: a connection reset, a timeout
		}
		return e
	}
	e.Status = resp.StatusCode
	if rl != nil || arl != nil {
		return e
	}
	msg := strings.ToLower(e.Msg)
	// GitHub says "PATH does not match SHA" (409) when the file changed since it was read,
	// and "\"sha\" wasn't supplied" (422) when it was created meanwhile: those are races,
	// retried. Any other 409 or 422 on a write is the branch refusing it ("Required status
	// check ... is expected", "Protected branch update failed", "Repository rule
	// violations found", "Changes must be made through a pull request"): not retried, and
	// not the caller's failure either.
	race := strings.Contains(msg, "does not match") || strings.Contains(msg, "but expected") || strings.Contains(msg, "sha")
	switch {
	case e.Status == http.StatusUnauthorized:
		e.Kind = KindPermission
	case write && (e.Status == http.StatusForbidden || e.Status == http.StatusNotFound):
		e.Kind = KindPermission
	case write && (e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity) && race:
		e.Kind = KindConflict
	case write && (e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity):
		e.Kind = KindRefused
	case e.Status == http.StatusConflict:
		e.Kind = KindConflict
	case e.Status == http.StatusNotFound:
		e.Kind = KindNotFound
	case e.Status == http.StatusForbidden:
		e.Kind = KindPermission
	case e.Status >= 500:
		e.Kind = KindTransient
	}
	return e
}

// Identity is who a comment's author is, as far as the sticky comment cares.
type Identity struct {
	Login string // "" = unknown: any Bot
	Type  string // "Bot" or "User"
}

// identity returns the token's own user (GET /user). The workflow's GITHUB_TOKEN (an app
// installation token) may not call it (403): its comments are by github-actions[bot], a
// Bot, and so are any GitHub App's, so the answer is then "some Bot".
func (c *Client) identity(ctx context.Context) Identity {
	if c.self != nil {
		return *c.self
	}
	id := Identity{Type: "Bot"}
	if u, _, err := c.gh.Users.Get(ctx, ""); err == nil && u.GetLogin() != "" {
		id = Identity{Login: u.GetLogin(), Type: u.GetType()}
	}
	c.self = &id
	return id
}

func (id Identity) owns(u *gh.User) bool {
	if id.Login != "" {
		return strings.EqualFold(u.GetLogin(), id.Login)
	}
	return u.GetType() == "Bot"
}

// UpsertComment makes body the one comment of this token's identity on issue or pull
// request number that starts with marker: that comment is edited in place, or a new one is
// created. A comment by someone else (a reviewer quoting the marker) is never touched. It
// returns the comment's id and URL and whether it was created.
func (c *Client) UpsertComment(ctx context.Context, owner, repo string, number int, marker, body string) (id int64, htmlURL string, created bool, err error) {
	if !strings.HasPrefix(body, marker) {
		return 0, "", false, fmt.Errorf("comment body does not start with its marker %q: a later run could not find it", marker)
	}
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		comments, resp, err := c.gh.Issues.ListComments(ctx, owner, repo, number, opts)
		if err != nil {
			return 0, "", false, classify(fmt.Sprintf("list comments of #%d", number), false, err)
		}
		for _, cm := range comments {
			if !HasMarker(cm.GetBody(), marker) || !c.identity(ctx).owns(cm.GetUser()) {
				continue
			}
			ed, _, err := c.gh.Issues.EditComment(ctx, owner, repo, cm.GetID(), &gh.IssueComment{Body: gh.String(body)})
			if err != nil {
				return 0, "", false, classify(fmt.Sprintf("edit comment %d on #%d", cm.GetID(), number), true, err)
			}
			return ed.GetID(), ed.GetHTMLURL(), false, nil
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	cm, _, err := c.gh.Issues.CreateComment(ctx, owner, repo, number, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return 0, "", false, classify(fmt.Sprintf("create comment on #%d", number), true, err)
	}
	return cm.GetID(), cm.GetHTMLURL(), true, nil
}

// HasMarker reports whether a comment body is marked as marker's: it starts with marker,
// on a line of its own. A quote of it ("> <!-- ... -->") or a mention in the text is not.
func HasMarker(body, marker string) bool {
	rest, ok := strings.CutPrefix(strings.TrimLeft(body, " \t\r\n"), marker)
	return ok && (rest == "" || rest[0] == '\n' || rest[0] == '\r')
}

// File is a file read through the contents API.
type File struct {
	Content []byte
	SHA     string // the blob sha, which a write of the file must name
}

// GetFile reads path at ref (a commit sha, branch or tag; "" = the default branch). A
// missing file returns an error for which IsNotFound is true. Files over 1 MB, which the
// contents API returns without content, are read through the git blobs API.
func (c *Client) GetFile(ctx context.Context, owner, repo, path, ref string) (*File, error) {
	op := fmt.Sprintf("read %s at %s", path, orDefault(ref, "the default branch"))
	var fc *gh.RepositoryContent
	var dir []*gh.RepositoryContent
	err := c.retryRead(ctx, func() error {
		var err error
		fc, dir, _, err = c.gh.Repositories.GetContents(ctx, owner, repo, path, &gh.RepositoryContentGetOptions{Ref: ref})
		return classify(op, false, err)
	})
	if err != nil {
		return nil, err
	}
	if fc == nil || dir != nil {
		return nil, &Error{Op: op, Err: errors.New("is a folder, not a file")}
	}
	f := &File{SHA: fc.GetSHA()}
	if fc.GetEncoding() == "none" || (fc.Content == nil && fc.GetSize() > 0) {
		b, _, err := c.gh.Git.GetBlobRaw(ctx, owner, repo, f.SHA)
		if err != nil {
			return nil, classify(op+" (blob "+f.SHA+")", false, err)
		}
		f.Content = b
		return f, nil
	}
	s, err := fc.GetContent()
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	f.Content = []byte(s)
	return f, nil
}

// retryRead runs read, and again after a transient error, at most ReadRetries more times
// with a doubling wait from 1 s; the last error says how many tries were made.
func (c *Client) retryRead(ctx context.Context, read func() error) error {
	delay := time.Second
	for try := 1; ; try++ {
		err := read()
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		if try > c.ReadRetries {
			if e, ok := err.(*Error); ok && try > 1 {
				e.Op += fmt.Sprintf(" (%d tries)", try)
			}
			return err
		}
		if c.Sleep != nil {
			c.Sleep(delay)
		}
		delay *= 2
	}
}

// PutRequest is a file write through the contents API.
type PutRequest struct {
	Path    string
	Branch  string // "" = the default branch
	Message string // commit message
	Content []byte
	SHA     string // blob sha of the file being replaced; "" when creating it
	// Merge is called after a conflict (someone else wrote the file since it was read) with
	// the file's fresh content (nil when it does not exist any more) and returns the
	// content to write instead. nil: retry with the same content.
	Merge func(fresh []byte) ([]byte, error)
}

// PutResult says what PutFile wrote.
type PutResult struct {
	CommitSHA string
	BlobSHA   string
	Attempts  int
}

// PutFile creates or replaces a file in one commit. On a conflict it reads the file again
// at the branch, calls Merge with the fresh content and retries, up to PutRetries times.
func (c *Client) PutFile(ctx context.Context, owner, repo string, req PutRequest) (*PutResult, error) {
	content, sha := req.Content, req.SHA
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		opts := &gh.RepositoryContentFileOptions{Message: gh.String(req.Message), Content: content}
		if sha != "" {
			opts.SHA = gh.String(sha)
		}
		if req.Branch != "" {
			opts.Branch = gh.String(req.Branch)
		}
		op := fmt.Sprintf("write %s on %s", req.Path, orDefault(req.Branch, "the default branch"))
		// UpdateFile and CreateFile are the same PUT request.
		res, _, err := c.gh.Repositories.UpdateFile(ctx, owner, repo, req.Path, opts)
		if err == nil {
			return &PutResult{CommitSHA: res.Commit.GetSHA(), BlobSHA: res.Content.GetSHA(), Attempts: attempt}, nil
		}
		err = classify(op, true, err)
		if KindOf(err) != KindConflict || attempt > c.PutRetries {
			return nil, err
		}
		if c.Sleep != nil {
			c.Sleep(delay)
		}
		delay *= 2
		fresh, gerr := c.GetFile(ctx, owner, repo, req.Path, req.Branch)
		var freshContent []byte
		switch {
		case gerr == nil:
			freshContent, sha = fresh.Content, fresh.SHA
		case IsNotFound(gerr):
			sha = ""
		default:
			return nil, fmt.Errorf("%v; then %w", err, gerr)
		}
		if req.Merge != nil {
			if content, err = req.Merge(freshContent); err != nil {
				return nil, fmt.Errorf("merge %s with its new content: %w", req.Path, err)
			}
		}
	}
}

// MergeBase returns the best common ancestor of base and head (commit shas or branches),
// through the compare API.
func (c *Client) MergeBase(ctx context.Context, owner, repo, base, head string) (string, error) {
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, repo, base, head, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return "", classify(fmt.Sprintf("compare %s...%s", textfmt.ShortSHA(base), textfmt.ShortSHA(head)), false, err)
	}
	sha := cmp.GetMergeBaseCommit().GetSHA()
	if sha == "" {
		return "", &Error{Op: fmt.Sprintf("compare %s...%s", textfmt.ShortSHA(base), textfmt.ShortSHA(head)), Err: errors.New("no merge_base_commit in the response")}
	}
	return sha, nil
}

// EncodeContent is the base64 form the contents API carries (tests build responses with it).
func EncodeContent(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// EnsureBranch creates branch at commit from unless it exists; it reports whether it
// created it.
func (c *Client) EnsureBranch(ctx context.Context, owner, repo, branch, from string) (bool, error) {
	_, _, err := c.gh.Git.GetRef(ctx, owner, repo, "heads/"+branch)
	if err == nil {
		return false, nil
	}
	if err = classify("read branch "+branch, false, err); !IsNotFound(err) {
		return false, err
	}
	if from == "" {
		return false, &Error{Op: "create branch " + branch, Err: errors.New("no commit to start it from")}
	}
	ref := "refs/heads/" + branch
	_, _, err = c.gh.Git.CreateRef(ctx, owner, repo, &gh.Reference{Ref: &ref, Object: &gh.GitObject{SHA: &from}})
	if err != nil {
		return false, classify("create branch "+branch+" at "+textfmt.ShortSHA(from), true, err)
	}
	return true, nil
}
