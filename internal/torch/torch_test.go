package torch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/testutil"
)

// The package's init (pl_init) runs on the process's main OS thread. Keeping the main
// goroutine locked to it means that the child-process helpers (runHelper) run there, that
// tests run on other OS threads, and that onFreshThread never gets the main one.
func init() { runtime.LockOSThread() }

// Environment of the child processes this test binary starts (see TestMain).
const (
	helperEnv       = "PERFLAB_TORCH_TEST_HELPER"
	helperModelEnv  = "PERFLAB_TORCH_TEST_HELPER_MODEL"
	helperThreadEnv = "PERFLAB_TORCH_TEST_HELPER_THREAD" // "main" or "fresh"
)

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

// onFreshThread runs f on a goroutine locked to an OS thread that is not the main one and
// that is discarded afterwards (the goroutine exits locked). It returns that thread's id.
// f must not call t.Fatal and friends.
func onFreshThread(f func()) (tid int) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		tid = syscall.Gettid()
		if tid == syscall.Getpid() {
			panic("onFreshThread: got the main OS thread")
		}
		f()
	}()
	<-done
	return tid
}

// runHelper runs one scenario that needs a fresh process, on the main goroutine (so on the
// main OS thread), and prints its outcome as JSON.
func runHelper(name string) int {
	out := map[string]any{"pid": os.Getpid()}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	switch name {
	case "warnings":
		m, err := Load(os.Getenv(helperModelEnv))
		if err != nil {
			return fail(err)
		}
		x, err := Random(Float32, []int64{2, 8}, false, 0, 0, 1)
		if err != nil {
			return fail(err)
		}
		var errs []error
		forwards := func(n int) {
			for range n {
				if v, err := m.Forward([]*Tensor{x}); err != nil {
					errs = append(errs, err)
				} else {
					v.Close()
				}
			}
		}
		texts := func(ws []Warning) []string {
			out := []string{}
			for _, w := range ws {
				out = append(out, w.String())
			}
			return out
		}
		scenario := func() {
			out["tid"] = syscall.Gettid()
			forwards(5)
			out["first"] = texts(TakeWarnings())
			out["second"] = texts(TakeWarnings())
			forwards(2)
			out["after_more_forwards"] = texts(TakeWarnings())
			// Batches 1, 2, 3, 3: texts that differ in their numbers count as one warning.
			for _, b := range []int64{1, 2, 3, 3} {
				xb, err := Random(Float32, []int64{b, 8}, false, 0, 0, 1)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if v, err := m.Forward([]*Tensor{xb}); err != nil {
					errs = append(errs, err)
				} else {
					v.Close()
				}
				xb.Close()
			}
			out["batches"] = texts(TakeWarnings())
		}
		switch os.Getenv(helperThreadEnv) {
		case "main":
			scenario()
		case "fresh":
			onFreshThread(scenario)
		default:
			return fail(fmt.Errorf("%s must be main or fresh", helperThreadEnv))
		}
		if len(errs) > 0 {
			return fail(errors.Join(errs...))
		}
	case "optimized-forwards":
		// Load, freeze + optimize_for_inference, then three forwards (the TensorExpr fuser
		// hung libtorch 2.6 on the second): each finite where the plain model's output is,
		// and the same as the first. (How close the optimized output is to the plain one
		// depends on the kernels oneDNN picks on this CPU: the bench guard's business.)
		m, err := Load(os.Getenv(helperModelEnv))
		if err != nil {
			return fail(err)
		}
		x, err := Random(Float32, []int64{1, 3, 224, 224}, false, 0, 0, 1)
		if err != nil {
			return fail(err)
		}
		plain, err := m.Forward([]*Tensor{x})
		if err != nil {
			return fail(err)
		}
		opt, err := m.Optimize()
		if err != nil {
			return fail(err)
		}
		var worst []float64
		var first *Value
		for range 3 {
			v, err := opt.Forward([]*Tensor{x})
			if err != nil {
				return fail(err)
			}
			c, err := plain.Compare(v, 0, 0)
			if err != nil {
				return fail(err)
			}
			if c.NonFiniteMismatch != 0 || c.Elements == 0 {
				return fail(fmt.Errorf("optimized output: %d of %d elements non-finite where the plain output is not", c.NonFiniteMismatch, c.Elements))
			}
			if first == nil {
				first = v
			}
			c, err = first.Compare(v, 1e-5, 1e-5)
			if err != nil {
				return fail(err)
			}
			worst = append(worst, c.Worst)
		}
		out["worst"] = worst
	case "interop-once":
		_, cur := Threads()
		errText := func(err error) string {
			if err == nil {
				return ""
			}
			var te *Error
			if !errors.As(err, &te) {
				return "not a *torch.Error: " + err.Error()
			}
			return err.Error()
		}
		out["initial"] = cur
		out["same"] = errText(SetThreads(0, cur))
		out["first"] = errText(SetThreads(0, cur+1))
		_, out["after_first"] = Threads()
		out["again"] = errText(SetThreads(0, cur+1))
		out["second"] = errText(SetThreads(0, cur+2))
		_, out["after_second"] = Threads()
	default:
		return fail(fmt.Errorf("unknown helper %q", name))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fail(err)
	}
	fmt.Println(string(b))
	return 0
}

// runInChild runs the named helper in a child process and decodes its JSON outcome.
func runInChild(t *testing.T, name string, env ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + name}, env...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v\nstdout: %s\nstderr: %s", name, err, stdout, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("helper %s: %v\nstdout: %s\nstderr: %s", name, err, stdout, stderr.String())
	}
	out["stderr"] = stderr.String()
	return out
}

