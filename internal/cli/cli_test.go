package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/testutil"
)

// asCLI makes the test binary behave as perflab itself: tests run it as a child process
// (a fresh process per run, as perflab runs each configuration).
const asCLI = "PERFLAB_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(Main(os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
	}
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------------------------
// Layer 1: flags -> BenchOptions, in process, nothing runs.

// parseBench runs `bench args...` with a runF that captures the options.
func parseBench(t *testing.T, args ...string) (*BenchOptions, IO, error) {
	t.Helper()
	ios := IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	got, err := parseCmd(t, ios, NewBenchCmd, args...)
	return got, ios, err
}

// parseCmd parses args with the command newCmd makes (its run function only keeps the
// options) and returns the options the command would run with.
func parseCmd[O any](t *testing.T, ios IO, newCmd func(IO, func(*O) error) *cobra.Command, args ...string) (*O, error) {
	t.Helper()
	var got *O
	cmd := newCmd(ios, func(o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	if err == nil && got == nil {
		t.Fatalf("%s %q: runF was not called", cmd.Name(), args)
	}
	return got, err
}

func TestBenchFlagDefaults(t *testing.T) {
	o, ios, err := parseBench(t, "--model", "resnet18")
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.Model != "resnet18" || c.Device != "cpu" || c.BatchSize != 1 || c.Iters != 200 || c.Warmup != 20 ||
		c.Compile != "auto" {
		t.Errorf("defaults: got %+v; want model resnet18, device cpu, batch 1, iters 200, warmup 20, compile auto", c)
	}
	if c.Threads != 0 || c.InteropThreads != 0 || c.ChannelsLast || c.Quantize || c.Seed != 0 || c.Inputs != nil ||
		c.Image != "" || c.PreprocessIters != bench.Defaults().PreprocessIters {
		t.Errorf("defaults: got %+v; want threads 0 (= CPUs available), no knobs, no inputs", c)
	}
	if o.Out != "" || o.JSON {
		t.Errorf("defaults: Out %q, JSON %v; want none", o.Out, o.JSON)
	}
	if o.IO.Out != ios.Out || o.IO.ErrOut != ios.ErrOut {
		t.Error("BenchOptions.IO is not the IO given to NewBenchCmd")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the default configuration does not validate: %v", err)
	}
}

func TestBenchFlagsParsed(t *testing.T) {
	defaults, _, err := parseBench(t, "--model", "m")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want func(o *BenchOptions)
	}{
		{
			name: "every flag",
			args: []string{
				"--model", "./my model.pt",
				"--input", "float32[B,3,224,224]",
				"--input", "int64[B,128]:0..8191",
				"--device", "cpu",
				"--onednn-isa", "avx2",
				"--allocator", "jemalloc",
				"--omp-wait", "passive",
				"--pin", "0-1",
				"--batch-size", "16",
				"--iters", "7",
				"--warmup", "3",
				"--compile", "off",
				"--threads", "2",
				"--interop-threads", "1",
				"--channels-last",
				"--quantize",
				"--seed", "-42",
				"--preprocess-iters", "0",
				"--image", "cat.jpg",
				"--target-percentile", "p99",
				"--target-ci", "0.02",
				"--max-seconds", "1.5",
				"--out", "results/a/runs.jsonl",
				"--json",
				"--ab-with", "other.pt",
				"--profile",
				"--profile-forwards", "12",
				"--explain",
				"--trace-dir", "traces",
			},
			want: func(o *BenchOptions) {
				o.Profile.On, o.Profile.Forwards, o.Profile.Explain, o.Profile.TraceDir = true, 12, true, "traces"
				c := &o.Config
				c.Model = "./my model.pt"
				c.Inputs = []string{"float32[B,3,224,224]", "int64[B,128]:0..8191"}
				c.OneDNNISA = "avx2"
				c.Allocator, c.OMPWait, c.Pin = "jemalloc", "passive", "0-1"
				c.Device, c.BatchSize, c.Iters, c.Warmup, c.Compile = "cpu", 16, 7, 3, "off"
				c.Threads, c.InteropThreads, c.ChannelsLast, c.Quantize, c.Seed = 2, 1, true, true, -42
				c.PreprocessIters, c.Image = 0, "cat.jpg"
				c.TargetPercentile, c.TargetCI, c.MaxSeconds = "p99", 0.02, 1.5
				o.Out, o.JSON, o.ABWith = "results/a/runs.jsonl", true, "other.pt"
			},
		},
		{
			name: "= forms",
			args: []string{"--model=tiny_transformer", "--batch-size=8", "--compile=on", "--quantize=true", "--channels-last=false", "--json=false"},
			want: func(o *BenchOptions) {
				o.Config.Model, o.Config.BatchSize, o.Config.Compile, o.Config.Quantize = "tiny_transformer", 8, "on", true
			},
		},
		{
			// An --input holds commas: it must not be split like a string slice.
			name: "repeated --input keeps order and commas",
			args: []string{"--model", "x.pt", "--input=int64[B,4]:0..9", "--input", "float32[B,8]", "--input", "bool[B]"},
			want: func(o *BenchOptions) {
				o.Config.Model = "x.pt"
				o.Config.Inputs = []string{"int64[B,4]:0..9", "float32[B,8]", "bool[B]"}
			},
		},
		{
			name: "last value wins",
			args: []string{"--model", "a", "--model", "resnet18", "--iters", "5", "--iters", "9"},
			want: func(o *BenchOptions) { o.Config.Model, o.Config.Iters = "resnet18", 9 },
		},
		{
			// Flags parse; Validate (at run time) rejects the values.
			name: "values are not validated while parsing",
			args: []string{"--model", "m", "--device", "cuda", "--iters", "0", "--threads", "-1"},
			want: func(o *BenchOptions) { o.Config.Device, o.Config.Iters, o.Config.Threads = "cuda", 0, -1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseBench(t, tt.args...)
			if err != nil {
				t.Fatalf("bench %q: %v", tt.args, err)
			}
			want := *defaults
			want.Config.Inputs = slices.Clone(defaults.Config.Inputs)
			want.IO = got.IO
			tt.want(&want)
			if !reflect.DeepEqual(got.Config, want.Config) || got.Out != want.Out || got.JSON != want.JSON || !reflect.DeepEqual(got.Profile, want.Profile) {
				t.Errorf("bench %q:\n got %+v out=%q json=%v\nwant %+v out=%q json=%v",
					tt.args, got.Config, got.Out, got.JSON, want.Config, want.Out, want.JSON)
			}
		})
	}

	// The "every flag" case must really use every flag, so a new flag gets a test.
	cmd := NewBenchCmd(IO{}, nil)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden && !slices.Contains(tests[0].args, "--"+f.Name) {
			t.Errorf("flag --%s is not covered by the \"every flag\" case", f.Name)
		}
	})
}

