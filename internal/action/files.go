package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/untrusted"
	"github.com/perflab/perflab/internal/workspace"
	"github.com/perflab/perflab/presets"
)

// What a pull request controls is untrusted (docs/security.md): the model files the run
// reads, and what it gates, are checked here.

// modelFiles are the model files (not built-in names) of a preset and of the models input,
// as repository-relative clean paths, sorted, each once.
func modelFiles(p *sweep.Preset, extra []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(m string) {
		if _, builtin := model.LookupBuiltin(m); builtin || !model.LooksLikePath(m) {
			return
		}
		m = path.Clean(filepath.ToSlash(m))
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	if p != nil {
		for _, g := range p.Grids {
			for _, m := range g.Models {
				add(m)
			}
		}
	}
	for _, m := range extra {
		add(m)
	}
	sort.Strings(out)
	return out
}

// checkModelFiles refuses, before anything reads them, model files that are not regular
// files inside the workspace: a symbolic link out of it (to /proc/self/environ, to a
// secret), a FIFO (which would hang the hashing), a device, a folder, a file over
// model.MaxFileBytes, a Git LFS pointer. A missing file is left to the sweep (and then
// fails the check: failClosed).
func (j *job) checkModelFiles(names []string) error {
	for _, m := range names {
		if filepath.IsAbs(m) {
			if _, err := j.ws.RepoPath(m, "model file"); err != nil {
				return err
			}
		}
		_, _, err := j.ws.Regular(filepath.FromSlash(m), "model file "+m, model.MaxFileBytes)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// firstLine is the first line of s, at most 200 bytes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// failClosed fails the pull request's verdict for what the gate could not see:
//   - a model file of the results none of whose configurations ran (it cannot be read or
//     loaded: a garbage file, a deleted file): its speed is unknown;
//   - a model file that the base's preset gates and this pull request does not (deleted,
//     renamed away, dropped from the preset), unless the allow-ungated input is true.
//
// What is gated is thus decided from the base too, not only from the pull request's
// preset. src reads the base's files (nil: the base's preset cannot be read; said in v).
func (j *job) failClosed(ctx context.Context, rs *results, src abgate.Source, v *verdict) {
	var reasons []string
	deciding := ""
	byModel := map[string][]*record.Record{}
	var models []string
	for _, r := range rs.recs {
		if _, builtin := model.LookupBuiltin(r.Model); builtin || !model.LooksLikePath(r.Model) {
			continue
		}
		if byModel[r.Model] == nil {
			models = append(models, r.Model)
		}
		byModel[r.Model] = append(byModel[r.Model], r)
	}
	for _, m := range models {
		ok, why := false, ""
		for _, r := range byModel[m] {
			ok = ok || r.OK()
			if why == "" && r.Error != "" {
				why = r.Error
			}
		}
		if !ok {
			reasons = append(reasons, fmt.Sprintf("model file `%s` could not be read or loaded (%s): its speed is unknown", m, loadError(why)))
			if deciding == "" {
				deciding = fmt.Sprintf("**Does not load:** %s: %s.", untrusted.Code(m), untrusted.Text(loadError(why)))
			}
		}
	}
	// The base's preset: what it gates must still be gated.
	gated := map[string]bool{}
	for _, m := range modelFiles(j.preset.preset, j.in.Models) {
		gated[m] = true
	}
	var ungated []string
	if _, builtin := presets.Get(j.in.Preset); !builtin && j.preset.preset != nil {
		rel := j.rel(j.preset.arg)
		switch {
		case src == nil:
			v.notes = append(v.notes, fmt.Sprintf("The base's preset `%s` could not be read (no A/B source): the models it gates were not checked against this pull request's.", rel))
		default:
			b, err := src.Read(ctx, rel)
			switch {
			case errors.Is(err, abgate.ErrNotFound):
				// A new preset: nothing was gated before.
			case err != nil:
				reasons = append(reasons, fmt.Sprintf("the base's preset `%s` could not be read (%s): what it gates cannot be checked", rel, firstLine(err.Error())))
			default:
				base, err := sweep.Parse(rel+" at the base", b, j.in.Quick)
				if err != nil {
					v.notes = append(v.notes, fmt.Sprintf("The base's preset `%s` does not load (%s): its models were not checked.", rel, firstLine(withoutContent(err.Error()))))
					break
				}
				for _, m := range modelFiles(base, nil) {
					if gated[m] {
						continue
					}
					how := "this pull request's preset no longer names it"
					if _, err := os.Lstat(filepath.Join(j.ws.Dir, filepath.FromSlash(m))); errors.Is(err, os.ErrNotExist) {
						how = "this pull request deletes or renames it"
					}
					ungated = append(ungated, fmt.Sprintf("model file `%s` is gated by the base's preset, but %s: it is not measured", m, how))
				}
			}
		}
	}
	if len(ungated) > 0 && j.in.AllowUngated {
		for _, u := range ungated {
			v.notes = append(v.notes, "⚠️ "+u+" (allowed: allow-ungated: true).")
		}
		ungated = nil
	}
	reasons = append(reasons, ungated...)
	if len(reasons) == 0 || v.gate == nil {
		return
	}
	for _, r := range reasons {
		j.warnf("perflab: %s", strings.ReplaceAll(r, "`", ""))
	}
	g := v.gate
	nothingCompared := g.Verdict == gate.NoBaseline || len(g.Comparisons) == 0
	g.Verdict = gate.Failed
	sum := strings.ReplaceAll(strings.Join(reasons, "; "), "`", "")
	if len(reasons) > 1 {
		sum = fmt.Sprintf("%d problems: %s", len(reasons), sum)
	}
	if g.Summary != "" && !nothingCompared {
		sum += "; " + g.Summary
	}
	g.Summary = sum
	g.DecidingShort = "a changed model file does not load"
	if deciding == "" && len(reasons) > 0 {
		deciding = "**Why:** " + untrusted.Text(strings.ReplaceAll(reasons[0], "`", "")) + "."
		g.DecidingShort = "a gated model file is not measured"
	}
	g.Deciding = deciding
	for _, r := range reasons {
		g.Notes = append(g.Notes, "❌ "+r+".")
	}
}

var (
	exitStatus = regexp.MustCompile(`^exit status \d+: `)
	workerHeld = regexp.MustCompile(` \(worker process held \d+ configurations?\)$`)
)

// loadError is a failed record's error as the author needs it: without the child's exit
// status and the sweep's bookkeeping, on one line, at most 300 bytes.
func loadError(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = workerHeld.ReplaceAllString(exitStatus.ReplaceAllString(s, ""), "")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// runIdentity is what a shard job writes next to its results (FILE + ".run"): the
// workflow run that measured them and the file's sha256. The job that merges the shards
// takes a results file only with it, from the same run of the same repository.
type runIdentity struct {
	Repository string `json:"repository"`
	RunID      string `json:"run_id"`
	RunAttempt string `json:"run_attempt,omitempty"`
	SHA256     string `json:"sha256"`
}

// RunIdentitySuffix names a results file's run identity file.
const RunIdentitySuffix = ".run"

// WriteRunIdentity writes path + ".run" for the results file path (getenv: the runner's
// environment).
func WriteRunIdentity(getenv func(string) string, path string) error {
	sha, err := model.SHA256(path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(runIdentity{Repository: getenv("GITHUB_REPOSITORY"), RunID: getenv("GITHUB_RUN_ID"),
		RunAttempt: getenv("GITHUB_RUN_ATTEMPT"), SHA256: sha})
	if err != nil {
		return err
	}
	return workspace.WriteNoFollow(path+RunIdentitySuffix, append(b, '\n'))
}

// trustResults refuses a results file (the results input) that the pull request could have
// written: one tracked by git in the checkout (committed), or one without this workflow
// run's identity (FILE.run, written by this run's shard jobs, with the file's sha256).
func (j *job) trustResults(path string) error {
	rel := j.rel(path)
	if root, err := workspace.GitRoot(j.ws.Dir); err == nil {
		for _, p := range []string{path, path + RunIdentitySuffix} {
			if _, err := workspace.Git(root, "ls-files", "--error-unmatch", "--", p); err == nil {
				return fmt.Errorf("input results: %s is part of the checkout (tracked by git): results must come from this run's shard jobs (their artifacts), never from the repository or a pull request", j.rel(p))
			}
		}
	}
	runID := j.d.Getenv("GITHUB_RUN_ID")
	if runID == "" {
		j.warnf("input results: no GITHUB_RUN_ID (not on a runner): %s is not checked against the run that measured it", rel)
		return nil
	}
	b, err := j.ws.ReadFile(path+RunIdentitySuffix, "the run identity "+rel+RunIdentitySuffix, 4<<10)
	if err != nil {
		return fmt.Errorf("input results: %s has no run identity (%s%s, written by the action's shard mode): results are taken only from this run's shard jobs; upload it with the results (path: perflab-results/shard-*.jsonl*)", rel, rel, RunIdentitySuffix)
	}
	var id runIdentity
	if err := json.Unmarshal(b, &id); err != nil {
		return fmt.Errorf("input results: %s%s is not a run identity", rel, RunIdentitySuffix)
	}
	if id.RunID != runID || id.Repository != j.d.Getenv("GITHUB_REPOSITORY") {
		return fmt.Errorf("input results: %s was measured by another workflow run (%s run %s, this is %s run %s): results are taken only from this run's shard jobs",
			rel, id.Repository, id.RunID, j.d.Getenv("GITHUB_REPOSITORY"), runID)
	}
	sha, err := model.SHA256(path)
	if err != nil {
		return fmt.Errorf("input results: %v", err)
	}
	if sha != id.SHA256 {
		return fmt.Errorf("input results: %s was changed after its shard job wrote it (sha256 differs from %s%s)", rel, rel, RunIdentitySuffix)
	}
	return nil
}
