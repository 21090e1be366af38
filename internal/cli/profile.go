package cli

// perflab bench's profiling flags: --profile (a per-operator table after the timed loop)
// and, with --ab-with, --explain (where the time of the change went).

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/untrusted"
)

// Profile are bench's profiling options.
type Profile struct {
	On       bool   // --profile
	Forwards int    // --profile-forwards
	Explain  bool   // --explain (with --ab-with)
	TraceDir string // --trace-dir: where Chrome traces go ("" = next to --out, else the working directory)
	// Hidden, for the gate's attribution child: the attribution as JSON to this file, and
	// the two traces' paths.
	ExplainOut    string
	ExplainTraces []string
}

// ProfileTop is how many rows of the per-operator table the summary prints.
const ProfileTop = 15

func addProfileFlags(f *pflag.FlagSet, p *Profile) {
	f.BoolVar(&p.On, "profile", false, "after the timed loop, profile a separate pass: per-operator table (self time per forward, input shapes) in the summary and the record, Chrome trace next to the results")
	f.IntVar(&p.Forwards, "profile-forwards", bench.DefaultProfileForwards, "forwards of the --profile pass (with --explain: per model, over its interleaved rounds)")
	f.BoolVar(&p.Explain, "explain", false, "with --ab-with: after the timed loop, profile both models in interleaved rounds and say per operator where the time of the change went")
	f.StringVar(&p.TraceDir, "trace-dir", "", "folder for the Chrome traces of --profile and --explain (default: next to --out, else the working directory)")
	f.StringVar(&p.ExplainOut, "explain-out", "", "write the --explain attribution as JSON to this file")
	f.StringSliceVar(&p.ExplainTraces, "explain-traces", nil, "the --explain traces' paths: BASE,HEAD")
	_ = f.MarkHidden("explain-out")
	_ = f.MarkHidden("explain-traces")
}

// traceDir is where traces go.
func (p *Profile) traceDir(out string) string {
	if p.TraceDir != "" {
		return p.TraceDir
	}
	if out != "" {
		return filepath.Dir(out)
	}
	return "."
}

// stem is a model's file name without its extension (a built-in's name as it is).
func stem(model string) string {
	b := filepath.Base(model)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// apply checks the flags and sets the bench configuration's profiling.
func (p *Profile) apply(opts *BenchOptions) error {
	if p.Explain && opts.ABWith == "" {
		return fmt.Errorf("--explain compares two models: give --ab-with")
	}
	if p.On && opts.ABWith != "" {
		return fmt.Errorf("--profile profiles one model: with --ab-with use --explain")
	}
	if (p.On || p.Explain) && (p.Forwards < 4 || p.Forwards > bench.MaxProfileForwards) {
		return fmt.Errorf("--profile-forwards must be in 4..%d, got %d", bench.MaxProfileForwards, p.Forwards)
	}
	if len(p.ExplainTraces) != 0 && len(p.ExplainTraces) != 2 {
		return fmt.Errorf("--explain-traces takes BASE,HEAD")
	}
	if p.On {
		c := &opts.Config
		c.ProfileForwards = p.Forwards
		c.ProfileTrace = filepath.Join(p.traceDir(opts.Out), fmt.Sprintf("%s-b%d.trace.json", stem(c.Model), c.BatchSize))
	}
	return nil
}

// attribution is the A/B's attribution settings (nil: no --explain): rounds of a quarter
// of --profile-forwards, traces at --explain-traces or in the trace folder.
func (p *Profile) attribution(opts *BenchOptions) *bench.AttributionConfig {
	if !p.Explain {
		return nil
	}
	ac := bench.DefaultAttribution
	ac.Forwards = max(1, p.Forwards/ac.Rounds)
	if len(p.ExplainTraces) == 2 {
		ac.BaseTrace, ac.HeadTrace = p.ExplainTraces[0], p.ExplainTraces[1]
	} else {
		dir := p.traceDir(opts.Out)
		ac.BaseTrace = filepath.Join(dir, stem(opts.Config.Model)+"-a.trace.json")
		ac.HeadTrace = filepath.Join(dir, stem(opts.ABWith)+"-b.trace.json")
	}
	return &ac
}

// emitAttribution writes the attribution to --explain-out, or prints it.
func (p *Profile) emitAttribution(opts *BenchOptions, a *profile.Attribution) error {
	if p.ExplainOut != "" {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		return atomicfile.Write(p.ExplainOut, append(b, '\n'))
	}
	if opts.JSON {
		return nil
	}
	return a.WriteText(opts.IO.Out, 0)
}

// printProfile prints a record's per-operator table (its top rows), how its operators'
// time compares with the timed forward, and where the trace went.
func printProfile(w io.Writer, r *record.Record) {
	p := r.Profile
	if p == nil {
		return
	}
	if p.Note != "" {
		fmt.Fprintf(w, "  profile: %s\n", p.Note)
		return
	}
	t := profile.FromRecord(p)
	var b strings.Builder
	profile.WriteTable(&b, t, ProfileTop)
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintln(w, "  "+l)
	}
	if p.Instrumented != "" {
		fmt.Fprintf(w, "  outside libtorch's dispatcher, timed in an instrumented copy of the graph (named by node kind): %s\n", p.Instrumented)
	}
	if r.ForwardMsPerBatch > 0 {
		fmt.Fprintf(w, "  operators' self time %s ms per forward = %.0f%% of the timed forward (%s ms mean)\n",
			numfmt.Ms(p.OpsMs), 100*p.OpsMs/r.ForwardMsPerBatch, numfmt.Ms(r.ForwardMsPerBatch))
	}
	if p.Trace != "" {
		fmt.Fprintf(w, "  trace: %s (Perfetto: ui.perfetto.dev, or chrome://tracing)\n", untrusted.Printable(p.Trace))
	}
}