func TestBenchRunFError(t *testing.T) {
	boom := errors.New("boom")
	cmd := NewBenchCmd(IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(*BenchOptions) error { return boom })
	cmd.SetArgs([]string{"--model", "m"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); !errors.Is(err, boom) {
		t.Fatalf("Execute = %v, want runF's error", err)
	}
}

// runMain runs cli.Main in process.
func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// checkUsageError runs perflab with args in process and asserts a usage error: exit code
// ExitUsage, one error line containing each of want, nothing on stdout.
func checkUsageError(t *testing.T, args, want []string) {
	t.Helper()
	code, stdout, stderr := runMain(args...)
	if code != ExitUsage {
		t.Errorf("exit code %d, want %d (usage)", code, ExitUsage)
	}
	checkErrorLine(t, stderr)
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not contain %q", stderr, w)
		}
	}
	if stdout != "" {
		t.Errorf("stdout is not empty: %q", stdout)
	}
}

// checkErrorLine asserts perflab's error contract: exactly one line on stderr, starting
// "perflab: ", and no C++ backtrace, Python traceback or Go panic.
func checkErrorLine(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "perflab: ") {
		t.Errorf("stderr does not start with \"perflab: \": %q", stderr)
	}
	if !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not exactly one line: %q", stderr)
	}
	for _, bad := range []string{"Exception raised from", "Traceback", "goroutine", "panic", "frame #"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr contains %q: %q", bad, stderr)
		}
	}
}

func TestMainFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"bench", "--model", "resnet18", "--bogus"}, []string{"unknown flag: --bogus", "perflab bench --help"}},
		{"bad int", []string{"bench", "--model", "resnet18", "--batch-size", "x"}, []string{`"x"`, "--batch-size"}},
		{"bad float", []string{"bench", "--model", "resnet18", "--target-ci", "tight"}, []string{`"tight"`, "--target-ci"}},
		{"bad bool", []string{"bench", "--model", "resnet18", "--json=maybe"}, []string{`"maybe"`, "--json"}},
		{"flag without value", []string{"bench", "--model"}, []string{"--model"}},
		{"missing --model", []string{"bench", "--iters", "5"}, []string{`"model"`}},
		{"positional argument", []string{"bench", "resnet18"}, []string{`"resnet18"`}},
		{"unknown command", []string{"benchmark"}, []string{`unknown command "benchmark"`}},
		{"unknown root flag", []string{"--bogus"}, []string{"unknown flag: --bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUsageError(t, tt.args, tt.want) })
	}
}

