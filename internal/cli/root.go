// Package cli holds perflab's commands: each one an Options struct, a cobra command that
// fills it from flags, and a run function that tests call directly.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/torch"
)

// Exit codes, the one table perflab uses (documented in --help and docs/cli.md, "Exit codes").
const (
	ExitOK         = 0 // success (gate: no regression, or nothing to compare yet)
	ExitRegression = 1 // gate: a regression was found
	ExitUsage      = 2 // bad flags, bad input, or a configuration that cannot run
	ExitCrash      = 3 // a native crash inside libtorch (the model crashed it: SIGSEGV, SIGABRT, ...)
)

const exitCodesHelp = `Exit codes:
  0  success
  1  regression found (gate)
  2  usage or input error (bad flag, missing or corrupt model, wrong input shape, ...)
  3  native crash: the model crashed libtorch (SIGSEGV, SIGABRT, ...); one line names
     the signal, the model and the configuration
  130  interrupted (Ctrl-C): finished records are kept`

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// exitError carries a specific exit code out of a run function.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// NewRoot returns the perflab command tree.
func NewRoot(ios IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "perflab",
		Short: "Benchmark PyTorch models on libtorch (CPU) and find the serving config for a latency budget",
		Long: `perflab benchmarks TorchScript models on libtorch (CPU): p50/p90/p95/p99 latency with
confidence intervals, throughput, and the effect of each knob (batch size, compile,
intra/inter-op threads, channels_last, dynamic int8).

Built-in models (exported by 'make models'): resnet18, mobilenet_v3_small, tiny_transformer.
Any TorchScript file works too: --model path.pt --input 'float32[B,3,224,224]'.

` + exitCodesHelp,
		Example: `  perflab bench --model resnet18 --batch-size 4 --threads 2 --out results/runs.jsonl
  perflab bench --model ./my_model.pt --input 'int64[B,128]:0..8191' --compile on`,
		Version:       env.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%v (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(NewLoadCmd(ios, nil))
	root.AddCommand(NewBenchCmd(ios, nil), NewSweepCmd(ios, nil), NewReportCmd(ios, nil), NewGateCmd(ios, nil), NewBaselineCmd(ios), NewMergeCmd(ios, nil), NewActionCmd(ios, nil), NewWorkerCmd(ios))
	return root
}

// Main runs perflab with args and returns the process exit code.
func Main(args []string, ios IO) int {
	torch.OnNativeCrash(ExitCrash)
	root := NewRoot(ios)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if !strings.HasPrefix(msg, "perflab: ") {
		msg = "perflab: " + msg
	}
	fmt.Fprintln(ios.ErrOut, msg)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitUsage
}
