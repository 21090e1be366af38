// Package action is perflab's GitHub Action: it reads the action's inputs and the event,
// sweeps a preset (or takes merged shard results), writes the report, gates the results —
// on a pull request by an interleaved A/B test of every changed model file against its
// version at the pull request's base, and against the baseline stored at the base — keeps
// one sticky PR comment up to date, writes the job summary and the step outputs, and on a
// push to the default branch stores the updated baseline through the contents API.
//
// The Action is an adapter: the gate itself is flow.GateAgainstBase, the same code as
// `perflab gate --against`. The files here are cut by what they touch: inputs.go, event.go,
// results.go (the sweep or the merged results, the report), basemodels.go (the base's model
// files), pullrequest.go (the gate of a pull request), store.go (the baseline store),
// comment.go, outputs.go (job summary, outputs, annotations, the log), files.go (what a
// pull request controls and the run must not trust: model files, what is gated, results'
// run identity; docs/security.md).
//
// Run is testable without a runner: the environment, the output streams, the sweep and the
// API client come in through Deps. Nothing here prints the token: it is masked first
// (::add-mask::, which the runner consumes) and scrubbed from everything written.
package action

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/workspace"
)

// OutDir is the folder, in the workspace, that receives the results, the report with its
// plots, the summary, the comment and the verdict (upload it as an artifact).
const OutDir = "perflab-results"

// MaxAnnotations is how many ::error (or ::warning) annotations one run emits; GitHub shows
// at most 10 of each per step.
const MaxAnnotations = 10

// Modes: what a run does for its event.
const (
	ModePullRequest = "pull_request" // A/B against the base, gate against the base's baseline, comment
	ModeBaseline    = "baseline"     // push to the default branch: update the baseline
	ModeReport      = "report"       // any other event: sweep and report only
	ModeShard       = "shard"        // one shard of a sweep: results only
)

// NotGated is the verdict output of runs that do not gate.
const NotGated = "not gated"

// SweepRequest is the sweep the action asks for.
type SweepRequest struct {
	Preset string // built-in name or preset file path
	Quick  bool
	Models []string
	Iters  int // 0 = the preset's
	Shard  string
	Out    string // JSONL file to write
}

// Deps are what Run takes from outside.
type Deps struct {
	Getenv func(string) string
	// Stdout is the runner's log, which also reads workflow commands (::error::,
	// ::add-mask::).
	Stdout io.Writer
	// Sweep runs a preset sweep (its progress is its own business) and returns the JSONL
	// file it wrote.
	Sweep func(ctx context.Context, req SweepRequest) (string, error)
	// MeasureAB runs interleaved A/B rounds (the pull request's A/B against its base); nil
	// = no A/B test.
	MeasureAB gate.Measure
	// Probe says why a model file does not load (nil when it loads): asked when the A/B
	// test fails, to tell a base version that does not load from a failure; nil = never.
	Probe func(ctx context.Context, path string, cfg gate.ABConfig) error
	// Explain: profile regressed A/B configurations after the verdict (real child
	// processes, like MeasureAB's) and say per operator where the time went.
	Explain bool
	// NewClient makes the API client (default github.NewClient).
	NewClient func(token, apiURL string) (*github.Client, error)
	Now       func() time.Time
	Version   string // perflab's version, for the footer
}

// Result is what a run decided.
type Result struct {
	Mode        string
	Verdict     string // a gate verdict, or NotGated
	Regressions int
	// Fail: fail the check (a regression, with fail-on-regression; an inconclusive verdict,
	// with fail-on-inconclusive). Failure says why (a *flow.VerdictError), nil otherwise.
	Fail       bool
	Failure    *flow.VerdictError
	CommentURL string
}

// job is what a run knows once its inputs are read: set up once, then only read. What the
// steps compute travels in their results (results, verdict), not in here.
type job struct {
	d      Deps
	gha    *githubactions.Action
	in     *Inputs
	ev     *Event
	ws     workspace.Workspace // the user's repository, its real path
	out    string              // ws/OutDir
	client *github.Client      // nil without a token
	token  string
	mode   string
	preset *presetRef // the preset input, loaded once
}