// commandFlags lists the flags cmd shows in its help (local and inherited).
func commandFlags(cmd *cobra.Command) []string {
	var names []string
	add := func(f *pflag.Flag) {
		if !f.Hidden && !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return names
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		cmdPath []string // the command whose flags must all be mentioned
		example string
	}{
		{"perflab --help", []string{"--help"}, nil, "perflab bench --model"},
		{"perflab bench --help", []string{"bench", "--help"}, []string{"bench"}, "perflab bench --model resnet18"},
		{"perflab help bench", []string{"help", "bench"}, []string{"bench"}, "perflab bench --model resnet18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			ios := IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
			root := NewRoot(ios)
			root.SetArgs(tt.args)
			if err := root.Execute(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			help := out.String()
			if errOut.Len() != 0 {
				t.Errorf("help wrote to stderr: %q", errOut.String())
			}
			cmd, _, err := root.Find(tt.cmdPath)
			if err != nil {
				t.Fatal(err)
			}
			flags := commandFlags(cmd)
			if len(flags) < 2 {
				t.Fatalf("found only flags %v", flags)
			}
			for _, f := range flags {
				if !strings.Contains(help, "--"+f) {
					t.Errorf("help does not mention --%s", f)
				}
			}
			if !strings.Contains(help, "Examples:") || !strings.Contains(help, tt.example) {
				t.Errorf("help has no example containing %q", tt.example)
			}
			var missing []string
			for _, w := range []string{"Exit codes", "0  success", "1  regression", "2  usage or input error"} {
				if !strings.Contains(help, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) > 0 {
				t.Errorf("help does not document the exit codes (missing %q)", missing)
			}
		})
	}
	// Through Main: exit code 0, help on stdout.
	code, stdout, stderr := runMain("bench", "--help")
	if code != ExitOK || !strings.Contains(stdout, "--batch-size") || stderr != "" {
		t.Errorf("Main(bench --help) = %d, stdout %d bytes, stderr %q", code, len(stdout), stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runMain("--version")
	if code != ExitOK || !strings.Contains(stdout, env.Version) {
		t.Errorf("--version: code %d, stdout %q; want 0 and %q", code, stdout, env.Version)
	}
}

// ---------------------------------------------------------------------------------------
// printSummary: golden file.

func goldenRecord() *record.Record {
	return &record.Record{
		SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Timestamp: "2026-01-30T14:30:22Z",
		Knobs: knobs.Knobs{Model: "resnet18", Device: "cpu", BatchSize: 4, Compile: "auto", Threads: 2, InteropThreads: 1, ChannelsLast: true}, ModelPath: "/m/resnet18.pt",
		CompileApplied: true,
		Iters:          200, Warmup: 20,
		LatencyP50: 12.3456, LatencyP90: 15.1, LatencyP95: 16.8, LatencyP99: 19.25,
		LatencyCI: map[string]stats.CI{
			"p50": {Lo: 12.1, Hi: 12.6, Confidence: 0.95},
			"p90": {Lo: 14.875, Hi: 15.5, Confidence: 0.95},
			"p95": {Lo: 16.5, Hi: 17.25, Confidence: 0.9},
		},
		IQROverMedian: 0.0734, ThroughputRPS: 245.34, ForwardMsPerBatch: 14.2, WallMs: 3260,
		Preprocess:  &record.Preprocess{Image: "synthetic 640x480 JPEG", Iters: 50, P50: 3.2, P95: 4.125, Mean: 3.3},
		Correctness: &record.Correctness{Reference: "plain", MaxAbsDiff: 1e-7, RefMaxAbs: 3.5, RelDiff: 2.9e-8, Tolerance: 1e-3, OK: true},
		Output:      "float32[4,1000]",
		Notes:       []string{"no 95% CI for p99: it needs >= 368 iterations (have 200)"},
		Warnings:    []string{"noisy run: IQR/median = 12% (> 10%)"},
		Env: &record.Env{
			Fingerprint: "25a5ef032987", CPUModel: "AMD EPYC", LogicalCPUs: 2, CPUsAvailable: 1.5,
			Torch: "1.13.0", BLAS: "openblas-pthread/libblas.so.3", OS: "linux/amd64", Perflab: "dev", Go: "go1.26.8",
		},
	}
}

func TestPrintSummaryGolden(t *testing.T) {
	var out bytes.Buffer
	printSummary(&BenchOptions{IO: IO{Out: &out}, Out: "results/runs.jsonl"}, goldenRecord())
	got := out.String()

	// What the summary must say, independently of the golden file's exact layout.
	for _, w := range []string{
		"resnet18", "batch 4", "compile on (asked auto)", "threads 2/1", "channels_last true",
		"latency p50", "12.346 ms", "[12.100, 12.600] 95% CI", "latency p90", "latency p95", "[16.500, 17.250] 90% CI",
		"latency p99", "19.250 ms  (too few iterations for a CI)",
		"throughput", "245.3 req/s", "preprocess", "p50 3.200 ms", "synthetic 640x480 JPEG",
		"outputs vs plain model: match", "note: no 95% CI for p99", "warning: noisy run",
		"AMD EPYC", "1.5 CPUs", "libtorch 1.13.0", "25a5ef032987", "appended to results/runs.jsonl",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("summary does not contain %q:\n%s", w, got)
		}
	}

	testutil.Golden(t, filepath.Join("testdata", "summary.golden"), []byte(got))
}

func TestPrintSummaryMinimal(t *testing.T) {
	r := goldenRecord()
	r.LatencyCI, r.Preprocess, r.Notes, r.Warnings = nil, nil, nil, nil
	r.Correctness.OK, r.Correctness.RelDiff = false, 0.25
	var out bytes.Buffer
	printSummary(&BenchOptions{IO: IO{Out: &out}}, r)
	got := out.String()
	if n := strings.Count(got, "(too few iterations for a CI)"); n != 4 {
		t.Errorf("want 4 percentiles without CI, got %d:\n%s", n, got)
	}
	for _, w := range []string{"preprocess", "appended to", "note:", "warning:", "outputs vs plain model: match"} {
		if strings.Contains(got, w) {
			t.Errorf("summary contains %q for a record without it:\n%s", w, got)
		}
	}
	if !strings.Contains(got, "outputs vs plain model: DIFFER (relative difference 0.25 > tolerance 0.001)") {
		t.Errorf("summary does not flag the output difference:\n%s", got)
	}
}

// ---------------------------------------------------------------------------------------
// Layer 2: end to end through a real perflab process.

type cliResult struct {
	code           int
	stdout, stderr string
}

// runPerflab runs the test binary as perflab in a fresh process, in a temp folder, with
// extra environment variables.
func runPerflab(t *testing.T, extraEnv []string, args ...string) cliResult {
	t.Helper()
	return runPerflabIn(t, t.TempDir(), extraEnv, args...)
}

// runPerflabIn runs perflab (the test binary) in dir, with extra environment variables.
func runPerflabIn(t *testing.T, dir string, extraEnv []string, args ...string) cliResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(append(os.Environ(), asCLI+"=1"), extraEnv...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

// runCmd runs cmd, the test binary as perflab, and returns its exit code and output,
// failing the test when it did not exit normally (a crash or a timeout).
func runCmd(t *testing.T, cmd *exec.Cmd) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("perflab %q did not exit normally (crash or timeout): %v\nstdout:\n%s\nstderr:\n%s", cmd.Args[1:], err, r.stdout, r.stderr)
	}
	return r
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// checkRecord checks a record of a successful run of conv.pt.
func checkRecord(t *testing.T, r *record.Record, convPath string, threads, interop int) {
	t.Helper()
	if r.SchemaVersion != record.SchemaVersion || r.Mode != "bench" || r.Status != record.StatusOK || !r.Usable() {
		t.Errorf("schema %d, mode %q, status %q, usable %v", r.SchemaVersion, r.Mode, r.Status, r.Usable())
	}
	if _, err := time.Parse(time.RFC3339, r.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", r.Timestamp, err)
	}
	sum, err := model.SHA256(convPath)
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != convPath || r.ModelPath != convPath || r.ModelSHA256 != sum {
		t.Errorf("model %q, path %q, sha %q; want %q and its sha %q", r.Model, r.ModelPath, r.ModelSHA256, convPath, sum)
	}
	if !slices.Equal(r.Inputs, []string{"float32[B,3,16,16]"}) || r.Device != "cpu" || r.BatchSize != 2 ||
		r.Iters != 30 || r.Warmup != 2 || r.Compile != "auto" || r.ChannelsLast || r.Quantize {
		t.Errorf("configuration not recorded as given: %+v", r)
	}
	if r.Threads != threads || r.InteropThreads != interop {
		t.Errorf("recorded threads %d/%d, want %d/%d", r.Threads, r.InteropThreads, threads, interop)
	}
	if r.Output != "float32[2,4]" {
		t.Errorf("output %q, want float32[2,4]", r.Output)
	}
	if r.CompileApplied && (r.Correctness == nil || !r.Correctness.OK) {
		t.Errorf("compile applied but correctness is %+v", r.Correctness)
	}
	// Internal consistency only: no absolute timing.
	if len(r.SamplesMs) != r.Iters {
		t.Errorf("%d samples for %d iterations", len(r.SamplesMs), r.Iters)
	}
	total := 0.0
	for _, s := range r.SamplesMs {
		if !(s > 0) {
			t.Errorf("sample %g is not positive", s)
		}
		total += s
	}
	if !(0 < r.LatencyMin && r.LatencyMin <= r.LatencyP50 && r.LatencyP50 <= r.LatencyP90 &&
		r.LatencyP90 <= r.LatencyP95 && r.LatencyP95 <= r.LatencyP99 && r.LatencyP99 <= r.LatencyMax) {
		t.Errorf("percentiles out of order: min %g p50 %g p90 %g p95 %g p99 %g max %g",
			r.LatencyMin, r.LatencyP50, r.LatencyP90, r.LatencyP95, r.LatencyP99, r.LatencyMax)
	}
	if !slices.Contains(r.SamplesMs, r.LatencyP50) || !slices.Contains(r.SamplesMs, r.LatencyP99) {
		t.Errorf("nearest-rank percentiles must be samples: p50 %g, p99 %g", r.LatencyP50, r.LatencyP99)
	}
	if total > r.WallMs*(1+1e-9) {
		t.Errorf("the samples add up to %g ms, more than the loop's wall time %g ms", total, r.WallMs)
	}
	if want := float64(r.BatchSize*r.Iters) / (r.WallMs / 1000); !(r.ThroughputRPS > 0) ||
		math.Abs(r.ThroughputRPS-want) > 1e-6*want {
		t.Errorf("throughput %g req/s, want batch*iters/wall = %g", r.ThroughputRPS, want)
	}
	if ci, ok := r.LatencyCI["p50"]; !ok || !(ci.Lo <= r.LatencyP50 && r.LatencyP50 <= ci.Hi) || ci.Confidence != 0.95 {
		t.Errorf("p50 CI %+v (present %v) does not hold p50 %g at 95%%", ci, ok, r.LatencyP50)
	}
	if r.Env == nil || !fingerprintRE.MatchString(r.Env.Fingerprint) || r.Env.Torch == "" || r.Env.BLAS == "" {
		t.Errorf("env %+v: want a fingerprint, libtorch version and BLAS", r.Env)
	}
}

func TestBenchAppendsRecords(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	conv := testutil.Fixture(t, "conv.pt")
	out := filepath.Join(t.TempDir(), "a", "b", "runs.jsonl")
	args := []string{"bench", "--model", conv, "--input", "float32[B,3,16,16]", "--iters", "30", "--warmup", "2",
		"--threads", "1", "--interop-threads", "1", "--batch-size", "2", "--out", out}
	for i := range 2 {
		r := runPerflab(t, nil, args...)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\nstderr: %s", i+1, r.code, r.stderr)
		}
		if r.stderr != "" {
			t.Errorf("run %d: stderr is not empty: %q", i+1, r.stderr)
		}
		for _, w := range []string{"latency p50", "latency p99", "throughput", "threads 1/1", "appended to " + out} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("run %d: summary does not contain %q:\n%s", i+1, w, r.stdout)
			}
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("%s has %d lines, want 2 newline-terminated:\n%.300s", out, len(lines), data)
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %d is not valid JSON", i+1)
		}
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Errorf("bad line: %v", le) })
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadFile: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		t.Run("record"+string(rune('1'+i)), func(t *testing.T) { checkRecord(t, r, conv, 1, 1) })
	}
	if recs[0].Env.Fingerprint != recs[1].Env.Fingerprint {
		t.Errorf("two runs on one machine have different fingerprints: %s, %s", recs[0].Env.Fingerprint, recs[1].Env.Fingerprint)
	}
}

