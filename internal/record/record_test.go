package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/stats"
)

// fullRecord returns a record with every field set to a non-zero value, so that a round
// trip that drops or renames a field is caught. Fields not set by hand here (added to
// Record later) are filled by fillZero.
func fullRecord() *Record {
	r := &Record{
		SchemaVersion: SchemaVersion,
		Mode:          "bench",
		Status:        StatusOK,
		Error:         "none really",
		Timestamp:     "2026-01-30T14:30:22Z",
		Knobs:         knobs.Knobs{Model: "resnet18", Inputs: []string{"float32[B,3,224,224]", "int64[B,128]:0..8191"}, Device: "cpu", BatchSize: 4, Compile: "auto", Threads: 2, InteropThreads: 1, ChannelsLast: true, Quantize: true},
		ModelPath:     "/models/resnet18.pt",
		ModelSHA256:   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",

		CompileApplied: true,

		Iters:       200,
		Warmup:      20,
		Seed:        -42,
		LatencyP50:  12.3,
		LatencyP90:  15.1,
		LatencyP95:  16.8,
		LatencyP99:  19.2,
		LatencyMean: 13.0000001,
		LatencyStd:  1.5e-3,
		LatencyMin:  0.1,
		LatencyMax:  1e300,
		LatencyCI: map[string]stats.CI{
			"p50": {Lo: 12.1, Hi: 12.5, Confidence: 0.95},
			"p99": {Lo: 18, Hi: 21.75, Confidence: 0.95},
		},
		IQROverMedian:     0.0734,
		ThroughputRPS:     245.3,
		ForwardMsPerBatch: 14.2,
		WallMs:            2840.5,
		SamplesMs:         []float64{12.3, 5e-324, 19.2, math.MaxFloat64, 0.1 + 0.2},
		Preprocess:        &Preprocess{Image: "synthetic 640x480 JPEG", Iters: 50, P50: 3.2, P95: 4.1, Mean: 3.3},
		Correctness: &Correctness{
			Reference: "plain model", MaxAbsDiff: 1e-7, RefMaxAbs: math.Inf(1), RelDiff: 2.9e-8, Tolerance: 1e-3, OK: true,
		},
		Output:   "float32[4,1000]",
		Warnings: []string{"noisy run", `quotes " and \ backslashes and <html> & ü`},
		Notes:    []string{"line\nbreak", "tab\there"},
		Env: &Env{
			Fingerprint: "0123456789ab", CPUModel: "AMD EPYC", LogicalCPUs: 2, CPUsAvailable: 1.5,
			CgroupCPUQuota: "1.5 CPUs", Torch: "1.13.0", BLAS: "openblas-pthread/libblas.so.3",
			OneDNN: "2.6.3", TEFuser: "on", CXX11ABI: "1",
			BLASConfig: "OpenBLAS 0.3.21", Parallel: "OpenMP", OS: "linux/amd64", Kernel: "6.1.0",
			Hostname: "vm", Perflab: "dev", Go: "go1.26.8",
			CPUISA: "avx2 fma", OneDNNISA: "avx2", OtherCPUs: func() *float64 { v := 0.25; return &v }(),
		},
		NonFinite: map[string]string{"correctness.ref_max_abs": "+Inf"},
	}
	fillZero(reflect.ValueOf(r).Elem())
	return r
}

// fillZero sets every zero field of the struct v (recursively through struct pointers) to
// a non-zero value derived from the field's name.
func fillZero(v reflect.Value) {
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		if f.Kind() == reflect.Struct {
			fillZero(f)
			continue
		}
		if f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct {
			if f.IsNil() {
				f.Set(reflect.New(f.Type().Elem()))
			}
			fillZero(f.Elem())
			continue
		}
		if !f.IsZero() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("filled " + name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(int64(len(name)))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(len(name)))
		case reflect.Float32, reflect.Float64:
			f.SetFloat(float64(len(name)) + 0.125)
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.ValueOf("filled "+name).Convert(f.Type().Key()), reflect.Zero(f.Type().Elem()))
			f.Set(m)
		case reflect.Slice:
			s := reflect.MakeSlice(f.Type(), 1, 1)
			if s.Index(0).Kind() == reflect.String {
				s.Index(0).SetString("filled " + name)
			} else if s.Index(0).CanFloat() {
				s.Index(0).SetFloat(2.5)
			}
			f.Set(s)
		}
	}
}

