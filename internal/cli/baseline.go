package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/baseline"
)

// BaselineUpdateOptions are the inputs of `perflab baseline update`.
type BaselineUpdateOptions struct {
	IO       IO
	Results  []string
	Baseline string
	Keep     int
	Commit   string
	Now      func() time.Time
}

// BaselineShowOptions are the inputs of `perflab baseline show`.
type BaselineShowOptions struct {
	IO       IO
	Baseline string
	JSON     bool
}

// NewBaselineCmd returns `perflab baseline` with its update and show subcommands.
func NewBaselineCmd(ios IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Update or inspect stored baselines (one JSON file per preset under baselines/)",
		Long: `Baselines are JSON files (one per preset, e.g. baselines/cpu_vision.json), keyed by the
configuration (model, batch, compile, threads, inter-op threads, channels_last, quantize,
device) and keeping, per configuration, the raw samples of the last K runs with their
environment fingerprint, commit and date. 'update' merges new results in (other entries are
kept) and writes the file atomically; run it on the main branch.

` + exitCodesHelp,
	}
	cmd.AddCommand(newBaselineUpdateCmd(ios, nil), newBaselineShowCmd(ios, nil))
	return cmd
}

func newBaselineUpdateCmd(ios IO, runF func(*BaselineUpdateOptions) error) *cobra.Command {
	opts := &BaselineUpdateOptions{IO: ios, Keep: baseline.DefaultKeep, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Merge sweep results into a baseline file (keeps the last K runs per configuration)",
		Example: `  perflab baseline update --results results/sweeps/X.jsonl --baseline baselines/cpu_vision.json
  perflab baseline update --results X.jsonl --baseline baselines/cpu_vision.json --keep 10 --commit $GITHUB_SHA`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return RunBaselineUpdate(opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Results, "results", nil, "JSONL results to store (repeatable; required)")
	f.StringVar(&opts.Baseline, "baseline", "", "baseline JSON file to update (created if missing; required)")
	f.IntVar(&opts.Keep, "keep", opts.Keep, "runs kept per configuration (K)")
	f.StringVar(&opts.Commit, "commit", "", "commit the results were measured at (default $GITHUB_SHA, else git rev-parse HEAD)")
	_ = cmd.MarkFlagRequired("results")
	_ = cmd.MarkFlagRequired("baseline")
	return cmd
}

// RunBaselineUpdate merges results into the baseline file.
func RunBaselineUpdate(opts *BaselineUpdateOptions) error {
	if opts.Keep < 1 {
		return fmt.Errorf("--keep must be >= 1, got %d", opts.Keep)
	}
	recs, err := readResults(opts.IO, opts.Results)
	if err != nil {
		return err
	}
	if probe := baseline.New("", opts.Keep).Update(recs, "", opts.Now()); probe.Added == 0 {
		for _, s := range probe.Skipped {
			fmt.Fprintln(opts.IO.ErrOut, "not stored:", s)
		}
		return fmt.Errorf("no usable record in %s to store (%d skipped): the baseline was not changed", strings.Join(opts.Results, ", "), len(probe.Skipped))
	}
	// Read, update and write under the baseline's lock: two concurrent updates take turns,
	// and the second one merges into what the first wrote.
	unlock, err := atomicfile.Lock(opts.Baseline)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := baseline.Load(opts.Baseline)
	if errors.Is(err, baseline.ErrNotExist) {
		preset := ""
		for _, r := range recs {
			if r.Preset != "" {
				preset = r.Preset
				break
			}
		}
		f = baseline.New(preset, opts.Keep)
	} else if err != nil {
		return err
	}
	f.Keep = opts.Keep
	commit := opts.Commit
	if commit == "" {
		commit = currentCommit()
	}
	relativeModels(recs) // keys survive machines: models/m.pt, not /home/me/app/models/m.pt
	res := f.Update(recs, commit, opts.Now())
	for _, s := range res.Skipped {
		fmt.Fprintln(opts.IO.ErrOut, "not stored:", s)
	}
	if res.Added+res.Updated == 0 {
		return fmt.Errorf("no usable record in %s to store (%d skipped): the baseline was not changed", strings.Join(opts.Results, ", "), len(res.Skipped))
	}
	if err := f.Save(opts.Baseline); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "%s: %d configurations added, %d updated (commit %s, keeping %d runs each); %d entries in all\n",
		opts.Baseline, res.Added, res.Updated, orNone(commit), f.Keep, len(f.Entries))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// currentCommit returns $GITHUB_SHA or the checkout's HEAD, or "".
func currentCommit() string {
	if s := os.Getenv("GITHUB_SHA"); s != "" {
		return s
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func newBaselineShowCmd(ios IO, runF func(*BaselineShowOptions) error) *cobra.Command {
	opts := &BaselineShowOptions{IO: ios}
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Print a baseline's configurations with their latest figures and history",
		Example: `  perflab baseline show --baseline baselines/cpu_vision.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return RunBaselineShow(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Baseline, "baseline", "", "baseline JSON file (required)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the file's JSON")
	_ = cmd.MarkFlagRequired("baseline")
	return cmd
}

// RunBaselineShow prints the baseline.
func RunBaselineShow(opts *BaselineShowOptions) error {
	f, err := baseline.Load(opts.Baseline)
	if errors.Is(err, baseline.ErrNotExist) {
		return fmt.Errorf("%v: create it with perflab baseline update --results X.jsonl --baseline %s", err, opts.Baseline)
	}
	if err != nil {
		return err
	}
	if opts.JSON {
		b, err := f.Marshal()
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(b)
		return err
	}
	fmt.Fprintf(opts.IO.Out, "%s: preset %s, %d configurations, keeping %d runs each\n\n", opts.Baseline, orNone(f.Preset), len(f.Entries), f.Keep)
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "configuration\truns\tp50 ms\tp95 ms\tp99 ms\treq/s\tlast commit\tlast date\tfingerprint")
	for _, e := range f.Entries {
		if len(e.Runs) == 0 {
			fmt.Fprintf(tw, "%s\t0\t\t\t\t\t\t\t\n", e.Key)
			continue
		}
		r := e.Runs[len(e.Runs)-1]
		commit := r.Commit
		if len(commit) > 10 {
			commit = commit[:10]
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t%s\t%s\t%s\n", e.Key, len(e.Runs), r.LatencyP50, r.LatencyP95, r.LatencyP99, r.ThroughputRPS, orNone(commit), r.Date, r.Fingerprint)
	}
	return tw.Flush()
}