// TestBenchThreadsPerProcess: a second process with other thread counts records them
// (libtorch's inter-op count can be set only once per process).
func TestBenchThreadsPerProcess(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	conv := testutil.Fixture(t, "conv.pt")
	out := filepath.Join(t.TempDir(), "runs.jsonl")
	for _, n := range []int{2, 1} {
		ns := string(rune('0' + n))
		r := runPerflab(t, nil, "bench", "--model", conv, "--input", "float32[B,3,16,16]", "--iters", "30", "--warmup", "2",
			"--threads", ns, "--interop-threads", ns, "--batch-size", "2", "--out", out)
		if r.code != 0 {
			t.Fatalf("--threads %d: exit %d\nstderr: %s", n, r.code, r.stderr)
		}
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Errorf("bad line: %v", le) })
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadFile: %d records, %v", len(recs), err)
	}
	for i, n := range []int{2, 1} {
		checkRecord(t, recs[i], conv, n, n)
		// libtorch itself reports the counts.
		for _, w := range []string{"at::get_num_threads() : ", "at::get_num_interop_threads() : "} {
			if want := w + string(rune('0'+n)); !strings.Contains(recs[i].Env.Parallel, want) {
				t.Errorf("run with %d threads: env.parallel %q does not contain %q", n, recs[i].Env.Parallel, want)
			}
		}
	}
}

