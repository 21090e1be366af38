package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/action"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/untrusted"
)

// ActionOptions are the inputs of `perflab action`: everything else comes from the
// runner's environment (INPUT_*, GITHUB_*).
type ActionOptions struct {
	IO     IO
	Getenv func(string) string
	// Measure runs the A/B rounds (nil = flow.MeasureInChildren, 10 minutes a round).
	Measure gate.Measure
}

// NewActionCmd returns `perflab action`, the GitHub Action's entrypoint. runF replaces
// RunAction in tests.
func NewActionCmd(ios IO, runF func(*ActionOptions) error) *cobra.Command {
	opts := &ActionOptions{IO: ios, Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action: sweep, report, gate, PR comment, job summary, baseline update",
		Long: `The entrypoint of perflab's GitHub Action (action.yml, a Docker container action). It reads
the action's inputs from INPUT_* variables and the event from GITHUB_EVENT_NAME and
GITHUB_EVENT_PATH, and talks to the REST API at GITHUB_API_URL with the github-token input.

  pull_request      sweep the preset, write the report; A/B every model file of the preset
                    that changed since the pull request's base (pull_request.base.sha, from
                    git or the contents API, or the base-models folder) against its base
                    version, interleaved on this runner, on the gated configurations; gate
                    the rest against the baseline at the base (read through the contents API,
                    never from the pull request's own checkout); keep ONE comment up to date
                    (the token's own, starting with a hidden marker; comment-key makes one per
                    workflow), write the job summary and the outputs.
  merge_group       the same gate for a merge queue's group, without a comment.
  push, workflow_dispatch or schedule on the default branch (update-baseline: auto)
                    sweep, merge the results into the baseline and store it through the
                    contents API ("perflab: update baseline ... [skip ci]"), retrying when
                    another job wrote it meanwhile; on the baseline-branch input's branch
                    instead when set (a protected default branch refuses the commit: the run
                    says so and does not fail).
  anything else     sweep and report only.

With the shard input (I/N) it sweeps one shard and stops; with the results input it gates
the given JSONL files (merged like 'perflab merge') instead of sweeping. Files go to
perflab-results/ in the workspace. A read-only or missing token never fails the run: the
summary and the log say how to get the comment (pull_request -> artifact -> workflow_run).
Inputs, outputs and example workflows: see docs/action.md and the README, "Use it in your workflow".

` + exitCodesHelp + `
  (action: 1 only with fail-on-regression: true, or on an inconclusive verdict with
  fail-on-inconclusive: true; 2 also for an input path outside the workspace, or a baseline
  store that failed for another reason than permissions or branch protection)`,
		Example: `  # what the container runs; locally, simulate the runner:
  GITHUB_EVENT_NAME=pull_request GITHUB_EVENT_PATH=event.json GITHUB_REPOSITORY=o/r \
    GITHUB_WORKSPACE=$PWD INPUT_PRESET=cpu_vision INPUT_QUICK=true perflab action`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return RunAction(cmd.Context(), opts)
		},
	}
	return cmd
}

// RunAction runs the action and maps its result to perflab's exit codes.
func RunAction(ctx context.Context, opts *ActionOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	base := opts.Getenv
	if base == nil {
		base = os.Getenv
	}
	// The sweep's child processes need no token: drop them from this process's environment
	// once read, so that no child inherits one.
	token := action.ReadInput(base, action.InGitHubToken)
	getenv := func(k string) string {
		if k == "INPUT_GITHUB-TOKEN" || k == "INPUT_GITHUB_TOKEN" {
			return token
		}
		return base(k)
	}
	for _, k := range []string{"INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN", "GITHUB_TOKEN"} {
		os.Unsetenv(k)
	}
	// Everything the sweep and the A/B rounds say goes to the runner's log through
	// untrusted.LogWriter: their lines quote model and preset names that a pull request
	// chose, which must not start a workflow command.
	errOut := untrusted.LogWriter(opts.IO.ErrOut)
	defer errOut.Close()
	measure := opts.Measure
	if measure == nil {
		measure = flow.MeasureInChildren(errOut, 10*time.Minute)
	}
	res, err := action.Run(ctx, action.Deps{
		Getenv:    getenv,
		Stdout:    opts.IO.Out,
		Version:   env.Version,
		Now:       time.Now,
		MeasureAB: measure,
		Probe:     flow.ProbeInChildren(2 * time.Minute),
		Explain:   opts.Measure == nil,
		Sweep: func(ctx context.Context, req action.SweepRequest) (string, error) {
			sio := IO{In: opts.IO.In, Out: errOut, ErrOut: errOut}
			// The log shows the results file as the repository knows it, not the runner's path.
			out := req.Out
			if wd, err := os.Getwd(); err == nil {
				if rel, err := filepath.Rel(wd, out); err == nil && filepath.IsLocal(rel) {
					out = rel
				}
			}
			got, err := runSweep(ctx, &SweepOptions{IO: sio, Preset: req.Preset, Quick: req.Quick, Models: req.Models,
				Iters: req.Iters, Warmup: -1, Out: out, Repeat: 1, Seed: -1, Shard: req.Shard, Progress: "lines", Now: time.Now})
			if errors.Is(err, errAllFailed) {
				// Not the end of the run: the gate fails the check on a model that does not
				// load, and the comment says why.
				err = nil
			}
			if got == out {
				got = req.Out
			}
			return got, err
		},
	})
	if err != nil {
		var ee *exitError
		if errors.As(exitCodeOf(err), &ee) {
			return ee // interrupted, or a native crash in an A/B round
		}
		return &exitError{code: ExitUsage, err: fmt.Errorf("action: %s", untrusted.Log(untrusted.Printable(strings.TrimPrefix(err.Error(), "perflab: "))))}
	}
	if res.Failure != nil && res.Failure.Inconclusive {
		return &exitError{code: ExitRegression, err: fmt.Errorf("action: verdict %s: failing the check (fail-on-inconclusive: true)", res.Verdict)}
	}
	if res.Failure != nil && res.Failure.Regressions == 0 {
		// Failed closed: a model file that could not be loaded, or one no longer gated.
		return &exitError{code: ExitRegression, err: fmt.Errorf("action: %s: failing the check (fail-on-regression: true)", res.Failure.Summary)}
	}
	if res.Failure != nil {
		return &exitError{code: ExitRegression, err: fmt.Errorf("action: %d regression(s): failing the check (fail-on-regression: true)", res.Failure.Regressions)}
	}
	return nil
}
