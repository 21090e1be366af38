// Package fakehub is a stateful fake of the part of GitHub's REST API that perflab's action
// uses: commits and files through the contents API (with blob shas, conflicts and branch
// protection), the compare API's merge base, and issue comments with their authors. Tokens
// carry an identity and a permission, as GitHub's do: the workflow token writes as the
// github-actions[bot] Bot, a fork's token is read-only, a personal token is a User.
//
// Unlike githubtest (stubs answered in order, for unit tests), fakehub keeps state across
// requests, so that real runs of the action (make e2e, under act) can be checked afterwards
// through its control endpoints under /_fakehub/ (see Handler).
package fakehub

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token is what a token may do and who it is.
type Token struct {
	Login string `json:"login"`
	Type  string `json:"type"` // "Bot" or "User"
	Write bool   `json:"write"`
	// App: an installation token (GITHUB_TOKEN): GET /user answers 403, as on GitHub.
	App bool `json:"app"`
}

// Comment is an issue comment.
type Comment struct {
	ID     int64  `json:"id"`
	Issue  int    `json:"issue"`
	Login  string `json:"login"`
	Type   string `json:"type"`
	Body   string `json:"body"`
	Edits  int    `json:"edits"`
	Create string `json:"created_at"`
}

// Commit is a commit of the fake repository: a full tree of files.
type Commit struct {
	SHA     string            `json:"sha"`
	Parent  string            `json:"parent,omitempty"`
	Branch  string            `json:"branch"`
	Message string            `json:"message"`
	Files   map[string]string `json:"files"`
}

// Protection makes writes to a branch fail as GitHub's branch protection or rulesets do.
type Protection struct {
	Status  int    `json:"status"`  // 409 or 422
	Message string `json:"message"` // GitHub's message
}

// Logged is one request, as the state reports it.
type Logged struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	Token  string `json:"token,omitempty"` // the token's login, never the token
	Status int    `json:"status"`
}

// State is everything the fake holds (GET /_fakehub/state).
type State struct {
	Branches  map[string]string     `json:"branches"` // branch -> head commit sha
	Commits   map[string]*Commit    `json:"commits"`
	Comments  []*Comment            `json:"comments"`
	Protected map[string]Protection `json:"protected"`
	MergeBase string                `json:"merge_base,omitempty"` // answer of the compare API ("" = its base)
	DenyRead  bool                  `json:"deny_read"`            // contents reads answer 403
	Requests  []Logged              `json:"requests"`
}

// Hub is the fake API for one repository, Owner/Repo.
type Hub struct {
	Owner, Repo string
	Tokens      map[string]Token
	mu          sync.Mutex
	st          State
	nextID      int64
	seq         int
}

// New returns a hub for owner/repo with no commits and the given tokens.
func New(owner, repo string, tokens map[string]Token) *Hub {
	return &Hub{Owner: owner, Repo: repo, Tokens: tokens, nextID: 1000,
		st: State{Branches: map[string]string{}, Commits: map[string]*Commit{}, Protected: map[string]Protection{}, Requests: []Logged{}, Comments: []*Comment{}}}
}

// BlobSHA is git's blob id of content (what the contents API calls a file's sha).
func BlobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Seed adds a commit with sha on branch with files added to (or, for an empty content,
// removed from) its parent's tree, and moves the branch to it.
func (h *Hub) Seed(branch, sha string, files map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commit(branch, sha, "seed", files)
}

func (h *Hub) commit(branch, sha, msg string, files map[string]string) *Commit {
	parent := h.st.Branches[branch]
	tree := map[string]string{}
	if p := h.st.Commits[parent]; p != nil {
		for k, v := range p.Files {
			tree[k] = v
		}
	}
	for k, v := range files {
		if v == "" {
			delete(tree, k)
		} else {
			tree[k] = v
		}
	}
	if sha == "" {
		h.seq++
		sum := sha1.Sum([]byte(fmt.Sprintf("%s-%d-%d", branch, h.seq, time.Now().UnixNano())))
		sha = hex.EncodeToString(sum[:])
	}
	c := &Commit{SHA: sha, Parent: parent, Branch: branch, Message: msg, Files: tree}
	h.st.Commits[sha] = c
	h.st.Branches[branch] = sha
	return c
}

// Snapshot returns a copy of the state.
func (h *Hub) Snapshot() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := json.Marshal(h.st)
	var s State
	json.Unmarshal(b, &s)
	return s
}

// ServeHTTP answers the REST API under /repos/OWNER/REPO/ and /user, and the control
// endpoints:
//
//	GET  /_fakehub/state              the State as JSON
//	POST /_fakehub/commit             {"branch","sha","files":{path: content}}: Seed
//	POST /_fakehub/comment            {"issue","login","type","body"}: a comment by someone else
//	POST /_fakehub/protect            {"branch","status","message"}: protect a branch
//	POST /_fakehub/config             {"merge_base","deny_read"}
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if strings.HasPrefix(r.URL.Path, "/_fakehub/") {
		h.control(w, r, body)
		return
	}
	tok, known := h.auth(r)
	status, out := h.api(w.Header(), r, body, tok, known)
	h.mu.Lock()
	h.st.Requests = append(h.st.Requests, Logged{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Token: tok.Login, Status: status})
	h.mu.Unlock()
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func (h *Hub) auth(r *http.Request) (Token, bool) {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if t, ok := strings.CutPrefix(a, p); ok {
			tok, known := h.Tokens[t]
			return tok, known
		}
	}
	return Token{}, false
}

