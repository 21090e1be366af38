package action

import (
	"context"

	"fmt"
	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/model"
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
	// noBaselineAt: no stored baseline exists at this ref (said once the gate knows
	// whether an A/B test compared anything).
	noBaselineAt string
	compared     string // what was compared: base -> head, each model file (pull requests)
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
		PresetGateConfigs: j.preset.gateConfigs(), Measure: j.d.MeasureAB, Probe: j.d.Probe, Now: j.d.Now,
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
	v.compared = j.comparedLine(res, rs)
	if v.noBaselineAt != "" {
		// A fact about stored baselines, in words that agree with the table.
		where := fmt.Sprintf("(%s at the %s)", untrusted.Code(path), untrusted.Text(v.noBaselineAt))
		store := "A push to the default branch stores one (perf-baseline.yml, with `permissions: contents: write`); if that workflow runs, check its log for \"baseline ... not stored\"."
		switch {
		case res.AB != nil && res.AB.Report != nil && len(res.AB.Report.Comparisons) > 0:
			v.notes = append(v.notes, fmt.Sprintf("No stored baseline exists %s: the A/B test of the changed model files against the base decided; model files unchanged since the base and built-in models were not compared with a stored baseline. %s", where, store))
		case v.gate.Verdict == gate.Failed:
			v.notes = append(v.notes, fmt.Sprintf("No stored baseline exists %s: nothing was compared with one. %s", where, store))
		default:
			v.notes = append(v.notes, fmt.Sprintf("⚠️ **No baseline was found** %s, and no changed model file was A/B tested, so nothing was compared and this pull request cannot fail on a regression. %s", where, store))
		}
	}
	return v, nil
}

// comparedLine says what a pull request's gate compared: base -> head, then each model
// file of the results by its repository path, changed (A/B tested) or not.
func (j *job) comparedLine(res *flow.AgainstResult, rs *results) string {
	pr := j.ev.PR
	var b strings.Builder
	fmt.Fprintf(&b, "**Compared:** base %s → head %s", untrusted.Code(textfmt.ShortSHA(pr.BaseSHA)), untrusted.Code(textfmt.ShortSHA(pr.HeadSHA)))
	var parts []string
	files := map[string]bool{}
	if res.AB != nil {
		tested := map[string]bool{}
		for _, c := range res.AB.Configs {
			tested[c.Name] = true
		}
		for _, f := range res.AB.Files {
			name := f.Rel
			if name == "" {
				name = f.Name
			}
			files[f.Name] = true
			what := f.State
			switch f.State {
			case abgate.Changed:
				what = "changed, A/B tested against the base's version"
				if !tested[name] {
					what = "changed, not A/B tested: this change's version has no usable configuration (see below)"
				}
			case abgate.Unchanged:
				what = "unchanged since the base (sha256 equal)"
			case abgate.New:
				what = "new (not at the base)"
			case abgate.BaseBroken:
				what = "changed: the base's version does not load, this change's does"
			case abgate.Missing:
				what = "not in the checkout"
			case abgate.Outside:
				what = "outside the repository, not A/B tested"
			}
			parts = append(parts, fmt.Sprintf("%s %s", pathCode(name), what))
		}
	}
	seen := map[string]bool{}
	for _, r := range rs.recs {
		if files[r.Model] || seen[r.Model] {
			continue
		}
		seen[r.Model] = true
		if _, builtin := model.LookupBuiltin(r.Model); builtin {
			parts = append(parts, fmt.Sprintf("built-in %s (stored baseline only)", pathCode(r.Model)))
		} else if res.AB == nil {
			parts = append(parts, fmt.Sprintf("%s (not A/B tested)", pathCode(r.Model)))
		}
	}
	if len(parts) > 0 {
		b.WriteString(": " + strings.Join(parts, " · "))
	}
	return b.String() + "."
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
			v.noBaselineAt = refDesc
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

// pathCode shows a repository path as code, or as escaped text when it holds an "@" (a
// code span would keep an @-mention whole; Text breaks it).
func pathCode(p string) string {
	if strings.Contains(p, "@") {
		return untrusted.Text(p)
	}
	return untrusted.Code(p)
}