// TestFullRecordIsFull guards the round-trip test itself: every field of fullRecord (and
// of its nested structs) must be non-zero, or a field would go untested.
func TestFullRecordIsFull(t *testing.T) {
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				t.Errorf("%s is nil", path)
				return
			}
			v = v.Elem()
		}
		for i := range v.NumField() {
			f, name := v.Field(i), path+"."+v.Type().Field(i).Name
			if f.Kind() == reflect.Struct {
				check(name, f)
				continue
			}
			if f.IsZero() {
				t.Errorf("%s is zero in fullRecord: set it (or teach fillZero its type) so the round trip covers it", name)
				continue
			}
			if f.Kind() == reflect.Pointer && f.Elem().Kind() == reflect.Struct {
				check(name, f)
			}
		}
	}
	check("Record", reflect.ValueOf(fullRecord()))
}

func TestMarshalParseRoundTrip(t *testing.T) {
	want := fullRecord()
	line, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("Marshal must return exactly one line ending in a newline, got %q", line)
	}
	if !json.Valid(line) {
		t.Fatalf("Marshal output is not valid JSON: %s", line)
	}
	got, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(Marshal(r)): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, want)
	}
	// The seed tool's field names must stay as they are.
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model", "batch_size", "compile", "threads", "latency_p50", "latency_p90",
		"latency_p95", "latency_p99", "throughput_rps", "forward_ms_per_batch", "env"} {
		if _, ok := m[k]; !ok {
			t.Errorf("marshalled record has no %q key (seed field names must be kept)", k)
		}
	}
}

// TestMarshalNonFinite: NaN and infinities (a model whose output holds them) are written
// as 0 with their paths in non_finite, read back as they were, and Marshal leaves the
// record itself unchanged.
func TestMarshalNonFinite(t *testing.T) {
	r := &Record{Knobs: knobs.Knobs{Model: "m", BatchSize: 1}, LatencyP50: math.NaN(), SamplesMs: []float64{1, math.Inf(1)},
		LatencyCI:   map[string]stats.CI{"p50": {Lo: math.Inf(-1), Hi: 2, Confidence: 0.95}},
		Correctness: &Correctness{MaxAbsDiff: math.Inf(1), RefMaxAbs: math.Inf(1), RelDiff: math.NaN()},
		Load:        &LoadInfo{ServiceMs: map[string][]float64{"4": {3, math.NaN()}}}}
	line, err := Marshal(r)
	if err != nil {
		t.Fatalf("Marshal with NaN and Inf: %v", err)
	}
	if !json.Valid(line) {
		t.Fatalf("not valid JSON: %s", line)
	}
	want := map[string]string{"latency_p50": "NaN", "samples_ms.1": "+Inf", "latency_ci.p50.lo": "-Inf",
		"correctness.max_abs_diff": "+Inf", "correctness.ref_max_abs": "+Inf", "correctness.rel_diff": "NaN",
		"load.service_ms.4.1": "NaN"}
	var raw struct {
		NonFinite map[string]string `json:"non_finite"`
	}
	if err := json.Unmarshal(line, &raw); err != nil || !reflect.DeepEqual(raw.NonFinite, want) {
		t.Errorf("non_finite = %v (%v), want %v", raw.NonFinite, err, want)
	}
	if !math.IsNaN(r.LatencyP50) || !math.IsInf(r.SamplesMs[1], 1) || !math.IsInf(r.LatencyCI["p50"].Lo, -1) ||
		!math.IsNaN(r.Load.ServiceMs["4"][1]) || r.NonFinite != nil {
		t.Errorf("Marshal changed the record: %+v", r)
	}
	got, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got.LatencyP50) || !math.IsInf(got.SamplesMs[1], 1) || got.SamplesMs[0] != 1 ||
		!math.IsInf(got.LatencyCI["p50"].Lo, -1) || got.LatencyCI["p50"].Hi != 2 || !math.IsInf(got.Correctness.RefMaxAbs, 1) ||
		!math.IsNaN(got.Correctness.RelDiff) || !math.IsNaN(got.Load.ServiceMs["4"][1]) || got.Load.ServiceMs["4"][0] != 3 {
		t.Errorf("Parse did not restore the non-finite values: %+v", got)
	}
}

