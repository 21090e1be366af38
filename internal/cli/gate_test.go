package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/testutil"
)

// TestGateThresholdFlag: --threshold goes through gate.ParseThreshold and its error names
// the flag.
func TestGateThresholdFlag(t *testing.T) {
	for in, want := range map[string]string{
		"NaN": `perflab: --threshold "NaN": want between 0% and 100%`,
		"5":   `perflab: --threshold "5": want between 0% and 100%`,
		"abc": `perflab: --threshold "abc": want a percentage like 5% or a fraction like 0.05`,
	} {
		code, stdout, stderr := runMain("gate", "--results", filepath.Join(t.TempDir(), "r.jsonl"), "--threshold", in)
		if code != ExitUsage || stdout != "" || !strings.HasPrefix(stderr, want) {
			t.Errorf("--threshold %q: exit %d, stdout %q, stderr %q; want exit %d and %q", in, code, stdout, stderr, ExitUsage, want)
		}
		checkErrorLine(t, stderr)
	}
}

// ---------------------------------------------------------------------------------------
// Flags -> options, nothing runs.

func parseGate(t *testing.T, args ...string) (*GateOptions, error) {
	t.Helper()
	return parseCmd(t, IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, NewGateCmd, args...)
}

func TestGateFlags(t *testing.T) {
	o, err := parseGate(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.Alpha != 0.01 || o.Threshold != "5%" || o.Metrics != "p95,p99,throughput" || o.JSON || o.Out != "" || o.AllowEnvMismatch ||
		o.Results != nil || o.Baseline != "" {
		t.Errorf("defaults: %+v", o)
	}
	if o.MaxLooks != 6 || o.Budget != 15*time.Minute || o.Against != "" || o.GateConfigs != "recommended,batch1" || o.FailOnInconclusive {
		t.Errorf("sequential defaults: %+v", o)
	}
	if o.Rounds != 6 || o.Knobs.BatchSize != 1 || o.Knobs.Threads != 1 || o.Knobs.Compile != "auto" || o.Iters != 400 || o.Warmup != 20 || o.AB != nil || o.Knobs.Inputs != nil {
		t.Errorf("A/B defaults: rounds %d batch %d threads %d compile %q iters %d warmup %d", o.Rounds, o.Knobs.BatchSize, o.Knobs.Threads, o.Knobs.Compile, o.Iters, o.Warmup)
	}
	if s := o.Sweep; s.Preset != "" || s.Quick || s.Models != nil || s.Out != "" || s.Warmup != -1 || s.Repeat != 1 || s.Seed != -1 || s.Progress != "auto" || s.Now == nil {
		t.Errorf("sweep defaults: %+v", s)
	}

	every := []string{
		"--results", "a.jsonl", "--results", "b,c.jsonl",
		"--baseline", "baselines/x.json",
		"--metrics", "p50,throughput",
		"--threshold", "2.5%",
		"--alpha", "0.05",
		"--json",
		"--out", "verdict.md",
		"--allow-env-mismatch",
		"--preset", "cpu_vision",
		"--quick",
		"--models", "resnet18,vit",
		"--sweep-out", "s.jsonl",
		"--ab", "old.pt,new.pt",
		"--input", "float32[B,3,224,224]", "--input", "int64[B,4]:0..9",
		"--rounds", "4",
		"--batch-size", "8",
		"--threads", "2",
		"--compile", "off",
		"--interop-threads", "2", "--channels-last", "--quantize", "--onednn-isa", "avx2",
		"--allocator", "jemalloc", "--omp-wait", "passive", "--pin", "cores",
		"--iters", "500",
		"--warmup", "7",
		"--max-looks", "2",
		"--budget", "90s",
		"--against", "origin/main",
		"--gate-configs", "all",
		"--fail-on-inconclusive",
		"--timeout", "90s",
		"--explain",
		"--no-explain",
		"--explain-dir", "why",
	}
	o, err = parseGate(t, every...)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Results", o.Results, []string{"a.jsonl", "b,c.jsonl"}}, // repeatable, not comma-split
		{"Baseline", o.Baseline, "baselines/x.json"},
		{"Metrics", o.Metrics, "p50,throughput"},
		{"Threshold", o.Threshold, "2.5%"},
		{"Alpha", o.Alpha, 0.05},
		{"JSON", o.JSON, true},
		{"Out", o.Out, "verdict.md"},
		{"AllowEnvMismatch", o.AllowEnvMismatch, true},
		{"Sweep.Preset", o.Sweep.Preset, "cpu_vision"},
		{"Sweep.Quick", o.Sweep.Quick, true},
		{"Sweep.Models", o.Sweep.Models, []string{"resnet18", "vit"}},
		{"Sweep.Out", o.Sweep.Out, "s.jsonl"},
		{"AB", o.AB, []string{"old.pt", "new.pt"}},
		{"Inputs", o.Knobs.Inputs, []string{"float32[B,3,224,224]", "int64[B,4]:0..9"}},
		{"Rounds", o.Rounds, 4},
		{"BatchSize", o.Knobs.BatchSize, 8},
		{"Threads", o.Knobs.Threads, 2},
		{"Compile", o.Knobs.Compile, "off"},
		{"InteropThreads", o.Knobs.InteropThreads, 2},
		{"ChannelsLast", o.Knobs.ChannelsLast, true},
		{"Quantize", o.Knobs.Quantize, true},
		{"OneDNNISA", o.Knobs.OneDNNISA, "avx2"},
		{"Allocator", o.Knobs.Allocator, "jemalloc"},
		{"OMPWait", o.Knobs.OMPWait, "passive"},
		{"Pin", o.Knobs.Pin, "cores"},
		{"Iters", o.Iters, 500},
		{"Warmup", o.Warmup, 7},
		{"MaxLooks", o.MaxLooks, 2},
		{"Budget", o.Budget, 90 * time.Second},
		{"Against", o.Against, "origin/main"},
		{"GateConfigs", o.GateConfigs, "all"},
		{"FailOnInconclusive", o.FailOnInconclusive, true},
		{"Timeout", o.Timeout, 90 * time.Second},
		{"Explain", o.Explain, ExplainOptions{All: true, Off: true, Dir: "why"}},
	}
	for _, c := range checks {
		g, _ := json.Marshal(c.got)
		w, _ := json.Marshal(c.want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %s, want %s", c.name, g, w)
		}
	}
	// Every flag is covered above, so a new flag gets a test.
	NewGateCmd(IO{}, nil).Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !slices.Contains(every, "--"+f.Name) {
			t.Errorf("flag --%s is not covered by the every-flag case", f.Name)
		}
	})

	for _, bad := range [][]string{{"--alpha", "x"}, {"--rounds", "two"}, {"positional"}, {"--json=maybe"}, {"--budget", "soon"}} {
		if _, err := parseGate(t, bad...); err == nil {
			t.Errorf("gate %q parsed", bad)
		}
	}
}

