package abgate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
)

// Request is one A/B test of a change against its base.
type Request struct {
	Records   []*record.Record // the sweep's records, models repository-relative
	Report    *report.Report   // the sweep's report (recommended configurations); nil = none
	Root      string           // the repository's top level
	Source    Source           // the base's files
	Dir       string           // where the base's files are written
	Selectors []string         // gated configurations (DefaultSelectors when nil)
	Metrics   []string
	Seq       gate.SeqOptions
	Iters     int
	Warmup    int
	Measure   gate.Measure
	// Probe loads a model file with a configuration's knobs and says why it does not load
	// (nil: it loads). Asked only when the A/B test fails, to tell a base version that does
	// not load (the change fixes it) from a failure of the test; nil = never asked.
	Probe func(ctx context.Context, path string, cfg gate.ABConfig) error
}

// Result is what the A/B test found.
type Result struct {
	Files   []ModelFile
	Configs []gate.ABConfig
	Runs    []gate.ABRun
	Report  *gate.Report // the A/B comparisons (none when no file changed)
	Notes   []string     // one per model file, for the verdict
	records []*record.Record
}

// Records are the sweep's records the result was made from.
func (res *Result) Records() []*record.Record { return res.records }

func fileOf(files []ModelFile, r *record.Record) (ModelFile, bool) {
	for _, f := range files {
		if f.Name == r.Model {
			return f, true
		}
	}
	return ModelFile{}, false
}

// Run finds the changed model files, picks their gated configurations and A/B tests them
// (gate.Sequential).
func Run(ctx context.Context, req Request) (*Result, error) {
	var models []string // the models the sweep measured
	seen := map[string]bool{}
	for _, r := range req.Records {
		if !seen[r.Model] {
			seen[r.Model] = true
			models = append(models, r.Model)
		}
	}
	files, err := Files(ctx, models, req.Root, req.Source, req.Dir)
	if err != nil {
		return nil, err
	}
	sels := req.Selectors
	if len(sels) == 0 {
		sels = DefaultSelectors
	}
	res := &Result{Files: files, records: req.Records}
	res.Configs = Configs(req.Records, req.Report, files, sels, req.Iters, req.Warmup)
	for _, f := range files {
		note := f.Note(req.Source.Describe())
		if f.State == Changed {
			n := 0
			for _, c := range res.Configs {
				if c.New == f.Path {
					n++
				}
			}
			if n == 0 {
				note += ": but this change's version has no usable configuration (it did not load, or every configuration failed: see below), so nothing was A/B tested"
			}
		}
		res.Notes = append(res.Notes, fmt.Sprintf("`%s`: %s", orName(f), note))
	}
	if len(res.Configs) == 0 {
		res.Report = &gate.Report{Comparisons: []gate.Comparison{}}
		return res, nil
	}
	now := req.Seq.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	rep, runs, err := gate.Sequential(ctx, res.Configs, req.Metrics, req.Seq, req.Measure)
	if err != nil && req.Probe != nil && ctx.Err() == nil {
		// Is it a base version that does not load while this change's does?
		broken := map[string]bool{}
		for i, f := range res.Files {
			for _, c := range res.Configs {
				if c.New != f.Path || broken[f.Path] {
					continue
				}
				if berr := req.Probe(ctx, c.Old, c); berr != nil && req.Probe(ctx, c.New, c) == nil {
					broken[f.Path] = true
					res.Files[i].State, res.Files[i].BaseErr = BaseBroken, firstLine(berr.Error())
					res.Notes[i] = fmt.Sprintf("`%s`: %s", orName(res.Files[i]), res.Files[i].Note(req.Source.Describe()))
				}
			}
		}
		if len(broken) == 0 {
			return nil, err
		}
		var kept []gate.ABConfig
		for _, c := range res.Configs {
			if !broken[c.New] {
				kept = append(kept, c)
			}
		}
		res.Configs = kept
		if len(kept) == 0 {
			res.Report = &gate.Report{Comparisons: []gate.Comparison{}}
			return res, nil
		}
		// The re-run spends what the failed run left of the budget, not a new one.
		seq := req.Seq
		if seq.Budget > 0 {
			seq.Budget = max(seq.Budget-now().Sub(start), time.Nanosecond) // > 0: 0 would mean no limit
		}
		rep, runs, err = gate.Sequential(ctx, kept, req.Metrics, seq, req.Measure)
	}
	if err != nil {
		return nil, err
	}
	res.Report, res.Runs = rep, runs
	return res, nil
}

// firstLine is the first line of s, at most 200 bytes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func orName(f ModelFile) string {
	if f.Rel != "" {
		return f.Rel
	}
	return f.Name
}

// Apply puts the A/B result into the stored-baseline verdict rep: the A/B comparisons
// replace the stored ones of the same configurations, the notes say what happened to each
// model file. When nothing was compared at all and every model of the preset is a file
// unchanged since the base, the verdict is pass (identical bytes cannot have regressed by
// themselves) and says so; otherwise nothing compared stays inconclusive (or no baseline).
func (res *Result) Apply(rep *gate.Report) {
	rep.MergeAB(res.Report)
	rep.Notes = append(rep.Notes, res.Notes...)
	// A configuration of a file identical at the base is not gated on the stored
	// baseline: such a comparison measures the runner's drift, not the change.
	unchanged := map[string]bool{}
	for _, f := range res.Files {
		if f.State == Unchanged {
			unchanged[f.Name] = true
		}
	}
	if len(unchanged) > 0 {
		byKey := map[string]string{}
		for _, r := range res.records {
			byKey[r.Key()] = r.Model
		}
		dropped := rep.DropComparisons(func(c gate.Comparison) bool { return c.Rounds == 0 && unchanged[byKey[c.Key]] })
		if dropped > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d stored-baseline comparison(s) of model files unchanged since the base are shown for information, not gated: between runs they measure the runner's drift, not this change", dropped))
		}
	}
	if len(rep.Comparisons) > 0 || len(rep.FailedConfigs) > 0 || len(res.Files) == 0 {
		return
	}
	for _, f := range res.Files {
		if f.State != Unchanged {
			return
		}
	}
	for _, r := range res.Records() {
		if _, ok := fileOf(res.Files, r); !ok {
			return // a built-in model, not compared
		}
	}
	rep.Verdict = gate.Pass
	rep.Summary = fmt.Sprintf("no model file changed since the base (%d file(s), sha256 equal): nothing can have regressed by itself", len(res.Files))
}
