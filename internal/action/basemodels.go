package action

import (
	"context"
	"fmt"
	"os"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/workspace"
)

// baseModels is where the pull request's base's model files come from: the base-models
// input's folder, else git (fetching the base commit into a shallow checkout), else the
// contents API. nil: no A/B test (the notes in v say why, when it is not by choice).
func (j *job) baseModels(v *verdict) (abgate.Source, error) {
	if !j.in.AB {
		j.logf("ab: false: no A/B test against the base")
		return nil, nil
	}
	if j.d.MeasureAB == nil {
		return nil, nil
	}
	pr := j.ev.PR
	if j.in.BaseModels != "" {
		// Confined to the workspace, links included; each file is then read without a link
		// out of the folder (abgate.Dir).
		dir, err := j.ws.Path(j.in.BaseModels, "input base-models")
		if err != nil {
			return nil, err
		}
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("input base-models: %s is not a folder of the workspace (build the base's models there in an earlier step)", j.rel(dir))
		}
		return abgate.Dir{Path: dir}, nil
	}
	if pr.BaseSHA == "" {
		v.notes = append(v.notes, "No A/B test against the base: the event names no base commit.")
		return nil, nil
	}
	why := "the workspace is not a git checkout"
	if gitRoot, err := workspace.GitRoot(j.ws.Dir); err == nil {
		g := &abgate.Git{Root: gitRoot, Rev: pr.BaseSHA, Fetch: true, Log: func(s string) { j.logf("%s", s) }}
		_, err := g.Resolve()
		if err == nil {
			return g, nil
		}
		why = err.Error()
		j.warnf("A/B: %s", why)
	}
	if j.client == nil {
		v.notes = append(v.notes, fmt.Sprintf("No A/B test against the base: %s, and there is no token for the contents API.", why))
		return nil, nil
	}
	return abgate.Func{Name: "contents API at " + textfmt.ShortSHA(pr.BaseSHA), F: func(ctx context.Context, rel string) ([]byte, error) {
		f, err := j.client.GetFile(ctx, j.ev.Owner, j.ev.Repo, rel, pr.BaseSHA)
		if github.IsNotFound(err) {
			return nil, abgate.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		return f.Content, nil
	}}, nil
}