func TestBaselineFlags(t *testing.T) {
	var got *BaselineUpdateOptions
	cmd := newBaselineUpdateCmd(IO{}, func(o *BaselineUpdateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--results", "a.jsonl", "--results", "b.jsonl", "--baseline", "b.json", "--keep", "3", "--commit", "abc"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil || got == nil {
		t.Fatalf("update flags: %v", err)
	}
	if !slices.Equal(got.Results, []string{"a.jsonl", "b.jsonl"}) || got.Baseline != "b.json" || got.Keep != 3 || got.Commit != "abc" || got.Now == nil {
		t.Errorf("update options %+v", got)
	}
	got = nil
	cmd = newBaselineUpdateCmd(IO{}, func(o *BaselineUpdateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--results", "a.jsonl", "--baseline", "b.json"})
	if err := cmd.Execute(); err != nil || got.Keep != baseline.DefaultKeep || got.Commit != "" {
		t.Errorf("update defaults: %v, %+v", err, got)
	}

	var show *BaselineShowOptions
	sc := newBaselineShowCmd(IO{}, func(o *BaselineShowOptions) error { show = o; return nil })
	sc.SetArgs([]string{"--baseline", "b.json", "--json"})
	if err := sc.Execute(); err != nil || show.Baseline != "b.json" || !show.JSON {
		t.Errorf("show flags: %v, %+v", err, show)
	}

	// Required flags, through Main.
	for _, args := range [][]string{
		{"baseline", "update", "--baseline", "b.json"},
		{"baseline", "update", "--results", "a.jsonl"},
		{"baseline", "show"},
	} {
		code, stdout, stderr := runMain(args...)
		if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "required flag") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a required-flag error", args, code, stdout, stderr)
		}
		checkErrorLine(t, stderr)
	}
}

// ---------------------------------------------------------------------------------------
// Through cli.Main in process, on crafted records.

const (
	gtFP    = "25a5ef032987"
	gtOther = "99aa00bb11cc"
)

func gtKey(m string) string { return m + "|b1|compile=off|t1|i1|cl=false|q=false|cpu" }

// gtRecord returns a successful record of model m: 400 lognormal samples (1% noise)
// around 10 ms * factor, on environment fp.
func gtRecord(rng *rand.Rand, m string, factor float64, fp string) *record.Record {
	s := make([]float64, 400)
	for i := range s {
		s[i] = 10 * factor * math.Exp(0.01*rng.NormFloat64())
	}
	sum := stats.Summarize(s, 0.95)
	return &record.Record{
		SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Preset: "gatetest", Knobs: knobs.Knobs{Model: m, BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"},
		Iters:      400,
		LatencyP50: sum.P50, LatencyP90: sum.P90, LatencyP95: sum.P95, LatencyP99: sum.P99, LatencyMean: sum.Mean,
		ThroughputRPS: 1000 / sum.Mean, SamplesMs: s,
		Env: &record.Env{Fingerprint: fp, CPUModel: "Test CPU", CPUsAvailable: 2, Torch: "2.1.0", BLAS: "openblas", OS: "linux/amd64"},
	}
}

func gtFailed(m string) *record.Record {
	return &record.Record{SchemaVersion: 1, Mode: "bench", Status: record.StatusFailed, Error: "exit status 2: boom", Knobs: knobs.Knobs{Model: m, BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"}}
}

func writeJSONL(t *testing.T, path string, recs ...*record.Record) string {
	t.Helper()
	var b []byte
	for _, r := range recs {
		line, err := record.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, line...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gtFixture is a folder with a baseline of models m1 and m2 (5 runs each, built with
// `perflab baseline update`) and results files.
type gtFixture struct {
	dir, base                                    string
	pass, slow, faster, otherEnv, failed, broken string
}

func newGateFixture(t *testing.T) gtFixture {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	f := gtFixture{dir: dir, base: filepath.Join(dir, "baselines", "gatetest.json")}
	for i, drift := range []float64{1, 1.01, 0.99, 1.005, 0.995} {
		in := writeJSONL(t, filepath.Join(dir, "run.jsonl"), gtRecord(rng, "m1", drift, gtFP), gtRecord(rng, "m2", drift, gtFP))
		code, stdout, stderr := runMain("baseline", "update", "--results", in, "--baseline", f.base, "--commit", "c"+string(rune('1'+i)))
		if code != ExitOK {
			t.Fatalf("baseline update %d: exit %d\n%s%s", i+1, code, stdout, stderr)
		}
	}
	f.pass = writeJSONL(t, filepath.Join(dir, "pass.jsonl"), gtRecord(rng, "m1", 1, gtFP), gtRecord(rng, "m2", 1, gtFP))
	// Two entries of 5 runs are little evidence against the ~10% drift the gate assumes
	// between runs: it flags large changes (1.8x) and calls small ones inconclusive.
	f.slow = writeJSONL(t, filepath.Join(dir, "slow.jsonl"), gtRecord(rng, "m1", 1.8, gtFP), gtRecord(rng, "m2", 1, gtFP))
	f.faster = writeJSONL(t, filepath.Join(dir, "faster.jsonl"), gtRecord(rng, "m1", 0.55, gtFP), gtRecord(rng, "m2", 1, gtFP))
	f.otherEnv = writeJSONL(t, filepath.Join(dir, "other.jsonl"), gtRecord(rng, "m1", 1.8, gtOther), gtRecord(rng, "m2", 1, gtOther))
	f.failed = writeJSONL(t, filepath.Join(dir, "failed.jsonl"), gtFailed("m1"), gtFailed("m2"))
	f.broken = filepath.Join(dir, "broken.json")
	if err := os.WriteFile(f.broken, []byte(`{"schema_version": 1, "keep": 5, "entries": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGateMain(t *testing.T) {
	f := newGateFixture(t)
	missing := filepath.Join(f.dir, "baselines", "none.json")
	junk := filepath.Join(f.dir, "junk.jsonl")
	os.WriteFile(junk, []byte("not json\n{\"model\": \"\"}\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings; nil with an error: stdout must be empty
		stderr string   // substring of the one error line (after any "warning:" lines)
	}{
		{"same speed: inconclusive, exit 0", []string{"--results", f.pass, "--baseline", f.base}, ExitOK,
			[]string{"perflab gate: INCONCLUSIVE — 6 of 6 comparisons inconclusive, no regression found; the smallest change they could flag is ~",
				"baseline: " + f.base, "commits c1, c2, c3, c4, c5", "cannot tell"}, ""},
		{"inconclusive with --fail-on-inconclusive", []string{"--results", f.pass, "--baseline", f.base, "--fail-on-inconclusive"}, ExitRegression,
			[]string{"INCONCLUSIVE"}, "perflab: gate: inconclusive: 6 of 6 comparisons inconclusive"},
		{"regression", []string{"--results", f.slow, "--baseline", f.base}, ExitRegression,
			[]string{"perflab gate: REGRESSION — 3 regression(s) in 6 comparisons (3 inconclusive)", "❌ " + gtKey("m1") + " p95: p95 +"}, "perflab: gate: 3 regression(s) in 6 comparisons"},
		{"regression on one metric", []string{"--results", f.slow, "--baseline", f.base, "--metrics", "p50"}, ExitRegression,
			[]string{"REGRESSION — 1 regression(s) in 2 comparisons"}, "1 regression(s)"},
		{"threshold above the change", []string{"--results", f.slow, "--baseline", f.base, "--threshold", "90%"}, ExitOK,
			[]string{"INCONCLUSIVE", "slowdown beyond the band (±90%"}, ""},
		{"improvement is no regression", []string{"--results", f.faster, "--baseline", f.base}, ExitOK,
			[]string{"INCONCLUSIVE — 3 of 6 comparisons inconclusive, no regression found", "3 improvement(s)", "🚀 " + gtKey("m1")}, ""},
		{"missing baseline", []string{"--results", f.slow, "--baseline", missing}, ExitOK,
			[]string{"NO BASELINE", "no baseline: run `perflab baseline update`", "new, no baseline entry: " + gtKey("m1")}, ""},
		{"other environment", []string{"--results", f.otherEnv, "--baseline", f.base}, ExitOK,
			[]string{"INCONCLUSIVE", "6 of 6 comparisons inconclusive", "use --allow-env-mismatch"}, ""},
		{"other environment allowed", []string{"--results", f.otherEnv, "--baseline", f.base, "--allow-env-mismatch"}, ExitRegression,
			[]string{"REGRESSION", "compared with runs from another environment"}, "regression(s)"},
		{"against without a preset", []string{"--against", "HEAD"}, ExitUsage, nil, "--against REV A/B tests the model files of a preset: give --preset"},
		// Configurations the baseline measured that fail now are regressions in themselves.
		{"only failed results", []string{"--results", f.failed, "--baseline", f.base}, ExitRegression,
			[]string{"REGRESSION", "broken (measured in the baseline, fails now): " + gtKey("m1") + ": failed: exit status 2: boom"}, "that the baseline measured now fail"},
		{"malformed baseline", []string{"--results", f.pass, "--baseline", f.broken}, ExitUsage, nil, "baseline " + f.broken + " is malformed"},
		{"missing --results", []string{"--baseline", f.base}, ExitUsage, nil, "missing --results"},
		{"missing --baseline", []string{"--results", f.pass}, ExitUsage, nil, "missing --baseline"},
		{"unknown metric", []string{"--results", f.pass, "--baseline", f.base, "--metrics", "p95,p42"}, ExitUsage, nil, `--metrics: unknown metric "p42"`},
		{"bad threshold", []string{"--results", f.pass, "--baseline", f.base, "--threshold", "5"}, ExitUsage, nil, `--threshold "5"`},
		{"alpha 0", []string{"--results", f.pass, "--baseline", f.base, "--alpha", "0"}, ExitUsage, nil, "--alpha must be between 0 and 1"},
		{"alpha 1", []string{"--results", f.pass, "--baseline", f.base, "--alpha", "1"}, ExitUsage, nil, "--alpha must be between 0 and 1"},
		{"results missing", []string{"--results", filepath.Join(f.dir, "nope.jsonl"), "--baseline", f.base}, ExitUsage, nil, "nope.jsonl does not exist"},
		{"results without a record", []string{"--results", junk, "--baseline", f.base}, ExitUsage, nil, "no valid record in " + junk + " (2 malformed lines)"},
		{"results and preset", []string{"--results", f.pass, "--preset", "cpu_vision", "--baseline", f.base}, ExitUsage, nil, "either --results or --preset"},
		{"ab with results", []string{"--ab", "a.pt,b.pt", "--results", f.pass}, ExitUsage, nil, "--ab measures its own A/B pair"},
		{"ab with one model", []string{"--ab", "a.pt"}, ExitUsage, nil, "--ab takes two models, OLD,NEW; got 1"},
		{"ab with one round", []string{"--ab", "a.pt,b.pt", "--rounds", "1"}, ExitUsage, nil, "--rounds must be >= 3"},
		{"positional", []string{"results.jsonl"}, ExitUsage, nil, `"results.jsonl"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(append([]string{"gate"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			if tt.stdout == nil && stdout != "" {
				t.Errorf("an input error printed on stdout: %q", stdout)
			}
			if tt.stderr == "" {
				if stderr != "" {
					t.Errorf("stderr is not empty: %q", stderr)
				}
				return
			}
			// Malformed result lines are warned about, one line each, before the error.
			last, warns := stderr, 0
			for strings.HasPrefix(last, "warning: "+junk+":") {
				_, last, _ = strings.Cut(last, "\n")
				warns++
			}
			if want := map[bool]int{true: 2}[strings.Contains(tt.stderr, "malformed lines")]; warns != want {
				t.Errorf("%d warning lines, want %d: %q", warns, want, stderr)
			}
			checkErrorLine(t, last)
			if !strings.Contains(last, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.stderr)
			}
		})
	}
}

func TestGateOutAndJSON(t *testing.T) {
	f := newGateFixture(t)
	out := filepath.Join(f.dir, "verdict", "comment.md") // the folder is created
	code, stdout, stderr := runMain("gate", "--results", f.slow, "--baseline", f.base, "--out", out, "--json", "--metrics", "p95,throughput")
	if code != ExitRegression {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	var rep gate.Report
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("--json output does not parse as a report: %v\n%s", err, stdout)
	}
	if rep.Verdict != "regression" || rep.Regressions != 2 || len(rep.Comparisons) != 4 || rep.Fingerprint != gtFP ||
		rep.Baseline == nil || rep.Baseline.Path != f.base || !slices.Equal(rep.Metrics, []string{"p95", "throughput"}) {
		t.Errorf("report: verdict %q, %d regressions, %d comparisons, fingerprint %q, baseline %+v", rep.Verdict, rep.Regressions, len(rep.Comparisons), rep.Fingerprint, rep.Baseline)
	}
	for _, c := range rep.Comparisons {
		// df: pooled over both entries (2 x 4) plus the prior's 4.
		if c.RatioCI == nil || !(c.RatioCI.Lo < c.Ratio && c.Ratio < c.RatioCI.Hi) || c.DF != 12 || c.PAdj < c.P || c.Baseline.Runs != 5 {
			t.Errorf("%s %s: ratio %g, CI %+v, df %g, p %g/%g, runs %d", c.Key, c.Metric, c.Ratio, c.RatioCI, c.DF, c.P, c.PAdj, c.Baseline.Runs)
		}
		want := gate.Inconclusive
		if c.Key == gtKey("m1") {
			want = gate.Regression
		}
		if c.Verdict != want {
			t.Errorf("%s %s: verdict %q (%s), want %q", c.Key, c.Metric, c.Verdict, c.Reason, want)
		}
	}
	if strings.Contains(stdout, "perflab gate: REGRESSION") {
		t.Error("--json also printed the table")
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	rep.Markdown(&want)
	if string(md) != want.String() {
		t.Errorf("--out file differs from the report's markdown:\n--- file\n%s--- want\n%s", md, want.String())
	}
	if !strings.HasPrefix(string(md), "### ❌ perflab gate: regression\n") || !strings.Contains(string(md), "`"+gtKey("m1")+"`") {
		t.Errorf("--out markdown:\n%s", md)
	}

	// --out without --json: the table on stdout, the markdown in the file.
	code, stdout, _ = runMain("gate", "--results", f.pass, "--baseline", f.base, "--out", out)
	md, _ = os.ReadFile(out)
	if code != ExitOK || !strings.HasPrefix(stdout, "perflab gate: INCONCLUSIVE") || !strings.HasPrefix(string(md), "### ❔ perflab gate: inconclusive\n") {
		t.Errorf("pass with --out: exit %d, stdout %q, file %q", code, stdout, md)
	}
	// An --out that cannot be written is an error.
	code, _, stderr = runMain("gate", "--results", f.pass, "--baseline", f.base, "--out", f.pass+"/x.md")
	if code != ExitUsage {
		t.Errorf("unwritable --out: exit %d, want 2 (%s)", code, stderr)
	}
}

func TestBaselineUpdateShow(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	path := filepath.Join(dir, "baselines", "gatetest.json")
	in := writeJSONL(t, filepath.Join(dir, "r1.jsonl"), gtRecord(rng, "m1", 1, gtFP), gtFailed("bad"), gtRecord(rng, "m2", 1, gtFP))

	code, stdout, stderr := runMain("baseline", "update", "--results", in, "--baseline", path, "--commit", "0123456789abcdef", "--keep", "2")
	if code != ExitOK {
		t.Fatalf("update: exit %d\n%s%s", code, stdout, stderr)
	}
	if want := path + ": 2 configurations added, 0 updated (commit 0123456789abcdef, keeping 2 runs each); 2 entries in all\n"; stdout != want {
		t.Errorf("update stdout %q, want %q", stdout, want)
	}
	if want := "not stored: " + gtKey("bad") + ": failed: exit status 2: boom\n"; stderr != want {
		t.Errorf("update stderr %q, want %q", stderr, want)
	}
	for i := 2; i <= 3; i++ {
		in := writeJSONL(t, filepath.Join(dir, "r.jsonl"), gtRecord(rng, "m1", 1, gtFP))
		code, stdout, _ = runMain("baseline", "update", "--results", in, "--baseline", path, "--commit", "c"+string(rune('0'+i)), "--keep", "2")
		if code != ExitOK || !strings.Contains(stdout, "0 configurations added, 1 updated") || !strings.Contains(stdout, "2 entries in all") {
			t.Errorf("update %d: exit %d, %q", i, code, stdout)
		}
	}
	f, err := baseline.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Preset != "gatetest" || f.Keep != 2 || len(f.Entries) != 2 {
		t.Fatalf("baseline: preset %q keep %d, %d entries", f.Preset, f.Keep, len(f.Entries))
	}
	var commits []string
	for _, r := range f.Lookup(gtKey("m1")).Runs {
		commits = append(commits, r.Commit)
	}
	if !slices.Equal(commits, []string{"c2", "c3"}) || len(f.Lookup(gtKey("m2")).Runs) != 1 {
		t.Errorf("m1 runs from %v, want the newest 2 (c2, c3); m2 kept its one run", commits)
	}

	code, stdout, stderr = runMain("baseline", "show", "--baseline", path)
	if code != ExitOK || stderr != "" {
		t.Fatalf("show: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 5 || lines[0] != path+": preset gatetest, 2 configurations, keeping 2 runs each" || !strings.HasPrefix(lines[2], "configuration") {
		t.Fatalf("show output:\n%s", stdout)
	}
	for i, m := range []string{"m1", "m2"} {
		fields := strings.Fields(lines[3+i])
		runs := map[string]string{"m1": "2", "m2": "1"}[m]
		commit := map[string]string{"m1": "c3", "m2": "0123456789"}[m]
		if len(fields) != 9 || fields[0] != gtKey(m) || fields[1] != runs || fields[6] != commit || fields[8] != gtFP {
			t.Errorf("show row for %s: %q; want key, %s runs, last commit %s, fingerprint", m, fields, runs, commit)
		}
	}
	code, stdout, _ = runMain("baseline", "show", "--baseline", path, "--json")
	onDisk, _ := os.ReadFile(path)
	if code != ExitOK || stdout != string(onDisk) {
		t.Errorf("show --json: exit %d, output differs from the file", code)
	}

	code, stdout, stderr = runMain("baseline", "show", "--baseline", filepath.Join(dir, "none.json"))
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "create it with perflab baseline update") {
		t.Errorf("show of a missing file: exit %d, %q", code, stderr)
	}
	checkErrorLine(t, stderr)
}

func TestBaselineUpdateNothingUsable(t *testing.T) {
	dir := t.TempDir()
	bad := gtFailed("m1")
	wrong := gtRecord(rand.New(rand.NewPCG(1, 1)), "m2", 1, gtFP)
	wrong.Correctness = &record.Correctness{OK: false, RelDiff: 0.2, Tolerance: 1e-3}
	in := writeJSONL(t, filepath.Join(dir, "failed.jsonl"), bad, wrong)

	// A new baseline is not created.
	path := filepath.Join(dir, "baselines", "new.json")
	code, stdout, stderr := runMain("baseline", "update", "--results", in, "--baseline", path, "--commit", "c")
	if code != ExitUsage || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2, nothing", code, stdout)
	}
	if !strings.Contains(stderr, "not stored: "+gtKey("m1")+": failed: exit status 2: boom") ||
		!strings.Contains(stderr, "not stored: "+gtKey("m2")+": outputs differ from the plain model") ||
		!strings.Contains(stderr, "perflab: no usable record in "+in+" to store (2 skipped): the baseline was not changed") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the baseline file was created: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("the baseline folder was created: %v", err)
	}

	// An existing baseline is left byte for byte.
	f := newGateFixture(t)
	before, _ := os.ReadFile(f.base)
	code, _, _ = runMain("baseline", "update", "--results", in, "--baseline", f.base, "--commit", "c")
	after, _ := os.ReadFile(f.base)
	if code != ExitUsage || !bytes.Equal(before, after) {
		t.Errorf("exit %d, file changed %v; want 2 and the file untouched", code, !bytes.Equal(before, after))
	}
	// --keep 0 and a corrupt baseline are input errors too, and change nothing.
	for _, args := range [][]string{
		{"--results", f.pass, "--baseline", f.base, "--keep", "0"},
		{"--results", f.pass, "--baseline", f.broken},
	} {
		brokenBefore, _ := os.ReadFile(f.broken)
		code, _, stderr := runMain(append([]string{"baseline", "update", "--commit", "c"}, args...)...)
		after, _ := os.ReadFile(f.base)
		brokenAfter, _ := os.ReadFile(f.broken)
		if code != ExitUsage || !bytes.Equal(before, after) || !bytes.Equal(brokenBefore, brokenAfter) {
			t.Errorf("%q: exit %d (%s); want 2 and no file changed", args, code, stderr)
		}
	}
}

// TestGateAB runs `perflab gate --ab` for real: perflab child processes benchmark a tiny
// model against itself in 3 interleaved rounds.
func TestGateAB(t *testing.T) {
	lin := testutil.Fixture(t, "linear.pt")
	out := filepath.Join(t.TempDir(), "ab.md")
	r := runPerflab(t, nil, "gate", "--ab", lin, "--ab", lin, "--input", "float32[B,8]", "--rounds", "3", "--iters", "40", "--threshold", "50%",
		"--warmup", "5", "--metrics", "p50", "--json", "--out", out)
	if r.code != ExitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep gate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, r.stdout)
	}
	if rep.Verdict != gate.Pass || len(rep.Comparisons) != 1 || rep.Baseline != nil {
		t.Fatalf("verdict %q, %d comparisons; want pass, 1:\n%s", rep.Verdict, len(rep.Comparisons), r.stdout)
	}
	c := rep.Comparisons[0]
	// A first look that is undecided on a busy machine goes on 3 rounds at a time (up to
	// --max-looks 6): 3 to 18 rounds, decided on all of them.
	n := c.Current.Runs
	if c.Key != lin+" -> "+lin+" (b1, compile=auto, t1)" || c.Metric != "p50" || c.Verdict == gate.Regression || c.Verdict == gate.Inconclusive ||
		n%3 != 0 || n < 3 || n > 18 || c.Method != fmt.Sprintf("paired A/B: %d interleaved rounds, each run's p50 by Harrell-Davis, t with %d df", n, n-1) || c.DF != float64(n-1) || c.Baseline.Runs != n {
		t.Errorf("comparison: %+v", c)
	}
	// The same model on both sides: a ratio near 1 whose CI covers 1.
	// The same model on both sides. A microsecond model on a busy machine is noisy, so
	// only what holds whatever the noise: a ratio inside its CI, a p-value, no regression.
	if !(c.Ratio > 0) || c.RatioCI == nil || !(c.RatioCI.Lo < c.Ratio && c.Ratio < c.RatioCI.Hi) || !(c.P > 0 && c.P <= 1) || c.PAdj != c.P {
		t.Errorf("ratio %g, CI %+v, p %g, p_adj %g; want a ratio inside its CI and p = p_adj in (0, 1]", c.Ratio, c.RatioCI, c.P, c.PAdj)
	}
	for _, w := range []string{"[1] " + c.Key + ": A p95 ", "[2] " + c.Key + ": A p95 ", "[3] " + c.Key + ": A p95 "} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not report progress %q:\n%s", w, r.stderr)
		}
	}
	if md, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(md), "### ✅ perflab gate: pass") {
		t.Errorf("--out: %v\n%s", err, md)
	}
}

// TestABRoundArgs: an A/B round's child gets every knob of the gated configuration (before
// the knobs were one type, onednn_isa and the CPU knobs were dropped), and the child's
// own flag parsing reads them back.
func TestABRoundArgs(t *testing.T) {
	k := knobs.Knobs{Model: "new.pt", Inputs: []string{"float32[B,3,8,8]"}, BatchSize: 4, Compile: "on", Threads: 1,
		ChannelsLast: true, OneDNNISA: "avx2", Allocator: "jemalloc", OMPWait: "passive", Pin: "cores"}
	args := flow.ABRoundArgs(gate.ABConfig{Key: "k", Old: "old.pt", New: "new.pt", Knobs: k, Iters: 50, Warmup: 3}, [2]string{"old.pt", "new.pt"}, 2)
	var got *BenchOptions
	cmd := NewBenchCmd(IO{}, func(o *BenchOptions) error { got = o; return nil })
	cmd.SetArgs(args[1:])
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench %q: %v", args, err)
	}
	want := k
	want.Model, want.InteropThreads, want.Device = "old.pt", 1, knobs.CPU
	if !reflect.DeepEqual(got.Config.Knobs, want) {
		t.Errorf("A/B child knobs\n got %+v\nwant %+v", got.Config.Knobs, want)
	}
	if got.ABWith != "new.pt" || got.Config.Iters != 50 || got.Config.Warmup != 3 || got.Config.Seed != 2 || !got.JSON {
		t.Errorf("A/B child options %+v", got)
	}
	// The child's crash exit code, which the flow turns into a CrashError, is the table's.
	if flow.ChildCrashCode != ExitCrash {
		t.Errorf("flow.ChildCrashCode %d, ExitCrash %d", flow.ChildCrashCode, ExitCrash)
	}
}