func load(t *testing.T, fixture string) *Module {
	t.Helper()
	m, err := Load(testutil.Fixture(t, fixture))
	if err != nil {
		t.Fatalf("Load(%s): %v", fixture, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func random(t *testing.T, dt DType, shape []int64, hasRange bool, lo, hi float64, seed uint64) *Tensor {
	t.Helper()
	x, err := Random(dt, shape, hasRange, lo, hi, seed)
	if err != nil {
		t.Fatalf("Random(%v, %v, %v, %g, %g): %v", dt, shape, hasRange, lo, hi, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func fromFloat32(t *testing.T, data []float32, shape []int64) *Tensor {
	t.Helper()
	x, err := FromFloat32(data, shape)
	if err != nil {
		t.Fatalf("FromFloat32(%d values, %v): %v", len(data), shape, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func forward(t *testing.T, m *Module, in ...*Tensor) *Value {
	t.Helper()
	v, err := m.Forward(in)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func maxAbsDiff(t *testing.T, a, b *Value) (diff, ref float64) {
	t.Helper()
	diff, ref, err := a.MaxAbsDiff(b)
	if err != nil {
		t.Fatalf("MaxAbsDiff: %v", err)
	}
	return diff, ref
}

// torchError asserts that err is a *Error of operation op whose message is condensed: no
// C++ backtrace, no TorchScript traceback. It returns the message.
func torchError(t *testing.T, err error, op string) string {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("got %T %v, want a *torch.Error", err, err)
	}
	if !strings.HasPrefix(te.Op, op) {
		t.Errorf("Op = %q, want prefix %q", te.Op, op)
	}
	if te.Error() != te.Op+": "+te.Msg {
		t.Errorf("Error() = %q, want Op + \": \" + Msg", te.Error())
	}
	for _, bad := range []string{"Exception raised from", "Traceback of TorchScript", "frame #", "<--- HERE", "most recent call"} {
		if strings.Contains(te.Msg, bad) {
			t.Errorf("message contains %q:\n%s", bad, te.Msg)
		}
	}
	if te.Msg == "" || te.Msg != strings.TrimSpace(te.Msg) {
		t.Errorf("message %q is empty or not trimmed", te.Msg)
	}
	return te.Msg
}

func TestLoadFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		nArgs   int
		inSig   string // how the forward's arguments appear in the schema
	}{
		{"conv.pt", 1, "Tensor x"},
		{"two_inputs.pt", 2, "Tensor x, Tensor ids"},
		{"linear.pt", 1, "Tensor x"},
		{"raises.pt", 1, "Tensor x"},
		{"noisy.pt", 1, "Tensor x"},
		{"warns.pt", 1, "Tensor x"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			m := load(t, tc.fixture)
			schema, n, err := m.Schema()
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.nArgs {
				t.Errorf("Schema() args = %d, want %d (schema %q)", n, tc.nArgs, schema)
			}
			if !strings.HasPrefix(schema, "forward(") || !strings.Contains(schema, tc.inSig) || !strings.Contains(schema, " self") {
				t.Errorf("Schema() = %q, want forward(... self, %s) ...", schema, tc.inSig)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conv, err := os.ReadFile(testutil.Fixture(t, "conv.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(conv) <= 1000 {
		t.Fatalf("conv.pt has %d bytes; the truncation case needs more than 1000", len(conv))
	}
	tests := []struct {
		name string
		path string
		want []string // substrings of the message
		kind ErrorKind
	}{
		{"missing", filepath.Join(dir, "missing.pt"), []string{"open file failed"}, ErrOther},
		{"empty", write("empty.pt", nil), []string{"zip archive"}, ErrNotArchive},
		{"garbage", write("garbage.pt", []byte("this is not a TorchScript file, only some garbage bytes\n")), []string{"zip archive", "central directory"}, ErrNotArchive},
		{"truncated", write("truncated.pt", conv[:1000]), []string{"zip archive"}, ErrNotArchive},
		{"folder", t.TempDir(), []string{"zip archive"}, ErrNotArchive},
		{"state_dict", testutil.Fixture(t, "state_dict.pt"), []string{"constants.pkl"}, ErrCheckpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.path)
			if err == nil {
				m.Close()
				t.Fatalf("Load(%s) succeeded", tc.path)
			}
			if m != nil {
				t.Errorf("Load returned a module with its error")
			}
			msg := torchError(t, err, "load")
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			// The kind is classified once, here, and tested with errors.Is.
			var te *Error
			if errors.As(err, &te) && te.Kind != tc.kind {
				t.Errorf("Kind = %v, want %v (message %q)", te.Kind, tc.kind, msg)
			}
			for _, k := range []ErrorKind{ErrOther, ErrCheckpoint, ErrNotArchive} {
				if got := errors.Is(fmt.Errorf("wrapped: %w", err), k); got != (k == tc.kind) {
					t.Errorf("errors.Is(err, %v) = %v, want %v", k, got, k == tc.kind)
				}
			}
			if got := Message(err); got != msg || strings.Contains(got, "\n") {
				t.Errorf("Message = %q, want the one-line message %q", got, msg)
			}
		})
	}
}

func TestForwardOutputs(t *testing.T) {
	tests := []struct {
		fixture string
		inputs  func(t *testing.T, batch int64) []*Tensor
		batch   int64
		want    string
	}{
		{"conv.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float32, []int64{b, 3, 16, 16}, false, 0, 0, 1)}
		}, 2, "float32[2,4]"},
		{"conv.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float32, []int64{b, 3, 16, 16}, false, 0, 0, 1)}
		}, 1, "float32[1,4]"},
		{"two_inputs.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float32, []int64{b, 8}, false, 0, 0, 1), random(t, Int64, []int64{b, 4}, true, 0, 9, 2)}
		}, 3, "(float32[3,3], int64[3])"},
		{"linear.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float32, []int64{b, 8}, false, 0, 0, 1)}
		}, 5, "float32[5,2]"},
		{"raises.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float64, []int64{b, 8}, false, 0, 0, 1)}
		}, 2, "float64[2,8]"},
		{"noisy.pt", func(t *testing.T, b int64) []*Tensor {
			return []*Tensor{random(t, Float32, []int64{b, 8}, false, 0, 0, 1)}
		}, 4, "float32[4,8]"},
		// warns.pt runs in child processes only (TestTakeWarnings): warnings are process-wide.
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/B=%d", tc.fixture, tc.batch), func(t *testing.T) {
			m := load(t, tc.fixture)
			v := forward(t, m, tc.inputs(t, tc.batch)...)
			if got := v.String(); got != tc.want {
				t.Errorf("output = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestForwardErrors(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		inputs  func(t *testing.T) []*Tensor
		want    []string
		good    func(t *testing.T) []*Tensor // inputs that still work afterwards
	}{
		{
			name: "conv wrong channels", fixture: "conv.pt",
			inputs: func(t *testing.T) []*Tensor {
				return []*Tensor{random(t, Float32, []int64{2, 4, 16, 16}, false, 0, 0, 1)}
			},
			want: []string{"expected input[2, 4, 16, 16] to have 3 channels, but got 4 channels instead"},
			good: func(t *testing.T) []*Tensor {
				return []*Tensor{random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 1)}
			},
		},
		{
			name: "conv 2-d input", fixture: "conv.pt",
			inputs: func(t *testing.T) []*Tensor { return []*Tensor{random(t, Float32, []int64{2, 8}, false, 0, 0, 1)} },
			want:   []string{"4D (batched) input to conv2d", "[2, 8]"},
		},
		{
			name: "raises with 7 features", fixture: "raises.pt",
			inputs: func(t *testing.T) []*Tensor { return []*Tensor{random(t, Float32, []int64{2, 7}, false, 0, 0, 1)} },
			want:   []string{"ValueError: expected 8 features"},
			good:   func(t *testing.T) []*Tensor { return []*Tensor{random(t, Float32, []int64{2, 8}, false, 0, 0, 1)} },
		},
		{
			name: "ids out of the embedding's range", fixture: "two_inputs.pt",
			inputs: func(t *testing.T) []*Tensor {
				return []*Tensor{random(t, Float32, []int64{3, 8}, false, 0, 0, 1), random(t, Int64, []int64{3, 4}, true, 0, 100, 1)}
			},
			want: []string{"index out of range"},
			good: func(t *testing.T) []*Tensor {
				return []*Tensor{random(t, Float32, []int64{3, 8}, false, 0, 0, 1), random(t, Int64, []int64{3, 4}, true, 0, 9, 1)}
			},
		},
		{
			name: "float ids", fixture: "two_inputs.pt",
			inputs: func(t *testing.T) []*Tensor {
				return []*Tensor{random(t, Float32, []int64{3, 8}, false, 0, 0, 1), random(t, Float32, []int64{3, 4}, false, 0, 0, 1)}
			},
			want: []string{"'indices'", "Long, Int"},
		},
		{
			name: "one input for two", fixture: "two_inputs.pt",
			inputs: func(t *testing.T) []*Tensor { return []*Tensor{random(t, Float32, []int64{3, 8}, false, 0, 0, 1)} },
			want:   []string{"missing value for argument 'ids'"},
		},
		{
			name: "no input", fixture: "linear.pt",
			inputs: func(t *testing.T) []*Tensor { return nil },
			want:   []string{"missing value for argument 'x'"},
		},
		{
			name: "three inputs for two", fixture: "two_inputs.pt",
			inputs: func(t *testing.T) []*Tensor {
				x := random(t, Float32, []int64{3, 8}, false, 0, 0, 1)
				return []*Tensor{x, x, x}
			},
			want: []string{"Expected at most 3 argument(s)", "received 4"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := load(t, tc.fixture)
			v, err := m.Forward(tc.inputs(t))
			if err == nil {
				t.Fatalf("Forward succeeded with %s", v)
			}
			if v != nil {
				t.Errorf("Forward returned a value with its error")
			}
			msg := torchError(t, err, "forward")
			if !errors.Is(err, ErrOther) {
				t.Errorf("a forward failure is classified as %v", err.(*Error).Kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message has several lines:\n%s", msg)
			}
			// TimedForward reports the same failure.
			if _, err := m.TimedForward(tc.inputs(t), make([]int64, 3)); err == nil {
				t.Errorf("TimedForward succeeded where Forward failed")
			} else if got := torchError(t, err, "forward"); got != msg {
				t.Errorf("TimedForward error %q, Forward error %q", got, msg)
			}
			if tc.good != nil {
				forward(t, m, tc.good(t)...) // the module is still usable
			}
		})
	}
}

// TestRandomRanges checks values through raises.pt, which returns 2*x for any [N,8] x:
// MaxAbsDiff(2x, 2c) with c the middle of the range bounds max|x-c| and so both ends.
func TestRandomRanges(t *testing.T) {
	m := load(t, "raises.pt")
	shape := []int64{125, 8} // 1000 values: every integer of a small range shows up
	tests := []struct {
		name     string
		dt       DType
		hasRange bool
		lo, hi   float64
		// want max|x - (lo+hi)/2|: exact for integers, an upper bound (exclusive) for floats
		halfWidth float64
	}{
		{"int64 0..9", Int64, true, 0, 9, 4.5},
		{"int64 -5..5", Int64, true, -5, 5, 5},
		{"int64 7..7", Int64, true, 7, 7, 0},
		{"int32 0..3", Int32, true, 0, 3, 1.5},
		{"int16 -100..100", Int16, true, -100, 100, 100},
		{"int8 0..9", Int8, true, 0, 9, 4.5},
		{"uint8 0..100", Uint8, true, 0, 100, 50},
		{"int64 default 0..1", Int64, false, 0, 1, 0.5},
		{"float32 2..4", Float32, true, 2, 4, 1},
		{"float64 -1..1", Float64, true, -1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := random(t, tc.dt, shape, tc.hasRange, tc.lo, tc.hi, 42)
			v := forward(t, m, x)
			if want := fmt.Sprintf("%s[125,8]", tc.dt); v.String() != want {
				t.Errorf("output = %s, want %s", v, want)
			}
			mid := float32((tc.lo + tc.hi) / 2)
			c := make([]float32, 1000)
			for i := range c {
				c[i] = mid
			}
			vc := forward(t, m, fromFloat32(t, c, shape))
			diff, _ := maxAbsDiff(t, v, vc)
			got := diff / 2 // max|x - mid|
			if tc.dt.IsFloat() {
				if !(got < tc.halfWidth && got > 0.95*tc.halfWidth) {
					t.Errorf("max|x-%g| = %g, want in (%g, %g): values outside [%g, %g) or not spread", mid, got, 0.95*tc.halfWidth, tc.halfWidth, tc.lo, tc.hi)
				}
			} else if got != tc.halfWidth {
				t.Errorf("max|x-%g| = %g, want %g: values outside [%g, %g] or the ends never drawn", mid, got, tc.halfWidth, tc.lo, tc.hi)
			}
		})
	}
}

func TestRandomStandardNormal(t *testing.T) {
	m := load(t, "raises.pt")
	x := random(t, Float32, []int64{125, 8}, false, 0, 0, 3)
	v := forward(t, m, x)
	_, ref := maxAbsDiff(t, v, v)
	// 1000 standard normal draws: max|x| is all but surely in (2, 6).
	if got := ref / 2; got < 2 || got > 6 {
		t.Errorf("max|x| = %g over 1000 standard normal values", got)
	}
}

func TestRandomSeeds(t *testing.T) {
	m := load(t, "raises.pt")
	for _, dt := range []DType{Float32, Int64} {
		a := forward(t, m, random(t, dt, []int64{4, 8}, true, 0, 1000, 7))
		b := forward(t, m, random(t, dt, []int64{4, 8}, true, 0, 1000, 7))
		c := forward(t, m, random(t, dt, []int64{4, 8}, true, 0, 1000, 8))
		if d, _ := maxAbsDiff(t, a, b); d != 0 {
			t.Errorf("%v: same seed, max|a-b| = %g", dt, d)
		}
		if d, _ := maxAbsDiff(t, a, c); d == 0 {
			t.Errorf("%v: seeds 7 and 8 give the same tensor", dt)
		}
	}
}

func TestRandomAllDTypes(t *testing.T) {
	m := load(t, "raises.pt")
	for name, dt := range dtypeNames {
		x := random(t, dt, []int64{2, 8}, false, 0, 0, 1)
		want := name + "[2,8]"
		if dt == Bool {
			want = "int64[2,8]" // bool * 2 promotes
		}
		if got := forward(t, m, x).String(); got != want {
			t.Errorf("%s: raises(x) = %s, want %s", name, got, want)
		}
	}
}

func TestRandomErrors(t *testing.T) {
	tests := []struct {
		name     string
		dt       DType
		shape    []int64
		hasRange bool
		lo, hi   float64
		want     string
	}{
		{"negative dimension", Float32, []int64{-2, 8}, false, 0, 0, "negative dimension"},
		{"unknown dtype", DType(42), []int64{2}, false, 0, 0, "unknown dtype code 42"},
		{"empty integer range", Int64, []int64{2}, true, 5, 1, "from"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := Random(tc.dt, tc.shape, tc.hasRange, tc.lo, tc.hi, 1)
			if err == nil {
				x.Close()
				t.Fatal("Random succeeded")
			}
			if msg := torchError(t, err, "tensor"); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not contain %q", msg, tc.want)
			}
		})
	}
}

func TestFromFloat32(t *testing.T) {
	m := load(t, "raises.pt")
	data := make([]float32, 16)
	for i := range data {
		data[i] = float32(i) - 7.5 // -7.5 .. 7.5
	}
	orig := slices.Clone(data)
	x := fromFloat32(t, data, []int64{2, 8})
	for i := range data {
		data[i] = 1000 // the tensor holds a copy
	}
	v := forward(t, m, x)
	if v.String() != "float32[2,8]" {
		t.Errorf("output = %s", v)
	}
	same := forward(t, m, fromFloat32(t, orig, []int64{2, 8}))
	if d, ref := maxAbsDiff(t, v, same); d != 0 || ref != 15 {
		t.Errorf("max|a-b| = %g (want 0), max|2x| = %g (want 15): data not copied at creation", d, ref)
	}
	zero := forward(t, m, fromFloat32(t, make([]float32, 16), []int64{2, 8}))
	if d, _ := maxAbsDiff(t, v, zero); d != 15 {
		t.Errorf("max|2x - 0| = %g, want 15", d)
	}

	// Scalars and empty tensors.
	s, err := FromFloat32([]float32{3}, nil)
	if err != nil {
		t.Errorf("scalar: %v", err)
	} else {
		s.Close()
	}
	e, err := FromFloat32(nil, []int64{0, 8})
	if err != nil {
		t.Errorf("empty: %v", err)
	} else {
		e.Close()
	}

	errs := []struct {
		name  string
		n     int
		shape []int64
		want  string
	}{
		{"too few", 15, []int64{2, 8}, "15 values do not fill shape [2 8]"},
		{"too many", 17, []int64{2, 8}, "17 values do not fill shape [2 8]"},
		{"none", 0, []int64{2}, "0 values do not fill shape [2]"},
		{"negative dims", 8, []int64{-2, -4}, "negative dimension"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			x, err := FromFloat32(make([]float32, tc.n), tc.shape)
			if err == nil {
				x.Close()
				t.Fatal("FromFloat32 succeeded")
			}
			if msg := torchError(t, err, "tensor"); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not contain %q", msg, tc.want)
			}
		})
	}
}

func TestOptimizeKeepsOutputs(t *testing.T) {
	m := load(t, "conv.pt")
	x := random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 5)
	plain := forward(t, m, x)
	opt, err := m.Optimize()
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	got := forward(t, opt, x)
	if got.String() != plain.String() {
		t.Errorf("optimized output %s, plain %s", got, plain)
	}
	diff, ref := maxAbsDiff(t, plain, got)
	if ref == 0 || diff/ref > 1e-4 {
		t.Errorf("optimized output differs: max|a-b| = %g, max|a| = %g", diff, ref)
	}
	// m itself is unchanged and still runs.
	again := forward(t, m, x)
	if d, _ := maxAbsDiff(t, plain, again); d != 0 {
		t.Errorf("plain model changed after Optimize: max|a-b| = %g", d)
	}
	// The optimized module is a module like any other.
	if _, n, err := opt.Schema(); err != nil || n != 1 {
		t.Errorf("optimized Schema() = %d args, %v", n, err)
	}
}

