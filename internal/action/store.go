package action

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/workspace"
)

// updateBaseline merges the results into the baseline at the branch head and stores it.
func (j *job) updateBaseline(ctx context.Context, rs *results) (*verdict, error) {
	path, err := j.baselinePath(rs.preset)
	if err != nil {
		return nil, err
	}
	v := &verdict{baselineRel: path}
	branch := j.ev.Branch()
	if j.in.BaselineBranch != "" {
		branch = j.in.BaselineBranch
	}
	local, err := j.ws.Path(filepath.FromSlash(path), "input baseline")
	if err != nil {
		return nil, err
	}
	var cur *baseline.File
	sha, fromAPI := "", false
	if j.client != nil && j.in.BaselineBranch != "" {
		created, err := j.client.EnsureBranch(ctx, j.ev.Owner, j.ev.Repo, branch, j.ev.SHA)
		switch {
		case err == nil && created:
			j.logf("baseline branch %s created at %s", branch, textfmt.ShortSHA(j.ev.SHA))
		case err != nil:
			j.warnf("baseline branch %s: %v", branch, err)
		}
	}
	if j.client != nil {
		f, err := j.client.GetFile(ctx, j.ev.Owner, j.ev.Repo, path, branch)
		switch {
		case err == nil:
			if cur, err = baseline.Parse(path+" on "+branch, f.Content); err != nil {
				return nil, err
			}
			sha, fromAPI = f.SHA, true
			v.source = "contents API at the head of " + branch
		case github.IsNotFound(err):
			fromAPI = true
			v.source = "none yet: " + path + " does not exist on " + branch
		default:
			j.warnf("could not read %s on %s (%v): using the workspace file", path, branch, err)
		}
	}
	if !fromAPI {
		b, err := baseline.Load(local)
		switch {
		case err == nil:
			cur, v.source = b, "workspace file"
		case errors.Is(err, baseline.ErrNotExist):
			v.source = "none yet: " + path + " is not in the workspace"
		default:
			return nil, err
		}
	}
	j.logf("baseline: %s — %s", path, v.source)
	// How this push compares with the stored baseline: information only, the baseline moves on.
	v.gate = flow.GateStored(flow.Stored{Records: rs.recs, Root: workspace.RepoRoot(j.ws.Dir), WD: j.ws.Dir,
		Baseline: cur, BaselinePath: path, BaselineSource: v.source, Policy: j.in.Policy()})

	commit := j.ev.SHA
	now := j.d.Now()
	var skipped []string
	apply := func(f *baseline.File) ([]byte, int, error) {
		if f == nil {
			f = baseline.New(rs.preset, baseline.DefaultKeep)
		}
		res := f.Update(rs.recs, commit, now)
		skipped = res.Skipped
		b, err := f.Marshal()
		return b, res.Added + res.Updated, err
	}
	content, n, err := apply(cur)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		j.logf("not stored: %s", s)
	}
	if n == 0 {
		v.stored = "nothing stored: no usable record (every configuration failed or its outputs differ)"
		j.warnf("baseline %s: %s", path, v.stored)
		return v, nil
	}
	if err := j.ws.WriteFile(path, content); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	msg := fmt.Sprintf("perflab: update baseline %s [skip ci]\n\nMeasured at %s", path, textfmt.Or(commit, "(unknown)"))
	if u := j.runURL(); u != "" {
		msg += " by " + u
	}
	msg += ".\n"
	hint := fmt.Sprintf("commit it in a later step: git add %s && git commit -m \"perflab: update baseline %s [skip ci]\" && git push", path, path)
	if j.client == nil {
		v.stored = fmt.Sprintf("NOT stored (no token): written to the workspace only; %s", hint)
		j.noticef("baseline %s updated in the workspace, not stored: no github-token. Give the job `permissions: contents: write`, or %s", path, hint)
		return v, nil
	}
	pres, err := j.client.PutFile(ctx, j.ev.Owner, j.ev.Repo, github.PutRequest{
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
				err = j.ws.WriteFile(path, b)
			}
			return b, err
		},
	})
	switch {
	case err == nil:
		v.stored = fmt.Sprintf("stored on %s in commit %s", branch, textfmt.ShortSHA(pres.CommitSHA))
		if pres.Attempts > 1 {
			v.stored += fmt.Sprintf(" (after %d conflicting writes, merged with the newer file)", pres.Attempts-1)
		}
		j.logf("baseline %s: %s", path, v.stored)
		return v, nil
	case github.IsBadToken(err) || github.IsRefused(err):
		j.notStored(v, path, branch, err)
		return v, nil
	case github.IsPermission(err):
		v.stored = fmt.Sprintf("NOT stored: the token may not write to %s (%v); the updated file is in the workspace: %s", branch, err, hint)
		j.warnf("baseline %s NOT stored: the token may not write contents (%v), so pull requests keep being compared with the old baseline (or none). Give the job `permissions: contents: write`, or %s", path, err, hint)
		return v, nil
	}
	return nil, fmt.Errorf("store the baseline: %w", err)
}