func msg(m string) map[string]any {
	return map[string]any{"message": m, "documentation_url": "https://docs.github.com/rest"}
}

func (h *Hub) api(hdr http.Header, r *http.Request, body []byte, tok Token, known bool) (int, any) {
	if r.Header.Get("Authorization") != "" && !known {
		return 401, msg("Bad credentials")
	}
	if r.URL.Path == "/user" {
		if !known || tok.App {
			return 403, msg("Resource not accessible by integration")
		}
		return 200, map[string]any{"login": tok.Login, "type": tok.Type, "id": 1}
	}
	prefix := "/repos/" + h.Owner + "/" + h.Repo + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return 404, msg("Not Found")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	write := r.Method != http.MethodGet
	if write && !tok.Write {
		return 403, msg("Resource not accessible by integration")
	}
	parts := strings.Split(rest, "/")
	switch {
	case parts[0] == "contents" && r.Method == http.MethodGet:
		return h.getContents(strings.Join(parts[1:], "/"), r.URL.Query().Get("ref"))
	case parts[0] == "contents" && r.Method == http.MethodPut:
		return h.putContents(strings.Join(parts[1:], "/"), body, tok)
	case parts[0] == "compare" && len(parts) == 2 && r.Method == http.MethodGet:
		base, head, ok := strings.Cut(parts[1], "...")
		if !ok || h.resolve(base) == nil || h.resolve(head) == nil {
			return 404, msg("Not Found")
		}
		mb := h.st.MergeBase
		if mb == "" {
			mb = h.resolve(base).SHA
		}
		return 200, map[string]any{"merge_base_commit": map[string]any{"sha": mb}, "status": "ahead"}
	case parts[0] == "git" && len(parts) >= 4 && parts[1] == "ref" && parts[2] == "heads" && r.Method == http.MethodGet:
		b := strings.Join(parts[3:], "/")
		sha, ok := h.st.Branches[b]
		if !ok {
			return 404, msg("Not Found")
		}
		return 200, map[string]any{"ref": "refs/heads/" + b, "object": map[string]any{"sha": sha, "type": "commit"}}
	case parts[0] == "git" && len(parts) == 2 && parts[1] == "refs" && r.Method == http.MethodPost:
		var in struct{ Ref, SHA string }
		b, ok := "", false
		if json.Unmarshal(body, &in) == nil {
			b, ok = strings.CutPrefix(in.Ref, "refs/heads/")
		}
		if !ok || h.st.Commits[in.SHA] == nil {
			return 422, msg("Reference update failed")
		}
		if _, exists := h.st.Branches[b]; exists {
			return 422, msg("Reference already exists")
		}
		h.st.Branches[b] = in.SHA
		return 201, map[string]any{"ref": in.Ref, "object": map[string]any{"sha": in.SHA, "type": "commit"}}
	case parts[0] == "issues" && len(parts) == 3 && parts[2] == "comments":
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			return 404, msg("Not Found")
		}
		if r.Method == http.MethodGet {
			return h.listComments(hdr, n, r)
		}
		if r.Method == http.MethodPost {
			var in struct{ Body string }
			if json.Unmarshal(body, &in) != nil || in.Body == "" {
				return 422, msg("Validation Failed")
			}
			h.nextID++
			c := &Comment{ID: h.nextID, Issue: n, Login: tok.Login, Type: tok.Type, Body: in.Body, Create: time.Now().UTC().Format(time.RFC3339)}
			h.st.Comments = append(h.st.Comments, c)
			return 201, h.commentJSON(c)
		}
	case parts[0] == "issues" && len(parts) == 3 && parts[1] == "comments" && r.Method == http.MethodPatch:
		id, _ := strconv.ParseInt(parts[2], 10, 64)
		for _, c := range h.st.Comments {
			if c.ID == id {
				if c.Login != tok.Login {
					return 403, msg("You cannot edit this comment")
				}
				var in struct{ Body string }
				if json.Unmarshal(body, &in) != nil || in.Body == "" {
					return 422, msg("Validation Failed")
				}
				c.Body, c.Edits = in.Body, c.Edits+1
				return 200, h.commentJSON(c)
			}
		}
		return 404, msg("Not Found")
	}
	return 404, msg("Not Found")
}

func (h *Hub) resolve(ref string) *Commit {
	if sha, ok := h.st.Branches[ref]; ok {
		return h.st.Commits[sha]
	}
	return h.st.Commits[ref]
}