// TestOptimizedRepeatedForward: a built-in model after freeze + optimize_for_inference (the
// compile step) runs three forwards in a child process under a deadline, with finite
// outputs, the same each time. libtorch 2.6 built with LLVM (Debian's) hung on the second
// forward unless the binding turns the TensorExpr fuser off: that must never reach a user.
func TestOptimizedRepeatedForward(t *testing.T) {
	dir := testutil.ModelsDir(t)
	for _, name := range []string{"resnet18", "mobilenet_v3_small"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=optimized-forwards", helperModelEnv+"="+filepath.Join(dir, name+".pt"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if ctx.Err() != nil {
				t.Fatalf("three forwards of the optimized %s did not finish in 3 min (the TensorExpr fuser hang?)", name)
			}
			if err != nil {
				t.Fatalf("helper: %v\nstderr: %s", err, stderr.String())
			}
			var out struct{ Worst []float64 }
			if err := json.Unmarshal(stdout, &out); err != nil {
				t.Fatalf("helper: %v\nstdout: %s", err, stdout)
			}
			if len(out.Worst) != 3 {
				t.Fatalf("worst = %v, want 3 forwards", out.Worst)
			}
			for i, w := range out.Worst {
				if math.IsNaN(w) || w > 1 {
					t.Errorf("forward %d of the optimized model: worst |a-b|/tol = %g against the first, want <= 1", i+1, w)
				}
			}
		})
	}
}

