package cli

// perflab gate's attribution: after an A/B verdict, profile both sides of a regressed
// configuration (every A/B configuration with --explain) and say per operator where the
// time went (flow.Explainer).

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/untrusted"
)

// ExplainOptions are gate's attribution flags.
type ExplainOptions struct {
	All bool   // --explain: every A/B configuration, not only regressed ones
	Off bool   // --no-explain: never profile
	Dir string // --explain-dir: where the traces and the attributions' JSON go
}

func addExplainFlags(f *pflag.FlagSet, e *ExplainOptions) {
	f.BoolVar(&e.All, "explain", false, "A/B modes: profile both sides of every A/B configuration after the verdict and say per operator where the time went (regressed configurations always are, unless --no-explain)")
	f.BoolVar(&e.Off, "no-explain", false, "A/B modes: do not profile regressed configurations after the verdict")
	f.StringVar(&e.Dir, "explain-dir", "", "A/B modes: folder for the attributions' Chrome traces (default: perflab-explain next to --out, else in the working directory)")
}

// explainer is the attribution step of an A/B gate (nil: none, or rounds measured by an
// injected Measure).
func (opts *GateOptions) explainer() *flow.Explainer {
	e := opts.Explain
	if e.Off || opts.Measure != nil { // injected rounds (tests): no real children to profile
		return nil
	}
	dir := e.Dir
	if dir == "" {
		dir = "perflab-explain"
		if opts.Out != "" {
			dir = filepath.Join(filepath.Dir(opts.Out), dir)
		}
	}
	return &flow.Explainer{Dir: dir, All: e.All, Timeout: opts.Timeout}
}

// explainAB profiles the --ab pair after its verdict (when it regressed, or --explain).
func (opts *GateOptions) explainAB(ctx context.Context, rep *gate.Report) {
	ex := opts.explainer()
	if ex == nil || len(opts.AB) != 2 {
		return
	}
	pol, _ := gatePolicy(opts)
	cfg := flow.Pair{Old: opts.AB[0], New: opts.AB[1], Knobs: opts.Knobs, Policy: pol}.ABConfig()
	if ex.All || flow.Regressed(rep)[cfg.Key] {
		fmt.Fprintf(opts.IO.ErrOut, "profiling both sides of %s to say where the time went\n", untrusted.Printable(cfg.Key))
	}
	ex.Explain(ctx, []gate.ABConfig{cfg}, rep)
}

// printAttributions prints the attributions after the verdict (terminal form).
func printAttributions(w io.Writer, rep *gate.Report) {
	for _, a := range rep.Attributions {
		fmt.Fprintln(w)
		fmt.Fprintln(w, untrusted.Printable(a.Key))
		if a.Attribution == nil {
			fmt.Fprintln(w, "Where the time went: not profiled: "+untrusted.Printable(a.Err))
			continue
		}
		a.Attribution.WriteText(w, 0)
	}
}
