package action

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/perflab/perflab/internal/untrusted"
)

// The event's fields come from the runner, but several are chosen by whoever opened the
// pull request (branch names, the head repository) and all of them reach git, the API
// and the comment. They are checked before any use: a commit SHA is hex of 40 (SHA-1) or
// 64 (SHA-256) characters, a ref follows git check-ref-format's rules (and cannot look
// like an option), a repository is owner/name in GitHub's characters.

var (
	shaRe  = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	repoRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
)

// checkSHA returns an error when s is set and is not a full commit SHA.
func checkSHA(what, s string) error {
	if s == "" || shaRe.MatchString(s) {
		return nil
	}
	return fmt.Errorf("the event's %s %q is not a commit SHA (40 or 64 lower-case hex digits): refusing to use it", what, untrusted.Printable(s))
}

// CheckRefName returns an error when name is not a valid git ref name (git
// check-ref-format's rules, with one-level names allowed, as branch names are), or when it
// starts with "-" (git would read it as an option).
func CheckRefName(what, name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s %q is not a valid git ref name (%s): refusing to use it", what, untrusted.Printable(name), why)
	}
	switch {
	case name == "":
		return nil
	case strings.HasPrefix(name, "-"):
		return bad("it starts with -")
	case name == "@":
		return bad(`it is "@"`)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("it starts or ends with /")
	case strings.HasSuffix(name, "."):
		return bad("it ends with .")
	case strings.Contains(name, ".."):
		return bad(`it contains ".."`)
	case strings.Contains(name, "@{"):
		return bad(`it contains "@{"`)
	case strings.Contains(name, "//"):
		return bad(`it contains "//"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("it contains %q", r))
		}
	}
	for _, c := range strings.Split(name, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return bad(`a component starts with "." or ends with ".lock"`)
		}
	}
	return nil
}

// checkRepo returns an error when s is set and is not owner/name.
func checkRepo(what, s string) error {
	if s == "" || repoRe.MatchString(s) && !strings.HasPrefix(s, "-") {
		return nil
	}
	return fmt.Errorf("the event's %s %q is not owner/name: refusing to use it", what, untrusted.Printable(s))
}

// validate checks every field of the event that reaches git, the API or a rendered text.
func (e *Event) validate() error {
	checks := []error{
		checkSHA("commit (GITHUB_SHA or after)", e.SHA),
		CheckRefName("the event's ref (GITHUB_REF)", e.Ref),
		CheckRefName("the event's default branch", e.DefaultBranch),
		checkRepo("repository", e.Owner+"/"+e.Repo),
	}
	if pr := e.PR; pr != nil {
		checks = append(checks,
			checkSHA("base SHA", pr.BaseSHA),
			checkSHA("head SHA", pr.HeadSHA),
			CheckRefName("the event's base branch", pr.BaseRef),
			checkRepo("head repository", pr.HeadRepo),
			checkRepo("base repository", pr.BaseRepo))
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkBaselineInputs validates the baseline inputs before anything is measured: a bad one
// would otherwise stop the run only after the sweep.
func (j *job) checkBaselineInputs() error {
	if err := CheckRefName("input baseline-branch", j.in.BaselineBranch); err != nil {
		return err
	}
	if j.mode != ModePullRequest && j.mode != ModeBaseline {
		return nil
	}
	name := ""
	if j.preset != nil && j.preset.preset != nil {
		name = j.preset.preset.Name
	}
	if j.in.Baseline == "" && name == "" {
		return nil // the preset did not load: its own error comes first
	}
	_, err := j.baselinePath(name)
	return err
}