func TestChannelsLastClone(t *testing.T) {
	m := load(t, "conv.pt")
	x := random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 6)
	plain := forward(t, m, x)

	c, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.ToChannelsLast(); err != nil {
		t.Fatal(err)
	}
	xcl, err := x.ChannelsLast()
	if err != nil {
		t.Fatal(err)
	}
	defer xcl.Close()

	m.Close() // the clone is independent of the original
	got := forward(t, c, xcl)
	if got.String() != "float32[2,4]" {
		t.Errorf("output = %s", got)
	}
	diff, ref := maxAbsDiff(t, plain, got)
	if ref == 0 || diff/ref > 1e-4 {
		t.Errorf("channels_last output differs: max|a-b| = %g, max|a| = %g", diff, ref)
	}
	// A channels_last model also takes a contiguous input, and optimizes.
	forward(t, c, x)
	opt, err := c.Optimize()
	if err != nil {
		t.Fatalf("Optimize after ToChannelsLast: %v", err)
	}
	defer opt.Close()
	if d, r := maxAbsDiff(t, plain, forward(t, opt, xcl)); d/r > 1e-4 {
		t.Errorf("optimized channels_last output differs: %g / %g", d, r)
	}

	// Only 4-d tensors convert.
	for _, shape := range [][]int64{{2, 8}, {2, 3, 4, 4, 4}} {
		y := random(t, Float32, shape, false, 0, 0, 1)
		if z, err := y.ChannelsLast(); err == nil {
			z.Close()
			t.Errorf("ChannelsLast of a %d-d tensor succeeded", len(shape))
		} else if msg := torchError(t, err, "channels_last"); !strings.Contains(msg, "4-d") {
			t.Errorf("message %q does not say 4-d", msg)
		}
	}
	// Models without 4-d weights convert as a no-op.
	lin := load(t, "linear.pt")
	if err := lin.ToChannelsLast(); err != nil {
		t.Errorf("linear.pt ToChannelsLast: %v", err)
	}
}

