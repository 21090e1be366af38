package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Event is what triggered the workflow, from GITHUB_EVENT_NAME and the payload file at
// GITHUB_EVENT_PATH.
type Event struct {
	Name          string // pull_request, push, workflow_dispatch, ...
	Owner, Repo   string // GITHUB_REPOSITORY
	SHA           string // GITHUB_SHA
	Ref           string // GITHUB_REF, e.g. refs/heads/main
	DefaultBranch string // repository.default_branch
	// PR is the pull request of a pull_request event, or what a merge_group event
	// tests (Number 0: a merge queue's group has no pull request to comment on).
	PR *PullRequest
}

// PullRequest is the part of a pull_request payload the action uses.
type PullRequest struct {
	Number   int
	BaseSHA  string
	BaseRef  string // the base branch, e.g. main
	HeadSHA  string
	HeadRepo string // owner/name of the head repository
	BaseRepo string
}

// Fork reports whether the pull request comes from another repository (its token is then
// read-only).
func (p *PullRequest) Fork() bool {
	return p.HeadRepo != "" && !strings.EqualFold(p.HeadRepo, p.BaseRepo)
}

// Branch returns the pushed branch of a push event ("" for tags and other events).
func (e *Event) Branch() string {
	if b, ok := strings.CutPrefix(e.Ref, "refs/heads/"); ok {
		return b
	}
	return ""
}

// IsPullRequest reports whether the event is a pull request.
func (e *Event) IsPullRequest() bool { return e.PR != nil }

// IsDefaultBranchPush reports whether the event is a push to the repository's default
// branch, or a manual (workflow_dispatch) or scheduled run on it: each measures the
// default branch as it is, which is what its baseline is.
func (e *Event) IsDefaultBranchPush() bool {
	switch e.Name {
	case "push", "workflow_dispatch", "schedule":
	default:
		return false
	}
	if e.Name == "schedule" && e.DefaultBranch == "" {
		// Scheduled runs always run on the default branch; their payload may not name it.
		return e.Branch() != ""
	}
	return e.DefaultBranch != "" && e.Branch() == e.DefaultBranch
}

// IsMergeGroup reports whether the event is a merge queue's group (gated, no comment).
func (e *Event) IsMergeGroup() bool { return e.Name == "merge_group" && e.PR != nil }

type payload struct {
	Repository struct {
		FullName      string `json:"full_name"`
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Ref         string `json:"ref"`
	After       string `json:"after"`
	PullRequest *struct {
		Number int `json:"number"`
		Base   struct {
			SHA  string `json:"sha"`
			Ref  string `json:"ref"`
			Repo struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"base"`
		Head struct {
			SHA  string `json:"sha"`
			Repo *struct {
				FullName string `json:"full_name"`
			} `json:"repo"` // null when the fork was deleted
		} `json:"head"`
	} `json:"pull_request"`
	MergeGroup *struct {
		HeadSHA string `json:"head_sha"`
		HeadRef string `json:"head_ref"`
		BaseSHA string `json:"base_sha"`
		BaseRef string `json:"base_ref"`
	} `json:"merge_group"`
}

// ReadEvent reads the event from the runner's environment.
func ReadEvent(getenv func(string) string) (*Event, error) {
	ev := &Event{Name: getenv("GITHUB_EVENT_NAME"), SHA: getenv("GITHUB_SHA"), Ref: getenv("GITHUB_REF")}
	if ev.Name == "" {
		return nil, errors.New("GITHUB_EVENT_NAME is not set: perflab action runs inside a GitHub Actions workflow (locally, use perflab sweep, report and gate)")
	}
	repo := getenv("GITHUB_REPOSITORY")
	var p payload
	if path := getenv("GITHUB_EVENT_PATH"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the event payload: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("event payload %s is not valid JSON: %v", path, err)
		}
	}
	if repo == "" {
		repo = p.Repository.FullName
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return nil, fmt.Errorf("GITHUB_REPOSITORY %q is not owner/name", repo)
	}
	ev.Owner, ev.Repo = owner, name
	ev.DefaultBranch = p.Repository.DefaultBranch
	if ev.Ref == "" {
		ev.Ref = p.Ref
	}
	if ev.SHA == "" {
		ev.SHA = p.After
	}
	if strings.HasPrefix(ev.Name, "pull_request") && p.PullRequest == nil {
		// Without it there is no base to gate against: running ungated would pass anything.
		return nil, fmt.Errorf("the %s event's payload has no pull_request object: perflab cannot tell what to gate against (is GITHUB_EVENT_PATH the runner's event file?)", ev.Name)
	}
	if strings.HasPrefix(ev.Name, "pull_request") {
		pr := p.PullRequest
		if pr.Number < 1 {
			return nil, errors.New("the pull_request payload has no number")
		}
		ev.PR = &PullRequest{Number: pr.Number, BaseSHA: pr.Base.SHA, BaseRef: pr.Base.Ref, HeadSHA: pr.Head.SHA, BaseRepo: pr.Base.Repo.FullName}
		if ev.PR.BaseRepo == "" {
			ev.PR.BaseRepo = repo
		}
		if pr.Head.Repo != nil {
			ev.PR.HeadRepo = pr.Head.Repo.FullName
		}
	}
	if ev.Name == "merge_group" && p.MergeGroup != nil {
		mg := p.MergeGroup
		ev.PR = &PullRequest{BaseSHA: mg.BaseSHA, BaseRef: strings.TrimPrefix(mg.BaseRef, "refs/heads/"), HeadSHA: mg.HeadSHA, BaseRepo: repo, HeadRepo: repo}
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return ev, nil
}
