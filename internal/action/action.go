// Package action is perflab's GitHub Action: it reads the action's inputs and the event,
// sweeps a preset (or takes merged shard results), writes the report, gates the results —
// on a pull request by an interleaved A/B test of every changed model file against its
// version at the pull request's base, and against the baseline stored at the base — keeps
// one sticky PR comment up to date, writes the job summary and the step outputs, and on a
// push to the default branch stores the updated baseline through the contents API.
//
// Run is testable without a runner: the environment, the output streams, the sweep and the
// API client come in through Deps. Nothing here prints the token: it is masked first
// (::add-mask::, which the runner consumes) and scrubbed from everything written.
package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/perflab/perflab/internal/textfmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/merge"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/workspace"
	"github.com/perflab/perflab/presets"
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
	// with fail-on-inconclusive).
	Fail       bool
	CommentURL string
}

type runner struct {
	d      Deps
	gha    *githubactions.Action
	in     *Inputs
	ev     *Event
	ws     workspace.Workspace // the user's repository
	out    string              // ws/OutDir
	client *github.Client      // nil without a token
	token  string
	mode   string

	preset      string // the preset's name
	results     string // results JSONL path
	recs        []*record.Record
	rep         *report.Report
	reportMD    string
	gate        *gate.Report
	baselineRel string   // the baseline's path in the repository
	source      string   // which baseline was used, in words
	notes       []string // said in the summary and the comment
	commentNote string   // why no comment was posted (summary only)
	stored      string   // baseline mode: what happened to the updated baseline
	ab          *abgate.Result
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
	r := &runner{d: d, gha: githubactions.New(githubactions.WithGetenv(d.Getenv), githubactions.WithWriter(d.Stdout))}
	// Mask the token before anything else is printed.
	if r.token = ReadInput(d.Getenv, InGitHubToken); r.token != "" {
		r.gha.AddMask(r.token)
	}
	res, err := r.run(ctx)
	if err != nil {
		r.gha.Errorf("%s", r.redact("perflab: "+err.Error()))
		return res, err
	}
	return res, nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	var err error
	if r.in, err = ParseInputs(r.d.Getenv); err != nil {
		return nil, err
	}
	if r.ev, err = ReadEvent(r.d.Getenv); err != nil {
		return nil, err
	}
	dir := r.d.Getenv("GITHUB_WORKSPACE")
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	// The real path: every path the action writes is resolved through links and checked
	// against it, and shown relative to it.
	r.ws = workspace.Open(dir)
	if r.out, err = r.inWorkspace(OutDir, "the output folder"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", OutDir, err)
	}
	if r.token != "" {
		if r.client, err = r.d.NewClient(r.token, r.d.Getenv("GITHUB_API_URL")); err != nil {
			return nil, err
		}
	}
	r.mode = r.chooseMode()
	r.logf("perflab action: %s", r.describe())
	if r.ev.Name == "pull_request_target" {
		r.gha.Warningf("perflab runs on pull_request_target: it has a write token, so the workflow must not check out or run the pull request's code. Prefer pull_request plus a workflow_run workflow for the comment (see perflab's README).")
	}
	if r.ev.IsPullRequest() && r.in.UpdateBaseline == UpdateTrue {
		r.logf("update-baseline: true has no effect on a pull request: baselines are only written by pushes")
	}

	if err := r.collectResults(ctx); err != nil {
		return nil, err
	}
	if r.mode == ModeShard {
		return r.finishShard()
	}
	if err := r.writeReport(); err != nil {
		return nil, err
	}
	res := &Result{Mode: r.mode, Verdict: NotGated}
	switch r.mode {
	case ModePullRequest:
		if err := r.gatePullRequest(ctx); err != nil {
			return nil, err
		}
	case ModeBaseline:
		if err := r.updateBaseline(ctx); err != nil {
			return nil, err
		}
	}
	if r.gate != nil {
		res.Verdict, res.Regressions = r.gate.Verdict, r.gate.Regressions
		res.Fail = r.mode == ModePullRequest && r.gate.Verdict == gate.Failed && r.in.FailOnRegression
		if r.mode == ModePullRequest && r.in.FailOnInconclusive && r.gate.Verdict != gate.Failed && r.gate.Verdict != gate.Pass {
			res.Fail = true
		}
		r.annotate()
		r.writeFile("verdict.json", func(w io.Writer) error { return r.gate.JSON(w) })
	}
	if r.mode == ModePullRequest && !r.ev.IsMergeGroup() {
		res.CommentURL = r.comment(ctx)
	}
	r.writeSummary()
	r.setOutputs(res)
	switch {
	case res.Fail && r.gate.Verdict != gate.Failed:
		r.logf("perflab: %s: %s — failing the check (fail-on-inconclusive: true)", r.gate.Verdict, r.gate.Summary)
	case res.Fail:
		r.logf("perflab: %s — failing the check (fail-on-regression: true)", r.gate.Summary)
	case r.gate != nil && r.gate.Verdict == gate.Failed && r.mode == ModePullRequest:
		r.logf("perflab: %s — not failing the check (fail-on-regression: false)", r.gate.Summary)
	case r.gate != nil && r.mode == ModeBaseline && r.gate.Baseline == nil:
		r.logf("perflab: first baseline of %s: nothing to compare with", r.baselineRel)
	case r.gate != nil && r.mode == ModeBaseline:
		r.logf("perflab: compared with the previous baseline: %s: %s (information only: the baseline moves on)", r.gate.Verdict, r.gate.Summary)
	case r.gate != nil:
		r.logf("perflab: verdict %s: %s", r.gate.Verdict, r.gate.Summary)
	}
	return res, nil
}

