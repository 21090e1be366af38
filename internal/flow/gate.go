package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/workspace"
)

// Stored is a gate of results against a stored baseline.
type Stored struct {
	Records []*record.Record // their model paths are made repository-relative (Root, WD)
	// Root is the repository's top level; WD the folder relative model paths are relative
	// to ("" = the working directory).
	Root, WD string

	Baseline       *baseline.File // nil = no baseline yet
	BaselinePath   string         // as the verdict shows it
	BaselineSource string         // where it was read, in words ("" = not said)

	Policy           Policy
	AllowEnvMismatch bool
}

// GateStored compares the records with the stored baseline.
func GateStored(s Stored) *gate.Report {
	workspace.RelativeModels(s.Records, s.Root, s.WD)
	rep := gate.Check(gate.Input{Results: s.Records, Baseline: s.Baseline, BaselinePath: s.BaselinePath,
		Metrics: s.Policy.Metrics, Options: s.Policy.Options(), AllowEnvMismatch: s.AllowEnvMismatch})
	if rep.Baseline != nil && s.BaselineSource != "" {
		rep.Baseline.Source = s.BaselineSource
	}
	return rep
}

// Against is a gate of a change against its base revision: the stored gate, and an A/B
// test of every model file that differs from its version at the base.
type Against struct {
	Stored
	Report *report.Report // the sweep's report (recommended configurations); nil = computed (balanced, p95)
	Source abgate.Source  // the base's files; nil = no A/B test (the stored gate only)
	Dir    string         // where the base's files are written
	// PresetGateConfigs is the preset's gate_configs (see Policy.Selectors).
	PresetGateConfigs []string
	Measure           gate.Measure // runs the A/B rounds; nil = no A/B test
	// Probe says why a model file does not load (nil: it loads); asked when the A/B test
	// fails, to tell a base version that does not load from a failure (nil = never).
	Probe   func(ctx context.Context, path string, cfg gate.ABConfig) error
	Now     func() time.Time
	Explain *Explainer // profiles regressed A/B configurations after the verdict (explain.go); nil = none
}

// AgainstResult is a gate against a base.
type AgainstResult struct {
	Report *gate.Report   // the verdict: stored comparisons and A/B ones merged
	AB     *abgate.Result // nil when no A/B test ran
}

// GateAgainstBase is the one flow behind `perflab gate --against REV` and the Action on a
// pull request:
//
//  1. gate the records against the stored baseline (GateStored);
//  2. find the model files that changed since the base (sha256), write the base's versions;
//  3. pick their gated configurations (Policy.Selectors over the sweep's report);
//  4. A/B test them interleaved, confirming before failing (gate.Sequential);
//  5. merge: the A/B comparisons replace the stored ones, the notes say what happened to
//     each model file.
func GateAgainstBase(ctx context.Context, a Against) (*AgainstResult, error) {
	res := &AgainstResult{Report: GateStored(a.Stored)}
	if a.Source == nil || a.Measure == nil {
		return res, nil
	}
	rrep := a.Report
	if rrep == nil {
		var err error
		if rrep, err = report.Compute(a.Records, report.Options{Constraint: report.Balanced, Percentile: "p95"}); err != nil {
			return nil, err
		}
	}
	p := a.Policy
	ab, err := abgate.Run(ctx, abgate.Request{Records: a.Records, Report: rrep, Root: a.Root, Source: a.Source, Dir: a.Dir,
		Selectors: p.Selectors(a.PresetGateConfigs), Metrics: p.Metrics, Seq: p.Seq(a.Now), Iters: p.Iters, Warmup: p.Warmup, Measure: a.Measure, Probe: a.Probe})
	if err != nil {
		return nil, err
	}
	ab.Apply(res.Report)
	res.AB = ab
	if a.Explain != nil {
		a.Explain.Explain(ctx, ab.Configs, res.Report)
	}
	return res, nil
}

// Pair is an A/B test of two model files (or built-in names) on one configuration.
type Pair struct {
	Old, New string
	Knobs    knobs.Knobs // the configuration of both (its Model is New)
	Policy   Policy
	Measure  gate.Measure
	Now      func() time.Time
}

// MeasureAB measures Old and New in interleaved rounds and decides sequentially (confirm
// before failing, see gate.Sequential).
func MeasureAB(ctx context.Context, p Pair) (*gate.Report, error) {
	k := p.Knobs
	key := fmt.Sprintf("%s -> %s (b%d, compile=%s, t%d%s)", p.Old, p.New, k.BatchSize, k.Compile, k.Threads, k.Suffix())
	k.Model = p.New
	k.InteropThreads = max(1, k.InteropThreads)
	cfg := gate.ABConfig{Key: key, Old: p.Old, New: p.New, Knobs: k, Iters: p.Policy.Iters, Warmup: p.Policy.Warmup}
	rep, _, err := gate.Sequential(ctx, []gate.ABConfig{cfg}, p.Policy.Metrics, p.Policy.Seq(p.Now), p.Measure)
	return rep, err
}