func TestBenchJSON(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	linear := testutil.Fixture(t, "linear.pt")
	out := filepath.Join(t.TempDir(), "runs.jsonl")
	r := runPerflab(t, nil, "bench", "--model", linear, "--input", "float32[B,8]", "--iters", "5", "--warmup", "1",
		"--threads", "1", "--seed", "7", "--json", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr is not empty: %q", r.stderr)
	}
	if !strings.HasSuffix(r.stdout, "\n") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout is not exactly one line:\n%s", r.stdout)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	rec, err := record.Parse([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Model != linear || rec.Iters != 5 || rec.Seed != 7 || len(rec.SamplesMs) != 5 || rec.Output != "float32[1,2]" || rec.Env == nil {
		t.Errorf("record does not describe the run: %+v", rec)
	}
	// --json and --out together: the file holds the very same line.
	if data, err := os.ReadFile(out); err != nil || string(data) != r.stdout {
		t.Errorf("--out file (%v) differs from the --json line:\nfile   %q\nstdout %q", err, data, r.stdout)
	}
}

// TestBenchKnobs runs perflab bench with the CPU serving knobs: the process re-executes
// itself with them, and the record says what it ran with (the allocator as mapped, the
// OpenMP variables, the CPUs), keys them, and keeps the machine's fingerprint; settings
// inherited from the environment instead go into the fingerprint, with a warning.
func TestBenchKnobs(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	linear := testutil.Fixture(t, "linear.pt")
	args := []string{"bench", "--model", linear, "--input", "float32[B,8]", "--iters", "5", "--warmup", "1", "--json"}
	run := func(extraEnv []string, knobs ...string) *record.Record {
		t.Helper()
		r := runPerflab(t, extraEnv, append(slices.Clone(args), knobs...)...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d\nstderr: %s", knobs, r.code, r.stderr)
		}
		rec, err := record.Parse([]byte(r.stdout))
		if err != nil {
			t.Fatalf("%q: %v\n%s", knobs, err, r.stdout)
		}
		return rec
	}
	plain := run(nil, "--threads", "1")
	if plain.Env.Allocator != "glibc" || plain.Allocator != "" || plain.OMPWait != "" || plain.Pin != "" || plain.Env.InheritedKnobs != "" {
		t.Errorf("plain run: allocator %q/%q, omp_wait %q, pin %q, inherited %q", plain.Allocator, plain.Env.Allocator, plain.OMPWait, plain.Pin, plain.Env.InheritedKnobs)
	}
	tests := []struct {
		knobs            []string
		alloc, wait, pin string // record fields
		envAlloc, cpus   string
		omp              []string // in env.omp
		keySuffix        string
	}{
		{[]string{"--threads", "1", "--allocator", "jemalloc"}, "jemalloc", "", "", "jemalloc", plain.Env.ProcessCPUs, nil, "|alloc=jemalloc"},
		{[]string{"--threads", "1", "--allocator", "tcmalloc", "--omp-wait", "passive"}, "tcmalloc", "passive", "", "tcmalloc", plain.Env.ProcessCPUs,
			[]string{"OMP_WAIT_POLICY=PASSIVE", "GOMP_SPINCOUNT=0"}, "|alloc=tcmalloc|wait=passive"},
		{[]string{"--threads", "1", "--allocator", "glibc", "--omp-wait", "active", "--pin", "0"}, "", "active", "0", "glibc", "0",
			[]string{"OMP_WAIT_POLICY=ACTIVE", "GOMP_SPINCOUNT=infinite", "OMP_PROC_BIND=close", "OMP_PLACES={0}"}, "|wait=active|pin=0"},
		// libgomp binds the main thread (and every thread Go starts) to the first listed CPU.
		{[]string{"--pin", "1,0", "--threads", "1"}, "", "", "0-1", "glibc", "0", []string{"OMP_PROC_BIND=close", "OMP_PLACES={0},{1}"}, "|pin=0-1"},
	}
	for _, tc := range tests {
		rec := run(nil, tc.knobs...)
		if rec.Allocator != tc.alloc || rec.OMPWait != tc.wait || rec.Pin != tc.pin {
			t.Errorf("%q: record allocator %q, omp_wait %q, pin %q; want %q, %q, %q", tc.knobs, rec.Allocator, rec.OMPWait, rec.Pin, tc.alloc, tc.wait, tc.pin)
		}
		if rec.Env.Allocator != tc.envAlloc || rec.Env.ProcessCPUs != tc.cpus {
			t.Errorf("%q: env allocator %q, process CPUs %q; want %q, %q", tc.knobs, rec.Env.Allocator, rec.Env.ProcessCPUs, tc.envAlloc, tc.cpus)
		}
		for _, v := range tc.omp {
			if !strings.Contains(rec.Env.OMP, v) {
				t.Errorf("%q: env omp %q lacks %s", tc.knobs, rec.Env.OMP, v)
			}
		}
		if rec.Key() != plain.Key()+tc.keySuffix {
			t.Errorf("%q: key %q, want %q", tc.knobs, rec.Key(), plain.Key()+tc.keySuffix)
		}
		if rec.Env.Fingerprint != plain.Env.Fingerprint || rec.Env.CPUsAvailable != plain.Env.CPUsAvailable {
			t.Errorf("%q: fingerprint %s (%g CPUs), plain run %s (%g CPUs): a knob in the key must not change the machine's fingerprint",
				tc.knobs, rec.Env.Fingerprint, rec.Env.CPUsAvailable, plain.Env.Fingerprint, plain.Env.CPUsAvailable)
		}
	}
	// The same allocator inherited through LD_PRELOAD: in the fingerprint, with a warning.
	lib, err := procknob.LibraryPath("jemalloc")
	if err != nil {
		t.Fatal(err)
	}
	inh := run([]string{"LD_PRELOAD=" + lib}, "--threads", "1")
	if inh.Env.Allocator != "jemalloc" || inh.Env.InheritedKnobs != "allocator=jemalloc" || inh.Env.Fingerprint == plain.Env.Fingerprint || inh.Key() != plain.Key() {
		t.Errorf("inherited LD_PRELOAD: env allocator %q, inherited %q, fingerprint %s (plain %s), key %q",
			inh.Env.Allocator, inh.Env.InheritedKnobs, inh.Env.Fingerprint, plain.Env.Fingerprint, inh.Key())
	}
	if !slices.ContainsFunc(inh.Warnings, func(w string) bool { return strings.Contains(w, "inherited allocator=jemalloc") }) {
		t.Errorf("inherited LD_PRELOAD: no warning in %q", inh.Warnings)
	}
	// Bad values: one line naming the flag and the fix, exit 2, before anything runs.
	for _, bad := range [][]string{{"--allocator", "mimalloc"}, {"--omp-wait", "spin"}, {"--pin", "0-4095"}} {
		r := runPerflab(t, nil, append(slices.Clone(args), bad...)...)
		if r.code == 0 || !strings.Contains(r.stderr, bad[0]) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%q: exit %d, stderr %q: want one line naming %s", bad, r.code, r.stderr, bad[0])
		}
	}
}