func (r *runner) chooseMode() string {
	switch {
	case r.in.Shard != "":
		return ModeShard
	case r.ev.IsPullRequest():
		return ModePullRequest
	case r.ev.Branch() != "" && (r.in.UpdateBaseline == UpdateTrue && r.ev.Name == "push" ||
		r.in.UpdateBaseline != UpdateFalse && r.ev.IsDefaultBranchPush()):
		return ModeBaseline
	}
	return ModeReport
}

func (r *runner) describe() string {
	repo := r.ev.Owner + "/" + r.ev.Repo
	var what string
	switch r.mode {
	case ModeShard:
		what = "sweep shard " + r.in.Shard + " (results only; gate them in the job that merges the shards)"
	case ModePullRequest:
		pr := r.ev.PR
		what = fmt.Sprintf("pull request #%d (base %s %s, head %s", pr.Number, pr.BaseRef, textfmt.ShortSHA(pr.BaseSHA), textfmt.ShortSHA(pr.HeadSHA))
		if r.ev.IsMergeGroup() {
			what = fmt.Sprintf("merge queue group (base %s %s, head %s", pr.BaseRef, textfmt.ShortSHA(pr.BaseSHA), textfmt.ShortSHA(pr.HeadSHA))
		}
		if pr.Fork() {
			what += ", from fork " + pr.HeadRepo
		}
		what += "): A/B the changed model files against the base, gate against the baseline at the base"
	case ModeBaseline:
		what = fmt.Sprintf("%s on %s (%s): update the baseline (update-baseline: %s)", r.ev.Name, r.ev.Branch(), textfmt.ShortSHA(r.ev.SHA), r.in.UpdateBaseline)
	default:
		what = fmt.Sprintf("event %s (ref %s): sweep and report only", r.ev.Name, orNone(r.ev.Ref))
	}
	src := "preset " + r.in.Preset
	if r.in.Quick {
		src += " (quick)"
	}
	if len(r.in.Results) > 0 {
		src = "results " + strings.Join(r.in.Results, ", ")
	}
	tok := "a token"
	if r.client == nil {
		tok = "no token (nothing will be read from or written to the API)"
	}
	return fmt.Sprintf("%s on %s, %s, %s", what, repo, src, tok)
}