func TestMaxAbsDiffErrors(t *testing.T) {
	conv := load(t, "conv.pt")
	two := load(t, "two_inputs.pt")
	a := forward(t, conv, random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 1))
	b := forward(t, conv, random(t, Float32, []int64{3, 3, 16, 16}, false, 0, 0, 1))
	c := forward(t, two, random(t, Float32, []int64{2, 8}, false, 0, 0, 1), random(t, Int64, []int64{2, 4}, true, 0, 9, 1))
	tests := []struct {
		name string
		x, y *Value
		want string
	}{
		{"shape", a, b, "differs in shape"},
		{"structure", a, c, "differ in structure: 1 vs 2 tensors"},
	}
	for _, tc := range tests {
		if _, _, err := tc.x.MaxAbsDiff(tc.y); err == nil {
			t.Errorf("%s: MaxAbsDiff succeeded", tc.name)
		} else if msg := torchError(t, err, "compare outputs"); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q does not contain %q", tc.name, msg, tc.want)
		}
	}
	// A tuple against itself: both tensors count.
	if d, ref := maxAbsDiff(t, c, c); d != 0 || ref <= 0 {
		t.Errorf("MaxAbsDiff(c, c) = %g, %g", d, ref)
	}
}

func TestTimedForward(t *testing.T) {
	m := load(t, "conv.pt")
	x := random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 1)
	ns := make([]int64, 25)
	for i := range ns {
		ns[i] = -1
	}
	wall, err := m.TimedForward([]*Tensor{x}, ns)
	if err != nil {
		t.Fatal(err)
	}
	var sum, most int64
	for i, v := range ns {
		if v <= 0 {
			t.Errorf("ns[%d] = %d, want > 0", i, v)
		}
		sum += v
		most = max(most, v)
	}
	// Each call is timed inside the loop's own interval, on the same monotonic clock.
	if wall < sum || wall < most {
		t.Errorf("wall %d ns < sum of calls %d ns (max %d ns)", wall, sum, most)
	}
	if wall, err := m.TimedForward([]*Tensor{x}, nil); wall != 0 || err != nil {
		t.Errorf("TimedForward with no slots = %d, %v; want 0, nil", wall, err)
	}
}

func TestClose(t *testing.T) {
	m := load(t, "conv.pt")
	x := random(t, Float32, []int64{1, 3, 16, 16}, false, 0, 0, 1)
	v := forward(t, m, x)
	other := forward(t, m, x)

	// Closed inputs.
	y := random(t, Float32, []int64{1, 3, 16, 16}, false, 0, 0, 1)
	for range 2 {
		if err := y.Close(); err != nil {
			t.Errorf("Tensor.Close: %v", err)
		}
	}
	if _, err := m.Forward([]*Tensor{y}); !errors.Is(err, ErrClosed) {
		t.Errorf("Forward with a closed input: %v, want ErrClosed", err)
	}
	if _, err := m.TimedForward([]*Tensor{x, y}, make([]int64, 1)); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "input 1") {
		t.Errorf("TimedForward with a closed input 1: %v, want ErrClosed naming input 1", err)
	}
	if _, err := y.ChannelsLast(); !errors.Is(err, ErrClosed) {
		t.Errorf("ChannelsLast on a closed tensor: %v, want ErrClosed", err)
	}

	// Closed values.
	for range 2 {
		if err := v.Close(); err != nil {
			t.Errorf("Value.Close: %v", err)
		}
	}
	if s := v.String(); s != "<closed>" {
		t.Errorf("String of a closed value = %q", s)
	}
	if _, _, err := v.MaxAbsDiff(other); !errors.Is(err, ErrClosed) {
		t.Errorf("MaxAbsDiff of a closed value: %v", err)
	}
	if _, _, err := other.MaxAbsDiff(v); !errors.Is(err, ErrClosed) {
		t.Errorf("MaxAbsDiff against a closed value: %v", err)
	}

	// Closed module.
	for range 2 {
		if err := m.Close(); err != nil {
			t.Errorf("Module.Close: %v", err)
		}
	}
	if _, err := m.Forward([]*Tensor{x}); !errors.Is(err, ErrClosed) {
		t.Errorf("Forward on a closed module: %v, want ErrClosed", err)
	}
	if _, err := m.TimedForward([]*Tensor{x}, make([]int64, 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("TimedForward on a closed module: %v", err)
	}
	if _, _, err := m.Schema(); !errors.Is(err, ErrClosed) {
		t.Errorf("Schema on a closed module: %v", err)
	}
	if _, err := m.Clone(); !errors.Is(err, ErrClosed) {
		t.Errorf("Clone on a closed module: %v", err)
	}
	if _, err := m.Optimize(); !errors.Is(err, ErrClosed) {
		t.Errorf("Optimize on a closed module: %v", err)
	}
	if err := m.ToChannelsLast(); !errors.Is(err, ErrClosed) {
		t.Errorf("ToChannelsLast on a closed module: %v", err)
	}
	// The input tensor is still alive and usable elsewhere.
	forward(t, load(t, "conv.pt"), x)
}