// Run runs the action. An error means the run could not do its job (bad input, a sweep
// that could not start, a baseline that could not be stored): the caller exits 2. A
// regression is not an error: Result.Fail says whether to fail the check.
func Run(ctx context.Context, d Deps) (*Result, error) {
	if d.Getenv == nil {
		d.Getenv = os.Getenv
	}
	if d.Stdout == nil {
		d.Stdout = os.Stdout
	}
	if d.NewClient == nil {
		d.NewClient = github.NewClient
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	j := &job{d: d, gha: githubactions.New(githubactions.WithGetenv(d.Getenv), githubactions.WithWriter(d.Stdout))}
	// Mask the token before anything else is printed.
	if j.token = ReadInput(d.Getenv, InGitHubToken); j.token != "" {
		j.gha.AddMask(j.token)
	}
	res, err := j.setUp()
	if err == nil {
		res, err = j.run(ctx)
	}
	if err != nil {
		j.errorf("perflab: %s", err.Error())
		return res, &shownError{msg: j.redact(err.Error()), err: err}
	}
	return res, nil
}

// shownError is an error as the log may show it (no token, no runner path), still
// unwrapping to the error it says.
type shownError struct {
	msg string
	err error
}

func (e *shownError) Error() string { return e.msg }
func (e *shownError) Unwrap() error { return e.err }

// setUp reads the inputs, the event and the workspace, and chooses the mode.
func (j *job) setUp() (*Result, error) {
	var err error
	if j.in, err = ParseInputs(j.d.Getenv); err != nil {
		return nil, err
	}
	if j.ev, err = ReadEvent(j.d.Getenv); err != nil {
		return nil, err
	}
	dir := j.d.Getenv("GITHUB_WORKSPACE")
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	// The real path: every path the action writes is resolved through links and checked
	// against it, and shown relative to it.
	j.ws = workspace.Open(dir)
	// The results folder is the action's own: made fresh, so that nothing in it (forged
	// results, a sidecar, a symbolic link to write through) comes from the checkout.
	var moved string
	if j.out, moved, err = j.ws.Fresh(OutDir, "the output folder"); err != nil {
		return nil, err
	}
	if moved != "" {
		j.warnf("%s/ was already in the workspace (committed by the pull request, or left by an earlier step): moved aside to %s, never read; the results are new", OutDir, moved)
	}
	if j.token != "" {
		if j.client, err = j.d.NewClient(j.token, j.d.Getenv("GITHUB_API_URL")); err != nil {
			return nil, err
		}
	}
	j.preset = j.loadPreset()
	j.mode = j.chooseMode()
	if err := j.checkBaselineInputs(); err != nil {
		return nil, err
	}
	return nil, nil
}

// run is the action, step by step.
func (j *job) run(ctx context.Context) (*Result, error) {
	j.logf("perflab action: %s", j.describe())
	if j.ev.Name == "pull_request_target" {
		j.gha.Warningf("perflab runs on pull_request_target: it has a write token, so the workflow must not check out or run the pull request's code. Prefer pull_request plus a workflow_run workflow for the comment (see perflab's docs/action.md, \"Pull requests from forks\").")
	}
	if j.ev.IsPullRequest() && j.in.UpdateBaseline == UpdateTrue {
		j.logf("update-baseline: true has no effect on a pull request: baselines are only written by pushes")
	}

	// 1. The results: a sweep, or the merged results input.
	rs, err := j.collectResults(ctx)
	if err != nil {
		return nil, err
	}
	if j.mode == ModeShard {
		return j.finishShard(rs), nil
	}
	// 2. The report.
	if err := j.writeReport(rs); err != nil {
		return nil, err
	}
	// 3. The gate: a pull request's against its base; a push's against the stored
	// baseline, which it then updates.
	v := &verdict{}
	switch j.mode {
	case ModePullRequest:
		v, err = j.gatePullRequest(ctx, rs)
	case ModeBaseline:
		v, err = j.updateBaseline(ctx, rs)
	}
	if err != nil {
		return nil, err
	}
	// 4. The decision, by the one policy.
	res := &Result{Mode: j.mode, Verdict: NotGated}
	if v.gate != nil {
		res.Verdict, res.Regressions = v.gate.Verdict, v.gate.Regressions
		if j.mode == ModePullRequest {
			if err := j.in.Policy().Check(v.gate); err != nil {
				res.Fail, res.Failure = true, err.(*flow.VerdictError)
			}
		}
		j.annotate(v.gate)
		j.writeFile("verdict.json", v.gate.JSON)
	}
	// 5. What people read: the comment, the job summary, the outputs, the log.
	commentNote := ""
	if j.mode == ModePullRequest && !j.ev.IsMergeGroup() {
		res.CommentURL, commentNote = j.comment(ctx, rs, v)
	}
	j.writeSummary(rs, v, commentNote)
	j.setOutputs(res, rs)
	j.logOutcome(res, v)
	return res, nil
}

// logOutcome says in the log what the run decided.
func (j *job) logOutcome(res *Result, v *verdict) {
	g := v.gate
	switch {
	case res.Failure != nil && res.Failure.Inconclusive:
		j.logf("perflab: %s: %s — failing the check (fail-on-inconclusive: true)", g.Verdict, g.Summary)
	case res.Fail:
		j.logf("perflab: %s — failing the check (fail-on-regression: true)", g.Summary)
	case g != nil && g.Verdict == gate.Failed && j.mode == ModePullRequest:
		j.logf("perflab: %s — not failing the check (fail-on-regression: false)", g.Summary)
	case g != nil && j.mode == ModeBaseline && g.Baseline == nil:
		j.logf("perflab: first baseline of %s: nothing to compare with", v.baselineRel)
	case g != nil && j.mode == ModeBaseline:
		j.logf("perflab: compared with the previous baseline: %s: %s (information only: the baseline moves on)", g.Verdict, g.Summary)
	case g != nil:
		j.logf("perflab: verdict %s: %s", g.Verdict, g.Summary)
	}
}

func (j *job) chooseMode() string {
	switch {
	case j.in.Shard != "":
		return ModeShard
	case j.ev.IsPullRequest():
		return ModePullRequest
	case j.ev.Branch() != "" && (j.in.UpdateBaseline == UpdateTrue && j.ev.Name == "push" ||
		j.in.UpdateBaseline != UpdateFalse && j.ev.IsDefaultBranchPush()):
		return ModeBaseline
	}
	return ModeReport
}

func (j *job) describe() string {
	repo := j.ev.Owner + "/" + j.ev.Repo
	var what string
	switch j.mode {
	case ModeShard:
		what = "sweep shard " + j.in.Shard + " (results only; gate them in the job that merges the shards)"
	case ModePullRequest:
		pr := j.ev.PR
		what = fmt.Sprintf("pull request #%d (base %s %s, head %s", pr.Number, pr.BaseRef, textfmt.ShortSHA(pr.BaseSHA), textfmt.ShortSHA(pr.HeadSHA))
		if j.ev.IsMergeGroup() {
			what = fmt.Sprintf("merge queue group (base %s %s, head %s", pr.BaseRef, textfmt.ShortSHA(pr.BaseSHA), textfmt.ShortSHA(pr.HeadSHA))
		}
		if pr.Fork() {
			what += ", from fork " + pr.HeadRepo
		}
		what += "): A/B the changed model files against the base, gate against the baseline at the base"
	case ModeBaseline:
		what = fmt.Sprintf("%s on %s (%s): update the baseline (update-baseline: %s)", j.ev.Name, j.ev.Branch(), textfmt.ShortSHA(j.ev.SHA), j.in.UpdateBaseline)
	default:
		what = fmt.Sprintf("event %s (ref %s): sweep and report only", j.ev.Name, textfmt.Or(j.ev.Ref, "(unknown)"))
	}
	src := "preset " + j.in.Preset
	if j.in.Quick {
		src += " (quick)"
	}
	if len(j.in.Results) > 0 {
		src = "results " + strings.Join(j.in.Results, ", ")
	}
	tok := "a token"
	if j.client == nil {
		tok = "no token (nothing will be read from or written to the API)"
	}
	return fmt.Sprintf("%s on %s, %s, %s", what, repo, src, tok)
}