// collectResults sweeps, or merges the results input, into r.results.
func (r *runner) collectResults(ctx context.Context) error {
	if len(r.in.Results) > 0 {
		files, err := r.expand(r.in.Results)
		if err != nil {
			return err
		}
		r.results = filepath.Join(r.out, "results.jsonl")
		var buf bytes.Buffer
		res, err := merge.Files(&buf, files, func(le *record.LineError) { r.warnf("%v", le) })
		if err != nil {
			return err
		}
		for _, w := range res.Warnings() {
			r.warnf("%s", w)
		}
		if err := os.WriteFile(r.results, buf.Bytes(), 0o644); err != nil {
			return err
		}
		r.logf("merged %d records from %d files into %s (%d duplicates dropped, %d malformed lines skipped)",
			res.Records, res.Files, r.rel(r.results), res.Duplicates, res.Malformed)
	} else {
		preset, err := r.presetArg()
		if err != nil {
			return err
		}
		p, err := sweep.Load(preset, r.in.Quick)
		if err != nil {
			return errors.New(withoutContent(err.Error()))
		}
		r.preset = p.Name
		name := "results.jsonl"
		if r.in.Shard != "" {
			i, n, _ := sweep.ParseShard(r.in.Shard)
			name = fmt.Sprintf("shard-%d-of-%d.jsonl", i, n)
		}
		r.results = filepath.Join(r.out, name)
		if err := os.Remove(r.results); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		r.gha.Group("perflab sweep --preset " + r.in.Preset)
		_, err = r.d.Sweep(ctx, SweepRequest{Preset: preset, Quick: r.in.Quick, Models: r.in.Models, Iters: r.in.Iters, Shard: r.in.Shard, Out: r.results})
		r.gha.EndGroup()
		if err != nil {
			return err
		}
	}
	recs, err := record.ReadFile(r.results, func(le *record.LineError) { r.warnf("%v", le) })
	if err != nil {
		return fmt.Errorf("read the results: %w", err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("no valid record in %s", r.rel(r.results))
	}
	r.recs = recs
	if r.preset == "" {
		r.preset = r.presetOfRecords()
	}
	return nil
}

// presetArg is the preset input as sweep.Load takes it: a built-in name, or the real path
// of a file in the workspace (the action's working directory is not relied on; a path or a
// symbolic link leading out of the workspace is refused).
func (r *runner) presetArg() (string, error) {
	p := r.in.Preset
	if _, ok := presets.Get(p); ok {
		return p, nil
	}
	return r.inWorkspace(p, "input preset")
}

func (r *runner) presetOfRecords() string {
	seen := map[string]bool{}
	var names []string
	for _, rec := range r.recs {
		if rec.Preset != "" && !seen[rec.Preset] {
			seen[rec.Preset] = true
			names = append(names, rec.Preset)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	if arg, err := r.presetArg(); err == nil {
		if p, err := sweep.Load(arg, r.in.Quick); err == nil {
			return p.Name
		}
	}
	return strings.TrimSuffix(filepath.Base(r.in.Preset), filepath.Ext(r.in.Preset))
}

// expand resolves the results input: paths or globs relative to the workspace. A pattern
// matching nothing is an error (a shard's artifact went missing).
func (r *runner) expand(patterns []string) ([]string, error) {
	var files []string
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.ws.Dir, p)
		}
		if !workspace.Within(r.ws.Dir, p) {
			return nil, fmt.Errorf("input results: %s is outside the workspace: give paths or globs in the repository", p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("input results: bad pattern %q: %v", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("input results: %s matches no file (did every shard upload its results?)", r.rel(p))
		}
		sort.Strings(m)
		for _, f := range m {
			real, err := r.inWorkspace(f, "input results")
			if err != nil {
				return nil, err
			}
			files = append(files, real)
		}
	}
	return files, nil
}

func (r *runner) finishShard() (*Result, error) {
	ok := 0
	for _, rec := range r.recs {
		if rec.OK() {
			ok++
		}
	}
	md := fmt.Sprintf("### perflab: sweep shard %s\n\n%d configurations measured (%d failed) into `%s`. The job that merges the shards (input `results`) reports and gates them.\n",
		r.in.Shard, len(r.recs), len(r.recs)-ok, r.rel(r.results))
	r.appendSummary(md)
	res := &Result{Mode: ModeShard, Verdict: NotGated}
	r.setOutputs(res)
	return res, nil
}

// writeReport computes the report and writes it with its plots.
func (r *runner) writeReport() error {
	rep, err := report.Compute(r.recs, report.Options{Constraint: r.in.Constraint, Percentile: r.in.LatencyPct, BudgetMs: r.in.BudgetMs})
	if err != nil {
		return err
	}
	rep.Inputs = []string{r.rel(r.results)}
	r.rep = rep
	ro := report.RenderOptions{Generator: "perflab " + r.version() + " (GitHub Action)"}
	if ro.Plots, err = report.WritePlots(rep, r.out, "report"); err != nil {
		r.warnf("plots not written: %v", err)
	}
	var buf bytes.Buffer
	if err := report.Markdown(&buf, rep, ro); err != nil {
		return err
	}
	r.reportMD = buf.String()
	if err := os.WriteFile(filepath.Join(r.out, "report.md"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	r.logf("report: %s", r.rel(filepath.Join(r.out, "report.md")))
	return nil
}

// baselinePath is the baseline's path in the repository.
func (r *runner) baselinePath() (string, error) {
	p := r.in.Baseline
	if p == "" {
		p = "baselines/" + r.preset + ".json"
	}
	return r.ws.RepoPath(p, "input baseline")
}

// gatePullRequest loads the baseline as of the pull request's base (the commit the merge
// commit is built on; or the head of the baseline-branch input), gates the results against
// it, and A/B tests the changed model files against their versions at the base. The pull
// request's own checkout is never a baseline source: a pull request that edits the baseline
// file would hide its own regression. When the API cannot be read, the verdict is "no
// baseline", said loudly.
func (r *runner) gatePullRequest(ctx context.Context) error {
	path, err := r.baselinePath()
	if err != nil {
		return err
	}
	r.baselineRel = path
	pr := r.ev.PR
	var base *baseline.File
	unreadable := ""
	if r.client == nil {
		unreadable = "the action got no github-token to read it"
	} else {
		ref, refDesc := pr.BaseSHA, "base "+pr.BaseRef+" "+textfmt.ShortSHA(pr.BaseSHA)
		if ref == "" {
			ref, refDesc = pr.BaseRef, "base branch "+pr.BaseRef
		}
		if r.in.BaselineBranch != "" {
			ref, refDesc = r.in.BaselineBranch, "head of the baseline branch "+r.in.BaselineBranch
		}
		f, err := r.client.GetFile(ctx, r.ev.Owner, r.ev.Repo, path, ref)
		switch {
		case err == nil:
			if base, err = baseline.Parse(path+" at "+textfmt.ShortSHA(ref), f.Content); err != nil {
				return err
			}
			r.source = "contents API at the " + refDesc
		case github.IsNotFound(err):
			r.source = fmt.Sprintf("none: %s does not exist at the %s", path, refDesc)
			r.notes = append(r.notes, fmt.Sprintf("⚠️ **No baseline was found** (`%s` at the %s), so nothing was compared and this pull request cannot fail on a regression. A push to the default branch stores one (perf-baseline.yml, with `permissions: contents: write`); if that workflow runs, check its log for \"baseline ... not stored\".", path, refDesc))
		default:
			unreadable = "the API refused to read it: " + err.Error()
		}
	}
	if unreadable != "" {
		r.source = fmt.Sprintf("none: %s could not be read from the base branch (%s)", path, unreadable)
		r.notes = append(r.notes, fmt.Sprintf("⚠️ **No baseline could be read**: %s. Nothing was compared. The pull request's own `%s` is never used: it could hide the pull request's own regression. Give the job `permissions: contents: read`.", unreadable, path))
		r.warnf("baseline: %s; the pull request's own copy is not used", r.source)
	} else if _, serr := os.Lstat(filepath.Join(r.ws.Dir, path)); serr == nil && base == nil {
		r.notes = append(r.notes, fmt.Sprintf("The checkout has a `%s`, but it comes from this pull request, not from its base: it is not used (a pull request cannot set its own baseline).", path))
	}
	r.logf("baseline used: %s — %s", path, r.source)
	r.check(base)
	if err := r.abAgainstBase(ctx); err != nil {
		return err
	}
	return nil
}

// abAgainstBase A/B tests every model file of the preset that changed since the pull
// request's base, on the gated configurations, and merges the comparisons into the verdict.
func (r *runner) abAgainstBase(ctx context.Context) error {
	if !r.in.AB {
		r.logf("ab: false: no A/B test against the base")
		return nil
	}
	if r.d.MeasureAB == nil {
		return nil
	}
	pr := r.ev.PR
	root := r.ws.Dir
	var src abgate.Source
	gitRoot, gitErr := workspace.GitRoot(r.ws.Dir)
	if gitErr == nil {
		root = gitRoot
	}
	switch {
	case r.in.BaseModels != "":
		dir := r.in.BaseModels
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(r.ws.Dir, dir)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("input base-models: %s is not a folder of the workspace (build the base's models there in an earlier step)", r.rel(dir))
		}
		src = abgate.Dir{Path: dir}
	case pr.BaseSHA == "":
		r.notes = append(r.notes, "No A/B test against the base: the event names no base commit.")
		return nil
	default:
		api := abgate.Func{Name: "contents API at " + textfmt.ShortSHA(pr.BaseSHA), F: func(ctx context.Context, rel string) ([]byte, error) {
			f, err := r.client.GetFile(ctx, r.ev.Owner, r.ev.Repo, rel, pr.BaseSHA)
			if github.IsNotFound(err) {
				return nil, abgate.ErrNotFound
			}
			if err != nil {
				return nil, err
			}
			return f.Content, nil
		}}
		why := "the workspace is not a git checkout"
		if gitErr == nil {
			g := &abgate.Git{Root: gitRoot, Rev: pr.BaseSHA, Fetch: true, Log: func(s string) { r.logf("%s", s) }}
			_, err := g.Resolve()
			if err == nil {
				src = g
				break
			}
			why = err.Error()
			r.warnf("A/B: %s", why)
		}
		if r.client == nil {
			r.notes = append(r.notes, fmt.Sprintf("No A/B test against the base: %s, and there is no token for the contents API.", why))
			return nil
		}
		src = api
	}
	var models []string
	sels := r.in.GateConfigs
	presetPath, err := r.presetArg()
	if err != nil {
		return err
	}
	if p, err := sweep.Load(presetPath, r.in.Quick); err == nil {
		for _, g := range p.Grids {
			models = append(models, g.Models...)
		}
		if len(p.GateConfigs) > 0 && ReadInput(r.d.Getenv, InGateConfigs) == "" {
			sels = p.GateConfigs // the preset's choice, unless the input overrides it
		}
		for i, m := range models {
			if rel, ok := workspace.RelativeModel(m, root, r.ws.Dir); ok {
				models[i] = rel
			}
		}
	}
	iters := r.in.Iters
	if iters == 0 {
		iters = 400
	}
	r.gha.Group("perflab A/B against the base " + textfmt.ShortSHA(pr.BaseSHA))
	res, err := abgate.Run(ctx, abgate.Request{Records: r.recs, Report: r.rep, Models: models, Root: root, Source: src,
		Dir: filepath.Join(r.out, "base-models"), Selectors: sels, Metrics: r.in.Metrics,
		Seq:   gate.SeqOptions{Options: gate.Options{Alpha: r.in.Alpha, Threshold: r.in.Threshold}, Rounds: r.in.ABRounds, MaxLooks: 3, Budget: r.in.ABBudget, Now: r.d.Now},
		Iters: iters, Warmup: 20, Measure: r.d.MeasureAB})
	r.gha.EndGroup()
	if err != nil {
		return fmt.Errorf("A/B against the base: %w", err)
	}
	r.ab = res
	for _, n := range res.Notes {
		r.logf("A/B: %s", strings.ReplaceAll(n, "`", ""))
	}
	res.Apply(r.gate)
	return nil
}

func (r *runner) check(base *baseline.File) {
	workspace.RelativeModels(r.recs, workspace.RepoRoot(r.ws.Dir), r.ws.Dir) // relative model paths are the workspace's
	r.gate = gate.Check(gate.Input{Results: r.recs, Baseline: base, BaselinePath: r.baselineRel, Metrics: r.in.Metrics,
		Options: gate.Options{Alpha: r.in.Alpha, Threshold: r.in.Threshold}})
	if r.gate.Baseline != nil {
		r.gate.Baseline.Source = r.source
	}
}

// updateBaseline merges the results into the baseline at the branch head and stores it.
func (r *runner) updateBaseline(ctx context.Context) error {
	path, err := r.baselinePath()
	if err != nil {
		return err
	}
	r.baselineRel = path
	branch := r.ev.Branch()
	if r.in.BaselineBranch != "" {
		branch = r.in.BaselineBranch
	}
	local, err := r.inWorkspace(filepath.FromSlash(path), "input baseline")
	if err != nil {
		return err
	}
	var cur *baseline.File
	sha, fromAPI := "", false
	if r.client != nil && r.in.BaselineBranch != "" {
		created, err := r.client.EnsureBranch(ctx, r.ev.Owner, r.ev.Repo, branch, r.ev.SHA)
		switch {
		case err == nil && created:
			r.logf("baseline branch %s created at %s", branch, textfmt.ShortSHA(r.ev.SHA))
		case err != nil:
			r.warnf("baseline branch %s: %v", branch, err)
		}
	}
	if r.client != nil {
		f, err := r.client.GetFile(ctx, r.ev.Owner, r.ev.Repo, path, branch)
		switch {
		case err == nil:
			if cur, err = baseline.Parse(path+" on "+branch, f.Content); err != nil {
				return err
			}
			sha, fromAPI = f.SHA, true
			r.source = "contents API at the head of " + branch
		case github.IsNotFound(err):
			fromAPI = true
			r.source = "none yet: " + path + " does not exist on " + branch
		default:
			r.warnf("could not read %s on %s (%v): using the workspace file", path, branch, err)
		}
	}
	if !fromAPI {
		b, err := baseline.Load(local)
		switch {
		case err == nil:
			cur, r.source = b, "workspace file"
		case errors.Is(err, baseline.ErrNotExist):
			r.source = "none yet: " + path + " is not in the workspace"
		default:
			return err
		}
	}
	r.logf("baseline: %s — %s", path, r.source)
	// How this push compares with the stored baseline: information only, the baseline moves on.
	r.check(cur)

	commit := r.ev.SHA
	now := r.d.Now()
	var skipped []string
	apply := func(f *baseline.File) ([]byte, int, error) {
		if f == nil {
			f = baseline.New(r.preset, baseline.DefaultKeep)
		}
		res := f.Update(r.recs, commit, now)
		skipped = res.Skipped
		b, err := f.Marshal()
		return b, res.Added + res.Updated, err
	}
	content, n, err := apply(cur)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		r.logf("not stored: %s", s)
	}
	if n == 0 {
		r.stored = "nothing stored: no usable record (every configuration failed or its outputs differ)"
		r.warnf("baseline %s: %s", path, r.stored)
		return nil
	}
	if err := r.writeWorkspaceFile(path, content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	msg := fmt.Sprintf("perflab: update baseline %s [skip ci]\n\nMeasured at %s", path, orNone(commit))
	if u := r.runURL(); u != "" {
		msg += " by " + u
	}
	msg += ".\n"
	hint := fmt.Sprintf("commit it in a later step: git add %s && git commit -m \"perflab: update baseline %s [skip ci]\" && git push", path, path)
	if r.client == nil {
		r.stored = fmt.Sprintf("NOT stored (no token): written to the workspace only; %s", hint)
		r.noticef("baseline %s updated in the workspace, not stored: no github-token. Give the job `permissions: contents: write`, or %s", path, hint)
		return nil
	}
	pres, err := r.client.PutFile(ctx, r.ev.Owner, r.ev.Repo, github.PutRequest{
		Path: path, Branch: branch, Message: msg, Content: content, SHA: sha,
		Merge: func(fresh []byte) ([]byte, error) {
			var f *baseline.File
			if fresh != nil {
				var err error
				if f, err = baseline.Parse(path+" on "+branch, fresh); err != nil {
					return nil, err
				}
			}
			b, _, err := apply(f)
			if err == nil {
				err = r.writeWorkspaceFile(path, b)
			}
			return b, err
		},
	})
	switch {
	case err == nil:
		r.stored = fmt.Sprintf("stored on %s in commit %s", branch, textfmt.ShortSHA(pres.CommitSHA))
		if pres.Attempts > 1 {
			r.stored += fmt.Sprintf(" (after %d conflicting writes, merged with the newer file)", pres.Attempts-1)
		}
		r.logf("baseline %s: %s", path, r.stored)
		return nil
	case github.IsPermission(err):
		r.stored = fmt.Sprintf("NOT stored: the token may not write to %s (%v); the updated file is in the workspace: %s", branch, err, hint)
		r.warnf("baseline %s NOT stored: the token may not write contents (%v), so pull requests keep being compared with the old baseline (or none). Give the job `permissions: contents: write`, or %s", path, err, hint)
		return nil
	case github.IsRefused(err):
		r.stored = fmt.Sprintf("NOT stored: %s refuses direct writes (%v); the updated file is in the workspace. Store baselines on a branch of their own: input `baseline-branch: perflab-baselines` (in the gate workflow too)", branch, err)
		r.warnf("baseline %s NOT stored: %s refuses direct writes (%v): a protected branch or a ruleset. Set the input baseline-branch (e.g. perflab-baselines) in this workflow and in the gate workflow to keep baselines on a branch of their own", path, branch, err)
		return nil
	}
	return fmt.Errorf("store the baseline: %w", err)
}

// comment posts or edits the sticky comment; its body is also written to
// perflab-results/comment.md (with pr.json) for the fork-safe workflow_run pattern.
func (r *runner) comment(ctx context.Context) string {
	pr := r.ev.PR
	body := r.redact(r.compose(MaxCommentBytes, true))
	r.writeFile("comment.md", func(w io.Writer) error { _, err := io.WriteString(w, body); return err })
	r.writeFile("pr.json", func(w io.Writer) error {
		return json.NewEncoder(w).Encode(map[string]any{"number": pr.Number, "head_sha": pr.HeadSHA, "base_sha": pr.BaseSHA,
			"repository": r.ev.Owner + "/" + r.ev.Repo, "verdict": r.gate.Verdict, "regressions": r.gate.Regressions, "marker": r.marker()})
	})
	if !r.in.Comment {
		r.logf("comment: false: no pull request comment (the verdict is in the job summary)")
		return ""
	}
	if r.client == nil {
		r.commentNote = "No comment was posted: the action got no `github-token`."
		r.noticef("no pull request comment: no github-token. %s", forkHint(pr))
		return ""
	}
	_, url, created, err := r.client.UpsertComment(ctx, r.ev.Owner, r.ev.Repo, pr.Number, r.marker(), body)
	switch {
	case err == nil:
		verb := "updated"
		if created {
			verb = "posted"
		}
		r.logf("comment %s on #%d: %s", verb, pr.Number, orNone(url))
		return url
	case github.IsPermission(err):
		why := "the token may not comment (read-only)"
		if pr.Fork() {
			why = "pull requests from forks get a read-only token"
		}
		r.commentNote = fmt.Sprintf("No comment was posted: %s (%v). The comment's text is in `%s/comment.md`.", why, err, OutDir)
		r.noticef("no pull request comment: %s (%v). The verdict is in the job summary. %s", why, err, forkHint(pr))
	default:
		r.commentNote = fmt.Sprintf("The comment could not be posted: %v.", err)
		r.warnf("the pull request comment could not be posted: %v", err)
	}
	return ""
}

// marker is the hidden first line of this workflow's sticky comment: gate.Marker, or with
// the comment-key input <!-- perflab-gate:KEY -->, so that two workflows keep two comments.
func (r *runner) marker() string {
	if r.in.CommentKey == "" {
		return gate.Marker
	}
	return strings.TrimSuffix(gate.Marker, " -->") + ":" + r.in.CommentKey + " -->"
}

func forkHint(pr *PullRequest) string {
	s := "To get the comment on pull requests from forks, keep this workflow on pull_request, upload " + OutDir +
		"/ as an artifact, and post " + OutDir + "/comment.md from a second workflow triggered by workflow_run, which has a write token " +
		"(perflab's README, \"Pull requests from forks\", has both files). Do not use pull_request_target with a checkout of the pull request's head: it would run the fork's code with a write token."
	if !pr.Fork() {
		s = "For a pull request from this repository, give the job `permissions: pull-requests: write`. " + s
	}
	return s
}

// compose builds the comment (withMarker) or the summary, within limit bytes.
func (r *runner) compose(limit int, withMarker bool) string {
	var secs []section
	if withMarker {
		secs = append(secs, section{text: r.marker() + "\n"})
	}
	switch {
	case r.gate != nil && r.mode == ModeBaseline:
		icon := "✅"
		if !strings.HasPrefix(r.stored, "stored") {
			icon = "⚠️"
		}
		head := fmt.Sprintf("### %s perflab: baseline `%s` %s\n\n", icon, r.baselineRel, orNone(r.stored))
		if icon != "✅" {
			head += "**No baseline was stored by this run**: pull requests keep being compared with the previous baseline, or with none (their verdict is then \"no baseline\" and they cannot fail).\n\n"
		}
		secs = append(secs, section{text: head})
		if r.gate.Baseline == nil {
			secs = append(secs, section{text: fmt.Sprintf("This is the first baseline of `%s` (%s): there was nothing to compare this %s with.\n\n", r.baselineRel, r.source, r.ev.Name)})
		} else {
			secs = append(secs, section{text: "<details><summary>This run compared with the previous baseline (information only: the baseline moves on)</summary>\n\n" +
				escapeTablePipes(verdictMarkdown(r.gate, "compared with the previous baseline: "+r.gate.Verdict, "")) + "</details>\n\n", optional: true})
		}
	case r.gate != nil:
		secs = append(secs, section{text: escapeTablePipes(verdictMarkdown(r.gate, "perflab gate: "+r.gate.Verdict, atAGlance(r.rep)))})
		if r.gate.Baseline == nil {
			secs = append(secs, section{text: fmt.Sprintf("**Baseline used:** `%s`: %s.\n\n", r.baselineRel, r.source)})
		}
	default:
		secs = append(secs, section{text: fmt.Sprintf("### perflab report (%s: not gated)\n\n", r.ev.Name)})
	}
	var notes []string
	for _, n := range r.notes {
		notes = append(notes, "- "+n)
	}
	if !withMarker && r.commentNote != "" {
		notes = append(notes, "- "+r.commentNote)
	}
	if len(notes) > 0 {
		secs = append(secs, section{text: strings.Join(notes, "\n") + "\n\n"})
	}
	secs = append(secs, section{text: recommendations(r.rep)})
	if c := chart(r.rep); c != "" {
		secs = append(secs, section{text: c, optional: true})
	}
	if r.reportMD != "" {
		secs = append(secs, section{
			text:     "<details><summary>Full report</summary>\n\n" + escapeTablePipes(stripImages(r.reportMD)) + "\n</details>\n\n",
			optional: true, fallback: "*The full report did not fit here: it is in the job summary and in `" + OutDir + "/report.md`.*\n\n",
		})
	}
	secs = append(secs, section{text: r.footer()})
	return assemble(limit, secs)
}

func (r *runner) footer() string {
	parts := []string{"perflab " + r.version()}
	src := "preset `" + r.preset + "`"
	if r.in.Quick {
		src += " (quick)"
	}
	parts = append(parts, src)
	// On a pull request GITHUB_SHA is the merge commit GitHub made, which nobody knows:
	// the head commit is what was measured.
	if sha := r.ev.SHA; r.ev.PR != nil && r.ev.PR.HeadSHA != "" {
		parts = append(parts, "head "+textfmt.ShortSHA(r.ev.PR.HeadSHA))
	} else if sha != "" {
		parts = append(parts, "commit "+textfmt.ShortSHA(sha))
	}
	if u := r.runURL(); u != "" {
		parts = append(parts, "[workflow run]("+u+")")
	}
	parts = append(parts, "results, report and plots in `"+OutDir+"/`")
	return "<sub>" + strings.Join(parts, " · ") + "</sub>\n"
}

// version is perflab's version as built into the image (the release tag, or git describe of
// the commit the image was built from), with the action's ref when the runner says it
// (GITHUB_ACTION_REF) and it differs.
func (r *runner) version() string {
	v := r.d.Version
	if v == "" {
		v = "(unknown version)"
	}
	if ref := r.d.Getenv("GITHUB_ACTION_REF"); ref != "" && ref != v {
		v += " (action " + orNone(r.d.Getenv("GITHUB_ACTION_REPOSITORY")) + "@" + ref + ")"
	}
	return v
}

func (r *runner) runURL() string {
	server, repo, id := r.d.Getenv("GITHUB_SERVER_URL"), r.d.Getenv("GITHUB_REPOSITORY"), r.d.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	return strings.TrimRight(server, "/") + "/" + repo + "/actions/runs/" + id
}

// writeSummary writes the job summary (and perflab-results/summary.md).
func (r *runner) writeSummary() {
	limit := MaxSummaryBytes
	if p := r.d.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		if st, err := os.Stat(p); err == nil {
			limit -= int(st.Size())
		}
	}
	r.appendSummary(r.compose(max(limit, 4096), false))
}

func (r *runner) appendSummary(md string) {
	md = r.redact(md)
	r.writeFile("summary.md", func(w io.Writer) error { _, err := io.WriteString(w, md); return err })
	if r.d.Getenv("GITHUB_STEP_SUMMARY") == "" {
		r.logf("GITHUB_STEP_SUMMARY is not set: the summary is in %s/summary.md", OutDir)
		return
	}
	if err := r.fileCommand(func() { r.gha.AddStepSummary(md) }); err != nil {
		r.warnf("job summary not written: %v", err)
	}
}

func (r *runner) setOutputs(res *Result) {
	rec := ""
	if r.rep != nil {
		var err error
		if rec, err = RecommendedJSON(r.rep); err != nil {
			r.warnf("recommended-config: %v", err)
		}
	}
	reportPath := ""
	if r.rep != nil {
		reportPath = r.rel(filepath.Join(r.out, "report.md"))
	}
	outs := [][2]string{
		{"verdict", res.Verdict},
		{"regressions", fmt.Sprint(res.Regressions)},
		{"report", reportPath},
		{"results", r.rel(r.results)},
		{"recommended-config", rec},
	}
	if r.d.Getenv("GITHUB_OUTPUT") == "" {
		r.logf("GITHUB_OUTPUT is not set: outputs are only logged")
		for _, o := range outs {
			r.logf("output %s=%s", o[0], o[1])
		}
		return
	}
	for _, o := range outs {
		k, v := o[0], r.redact(o[1])
		if err := r.fileCommand(func() { r.gha.SetOutput(k, v) }); err != nil {
			r.warnf("output %s not set: %v", k, err)
		}
	}
}

// annotate emits at most MaxAnnotations annotations for the regressions: errors when they
// fail the check, warnings otherwise.
func (r *runner) annotate() {
	msgs := annotations(r.gate, MaxAnnotations)
	asErrors := r.mode == ModePullRequest && r.in.FailOnRegression
	a := r.gha.WithFieldsMap(map[string]string{"title": "perflab regression"})
	for _, m := range msgs {
		if asErrors {
			a.Errorf("%s", r.redact(m))
		} else {
			a.Warningf("%s", r.redact(m))
		}
	}
}

// fileCommand runs a go-githubactions file command, which panics when its file cannot be
// written, and returns that as an error.
func (r *runner) fileCommand(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}

func (r *runner) writeFile(name string, write func(io.Writer) error) {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		r.warnf("%s/%s: %v", OutDir, name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(r.out, name), []byte(r.redact(buf.String())), 0o644); err != nil {
		r.warnf("write %s/%s: %v", OutDir, name, err)
	}
}

// rel returns p relative to the workspace (what later steps, on the host, can use: the
// container sees the workspace at another path).
func (r *runner) rel(p string) string { return r.ws.Rel(p) }

// redact removes the token from s, whatever happens upstream.
func (r *runner) redact(s string) string {
	if r.token == "" {
		return s
	}
	return strings.ReplaceAll(s, r.token, "***")
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintln(r.d.Stdout, r.redact(fmt.Sprintf(format, a...)))
}

func (r *runner) warnf(format string, a ...any) {
	r.gha.Warningf("%s", r.redact(fmt.Sprintf(format, a...)))
}

func (r *runner) noticef(format string, a ...any) {
	r.gha.Noticef("%s", r.redact(fmt.Sprintf(format, a...)))
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
