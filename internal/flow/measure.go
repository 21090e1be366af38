package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
)

// ErrInterrupted: the run was stopped (Ctrl-C, SIGTERM) while measuring.
var ErrInterrupted = errors.New("interrupted")

// ChildCrashCode is the exit code of a perflab child process that a native crash inside
// libtorch killed (the CLI's exit-code table says the same).
const ChildCrashCode = 3

// CrashError: a model crashed libtorch in a measuring child process.
type CrashError struct{ Err error }

func (e *CrashError) Error() string { return e.Err.Error() }
func (e *CrashError) Unwrap() error { return e.Err }

// ABRoundArgs are the arguments of the `perflab bench` child of A/B round r: models[0]
// with --ab-with models[1], both with cfg's knobs (all of them: a configuration gated
// with an ISA cap or an allocator is A/B tested with it).
func ABRoundArgs(cfg gate.ABConfig, models [2]string, r int) []string {
	k := cfg.Knobs
	k.InteropThreads = max(1, k.InteropThreads)
	args := append([]string{"bench", "--model", models[0], "--ab-with", models[1]}, k.Args(knobs.Omit(knobs.FlagModel))...)
	return append(args, "--iters", strconv.Itoa(cfg.Iters), "--warmup", strconv.Itoa(cfg.Warmup),
		"--preprocess-iters", "0", "--seed", strconv.Itoa(r), "--json")
}

// MeasureInChildren returns a gate.Measure that runs each round as one `perflab bench
// --model A --ab-with B` child process alternating the two models' forward calls (so both
// see the same machine conditions); which model is A alternates between rounds (ABBA).
// Progress goes to progress. Each round has the time limit timeout (0 = none): a hanging
// model is killed, with its process group. Errors: ErrInterrupted, *CrashError, or a
// one-line error naming the round.
func MeasureInChildren(progress io.Writer, timeout time.Duration) gate.Measure {
	return func(ctx context.Context, cfg gate.ABConfig, first, n int) (a, b []gate.Run, err error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		for r := first; r < first+n; r++ {
			models := [2]string{cfg.Old, cfg.New}
			swap := r%2 == 1
			if swap {
				models[0], models[1] = models[1], models[0]
			}
			// The records come on a file descriptor of their own (a model may print on stdout).
			ch := sweep.RunChild(ctx, exe, ABRoundArgs(cfg, models, r), timeout)
			if err := ch.Err; err != nil {
				if ctx.Err() != nil {
					return nil, nil, ErrInterrupted
				}
				if ch.TimedOut {
					return nil, nil, fmt.Errorf("A/B round %d of %s (%s vs %s) timed out after %s and was killed: a model hangs, or raise --timeout", r+1, cfg.Key, cfg.Old, cfg.New, timeout)
				}
				msg := strings.TrimSpace(ch.Stderr)
				if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
					msg = msg[i+1:]
				}
				err = fmt.Errorf("A/B round %d of %s (%s vs %s) failed: %s", r+1, cfg.Key, cfg.Old, cfg.New, strings.TrimPrefix(msg, "perflab: "))
				if ee := (*exec.ExitError)(nil); errors.As(ch.Err, &ee) && ee.ExitCode() == ChildCrashCode {
					return nil, nil, &CrashError{Err: err}
				}
				return nil, nil, err
			}
			var got [2]*record.Record
			rd := record.NewReader(bytes.NewReader(ch.Result), "perflab bench --ab-with")
			for i := range got {
				rec, err := rd.Next()
				if err != nil {
					return nil, nil, fmt.Errorf("A/B round %d: reading the records: %v", r+1, err)
				}
				got[i] = rec
			}
			old, cur := got[0], got[1]
			if swap {
				old, cur = got[1], got[0]
			}
			fmt.Fprintf(progress, "[%d] %s: A p95 %.3f ms, B p95 %.3f ms\n", r+1, cfg.Key, old.LatencyP95, cur.LatencyP95)
			a = append(a, gate.Run{SamplesMs: old.SamplesMs, ThroughputRPS: old.ThroughputRPS})
			b = append(b, gate.Run{SamplesMs: cur.SamplesMs, ThroughputRPS: cur.ThroughputRPS})
		}
		return a, b, nil
	}
}

// ProbeInChildren returns a probe that loads a model file with a configuration's knobs in
// a `perflab bench` child (one forward call) and returns its one-line error when it does
// not load (nil when it does). timeout: 0 = none.
func ProbeInChildren(timeout time.Duration) func(ctx context.Context, path string, cfg gate.ABConfig) error {
	return func(ctx context.Context, path string, cfg gate.ABConfig) error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		k := cfg.Knobs
		k.InteropThreads = max(1, k.InteropThreads)
		args := append([]string{"bench", "--model", path}, k.Args(knobs.Omit(knobs.FlagModel))...)
		args = append(args, "--iters", "1", "--warmup", "0", "--preprocess-iters", "0", "--json")
		ch := sweep.RunChild(ctx, exe, args, timeout)
		if ch.Err == nil {
			return nil
		}
		msg := strings.TrimSpace(ch.Stderr)
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = ch.Err.Error()
		}
		return errors.New(strings.TrimPrefix(msg, "perflab: "))
	}
}