const testWarning = "perflab test warning"

// warningsInChild runs warns.pt in a fresh process (libtorch state and the collector are
// process-wide) on the main OS thread, where the package's init installed the collector,
// or on another one (bench.Run locks whatever thread its goroutine is on). It returns
// what each TakeWarnings call returned and what the process wrote to stderr.
func warningsInChild(t *testing.T, thread string) (takes map[string][]string, stderr string) {
	t.Helper()
	out := runInChild(t, "warnings", helperModelEnv+"="+testutil.Fixture(t, "warns.pt"), helperThreadEnv+"="+thread)
	if onMain := out["tid"] == out["pid"]; onMain != (thread == "main") {
		t.Fatalf("the helper ran on thread %v of process %v, want the %s thread", out["tid"], out["pid"], thread)
	}
	takes = map[string][]string{}
	for _, k := range []string{"first", "second", "after_more_forwards", "batches"} {
		list, _ := out[k].([]any)
		for _, s := range list {
			takes[k] = append(takes[k], fmt.Sprint(s))
		}
	}
	return takes, out["stderr"].(string)
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestTakeWarnings(t *testing.T) {
	takes, stderr := warningsInChild(t, "main")
	if n := count(takes["first"], testWarning+" (said 5 times)"); n != 1 || len(takes["first"]) != 1 {
		t.Errorf("after 5 forwards, TakeWarnings() = %q: want %q once, with its count", takes["first"], testWarning)
	}
	if len(takes["second"]) != 0 {
		t.Errorf("second TakeWarnings() = %q, want none", takes["second"])
	}
	if strings.Contains(stderr, testWarning) {
		t.Errorf("the warning went to stderr:\n%s", stderr)
	}
}

// TestTakeWarningsMasked: a warning raised with different shapes and numbers (batches 1,
// 2, 3, 3 of warns_shapes.pt) is said once, with its first text, count and variants.
func TestTakeWarningsMasked(t *testing.T) {
	out := runInChild(t, "warnings", helperModelEnv+"="+testutil.Fixture(t, "warns_shapes.pt"), helperThreadEnv+"=main")
	list, _ := out["batches"].([]any)
	want := "perflab shape warning: input of shape [1, 8] resized 2 times (said 4 times, in 3 variants with other shapes or numbers)"
	if len(list) != 1 || fmt.Sprint(list[0]) != want {
		t.Errorf("TakeWarnings() after batches 1, 2, 3, 3 = %q, want [%q]", list, want)
	}
}

// TestTakeWarningsAgain: TakeWarnings returns the warnings raised since the last call,
// including one already returned by an earlier call.
func TestTakeWarningsAgain(t *testing.T) {
	takes, _ := warningsInChild(t, "main")
	if n := count(takes["after_more_forwards"], testWarning+" (said 2 times)"); n != 1 {
		t.Errorf("TakeWarnings() after 2 more forwards = %q: want %q once (it was raised again since the last call)", takes["after_more_forwards"], testWarning)
	}
}

func TestTakeWarningsOnAnyThread(t *testing.T) {
	takes, stderr := warningsInChild(t, "fresh")
	if n := count(takes["first"], testWarning+" (said 5 times)"); n != 1 {
		t.Errorf("warns.pt run 5 times on a non-main OS thread: TakeWarnings() = %q, want %q once", takes["first"], testWarning)
	}
	if strings.Contains(stderr, testWarning) {
		t.Errorf("the warning went to stderr instead of the collector:\n%s", stderr)
	}
}

func TestSetThreads(t *testing.T) {
	type threads struct{ intra, interop int }
	var got []threads
	var errs []error
	onFreshThread(func() {
		_, interop0 := Threads()
		got = append(got, threads{0, interop0})
		for _, n := range []int{1, 2, 1} {
			if err := SetThreads(n, 0); err != nil {
				errs = append(errs, err)
			}
			a, b := Threads()
			got = append(got, threads{a, b})
		}
		// 0 leaves both as they are; setting inter-op to its current value is allowed.
		if err := SetThreads(0, interop0); err != nil {
			errs = append(errs, err)
		}
		a, b := Threads()
		got = append(got, threads{a, b})
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	interop := got[0].interop
	if interop < 1 {
		t.Fatalf("inter-op threads = %d", interop)
	}
	want := []threads{{0, interop}, {1, interop}, {2, interop}, {1, interop}, {1, interop}}
	if !slices.Equal(got, want) {
		t.Errorf("Threads() after SetThreads(1,0), (2,0), (1,0), (0,%d) = %v, want %v", interop, got[1:], want[1:])
	}
}

// TestInteropThreadsOnce: inter-op threads can be set once per process; setting the
// current value again is a no-op; a later change is an error, not a crash.
func TestInteropThreadsOnce(t *testing.T) {
	out := runInChild(t, "interop-once")
	initial, _ := out["initial"].(float64)
	if initial < 1 {
		t.Fatalf("initial inter-op threads = %v", out["initial"])
	}
	if out["same"] != "" || out["first"] != "" || out["again"] != "" {
		t.Errorf("SetThreads(0, current), (0, current+1) twice: errors %q, %q, %q; want none", out["same"], out["first"], out["again"])
	}
	if out["after_first"] != initial+1 || out["after_second"] != initial+1 {
		t.Errorf("inter-op threads after setting %v: %v, after the refused change: %v; want %v", initial+1, out["after_first"], out["after_second"], initial+1)
	}
	second, _ := out["second"].(string)
	if !strings.HasPrefix(second, "set threads: ") || !strings.Contains(second, "interop threads") || strings.Contains(second, "Exception raised from") {
		t.Errorf("changing inter-op threads a second time: error %q, want a condensed set threads error", second)
	}
}

// torchVersion is the major and minor version of the libtorch the tests run against: where
// behaviour differs between releases, a test says which and checks each.
func torchVersion(t testing.TB) (major, minor int, ok bool) {
	t.Helper()
	bi, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(bi.TorchVersion, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

func TestBuild(t *testing.T) {
	bi, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	major, minor, ok := torchVersion(t)
	if !ok || strings.Count(bi.TorchVersion, ".") != 2 || major < 1 || (major == 1 && minor < 13) {
		t.Errorf("TorchVersion = %q, want 1.13.0 or later, as x.y.z", bi.TorchVersion)
	}
	// The TensorExpr fuser hangs frozen, optimized models on 2.x: the binding turns it off
	// there (TestOptimizedRepeatedForward); 1.13 keeps its default.
	if major >= 2 && bi.TEFuser {
		t.Errorf("TEFuser = true on libtorch %s, want off", bi.TorchVersion)
	}
	if bi.CXX11ABI != 0 && bi.CXX11ABI != 1 {
		t.Errorf("CXX11ABI = %d, want 0 or 1 (libstdc++)", bi.CXX11ABI)
	}
	// Debian's libtorch (1.13: oneDNN 2.x, 2.6: oneDNN 3.x) uses oneDNN.
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(bi.OneDNNVersion) {
		t.Errorf("OneDNNVersion = %q, want x.y.z", bi.OneDNNVersion)
	}
	if !strings.Contains(bi.ParallelInfo, "ATen parallel backend") || !strings.Contains(bi.ParallelInfo, "at::get_num_threads()") {
		t.Errorf("ParallelInfo = %q", bi.ParallelInfo)
	}
	// The design requires OpenBLAS (the reference BLAS is 40x slower), and its OpenMP build
	// beside libtorch's OpenMP threads (scripts/blas-openmp.sh): the pthread build's own pool
	// competes with them.
	if !strings.Contains(bi.BLASConfig, "OpenBLAS") {
		t.Errorf("BLASConfig = %q: OpenBLAS is not the BLAS loaded", bi.BLASConfig)
	}
	if strings.Contains(bi.ParallelInfo, "parallel backend: OpenMP") && !strings.Contains(bi.BLASConfig, "USE_OPENMP") {
		t.Errorf("BLASConfig = %q: OpenBLAS's pthread build beside libtorch's OpenMP threads (run scripts/setup.sh)", bi.BLASConfig)
	}
}

func TestParseDType(t *testing.T) {
	if len(dtypeNames) != 10 {
		t.Errorf("%d dtype names, want 10", len(dtypeNames))
	}
	codes := map[DType]string{}
	for name, d := range dtypeNames {
		if prev, ok := codes[d]; ok {
			t.Errorf("%s and %s share code %d", prev, name, d)
		}
		codes[d] = name
		for _, spelled := range []string{name, strings.ToUpper(name)} {
			got, err := ParseDType(spelled)
			if err != nil || got != d {
				t.Errorf("ParseDType(%q) = %v, %v; want %v", spelled, got, err, d)
			}
		}
		if d.String() != name {
			t.Errorf("%d.String() = %q, want %q", d, d.String(), name)
		}
		wantFloat := strings.HasPrefix(name, "float") || name == "bfloat16"
		if d.IsFloat() != wantFloat {
			t.Errorf("%s.IsFloat() = %v", name, d.IsFloat())
		}
	}
	// Every dtype an --input may name is one the binding can make.
	for _, name := range model.DTypes {
		if _, err := ParseDType(name); err != nil {
			t.Errorf("model.DTypes has %q: %v", name, err)
		}
	}
	for _, bad := range []string{"", "float", "torch.float32", "float8", "int", "complex64"} {
		_, err := ParseDType(bad)
		if err == nil {
			t.Errorf("ParseDType(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("unknown dtype %q", bad)) ||
			!strings.Contains(err.Error(), "bfloat16, bool, float16, float32, float64, int16, int32, int64, int8, uint8") {
			t.Errorf("ParseDType(%q) error %q does not list the dtypes", bad, err)
		}
	}
	if s := DType(99).String(); s != "dtype(99)" {
		t.Errorf("DType(99).String() = %q", s)
	}
}

// TestNewerPyTorchHint: a file using an operator this libtorch does not know (a transformer
// scripted by torch 2.x, loaded by 1.13) fails with a first line that says what to do.
func TestNewerPyTorchHint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Unknown builtin op: aten::scaled_dot_product_attention.\nHere are some suggestions: ...",
			"Unknown builtin op: aten::scaled_dot_product_attention (the file needs a newer libtorch than 1.13.0: build perflab against the PyTorch that saved it, docs/runtimes.md)\nHere are some suggestions: ..."},
		{"Unknown builtin op: aten::foo.", "Unknown builtin op: aten::foo (the file needs a newer libtorch than 1.13.0: build perflab against the PyTorch that saved it, docs/runtimes.md)"},
		{"PytorchStreamReader failed reading zip archive", "PytorchStreamReader failed reading zip archive"},
	} {
		if got := newerPyTorchHint(tc.in, "1.13.0"); got != tc.want {
			t.Errorf("newerPyTorchHint(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCondense(t *testing.T) {
	const (
		head = "The following operation failed in the TorchScript interpreter.\n" +
			"Traceback of TorchScript, serialized code (most recent call last):\n" +
			"  File \"code/__torch__.py\", line 9, in forward\n" +
			"    if torch.ne(torch.size(x, 1), 8):\n" +
			"      ops.prim.RaiseException(\"expected 8 features\", \"builtins.ValueError\")\n" +
			"      ~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE\n" +
			"    else:\n\n" +
			"Traceback of TorchScript, original code (most recent call last):\n" +
			"  File \"fixtures.py\", line 60, in forward\n" +
			"        if x.size(1) != 8:\n" +
			"            raise ValueError(\"expected 8 features\")\n" +
			"            ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE\n"
		backtrace = "\nException raised from check_shape at ../aten/src/ATen/native/Linear.cpp:42 (most recent call first):\n" +
			"frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x3e (0x7f in /usr/lib/libc10.so)\n" +
			"frame #1: <unknown function> + 0x1234 (0x7f in /usr/lib/libtorch_cpu.so)\n"
	)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "  open file failed because of errno 2 \n", "open file failed because of errno 2"},
		{"backtrace", "mat1 and mat2 shapes cannot be multiplied (2x7 and 8x2)" + backtrace, "mat1 and mat2 shapes cannot be multiplied (2x7 and 8x2)"},
		{"multi-line then backtrace", "first line\nsecond line" + backtrace, "first line\nsecond line"},
		{"builtins.ValueError", head + "builtins.ValueError: expected 8 features\n", "ValueError: expected 8 features"},
		{"RuntimeError is dropped", head + "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x7 and 8x2)\n", "mat1 and mat2 shapes cannot be multiplied (2x7 and 8x2)"},
		{"assert", head + "RuntimeError: AssertionError: assert msg\n", "AssertionError: assert msg"},
		{"builtins.Exception", head + "builtins.Exception: plain exception\n", "Exception: plain exception"},
		{"dotted name kept", head + "torch.jit.Error: boom", "torch.jit.Error: boom"},
		{"lines after the error line", head + "RuntimeError: first\n  detail 1\n  detail 2", "first\n  detail 1\n  detail 2"},
		{"traceback then backtrace", head + "RuntimeError: inner failure" + backtrace, "inner failure"},
		{"nested tracebacks: last error wins", head + "RuntimeError: " + head + "builtins.KeyError: missing key\n", "KeyError: missing key"},
		{"no error line: unchanged", head + "something odd happened", strings.TrimSpace(head + "something odd happened")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := condense(tc.in); got != tc.want {
				t.Errorf("condense() = %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := error(&Error{Op: "forward", Msg: "boom"})
	if err.Error() != "forward: boom" {
		t.Errorf("Error() = %q", err.Error())
	}
}

// TestCompare checks the element-wise comparison on real outputs: raises.pt returns 2*x,
// so each case's values are twice the data given.
func TestCompare(t *testing.T) {
	m := load(t, "raises.pt")
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	out := func(data ...float32) *Value {
		t.Helper()
		in, err := FromFloat32(data, []int64{int64(len(data) / 8), 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		return forward(t, m, in)
	}
	ref := []float32{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, 9}
	changed := func(i int, v float32) []float32 {
		d := slices.Clone(ref)
		d[i] = v
		return d
	}
	rms := 0.0
	for _, v := range ref {
		rms += 4 * float64(v) * float64(v)
	}
	rms = math.Sqrt(rms / float64(len(ref)))
	tests := []struct {
		name          string
		ref, got      []float32
		wantMismatch  int64
		wantNonFinite int64
		wantWorst     float64 // -1 = do not check
		top1, top5    int64
	}{
		{"identical", ref, ref, 0, 0, 0, 2, 2},
		// |diff| = 2*0.001 at ref 2*8=16: bound = 1e-3*rms + 1e-3*16.
		{"small change", ref, changed(7, 8.001), 0, 0, 2 * 0.001 / (1e-3*rms + 1e-3*16), 2, 2},
		{"same NaN", changed(0, nan), changed(0, nan), 0, 1, 0, 2, 2},
		{"NaN on one side", ref, changed(3, nan), 1, 0, -1, 1, 2}, // arg-max takes NaN as the largest
		{"Inf sign", changed(2, inf), changed(2, -inf), 1, 1, -1, 1, 1},
		// Row 2's arg-max (9 at the end) moves to the first column (20): top-1 lost;
		// 9 is still in the top-5 of [20,-2,...,9].
		{"arg-max moves", ref, changed(8, 20), 0, 0, -1, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := out(tc.ref...).Compare(out(tc.got...), 1e-3, 1e-3)
			if err != nil {
				t.Fatal(err)
			}
			if c.Elements != 16 || c.NonFiniteMismatch != tc.wantMismatch || c.RefNonFinite != tc.wantNonFinite {
				t.Errorf("elements %d, mismatch %d (want %d), ref non-finite %d (want %d)", c.Elements, c.NonFiniteMismatch, tc.wantMismatch, c.RefNonFinite, tc.wantNonFinite)
			}
			if tc.wantWorst >= 0 && math.Abs(c.Worst-tc.wantWorst) > 1e-3*tc.wantWorst+1e-9 {
				t.Errorf("worst %g, want %g", c.Worst, tc.wantWorst)
			}
			if c.Rows != 2 || c.Top1Agree != tc.top1 || c.Top5Agree != tc.top5 {
				t.Errorf("rows %d, top-1 %d (want %d), top-5 %d (want %d)", c.Rows, c.Top1Agree, tc.top1, c.Top5Agree, tc.top5)
			}
			if math.IsNaN(c.MaxAbsDiff) || math.IsNaN(c.RefRMS) {
				t.Errorf("NaN leaked into %+v", c)
			}
		})
	}
	// A difference where the reference is exactly zero has no tolerance at all.
	zero := make([]float32, 8)
	if c, err := out(zero...).Compare(out(changed(0, 1)[:8]...), 1e-3, 1e-3); err != nil || !math.IsInf(c.Worst, 1) {
		t.Errorf("zero reference: worst %g, err %v", c.Worst, err)
	}
}

// TestOneDNNISANames: the effective ISA is named from the table of the oneDNN loaded (its
// values differ between oneDNN 2.x and 3.x: a wrong table names no ISA, or the wrong one),
// and unknown names are refused with the oneDNN version.
func TestOneDNNISANames(t *testing.T) {
	bi, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	isa, err := OneDNNISA()
	if err != nil {
		t.Fatal(err)
	}
	// On x86-64 oneDNN reports at least SSE4.1; every value it can report has a name.
	if !regexp.MustCompile(`^(sse41|avx|avx2|avx2_vnni(_2)?|avx512_core(_vnni|_bf16|_fp16|_amx|_amx_fp16)?)$`).MatchString(isa) {
		t.Errorf("OneDNNISA() = %q with oneDNN %s, want one of oneDNN's ISA names", isa, bi.OneDNNVersion)
	}
	err = SetOneDNNISA("avx3")
	if err == nil || !strings.Contains(err.Error(), "unknown oneDNN ISA avx3 for oneDNN "+bi.OneDNNVersion) {
		t.Errorf("SetOneDNNISA(avx3) = %v, want unknown, naming oneDNN %s", err, bi.OneDNNVersion)
	}
}

// TestReferenceTimed: the reference workload runs on this libtorch, times every call and
// computes the same result each time (deterministic inputs, nothing random or loaded).
func TestReferenceTimed(t *testing.T) {
	ns := make([]int64, 5)
	sum1, err := ReferenceTimed(ns)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range ns {
		if v <= 0 {
			t.Errorf("call %d took %d ns", i, v)
		}
	}
	sum2, err := ReferenceTimed(make([]int64, 1))
	if err != nil {
		t.Fatal(err)
	}
	if sum1 != sum2 || sum1 == 0 || math.IsNaN(sum1) || math.IsInf(sum1, 0) {
		t.Errorf("checksums %v and %v: want one finite non-zero value", sum1, sum2)
	}
	if _, err := ReferenceTimed(nil); err != nil {
		t.Errorf("no calls: %v", err)
	}
}