// seedRecord is exactly the JSON example of the seed tool's README, with a concrete env
// (the seed wrote whatever it liked there).
const seedRecord = `{
  "model": "resnet18",
  "batch_size": 4,
  "compile": true,
  "threads": 4,
  "latency_p50": 12.3,
  "latency_p90": 15.1,
  "latency_p95": 16.8,
  "latency_p99": 19.2,
  "throughput_rps": 245.3,
  "forward_ms_per_batch": 14.2,
  "env": {"python": "3.11"}
}`

func TestParseSeedRecord(t *testing.T) {
	r, err := Parse([]byte(seedRecord))
	if err != nil {
		t.Fatalf("a seed-tool record must parse: %v", err)
	}
	want := &Record{
		Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 4, Threads: 4}, CompileApplied: true,
		LatencyP50: 12.3, LatencyP90: 15.1, LatencyP95: 16.8, LatencyP99: 19.2,
		ThroughputRPS: 245.3, ForwardMsPerBatch: 14.2,
		Env: &Env{},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("seed record:\n got %+v\nwant %+v", r, want)
	}
	if !r.OK() {
		t.Error("seed record (no status) must be OK()")
	}
	if !r.Usable() {
		t.Error("seed record (no correctness check) must be Usable()")
	}
	// The one-line form, as the seed actually wrote it, parses the same.
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(seedRecord)); err != nil {
		t.Fatal(err)
	}
	r2, err := Parse(compact.Bytes())
	if err != nil || !reflect.DeepEqual(r2, want) {
		t.Errorf("compact seed record: got %+v, %v", r2, err)
	}
}

