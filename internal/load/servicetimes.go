package load

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

// ServiceTimes are the batch compute times a simulation resamples and the records they
// come from.
type ServiceTimes struct {
	Kind    string // "bench" (samples_ms) or "load" (load.service_ms)
	Records []*record.Record
	Ms      map[int][]float64 // batch size -> compute times, ms
}

// SelectServiceTimes picks the records whose batch compute times a simulation of
// configuration k served by instances uses: successful bench records of the model with the
// same compile (as requested, or as applied for seed records), threads, channels_last and
// quantize (any batch size and inter-op threads), their samples_ms by batch size; without
// any, load records of the same configuration and instances, their load.service_ms. Its
// error names the configurations recs do have.
func SelectServiceTimes(recs []*record.Record, k knobs.Knobs, instances int) (*ServiceTimes, error) {
	same := func(r *record.Record) bool {
		return r.Usable() && r.Model == k.Model && compileAsked(r) == k.Compile && r.Threads == k.Threads &&
			r.ChannelsLast == k.ChannelsLast && r.Quantize == k.Quantize
	}
	st := &ServiceTimes{Kind: "bench", Ms: map[int][]float64{}}
	for _, r := range recs {
		if r.Load == nil && same(r) && len(r.SamplesMs) > 0 {
			st.Records = append(st.Records, r)
			st.Ms[r.BatchSize] = append(st.Ms[r.BatchSize], r.SamplesMs...)
		}
	}
	if len(st.Records) == 0 {
		st.Kind = "load"
		for _, r := range recs {
			if r.Load != nil && r.Mode == "load" && same(r) && r.Load.Instances == instances {
				for b, v := range r.Load.ServiceMs {
					n, err := strconv.Atoi(b)
					if err == nil && len(v) > 0 {
						st.Ms[n] = append(st.Ms[n], v...)
					}
				}
				st.Records = append(st.Records, r)
			}
		}
	}
	if len(st.Ms) > 0 {
		return st, nil
	}
	// Say what there is for this model.
	var have []string
	for _, r := range recs {
		if r.Model != k.Model || !r.Usable() {
			continue
		}
		d := fmt.Sprintf("compile %s, %d threads", compileAsked(r), r.Threads)
		if r.ChannelsLast {
			d += ", channels_last"
		}
		if r.Quantize {
			d += ", int8"
		}
		if !slices.Contains(have, d) {
			have = append(have, d)
		}
	}
	what := fmt.Sprintf("%s with compile %s, %d threads, channels_last %t, quantize %t", k.Model, k.Compile, k.Threads, k.ChannelsLast, k.Quantize)
	if len(have) == 0 {
		return nil, fmt.Errorf("--from has no usable record of %s: run perflab bench or sweep on it first", k.Model)
	}
	slices.Sort(have)
	return nil, fmt.Errorf("--from has no usable record of %s; it has %s: pick one of those with --compile/--threads", what, strings.Join(have, "; "))
}

// compileAsked is a record's compile mode as requested; for seed records, which did not
// say, the one applied.
func compileAsked(r *record.Record) string { return r.Configuration().Compile }

// SimBackend is the simulated backend of configuration k (BatchSize is the max batch)
// served as s, from the service times of recs (SelectServiceTimes), which were read from
// the files from (named in the records' notes and load.source). Its base record (mode
// "simulate") takes the model's identity and environment from the first record used.
func SimBackend(recs []*record.Record, from []string, k knobs.Knobs, s knobs.Serving, seed int64) (*Backend, error) {
	st, err := SelectServiceTimes(recs, k, s.Instances)
	if err != nil {
		return nil, err
	}
	emp, err := NewEmpirical(st.Ms)
	if err != nil {
		return nil, err
	}
	if err := emp.Covers(s.MaxBatch); err != nil {
		return nil, err
	}
	r0 := st.Records[0]
	base := &record.Record{
		SchemaVersion: record.SchemaVersion, Mode: "simulate", Status: record.StatusOK,
		Knobs: knobs.Knobs{Model: r0.Model, Inputs: slices.Clone(r0.Inputs), Device: knobs.CPU, BatchSize: s.MaxBatch, Compile: k.Compile,
			Threads: k.Threads, InteropThreads: r0.InteropThreads, ChannelsLast: k.ChannelsLast, Quantize: k.Quantize},
		ModelPath: r0.ModelPath, ModelSHA256: r0.ModelSHA256, CompileApplied: r0.CompileApplied,
		Seed: seed, Env: r0.Env,
	}
	files := strings.Join(from, ", ")
	base.Notes = append(base.Notes, fmt.Sprintf("simulated from %d %s records in %s: batch compute %s; instances are assumed not to slow each other down",
		len(st.Records), st.Kind, files, emp.Describe(s.MaxBatch)))
	if r0.Env != nil && r0.Env.CPUsAvailable > 0 && float64(s.Instances*k.Threads) > math.Ceil(r0.Env.CPUsAvailable) {
		base.Warnings = append(base.Warnings, fmt.Sprintf("%d instances x %d threads exceed the %g CPUs the service times were measured with: the prediction ignores that contention",
			s.Instances, k.Threads, r0.Env.CPUsAvailable))
	}
	return &Backend{
		Base:      base,
		FullBatch: emp.Mean(s.MaxBatch),
		Source:    fmt.Sprintf("%s: %d %s records (%s)", files, len(st.Records), st.Kind, emp.Describe(s.MaxBatch)),
		Run: func(ctx context.Context, c Config) (*Outcome, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return Simulate(c, emp)
		},
	}, nil
}
