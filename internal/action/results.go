package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/perflab/perflab/internal/merge"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/workspace"
	"github.com/perflab/perflab/presets"
)

// results are the run's measurements and their report.
type results struct {
	preset   string // the preset's name
	path     string // the results JSONL
	recs     []*record.Record
	rep      *report.Report // nil before writeReport (a shard has none)
	reportMD string
}

// presetRef is the preset input, loaded once.
type presetRef struct {
	arg    string        // as sweep.Load takes it: a built-in name or a real path in the workspace
	preset *sweep.Preset // nil when it could not be loaded (err says why)
	err    error
}

// loadPreset loads the preset input: a built-in name, or a file in the workspace (the
// action's working directory is not relied on; a path or a symbolic link leading out of
// the workspace is refused). An error is kept for the step that needs the preset.
func (j *job) loadPreset() *presetRef {
	ref := &presetRef{arg: j.in.Preset}
	if _, ok := presets.Get(ref.arg); !ok {
		if ref.arg, ref.err = j.ws.Path(j.in.Preset, "input preset"); ref.err != nil {
			return ref
		}
	}
	p, err := sweep.Load(ref.arg, j.in.Quick)
	if err != nil {
		ref.err = errors.New(withoutContent(err.Error()))
		return ref
	}
	ref.preset = p
	return ref
}

// gateConfigs are the preset's gated configurations (nil when it names none or did not load).
func (ref *presetRef) gateConfigs() []string {
	if ref.preset == nil {
		return nil
	}
	return ref.preset.GateConfigs
}

// collectResults sweeps, or merges the results input.
func (j *job) collectResults(ctx context.Context) (*results, error) {
	rs := &results{}
	if len(j.in.Results) > 0 {
		files, err := j.expand(j.in.Results)
		if err != nil {
			return nil, err
		}
		rs.path = filepath.Join(j.out, "results.jsonl")
		var buf bytes.Buffer
		res, err := merge.Files(&buf, files, func(le *record.LineError) { j.warnf("%v", le) })
		if err != nil {
			return nil, err
		}
		for _, w := range res.Warnings() {
			j.warnf("%s", w)
		}
		if err := workspace.WriteNoFollow(rs.path, buf.Bytes()); err != nil {
			return nil, err
		}
		j.logf("merged %d records from %d files into %s (%d duplicates dropped, %d malformed lines skipped)",
			res.Records, res.Files, j.rel(rs.path), res.Duplicates, res.Malformed)
	} else {
		if j.preset.err != nil {
			return nil, j.preset.err
		}
		rs.preset = j.preset.preset.Name
		if err := j.checkModelFiles(modelFiles(j.preset.preset, j.in.Models)); err != nil {
			return nil, err
		}
		name := "results.jsonl"
		if j.in.Shard != "" {
			i, n, _ := sweep.ParseShard(j.in.Shard)
			name = fmt.Sprintf("shard-%d-of-%d.jsonl", i, n)
		}
		rs.path = filepath.Join(j.out, name)
		if err := os.Remove(rs.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		j.gha.Group("perflab sweep --preset " + j.in.Preset)
		_, err := j.d.Sweep(ctx, SweepRequest{Preset: j.preset.arg, Quick: j.in.Quick, Models: j.in.Models, Iters: j.in.Iters, Shard: j.in.Shard, Out: rs.path})
		j.gha.EndGroup()
		if err != nil {
			return nil, err
		}
		if j.in.Shard != "" {
			if err := WriteRunIdentity(j.d.Getenv, rs.path); err != nil {
				return nil, fmt.Errorf("write the shard's run identity: %w", err)
			}
		}
	}
	recs, err := record.ReadFile(rs.path, func(le *record.LineError) { j.warnf("%v", le) })
	if err != nil {
		return nil, fmt.Errorf("read the results: %w", err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no valid record in %s", j.rel(rs.path))
	}
	rs.recs = recs
	if rs.preset == "" {
		rs.preset = j.presetOfRecords(recs)
	}
	return rs, nil
}

// presetOfRecords names the preset of merged results: the records', else the input's.
func (j *job) presetOfRecords(recs []*record.Record) string {
	seen := map[string]bool{}
	var names []string
	for _, rec := range recs {
		if rec.Preset != "" && !seen[rec.Preset] {
			seen[rec.Preset] = true
			names = append(names, rec.Preset)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	if j.preset.preset != nil {
		return j.preset.preset.Name
	}
	return strings.TrimSuffix(filepath.Base(j.in.Preset), filepath.Ext(j.in.Preset))
}

// expand resolves the results input: paths or globs relative to the workspace. A pattern
// matching nothing is an error (a shard's artifact went missing).
func (j *job) expand(patterns []string) ([]string, error) {
	var files []string
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			p = filepath.Join(j.ws.Dir, p)
		}
		if !workspace.Within(j.ws.Dir, p) {
			return nil, fmt.Errorf("input results: %s is outside the workspace: give paths or globs in the repository", p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("input results: bad pattern %q: %v", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("input results: %s matches no file (did every shard upload its results?)", j.rel(p))
		}
		sort.Strings(m)
		for _, f := range m {
			real, err := j.ws.Path(f, "input results")
			if err != nil {
				return nil, err
			}
			if err := j.trustResults(real); err != nil {
				return nil, err
			}
			files = append(files, real)
		}
	}
	return files, nil
}

func (j *job) finishShard(rs *results) *Result {
	ok := 0
	for _, rec := range rs.recs {
		if rec.OK() {
			ok++
		}
	}
	md := fmt.Sprintf("### perflab: sweep shard %s\n\n%d configurations measured (%d failed) into `%s`. The job that merges the shards (input `results`) reports and gates them.\n",
		j.in.Shard, len(rs.recs), len(rs.recs)-ok, j.rel(rs.path))
	j.appendSummary(md)
	res := &Result{Mode: ModeShard, Verdict: NotGated}
	j.setOutputs(res, rs)
	return res
}

// writeReport computes the report and writes it with its plots.
func (j *job) writeReport(rs *results) error {
	rep, err := report.Compute(rs.recs, report.Options{Constraint: j.in.Constraint, Percentile: j.in.LatencyPct, BudgetMs: j.in.BudgetMs})
	if err != nil {
		return err
	}
	rep.Inputs = []string{j.rel(rs.path)}
	rs.rep = rep
	ro := report.RenderOptions{Generator: "perflab " + j.version() + " (GitHub Action)"}
	if ro.Plots, err = report.WritePlots(rep, j.out, "report"); err != nil {
		j.warnf("plots not written: %v", err)
	}
	var buf bytes.Buffer
	if err := report.Markdown(&buf, rep, ro); err != nil {
		return err
	}
	rs.reportMD = buf.String()
	if err := workspace.WriteNoFollow(filepath.Join(j.out, "report.md"), buf.Bytes()); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	j.logf("report: %s", j.rel(filepath.Join(j.out, "report.md")))
	return nil
}

var quoted = regexp.MustCompile("`[^`]*`|\"[^\"\n]{12,}\"")

// withoutContent removes the quoted values a parser error shows of a file it read (YAML
// says "cannot unmarshal !!str `root:x:...`"): an input may name any file, and its content
// must not end up in a public log.
func withoutContent(msg string) string {
	return quoted.ReplaceAllString(msg, "(value not shown)")
}