func TestOKUsable(t *testing.T) {
	tests := []struct {
		name       string
		status     string
		corr       *Correctness
		ok, usable bool
	}{
		{"seed: no status", "", nil, true, true},
		{"ok, unchecked", StatusOK, nil, true, true},
		{"ok, outputs match", StatusOK, &Correctness{OK: true}, true, true},
		{"ok, outputs differ", StatusOK, &Correctness{OK: false}, true, false},
		{"failed", StatusFailed, nil, false, false},
		{"failed, outputs match", StatusFailed, &Correctness{OK: true}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{Knobs: knobs.Knobs{Model: "m", BatchSize: 1}, Status: tt.status, Correctness: tt.corr}
			if got := r.OK(); got != tt.ok {
				t.Errorf("OK() = %v, want %v", got, tt.ok)
			}
			if got := r.Usable(); got != tt.usable {
				t.Errorf("Usable() = %v, want %v", got, tt.usable)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"garbage", `this is not json`, []string{"invalid JSON at byte 2"}},
		{"truncated", `{"model":"m","batch_size":1`, []string{"JSON"}},
		{"trailing garbage", `{"model":"m","batch_size":1} x`, []string{"invalid JSON"}},
		{"array", `[1,2]`, []string{"cannot unmarshal array"}},
		{"wrong type", `{"model":"m","batch_size":"4"}`, []string{"batch_size"}},
		{"missing model", `{"batch_size":1}`, []string{`missing "model"`}},
		{"empty model", `{"model":"","batch_size":1}`, []string{`missing "model"`}},
		{"batch_size missing", `{"model":"m"}`, []string{`"batch_size" must be >= 1, got 0`}},
		{"batch_size 0", `{"model":"m","batch_size":0}`, []string{`"batch_size" must be >= 1, got 0`}},
		{"batch_size negative", `{"model":"m","batch_size":-2}`, []string{`got -2`}},
		{"unknown status", `{"model":"m","batch_size":1,"status":"maybe"}`, []string{`unknown status "maybe"`}},
		{"newer schema", `{"model":"m","batch_size":1,"schema_version":99}`, []string{"schema_version 99", "upgrade perflab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error", tt.in, r)
			}
			if r != nil {
				t.Errorf("Parse returned a record with its error: %+v", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"minimal", `{"model":"m","batch_size":1}`},
		{"failed status", `{"model":"m","batch_size":1,"status":"failed","error":"boom"}`},
		{"current schema", `{"model":"m","batch_size":1,"schema_version":1}`},
		{"unknown top-level keys", `{"model":"m","batch_size":1,"future_field":{"a":[1,2]},"x":null}`},
		{"unknown env keys", `{"model":"m","batch_size":1,"env":{"python":"3.11","torch":"2.2","cuda":false}}`},
		{"null env", `{"model":"m","batch_size":1,"env":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in)); err != nil {
				t.Errorf("Parse(%s): %v", tt.in, err)
			}
		})
	}
}

func mustMarshal(t testing.TB, r *Record) string {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadFileMalformedLines(t *testing.T) {
	good1 := &Record{Knobs: knobs.Knobs{Model: "first", BatchSize: 1}, Status: StatusOK, LatencyP50: 1.5}
	good2 := &Record{Knobs: knobs.Knobs{Model: "second", BatchSize: 8}, Status: StatusFailed, Error: "x"}
	good3 := &Record{Knobs: knobs.Knobs{Model: "third", BatchSize: 2}}
	lines := []string{
		mustMarshal(t, good1), // 1
		"{garbage\n",          // 2
		"\n",                  // 3 blank
		`{"batch_size":1,"latency_p50":3}` + "\n",                 // 4 missing model
		`{"model":"m","batch_size":0}` + "\n",                     // 5
		`{"model":"m","batch_size":1,"status":"exploded"}` + "\n", // 6
		`{"model":"m","batch_size":1,"schema_version":99}` + "\n", // 7
		"   \t \n", // 8 blank (whitespace)
		strings.TrimSuffix(mustMarshal(t, good2), "\n") + "\r\n", // 9 CRLF
		"[]\n", // 10
		strings.TrimSuffix(mustMarshal(t, good3), "\n"), // 11, no final newline
	}
	path := filepath.Join(t.TempDir(), "runs.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	type bad struct {
		line int
		want []string
	}
	wantBad := []bad{
		{2, []string{"invalid JSON"}},
		{4, []string{`missing "model"`}},
		{5, []string{`"batch_size" must be >= 1, got 0`}},
		{6, []string{`unknown status "exploded"`}},
		{7, []string{"schema_version 99", "upgrade perflab"}},
		{10, []string{"cannot unmarshal array"}},
	}
	var got []*LineError
	recs, err := ReadFile(path, func(le *LineError) { got = append(got, le) })
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if want := []*Record{good1, good2, good3}; !reflect.DeepEqual(recs, want) {
		t.Errorf("records:\n got %+v\nwant %+v", recs, want)
	}
	if len(got) != len(wantBad) {
		for _, le := range got {
			t.Log(le)
		}
		t.Fatalf("onBad called %d times, want %d", len(got), len(wantBad))
	}
	for i, w := range wantBad {
		le := got[i]
		if le.Line != w.line || le.File != path {
			t.Errorf("bad line %d reported as %s:%d", w.line, le.File, le.Line)
		}
		msg := le.Error()
		prefix := path + ":" + strconv.Itoa(w.line) + ": malformed record: "
		if !strings.HasPrefix(msg, prefix) {
			t.Errorf("message %q does not start with %q", msg, prefix)
		}
		for _, s := range w.want {
			if !strings.Contains(msg, s) {
				t.Errorf("line %d: message %q does not contain %q", w.line, msg, s)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("line %d: message is not one line: %q", w.line, msg)
		}
		if errors.Unwrap(le) == nil {
			t.Errorf("line %d: LineError does not unwrap to the parse error", w.line)
		}
	}

	// A nil onBad skips bad lines silently.
	recs, err = ReadFile(path, nil)
	if err != nil || len(recs) != 3 {
		t.Errorf("ReadFile(nil onBad) = %d records, %v; want 3, nil", len(recs), err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope.jsonl"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file: got %v, want ErrNotExist", err)
	}
}

func TestReadFileEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(path, func(le *LineError) { t.Errorf("unexpected bad line: %v", le) })
	if err != nil || len(recs) != 0 {
		t.Fatalf("empty file: %d records, %v", len(recs), err)
	}
}

// failingReader returns some data, then a non-EOF error.
type failingReader struct{ data io.Reader }

var errDisk = errors.New("disk on fire")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF {
		return n, errDisk
	}
	return n, err
}

func TestReaderFatalError(t *testing.T) {
	good := mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "m", BatchSize: 1}})
	rd := NewReader(&failingReader{strings.NewReader(good)}, "pipe")
	r, err := rd.Next()
	if err != nil || r.Model != "m" {
		t.Fatalf("first Next = %+v, %v; want the record", r, err)
	}
	_, err = rd.Next()
	var le *LineError
	if !errors.Is(err, errDisk) || errors.As(err, &le) || errors.Is(err, io.EOF) {
		t.Fatalf("Next after a read failure = %v; want the read error, not a LineError or EOF", err)
	}
	if !strings.Contains(err.Error(), "pipe") {
		t.Errorf("read error %q does not name the input", err)
	}
}

func TestReadFileVeryLongLine(t *testing.T) {
	big := &Record{Knobs: knobs.Knobs{Model: "big", BatchSize: 1}, SamplesMs: make([]float64, 200_000)}
	for i := range big.SamplesMs {
		big.SamplesMs[i] = 1 + float64(i)/7
	}
	small := &Record{Knobs: knobs.Knobs{Model: "small", BatchSize: 1}}
	path := filepath.Join(t.TempDir(), "big.jsonl")
	for _, r := range []*Record{small, big, small} {
		if err := AppendFile(path, r); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("the long line should be over 1 MiB (bufio.Scanner's limit is 64 KiB): %v, %v", fi.Size(), err)
	}
	recs, err := ReadFile(path, func(le *LineError) { t.Errorf("bad line: %v", le) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []*Record{small, big, small}; !reflect.DeepEqual(recs, want) {
		t.Fatalf("got %d records (big one has %d samples), want 3 equal to the written ones", len(recs), lenSamples(recs, 1))
	}
}

func lenSamples(recs []*Record, i int) int {
	if i < len(recs) {
		return len(recs[i].SamplesMs)
	}
	return -1
}

func TestAppendFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c", "runs.jsonl")
	r1 := fullRecord()
	r2 := &Record{Knobs: knobs.Knobs{Model: "second", BatchSize: 2}, Notes: []string{"has\nnewline"}}
	for _, r := range []*Record{r1, r2} {
		if err := AppendFile(path, r); err != nil {
			t.Fatalf("AppendFile: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Error("file does not end with a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 {
		t.Fatalf("2 appends gave %d lines:\n%s", len(lines), data)
	}
	for i, want := range []*Record{r1, r2} {
		if !json.Valid([]byte(lines[i])) {
			t.Errorf("line %d is not valid JSON: %s", i+1, lines[i])
		}
		got, err := Parse([]byte(lines[i]))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("line %d = %+v, %v; want %+v", i+1, got, err, want)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

func TestAppendFileErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := &Record{Knobs: knobs.Knobs{Model: "m", BatchSize: 1}}
	tests := []struct {
		name, path string
		rec        *Record
		want       string
	}{
		{"parent is a file", filepath.Join(file, "sub", "runs.jsonl"), ok, "create folder for"},
		{"path is a folder", dir, ok, "open " + dir + " for appending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := AppendFile(tt.path, tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AppendFile(%s) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
}

// TestTestdataSeedFile reads the checked-in seed-style JSONL file.
func TestTestdataSeedFile(t *testing.T) {
	var bad []int
	recs, err := ReadFile(filepath.Join("testdata", "seed.jsonl"), func(le *LineError) { bad = append(bad, le.Line) })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || len(bad) != 0 {
		t.Fatalf("testdata/seed.jsonl: %d records, bad lines %v; want 3 records, no bad lines", len(recs), bad)
	}
	for _, r := range recs {
		if !r.OK() || !r.Usable() || r.Env == nil || r.SchemaVersion != 0 {
			t.Errorf("seed record %+v: want OK, Usable, an (empty) Env and no schema version", r)
		}
	}
	if recs[1].Model != "mobilenet_v3_small" || recs[1].BatchSize != 16 || recs[1].CompileApplied || recs[2].LatencyP99 != 3.75 {
		t.Errorf("seed records decoded wrong: %+v %+v", recs[1], recs[2])
	}
}

// normalize drops empty-but-non-nil slices and maps: `"notes": []` decodes to an empty
// slice that omitempty then leaves out, so it comes back as nil. Both mean "none".
func normalize(r *Record) *Record {
	c := *r
	emptyToNil(reflect.ValueOf(&c).Elem())
	return &c
}

// emptyToNil sets the empty slices and maps of struct v (and of its embedded structs) to nil.
func emptyToNil(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Struct && v.Type().Field(i).Anonymous:
			emptyToNil(f)
		case (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0:
			f.SetZero()
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(seedRecord))
	f.Add([]byte(mustMarshal(f, fullRecord())))
	f.Add([]byte(`{"model":"m","batch_size":1}`))
	f.Add([]byte(`{"model":"m","batch_size":1,"samples_ms":[],"notes":[],"latency_ci":{}}`))
	f.Add([]byte(`{"model":"m","batch_size":1,"status":"failed","schema_version":-1,"env":{},"preprocess":{},"correctness":null}`))
	f.Add([]byte(`{"MODEL":"\ud800x","Batch_Size":1e0}`))
	f.Add([]byte(`{"model":"m","batch_size":0}`))
	f.Add([]byte(`{garbage`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	if data, err := os.ReadFile(filepath.Join("testdata", "seed.jsonl")); err == nil {
		for _, l := range bytes.Split(data, []byte("\n")) {
			f.Add(l)
		}
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r1, err := Parse(b)
		if err != nil {
			if r1 != nil {
				t.Fatalf("Parse returned a record with an error: %v", err)
			}
			return
		}
		if r1.Model == "" || r1.BatchSize < 1 || r1.SchemaVersion > SchemaVersion {
			t.Fatalf("Parse accepted an invalid record: %+v", r1)
		}
		line, err := Marshal(r1)
		if err != nil {
			t.Fatalf("accepted record does not re-marshal: %v", err)
		}
		if !json.Valid(line) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("re-marshalled record is not one JSON line: %q", line)
		}
		r2, err := Parse(line)
		if err != nil {
			t.Fatalf("re-marshalled record does not parse: %v\n%s", err, line)
		}
		if !reflect.DeepEqual(normalize(r1), normalize(r2)) {
			t.Fatalf("round trip changed the record:\n in %q\n r1 %+v\n r2 %+v", b, r1, r2)
		}
		line2, err := Marshal(r2)
		if err != nil || !bytes.Equal(line, line2) {
			t.Fatalf("encoding is not stable:\n%s%s", line, line2)
		}
	})
}

func TestMergeReferences(t *testing.T) {
	ref := func(w string, ms, se float64) *Reference {
		return &Reference{Workload: w, Ms: ms, LogSE: se, BlocksMs: []float64{ms}, Before: 1, Calls: 8}
	}
	tests := []struct {
		name   string
		refs   []*Reference
		ms, se float64 // 0 = nil result
	}{
		{"none", nil, 0, 0},
		{"one", []*Reference{ref("w", 2, 0.03)}, 2, 0.03},
		{"two: geometric mean, error of the mean", []*Reference{ref("w", 2, 0.03), ref("w", 8, 0.04)}, 4, 0.025},
		{"one lacks it", []*Reference{ref("w", 2, 0.03), nil}, 0, 0},
		{"the first lacks it", []*Reference{nil, ref("w", 2, 0.03)}, 0, 0},
		{"other workloads", []*Reference{ref("w", 2, 0.03), ref("v", 2, 0.03)}, 0, 0},
		{"not a time", []*Reference{ref("w", 0, 0.03)}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeReferences(tt.refs)
			if tt.ms == 0 {
				if got != nil {
					t.Errorf("got %+v, want none", *got)
				}
				return
			}
			if got == nil || math.Abs(got.Ms-tt.ms) > 1e-12 || math.Abs(got.LogSE-tt.se) > 1e-12 || got.Workload != "w" || len(got.BlocksMs) != len(tt.refs) {
				t.Errorf("got %+v, want ms %g log_se %g", got, tt.ms, tt.se)
			}
		})
	}
}