func TestBenchBuiltin(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	dir := testutil.ModelsDir(t)
	r := runPerflab(t, []string{model.EnvModelsDir + "=" + dir},
		"bench", "--model", "mobilenet_v3_small", "--iters", "10", "--warmup", "1", "--threads", "1", "--preprocess-iters", "3")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, w := range []string{"mobilenet_v3_small", "latency p50", "throughput", "preprocess", "synthetic 640x480 JPEG"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("summary does not contain %q:\n%s", w, r.stdout)
		}
	}
}

// badInput is a bench invocation that must fail with exit code 2.
type badInput struct {
	name string
	args []string
	want []string // substrings of the error line
}

// checkBadRun asserts the contract of a failed bench: exit code 2, one clean line on
// stderr containing want, nothing on stdout, the --out file as it was.
func checkBadRun(t *testing.T, tc badInput, r cliResult, out string, before []byte) {
	t.Helper()
	if r.code != ExitUsage {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, ExitUsage, r.stdout, r.stderr)
	}
	checkErrorLine(t, r.stderr)
	for _, w := range tc.want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not contain %q", r.stderr, w)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty: %q", r.stdout)
	}
	after, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("--out file changed (%v):\nbefore %q\nafter  %q", err, before, after)
	}
}

// existingOut writes a JSONL file holding one earlier record and returns its path and bytes.
func existingOut(t *testing.T) (string, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "runs.jsonl")
	if err := record.AppendFile(out, &record.Record{Knobs: knobs.Knobs{Model: "earlier", BatchSize: 1}, Status: record.StatusOK, LatencyP50: 1}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, before
}

