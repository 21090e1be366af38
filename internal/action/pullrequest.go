package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
	"github.com/perflab/perflab/internal/workspace"
)

// verdict is what the gate of a run found, and what the comment and the summary say
// about it.
type verdict struct {
	gate        *gate.Report // nil: not gated
	baselineRel string       // the baseline's path in the repository
	source      string       // which baseline was used, in words
	notes       []string     // said in the summary and the comment
	stored      string       // baseline mode: what happened to the updated baseline
}

// baselinePath is the baseline's path in the repository.
func (j *job) baselinePath(preset string) (string, error) {
	p := j.in.Baseline
	if p == "" {
		// The preset's name comes from the pull request (its preset file, or the records):
		// it must not lead out of baselines/ ("../escape" would store escape.json at the root).
		if !safeName(preset) {
			return "", fmt.Errorf("the preset's name %q cannot name a baseline file (baselines/NAME.json): use letters, digits, '.', '_' and '-', or set the input baseline", preset)
		}
		p = "baselines/" + preset + ".json"
	}
	return j.ws.RepoPath(p, "input baseline")
}

// safeName reports whether s can be one path component of a file name: letters, digits,
// '.', '_', '-', not starting with '.'.
func safeName(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// gatePullRequest gates a pull request: flow.GateAgainstBase, the same flow as `perflab
// gate --against`, over the baseline as of the pull request's base (the commit the merge
// commit is built on; or the head of the baseline-branch input) and the model files at the
// base. The pull request's own checkout is never a baseline source: a pull request that
// edits the baseline file would hide its own regression. When the API cannot be read, the
// verdict is "no baseline", said loudly.
func (j *job) gatePullRequest(ctx context.Context, rs *results) (*verdict, error) {
	path, err := j.baselinePath(rs.preset)
	if err != nil {
		return nil, err
	}
	v := &verdict{baselineRel: path}
	base, err := j.baseBaseline(ctx, v)
	if err != nil {
		return nil, err
	}
	j.logf("baseline used: %s — %s", path, v.source)
	src, err := j.baseModels(v)
	if err != nil {
		return nil, err
	}
	// Every model file the A/B test hashes and reads: a regular file in the workspace.
	var files []string
	for _, r := range rs.recs {
		if rel, ok := workspace.RelativeModel(r.Model, j.ws.Dir, j.ws.Dir); ok {
			files = append(files, rel)
		}
	}
	if err := j.checkModelFiles(files); err != nil {
		return nil, err
	}
	pol := j.in.Policy()
	a := flow.Against{
		Stored: flow.Stored{Records: rs.recs, Root: workspace.RepoRoot(j.ws.Dir), WD: j.ws.Dir,
			Baseline: base, BaselinePath: path, BaselineSource: v.source, Policy: pol},
		Report: rs.rep, Source: src, Dir: filepath.Join(j.out, "base-models"),
		PresetGateConfigs: j.preset.gateConfigs(), Measure: j.d.MeasureAB, Now: j.d.Now,
	}
	if j.d.Explain { // "Where the time went" in the comment, the traces in the uploaded results
		a.Explain = &flow.Explainer{Dir: filepath.Join(j.out, "profiles"), ShowDir: OutDir + "/profiles", Timeout: 10 * time.Minute}
	}
	if src != nil {
		j.gha.Group("perflab A/B against the base " + textfmt.ShortSHA(j.ev.PR.BaseSHA))
	}
	res, err := flow.GateAgainstBase(ctx, a)
	if src != nil {
		j.gha.EndGroup()
	}
	if err != nil {
		return nil, fmt.Errorf("A/B against the base: %w", err)
	}
	if res.AB != nil {
		for _, n := range res.AB.Notes {
			j.logf("A/B: %s", strings.ReplaceAll(n, "`", ""))
		}
	}
	v.gate = res.Report
	j.failClosed(ctx, rs, src, v)
	return v, nil
}

// baseBaseline reads the baseline at the pull request's base through the contents API
// (never the pull request's own file), and says in v where it came from.
func (j *job) baseBaseline(ctx context.Context, v *verdict) (*baseline.File, error) {
	path, pr := v.baselineRel, j.ev.PR
	var base *baseline.File
	unreadable, fix := "", "Give the job `permissions: contents: read`."
	if j.client == nil {
		unreadable = "the action got no github-token to read it"
	} else {
		ref, refDesc := pr.BaseSHA, "base "+pr.BaseRef+" "+textfmt.ShortSHA(pr.BaseSHA)
		if ref == "" {
			ref, refDesc = pr.BaseRef, "base branch "+pr.BaseRef
		}
		if j.in.BaselineBranch != "" {
			ref, refDesc = j.in.BaselineBranch, "head of the baseline branch "+j.in.BaselineBranch
		}
		f, err := j.client.GetFile(ctx, j.ev.Owner, j.ev.Repo, path, ref)
		switch {
		case err == nil:
			if base, err = baseline.Parse(path+" at "+textfmt.ShortSHA(ref), f.Content); err != nil {
				return nil, err
			}
			v.source = "contents API at the " + refDesc
		case github.IsNotFound(err):
			v.source = fmt.Sprintf("none: %s does not exist at the %s", path, refDesc)
			v.notes = append(v.notes, fmt.Sprintf("⚠️ **No baseline was found** (%s at the %s), so nothing was compared and this pull request cannot fail on a regression. A push to the default branch stores one (perf-baseline.yml, with `permissions: contents: write`); if that workflow runs, check its log for \"baseline ... not stored\".", untrusted.Code(path), untrusted.Text(refDesc)))
		case github.IsBadToken(err):
			unreadable = "the github-token was refused (" + err.Error() + "): it is wrong, expired or revoked"
			fix = badTokenFix
		case github.IsTransient(err):
			unreadable = "GitHub's API failed: " + err.Error()
			fix = "This is GitHub's failure, not the workflow's: re-run the job."
		default:
			unreadable = "the API refused to read it: " + err.Error()
		}
	}
	if unreadable != "" {
		v.source = fmt.Sprintf("none: %s could not be read from the base branch (%s)", path, unreadable)
		v.notes = append(v.notes, fmt.Sprintf("⚠️ **No baseline could be read**: %s. Nothing was compared. The pull request's own %s is never used: it could hide the pull request's own regression. %s", untrusted.Text(unreadable), untrusted.Code(path), fix))
		j.warnf("baseline: %s; the pull request's own copy is not used", v.source)
	} else if _, serr := os.Lstat(filepath.Join(j.ws.Dir, path)); serr == nil && base == nil {
		v.notes = append(v.notes, fmt.Sprintf("The checkout has a %s, but it comes from this pull request, not from its base: it is not used (a pull request cannot set its own baseline).", untrusted.Code(path)))
	}
	return base, nil
}
