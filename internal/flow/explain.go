package flow

// Attribution of an A/B change: after the verdict, both sides of a regressed (or, on
// request, any) configuration are profiled the same way, interleaved, in one child
// process (`perflab bench --model OLD --ab-with NEW --explain`), and the difference per
// (operator, shapes) says where the time went (internal/profile).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/sweep"
)

// Explainer profiles A/B configurations after the verdict.
type Explainer struct {
	Dir     string        // where the attributions' JSON and traces are written (created)
	ShowDir string        // Dir as users find it (repository-relative, in the artifact); "" = Dir
	All     bool          // every A/B configuration, not only regressed ones (--explain)
	Timeout time.Duration // per configuration (0 = none)
	// Run runs a child perflab with args and returns its error with a one-line reason
	// (nil = a real child process, RunExplainChild).
	Run func(ctx context.Context, args []string, timeout time.Duration) error
}

// ExplainIters are the timed calls per side of the attribution child: only its mean
// forward, which the profiled change is checked against, comes from them.
const ExplainIters = 60

// ExplainForwards are the profiled forwards per side, in bench.DefaultAttribution.Rounds
// rounds.
const ExplainForwards = 60

// ExplainArgs are the arguments of the attribution child of cfg.
func ExplainArgs(cfg gate.ABConfig, out string, traces [2]string) []string {
	k := cfg.Knobs
	k.InteropThreads = max(1, k.InteropThreads)
	args := append([]string{"bench", "--model", cfg.Old, "--ab-with", cfg.New}, k.Args(knobs.Omit(knobs.FlagModel))...)
	return append(args, "--iters", strconv.Itoa(ExplainIters), "--warmup", strconv.Itoa(max(cfg.Warmup, 5)),
		"--preprocess-iters", "0", "--json", "--explain", "--profile-forwards", strconv.Itoa(ExplainForwards), "--explain-out", out, "--explain-traces", traces[0]+","+traces[1])
}

// RunExplainChild runs this executable with args as a measuring child process.
func RunExplainChild(ctx context.Context, args []string, timeout time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ch := sweep.RunChild(ctx, exe, args, timeout)
	if ch.Err == nil {
		return nil
	}
	if ch.TimedOut {
		return fmt.Errorf("timed out after %s", timeout)
	}
	msg := strings.TrimSpace(ch.Stderr)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("%s", strings.TrimPrefix(msg, "perflab: "))
}

// Regressed reports the keys of the report's regressed A/B comparisons.
func Regressed(rep *gate.Report) map[string]bool {
	keys := map[string]bool{}
	for _, c := range rep.Comparisons {
		if c.Rounds > 0 && c.Verdict == gate.Regression {
			keys[c.Key] = true
		}
	}
	return keys
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Explain profiles the configurations of cfgs that regressed in rep (all of them with
// e.All) and puts their attributions into rep. A configuration that cannot be profiled
// gets an attribution with its error: the verdict stands either way.
func (e Explainer) Explain(ctx context.Context, cfgs []gate.ABConfig, rep *gate.Report) {
	regressed := Regressed(rep)
	run := e.Run
	if run == nil {
		run = RunExplainChild
	}
	show := e.ShowDir
	if show == "" {
		show = e.Dir
	}
	for i, cfg := range cfgs {
		if !e.All && !regressed[cfg.Key] {
			continue
		}
		at := gate.Attribution{Key: cfg.Key}
		name := fmt.Sprintf("%d-%s", i+1, strings.Trim(unsafeName.ReplaceAllString(filepath.Base(cfg.New), "_"), "_"))
		out := filepath.Join(e.Dir, name+".attribution.json")
		traces := [2]string{filepath.Join(e.Dir, name+".base.trace.json"), filepath.Join(e.Dir, name+".head.trace.json")}
		err := os.MkdirAll(e.Dir, 0o755)
		if err == nil {
			err = run(ctx, ExplainArgs(cfg, out, traces), e.Timeout)
		}
		var a profile.Attribution
		if err == nil {
			var b []byte
			if b, err = os.ReadFile(out); err == nil {
				err = json.Unmarshal(b, &a)
			}
		}
		if err != nil {
			at.Err = "profiling both sides failed: " + err.Error()
		} else {
			at.Attribution = &a
			at.Traces = []string{filepath.ToSlash(filepath.Join(show, name+".base.trace.json")), filepath.ToSlash(filepath.Join(show, name+".head.trace.json"))}
		}
		rep.Attributions = append(rep.Attributions, at)
	}
}

// ABConfig is the configuration MeasureAB measures for p (its key, models and knobs).
func (p Pair) ABConfig() gate.ABConfig {
	k := p.Knobs
	key := fmt.Sprintf("%s -> %s (b%d, compile=%s, t%d%s)", p.Old, p.New, k.BatchSize, k.Compile, k.Threads, k.Suffix())
	k.Model = p.New
	k.InteropThreads = max(1, k.InteropThreads)
	return gate.ABConfig{Key: key, Old: p.Old, New: p.New, Knobs: k, Iters: p.Policy.Iters, Warmup: p.Policy.Warmup}
}