// quickArgs keep a run that wrongly succeeds short. They come before a case's own flags,
// so that a case may override them (the last value of a flag wins).
var quickArgs = []string{"--iters", "3", "--warmup", "0", "--threads", "1"}

// TestBenchBadInputs runs each bad input in a real perflab process: files libtorch must
// refuse, inputs the model rejects, knobs that cannot apply.
func TestBenchBadInputs(t *testing.T) {
	fx := testutil.Fixtures(t)
	conv := filepath.Join(fx, "conv.pt")
	linear := filepath.Join(fx, "linear.pt")
	models := testutil.ModelsDir(t)

	dir := t.TempDir()
	convData, err := os.ReadFile(conv)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*131 + i/7)
	}
	files := map[string][]byte{
		"garbage.pt":   garbage,
		"truncated.pt": convData[:len(convData)/2],
		"empty.pt":     nil,
		"notes.txt":    []byte("not a JPEG\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	convIn := []string{"--model", conv, "--input", "float32[B,3,16,16]"}
	with := func(extra ...string) []string { return append(slices.Clone(convIn), extra...) }
	mobilenet := []string{"--model", "mobilenet_v3_small", "--compile", "off", "--preprocess-iters", "2"}

	tests := []badInput{
		{"missing file", []string{"--model", filepath.Join(dir, "missing.pt"), "--input", "float32[B,3,16,16]"}, []string{"missing.pt", "does not exist"}},
		{"garbage file", []string{"--model", filepath.Join(dir, "garbage.pt"), "--input", "float32[B,3,16,16]"}, []string{"garbage.pt", "not a TorchScript archive"}},
		{"truncated file", []string{"--model", filepath.Join(dir, "truncated.pt"), "--input", "float32[B,3,16,16]"}, []string{"truncated.pt", "truncated"}},
		{"empty file", []string{"--model", filepath.Join(dir, "empty.pt"), "--input", "float32[B,3,16,16]"}, []string{"empty.pt", "empty"}},
		{"torch.save checkpoint", []string{"--model", filepath.Join(fx, "state_dict.pt"), "--input", "float32[B,8]"}, []string{"checkpoint", "torch.jit.save"}},
		{"wrong shape", []string{"--model", conv, "--input", "float32[B,3,16]"}, []string{"rejected input", "float32[1,3,16]"}},
		{"wrong channels", []string{"--model", conv, "--input", "float32[B,4,16,16]"}, []string{"rejected input", "channels"}},
		{"wrong dtype", []string{"--model", conv, "--input", "int64[B,3,16,16]:0..9"}, []string{"rejected input"}},
		{"too many inputs", with("--input", "float32[B,8]"), []string{"forward takes 1 argument", "2 --input"}},
		{"model raises", []string{"--model", filepath.Join(fx, "raises.pt"), "--input", "float32[B,4]"}, []string{"expected 8 features"}},
		{"index out of range", []string{"--model", filepath.Join(fx, "two_inputs.pt"), "--input", "float32[B,8]", "--input", "int64[B,4]:0..100"}, []string{"rejected input", "index out of range"}},
		{"malformed --input", []string{"--model", conv, "--input", "float32[B,3,16"}, []string{"malformed --input", "float32[B,3,16", "e.g."}},
		{"unknown model name", []string{"--model", "resnet"}, []string{"unknown model", `"resnet"`, "resnet18"}},
		{"--quantize on fixture", with("--quantize"), []string{"--quantize", "quantize_dynamic"}},
		{"--channels-last on linear.pt", []string{"--model", linear, "--input", "float32[B,8]", "--channels-last"}, []string{"--channels-last", "float32[B,8]"}},
		{"--iters 0", with("--iters", "0"), []string{"--iters", ">= 1", "got 0"}},
		{"--device cuda", with("--device", "cuda"), []string{"--device cuda", "--device cpu"}},
		{"--image missing", append(slices.Clone(mobilenet), "--image", filepath.Join(dir, "nope.jpg")), []string{"nope.jpg"}},
		{"--image not a JPEG", append(slices.Clone(mobilenet), "--image", filepath.Join(dir, "notes.txt")), []string{"notes.txt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, before := existingOut(t)
			args := append(append(append([]string{"bench"}, quickArgs...), tc.args...), "--out", out)
			r := runPerflab(t, []string{model.EnvModelsDir + "=" + models}, args...)
			checkBadRun(t, tc, r, out, before)
		})
	}

	// An --out that cannot be written: the run measures, then fails cleanly.
	t.Run("--out not writable", func(t *testing.T) {
		t.Parallel()
		blocker := filepath.Join(dir, "notes.txt")
		r := runPerflab(t, nil, append(append(append([]string{"bench"}, quickArgs...), convIn...), "--out", filepath.Join(blocker, "runs.jsonl"))...)
		if r.code != ExitUsage {
			t.Errorf("exit code %d, want %d; stderr %q", r.code, ExitUsage, r.stderr)
		}
		checkErrorLine(t, r.stderr)
		if !strings.Contains(r.stderr, blocker) || r.stdout != "" {
			t.Errorf("stderr %q should name the --out path; stdout %q should be empty", r.stderr, r.stdout)
		}
	})
}

// TestBenchBadConfigInProcess: bad configurations refused before libtorch loads anything
// (flag values, model resolution), through cli.Main in this process.
func TestBenchBadConfigInProcess(t *testing.T) {
	t.Setenv(model.EnvModelsDir, testutil.ModelsDir(t))
	conv := testutil.Fixture(t, "conv.pt")
	with := func(extra ...string) []string {
		return append([]string{"--model", conv, "--input", "float32[B,3,16,16]"}, extra...)
	}
	tests := []badInput{
		{"no --input", []string{"--model", conv}, []string{conv, "--input"}},
		{"built-in with other --input", []string{"--model", "mobilenet_v3_small", "--input", "float32[B,3,32,32]"}, []string{"drop --input"}},
		{"--quantize on vision built-in", []string{"--model", "mobilenet_v3_small", "--quantize"}, []string{"--quantize", "no dynamic-int8 variant"}},
		{"--batch-size 0", with("--batch-size", "0"), []string{"--batch-size", "got 0"}},
		{"--warmup -1", with("--warmup", "-1"), []string{"--warmup"}},
		{"--threads -1", with("--threads", "-1"), []string{"--threads"}},
		{"--interop-threads -2", with("--interop-threads", "-2"), []string{"--interop-threads"}},
		{"--preprocess-iters -1", with("--preprocess-iters", "-1"), []string{"--preprocess-iters"}},
		{"--compile maybe", with("--compile", "maybe"), []string{"--compile", `"maybe"`}},
		{"--device cuda:0", with("--device", "cuda:0"), []string{"cuda:0", "--device cpu"}},
		{"--device mps", with("--device", "mps"), []string{"mps", "--device cpu"}},
		{"--device tpu", with("--device", "tpu"), []string{`"tpu"`, "cpu"}},
		{"--target-percentile p42", with("--target-percentile", "p42"), []string{"--target-percentile", `"p42"`}},
		{"--target-ci -1", with("--target-ci", "-1"), []string{"--target-ci"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, before := existingOut(t)
			args := append(append(append([]string{"bench"}, quickArgs...), tc.args...), "--out", out)
			code, stdout, stderr := runMain(args...)
			checkBadRun(t, tc, cliResult{code: code, stdout: stdout, stderr: stderr}, out, before)
		})
	}
}