func (h *Hub) getContents(path, ref string) (int, any) {
	if h.st.DenyRead {
		return 403, msg("Resource not accessible by integration")
	}
	if ref == "" {
		ref = "main"
	}
	c := h.resolve(ref)
	if c == nil {
		return 404, msg("No commit found for the ref " + ref)
	}
	content, ok := c.Files[path]
	if !ok {
		return 404, msg("Not Found")
	}
	return 200, map[string]any{"type": "file", "encoding": "base64", "path": path, "name": path[strings.LastIndex(path, "/")+1:],
		"size": len(content), "sha": BlobSHA([]byte(content)), "content": base64.StdEncoding.EncodeToString([]byte(content))}
}

func (h *Hub) putContents(path string, body []byte, tok Token) (int, any) {
	var in struct {
		Message, Content, SHA, Branch string
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Message == "" {
		return 422, msg("Invalid request.")
	}
	content, err := base64.StdEncoding.DecodeString(in.Content)
	if err != nil {
		return 422, msg("content is not valid Base64")
	}
	branch := in.Branch
	if branch == "" {
		branch = "main"
	}
	head := h.resolve(branch)
	if head == nil {
		return 404, msg("Branch " + branch + " not found")
	}
	if p, ok := h.st.Protected[branch]; ok {
		return p.Status, msg(p.Message)
	}
	cur, exists := head.Files[path]
	switch {
	case exists && in.SHA == "":
		return 422, msg("Invalid request.\n\n\"sha\" wasn't supplied.")
	case exists && in.SHA != BlobSHA([]byte(cur)):
		return 409, msg(path + " does not match " + in.SHA)
	case !exists && in.SHA != "":
		return 404, msg("Not Found") // GitHub: the sha names no file any more
	}
	c := h.commit(branch, "", in.Message, map[string]string{path: string(content)})
	status := 201
	if exists {
		status = 200
	}
	return status, map[string]any{"content": map[string]any{"path": path, "sha": BlobSHA(content)},
		"commit": map[string]any{"sha": c.SHA, "message": in.Message}}
}

func (h *Hub) listComments(hdr http.Header, n int, r *http.Request) (int, any) {
	var cs []*Comment
	for _, c := range h.st.Comments {
		if c.Issue == n {
			cs = append(cs, c)
		}
	}
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	lo, hi := min((page-1)*per, len(cs)), min(page*per, len(cs))
	if hi < len(cs) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		hdr.Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, r.Host, r.URL.Path, q.Encode()))
	}
	out := []any{}
	for _, c := range cs[lo:hi] {
		out = append(out, h.commentJSON(c))
	}
	return 200, out
}

func (h *Hub) commentJSON(c *Comment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body, "created_at": c.Create,
		"html_url": fmt.Sprintf("https://github.com/%s/%s/pull/%d#issuecomment-%d", h.Owner, h.Repo, c.Issue, c.ID),
		"user":     map[string]any{"login": c.Login, "type": c.Type}}
}

func (h *Hub) control(w http.ResponseWriter, r *http.Request, body []byte) {
	reply := func(status int, v any) {
		b, _ := json.MarshalIndent(v, "", "  ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}
	switch r.URL.Path {
	case "/_fakehub/state":
		reply(200, h.Snapshot())
		return
	case "/_fakehub/commit":
		var in struct {
			Branch, SHA string
			Files       map[string]string
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Branch == "" {
			reply(400, msg("want {branch, sha, files}"))
			return
		}
		h.Seed(in.Branch, in.SHA, in.Files)
	case "/_fakehub/comment":
		var c Comment
		if err := json.Unmarshal(body, &c); err != nil || c.Issue == 0 {
			reply(400, msg("want {issue, login, type, body}"))
			return
		}
		h.AddComment(c.Issue, c)
	case "/_fakehub/protect":
		var in struct {
			Branch string
			Protection
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Branch == "" {
			reply(400, msg("want {branch, status, message}"))
			return
		}
		h.mu.Lock()
		if in.Status == 0 {
			delete(h.st.Protected, in.Branch)
		} else {
			h.st.Protected[in.Branch] = in.Protection
		}
		h.mu.Unlock()
	case "/_fakehub/config":
		var in struct {
			MergeBase string `json:"merge_base"`
			DenyRead  bool   `json:"deny_read"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			reply(400, msg("want {merge_base, deny_read}"))
			return
		}
		h.mu.Lock()
		h.st.MergeBase, h.st.DenyRead = in.MergeBase, in.DenyRead
		h.mu.Unlock()
	default:
		reply(404, msg("no such control endpoint"))
		return
	}
	reply(200, map[string]string{"ok": "true"})
}

// SortedPaths returns the file paths of a commit, sorted.
func (c *Commit) SortedPaths() []string {
	var ps []string
	for p := range c.Files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// AddComment adds a comment by someone else (c's Login and Type) on issue n.
func (h *Hub) AddComment(n int, c Comment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	c.ID, c.Issue = h.nextID, n
	if c.Create == "" {
		c.Create = time.Now().UTC().Format(time.RFC3339)
	}
	h.st.Comments = append(h.st.Comments, &c)
}
