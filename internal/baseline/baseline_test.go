package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// rec returns a successful record of model m (batch 1, compile off, 1/1 threads, cpu) with
// the given samples, on environment fp.
func rec(m string, fp string, samples ...float64) *record.Record {
	return &record.Record{
		SchemaVersion: 1, Status: record.StatusOK, Knobs: knobs.Knobs{Model: m, BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"}, ModelSHA256: "abc123",
		LatencyP50: 1.23456789, LatencyP95: 2.00004999, LatencyP99: 3.99996,
		ThroughputRPS: 123.45678, SamplesMs: samples,
		Env: &record.Env{Fingerprint: fp, CPUModel: "Test CPU", CPUsAvailable: 1.5, Torch: "2.1.0", BLAS: "openblas"},
	}
}

func key(m string) string { return m + "|b1|compile=off|t1|i1|cl=false|q=false|cpu" }

var day = func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }

func TestNew(t *testing.T) {
	for _, tc := range []struct{ keep, want int }{{3, 3}, {1, 1}, {0, DefaultKeep}, {-2, DefaultKeep}} {
		f := New("cpu_vision", tc.keep)
		if f.SchemaVersion != SchemaVersion || f.Preset != "cpu_vision" || f.Keep != tc.want || f.Entries == nil || len(f.Entries) != 0 {
			t.Errorf("New(cpu_vision, %d) = %+v, want schema %d, keep %d, empty non-nil entries", tc.keep, f, SchemaVersion, tc.want)
		}
	}
	b, err := New("p", 2).Marshal()
	if err != nil || !bytes.Contains(b, []byte(`"entries": []`)) {
		t.Errorf("an empty baseline marshals as %s (%v); want \"entries\": []", b, err)
	}
}

func TestUpdateRun(t *testing.T) {
	f := New("p", 5)
	r := rec("m", "fp1", 1.23456789, 0.00004, 10.00005, 2)
	r.CompileApplied, r.Compile, r.Device = true, "", "" // a seed-tool record: applied compile, no device
	res := f.Update([]*record.Record{r}, "deadbeef", time.Date(2026, 1, 30, 15, 30, 22, 0, time.FixedZone("CET", 3600)))
	if res.Added != 1 || res.Updated != 0 || len(res.Skipped) != 0 {
		t.Fatalf("Update = %+v, want 1 added", res)
	}
	want := Entry{
		Key: "m|b1|compile=on|t1|i1|cl=false|q=false|cpu", Knobs: knobs.Knobs{Model: "m", BatchSize: 1, Compile: "on", Threads: 1, InteropThreads: 1, Device: "cpu"},
		Runs: []Run{{
			Commit: "deadbeef", Date: "2026-01-30T14:30:22Z", Fingerprint: "fp1", CPUModel: "Test CPU", CPUsAvailable: 1.5,
			Torch: "2.1.0", BLAS: "openblas", ModelSHA256: "abc123", Iters: 4,
			ThroughputRPS: 123.457, LatencyP50: 1.2346, LatencyP95: 2, LatencyP99: 4,
			SamplesMs: []float64{1.2346, 0.0001, 10.0001, 2}, // rounded to 0.1 µs, never to 0
		}},
	}
	if len(f.Entries) != 1 || !reflect.DeepEqual(f.Entries[0], want) {
		t.Errorf("entry\n got %+v\nwant %+v", f.Entries, want)
	}
	if r.SamplesMs[0] != 1.23456789 {
		t.Errorf("Update rounded the record's own samples: %v", r.SamplesMs)
	}
}

// TestUpdateReference: a run keeps the record's reference workload timing, and survives a
// save and load; a run without it (older perflab) stays without.
func TestUpdateReference(t *testing.T) {
	f := New("p", 5)
	r := rec("m", "fp1", 1, 2, 3)
	r.Reference = &record.Reference{Workload: "w v1", Ms: 2.71828182, LogSE: 0.0123456789, BlocksMs: []float64{2.7, 2.8}, Before: 1, Calls: 8}
	f.Update([]*record.Record{r, rec("old", "fp1", 1, 2)}, "c1", time.Date(2026, 1, 30, 15, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "b.json")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := g.Lookup(key("m")).Runs[0]
	if got.ReferenceMs != 2.718282 || got.ReferenceLogSE != 0.012346 || got.ReferenceWorkload != "w v1" {
		t.Errorf("run reference %g ± %g (%q), want 2.718282 ± 0.012346 (\"w v1\")", got.ReferenceMs, got.ReferenceLogSE, got.ReferenceWorkload)
	}
	if old := g.Lookup(key("old")).Runs[0]; old.ReferenceMs != 0 || old.ReferenceWorkload != "" {
		t.Errorf("a run without the reference got %+v", old)
	}
}

func TestUpdateKeepsNewest(t *testing.T) {
	f := New("p", 2)
	for i, c := range []string{"c1", "c2", "c3"} {
		res := f.Update([]*record.Record{rec("m", "fp1", float64(i+1))}, c, day(i+1))
		wantAdded := 0
		if i == 0 {
			wantAdded = 1
		}
		if res.Added != wantAdded || res.Added+res.Updated != 1 {
			t.Errorf("update %d: %+v, want added %d or updated 1", i+1, res, wantAdded)
		}
	}
	e := f.Lookup(key("m"))
	if e == nil {
		t.Fatal("entry missing")
	}
	var commits []string
	for _, r := range e.Runs {
		commits = append(commits, fmt.Sprint(r.Commit, " ", r.Date, " ", r.SamplesMs))
	}
	want := []string{"c2 2026-01-02T12:00:00Z [2]", "c3 2026-01-03T12:00:00Z [3]"}
	if !slices.Equal(commits, want) {
		t.Errorf("runs %q, want the newest two, oldest first: %q", commits, want)
	}

	// Repeats in one update are separate runs of one entry: added once, not "updated".
	f = New("p", 5)
	res := f.Update([]*record.Record{rec("m", "fp1", 1), rec("m", "fp1", 2), rec("m", "fp1", 3)}, "c", day(1))
	if res.Added != 1 || res.Updated != 0 || len(f.Entries) != 1 || len(f.Entries[0].Runs) != 3 {
		t.Errorf("repeats: %+v, %d entries, runs %d; want 1 added, 1 entry with 3 runs", res, len(f.Entries), len(f.Entries[0].Runs))
	}
	res = f.Update([]*record.Record{rec("m", "fp1", 4), rec("m", "fp1", 5), rec("m", "fp1", 6)}, "c2", day(2))
	if res.Added != 0 || res.Updated != 1 || len(f.Entries[0].Runs) != 5 || f.Entries[0].Runs[0].SamplesMs[0] != 2 {
		t.Errorf("second update: %+v, runs %v; want 1 updated, runs 2..6", res, f.Entries[0].Runs)
	}
}

// A re-run of the same commit replaces that commit's runs instead of filling the K slots.
func TestUpdateSameCommitReplaces(t *testing.T) {
	f := New("p", 3)
	f.Update([]*record.Record{rec("m", "fp1", 1)}, "c1", day(1))
	f.Update([]*record.Record{rec("m", "fp1", 2)}, "c2", day(2))
	for i := 3; i <= 6; i++ { // the job of c2 re-run four times
		f.Update([]*record.Record{rec("m", "fp1", float64(i))}, "c2", day(i))
	}
	var got []string
	for _, r := range f.Lookup(key("m")).Runs {
		got = append(got, fmt.Sprint(r.Commit, " ", r.SamplesMs))
	}
	if want := []string{"c1 [1]", "c2 [6]"}; !slices.Equal(got, want) {
		t.Errorf("runs %q, want %q (c1 kept, c2's last run only)", got, want)
	}
	// Without a commit nothing is known to be the same: runs accumulate.
	f = New("p", 3)
	f.Update([]*record.Record{rec("m", "fp1", 1)}, "", day(1))
	f.Update([]*record.Record{rec("m", "fp1", 2)}, "", day(2))
	if n := len(f.Lookup(key("m")).Runs); n != 2 {
		t.Errorf("no commit: %d runs, want 2", n)
	}
}

func TestUpdateMergesAndSorts(t *testing.T) {
	f := New("p", 5)
	f.Update([]*record.Record{rec("zeta", "fp1", 1), rec("alpha", "fp1", 2)}, "c1", day(1))
	keep := deepCopy(t, f.Lookup(key("zeta")))
	res := f.Update([]*record.Record{rec("mid", "fp1", 3), rec("alpha", "fp1", 4), rec("beta", "fp1", 5)}, "c2", day(2))
	if res.Added != 2 || res.Updated != 1 {
		t.Errorf("Update = %+v, want 2 added (mid, beta), 1 updated (alpha)", res)
	}
	var keys []string
	for _, e := range f.Entries {
		keys = append(keys, e.Model)
	}
	if !slices.Equal(keys, []string{"alpha", "beta", "mid", "zeta"}) {
		t.Errorf("entries %v, want sorted by key", keys)
	}
	if got := f.Lookup(key("zeta")); !reflect.DeepEqual(got, keep) {
		t.Errorf("an entry not in the update changed:\n got %+v\nwant %+v", got, keep)
	}
	if a := f.Lookup(key("alpha")); a == nil || len(a.Runs) != 2 || a.Runs[1].Commit != "c2" {
		t.Errorf("alpha = %+v, want 2 runs, newest c2", a)
	}
	if f.Lookup(key("gamma")) != nil || f.Lookup("") != nil || f.Lookup(key("zzz")) != nil {
		t.Error("Lookup found a key that is not there")
	}
}

func deepCopy(t *testing.T, e *Entry) *Entry {
	t.Helper()
	if e == nil {
		t.Fatal("nil entry")
	}
	c := *e
	c.Runs = slices.Clone(e.Runs)
	for i := range c.Runs {
		c.Runs[i].SamplesMs = slices.Clone(e.Runs[i].SamplesMs)
	}
	return &c
}

func TestUpdateSkips(t *testing.T) {
	failed := &record.Record{Status: record.StatusFailed, Error: "exit status 2: boom", Knobs: knobs.Knobs{Model: "crashed", BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1}}
	wrong := rec("wrong", "fp1", 1, 2)
	wrong.Correctness = &record.Correctness{OK: false, RelDiff: 0.3, Tolerance: 1e-3}
	seed := rec("old", "fp1")
	f := New("p", 5)
	res := f.Update([]*record.Record{failed, rec("good", "fp1", 1), wrong, seed}, "c", day(1))
	want := []string{
		key("crashed") + ": failed: exit status 2: boom",
		key("wrong") + ": outputs differ from the plain model",
		key("old") + ": no samples_ms (a record from an older tool?)",
	}
	if !slices.Equal(res.Skipped, want) {
		t.Errorf("Skipped\n got %q\nwant %q", res.Skipped, want)
	}
	if res.Added != 1 || len(f.Entries) != 1 || f.Entries[0].Model != "good" {
		t.Errorf("Update = %+v, entries %v; want only good stored", res, f.Entries)
	}
	// Only unusable records: nothing stored.
	f = New("p", 5)
	res = f.Update([]*record.Record{failed, wrong}, "c", day(1))
	if res.Added+res.Updated != 0 || len(f.Entries) != 0 || len(res.Skipped) != 2 {
		t.Errorf("Update of unusable records = %+v, %d entries; want nothing stored, 2 skipped", res, len(f.Entries))
	}
}

// sample returns a small baseline with two entries and realistic runs.
func sample() *File {
	f := New("cpu_vision", 3)
	f.Update([]*record.Record{rec("resnet18", "25a5ef032987", 12.3456789, 12.5, 13.25, 19.0001), rec("mobilenet", "25a5ef032987", 3.1, 3.2)}, "0123456789abcdef", day(2))
	f.Update([]*record.Record{rec("resnet18", "25a5ef032987", 12.1, 12.2, 12.3, 20)}, "fedcba9876543210", day(3))
	return f
}

func TestMarshal(t *testing.T) {
	f := sample()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Samples on one line each (human-diffable: one line per run's samples).
	var sampleLines []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"samples_ms"`) {
			sampleLines = append(sampleLines, strings.TrimSpace(line))
		}
	}
	want := []string{`"samples_ms": [3.1,3.2]`, `"samples_ms": [12.3457,12.5,13.25,19.0001]`, `"samples_ms": [12.1,12.2,12.3,20]`}
	if !slices.Equal(sampleLines, want) {
		t.Errorf("samples lines\n got %q\nwant %q", sampleLines, want)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.HasPrefix(b, []byte("{\n  \"schema_version\": 1,\n  \"preset\": \"cpu_vision\",\n  \"keep\": 3,")) {
		t.Errorf("unexpected layout:\n%s", b)
	}
	// Stable: the same file marshals the same, and so does its parsed copy.
	b2, _ := f.Marshal()
	g, err := Parse("x.json", b)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := g.Marshal()
	if !bytes.Equal(b, b2) || !bytes.Equal(b, b3) {
		t.Errorf("Marshal is not stable:\n%s\n---\n%s\n---\n%s", b, b2, b3)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("Parse(Marshal(f)) != f:\n got %+v\nwant %+v", g, f)
	}
	testutil.Golden(t, filepath.Join("testdata", "baseline.golden.json"), b)

	// A large run: 2000 samples still on one line, and every value survives.
	f = New("p", 5)
	s := make([]float64, 2000)
	for i := range s {
		s[i] = 1 + float64(i)*0.0001 + 1e-9
	}
	f.Update([]*record.Record{rec("big", "fp", s...)}, "c", day(1))
	b, _ = f.Marshal()
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"samples_ms": [`) {
			line = l
		}
	}
	if !strings.HasSuffix(line, "]") || strings.Count(line, ",") != 1999 {
		t.Errorf("the samples of a 2000-sample run are not on one line (%d commas)", strings.Count(line, ","))
	}
	g, err = Parse("big.json", b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range g.Entries[0].Runs[0].SamplesMs {
		if math.Abs(v-(1+float64(i)*0.0001)) > 1e-12 {
			t.Fatalf("sample %d = %v after a round trip, want %v", i, v, 1+float64(i)*0.0001)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baselines", "cpu_vision.json") // the folder is created
	f := sample()
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("Load(Save(f)) != f:\n got %+v\nwant %+v", g, f)
	}
	onDisk, _ := os.ReadFile(path)
	if m, _ := f.Marshal(); !bytes.Equal(onDisk, m) {
		t.Errorf("the file is not Marshal's output")
	}
	// Update and save over it: the new content replaces the old, no temp files are left.
	g.Update([]*record.Record{rec("vit", "fp", 5, 6)}, "c4", day(4))
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	h, err := Load(path)
	if err != nil || len(h.Entries) != 3 || h.Lookup(key("vit")) == nil {
		t.Errorf("after the second save: %v, %+v", err, h)
	}
	if names := listDir(t, filepath.Dir(path)); !slices.Equal(names, []string{"cpu_vision.json"}) {
		t.Errorf("folder holds %q, want only cpu_vision.json (no temporary files)", names)
	}

	// A save that fails (a value JSON cannot hold) leaves the previous file intact.
	before, _ := os.ReadFile(path)
	h.Entries[0].Runs[0].ThroughputRPS = math.NaN()
	if err := h.Save(path); err == nil {
		t.Error("Save of a NaN succeeded")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed Save changed the file")
	}
	if names := listDir(t, filepath.Dir(path)); !slices.Equal(names, []string{"cpu_vision.json"}) {
		t.Errorf("after a failed save the folder holds %q", names)
	}

	// A save whose final rename fails (the path is a folder) leaves no temporary file.
	dirPath := filepath.Join(dir, "baselines", "folder.json")
	if err := os.MkdirAll(filepath.Join(dirPath, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sample().Save(dirPath); err == nil || !strings.Contains(err.Error(), "baseline: write "+dirPath) {
		t.Errorf("Save over a folder: %v, want an error naming it", err)
	}
	if names := listDir(t, filepath.Dir(path)); !slices.Equal(names, []string{"cpu_vision.json", "folder.json"}) {
		t.Errorf("after a failed rename the folder holds %q (a temporary file left behind?)", names)
	}
}

func TestSaveFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.json")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sample().Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o044 == 0 {
		t.Errorf("after Save the baseline's mode is %v: other users (e.g. a later CI step) cannot read it", st.Mode())
	}
}

func TestSaveReadOnlyFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permissions are not enforced")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "b.json")
	if err := sample().Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	f := sample()
	f.Update([]*record.Record{rec("vit", "fp", 1)}, "c", day(9))
	err := f.Save(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Save into a read-only folder: %v, want an error naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed Save changed the file")
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.json")
	_, err := Load(path)
	if !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) = %v, want ErrNotExist naming the path", err)
	}
	// A folder is not a missing file.
	_, err = Load(t.TempDir())
	if err == nil || errors.Is(err, ErrNotExist) {
		t.Errorf("Load(folder) = %v, want a read error that is not ErrNotExist", err)
	}
}

func TestParseErrors(t *testing.T) {
	const run = `{"date": "2026-01-01T00:00:00Z", "fingerprint": "fp", "iters": 2, "throughput_rps": 1, "latency_p50": 1, "latency_p95": 1, "latency_p99": 1, "samples_ms": [1,2]}`
	entry := func(k, runs string) string {
		return `{"key": "` + k + `", "model": "m", "batch_size": 1, "compile": "off", "threads": 1, "interop_threads": 1, "channels_last": false, "quantize": false, "device": "cpu", "runs": [` + runs + `]}`
	}
	file := func(head, entries string) string { return `{` + head + `"entries": [` + entries + `]}` }
	ok := file(`"schema_version": 1, "keep": 5, `, entry("a", run)+","+entry("b", run))
	if f, err := Parse("ok.json", []byte(ok)); err != nil || len(f.Entries) != 2 {
		t.Fatalf("the valid file does not parse: %v", err)
	}
	if f, err := Parse("ok.json", []byte(`{"schema_version": 1, "keep": 1}`)); err != nil || f.Entries == nil {
		t.Errorf("a file without entries: %+v, %v; want empty non-nil entries", f, err)
	}
	tests := []struct {
		name, content string
		want          []string
	}{
		{"not JSON", `{"schema_version": 1,`, []string{"baseline b.json is malformed", "unexpected EOF", "perflab baseline update"}},
		{"empty", ``, []string{"baseline b.json is malformed"}},
		{"wrong type", `{"schema_version": "1"}`, []string{"baseline b.json is malformed", "schema_version"}},
		{"schema 2", strings.Replace(ok, `"schema_version": 1`, `"schema_version": 2`, 1), []string{"baseline b.json: schema_version 2 is newer than this perflab understands (1): upgrade perflab"}},
		{"schema negative", strings.Replace(ok, `"schema_version": 1`, `"schema_version": -1`, 1), []string{"baseline b.json: schema_version -1 is not supported"}},
		{"negative sample", file(`"schema_version": 1, "keep": 5, `, entry("a", run)+","+entry("b", strings.Replace(run, `[1,2]`, `[1,-2]`, 1))),
			[]string{"baseline b.json: entry b run 1: samples_ms[1] = -2 is not a latency", "perflab baseline update"}},
		{"zero sample", file(`"schema_version": 1, "keep": 5, `, entry("a", strings.Replace(run, `[1,2]`, `[0,2]`, 1))), []string{"entry a run 1: samples_ms[0] = 0 is not a latency"}},
		{"huge sample", file(`"schema_version": 1, "keep": 5, `, entry("a", strings.Replace(run, `[1,2]`, `[1e300,2]`, 1))), []string{"entry a run 1: samples_ms[0] = 1e+300 is not a latency"}},
		{"negative p95", file(`"schema_version": 1, "keep": 5, `, entry("a", strings.Replace(run, `"latency_p95": 1`, `"latency_p95": -1`, 1))), []string{"entry a run 1: latency_p95 = -1 is not a measurement"}},
		{"keep 0", strings.Replace(ok, `"keep": 5`, `"keep": 0`, 1), []string{"baseline b.json: keep must be >= 1"}},
		{"duplicate key", file(`"schema_version": 1, "keep": 5, `, entry("a", run)+","+entry("a", run)), []string{`baseline b.json: entry "a" appears twice`}},
		{"run without samples", file(`"schema_version": 1, "keep": 5, `, entry("a", run)+","+entry("b", run+","+strings.Replace(run, `"samples_ms": [1,2]`, `"samples_ms": []`, 1))),
			[]string{"baseline b.json: entry b run 2 has no samples_ms"}},
		{"run with null samples", file(`"schema_version": 1, "keep": 5, `, entry("a", strings.Replace(run, `[1,2]`, `null`, 1))), []string{"a run 1 has no samples_ms"}},
		{"entry without key", file(`"schema_version": 1, "keep": 5, `, entry("", run)), []string{"baseline b.json: entry 1 lacks key, model or batch_size"}},
		{"entry with batch 0", file(`"schema_version": 1, "keep": 5, `, entry("a", run)+","+strings.Replace(entry("b", run), `"batch_size": 1`, `"batch_size": 0`, 1)),
			[]string{"entry 2 lacks key, model or batch_size"}},
	}
	// Fields of a newer perflab (same major version) are ignored; a file without
	// schema_version is version 1.
	for name, content := range map[string]string{
		"unknown field":     strings.Replace(ok, `"keep": 5`, `"keep": 5, "kept": 3`, 1),
		"unknown run field": strings.Replace(ok, `"iters": 2`, `"iters": 2, "p42": 1`, 1),
		"schema missing":    strings.Replace(ok, `"schema_version": 1, `, ``, 1),
	} {
		if f, err := Parse("b.json", []byte(content)); err != nil || len(f.Entries) != 2 || f.SchemaVersion != 1 {
			t.Errorf("%s: %v; want the file read as version 1 with its 2 entries", name, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("b.json", []byte(tt.content))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", f)
			}
			if f != nil {
				t.Errorf("Parse returned a file with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Load reports the same errors with the path.
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"schema_version": 2, "keep": 1}`), 0o644)
	if _, err := Load(path); err == nil || errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "baseline "+path+": schema_version 2") {
		t.Errorf("Load(bad) = %v", err)
	}
}

func TestParseTrailingData(t *testing.T) {
	for _, tail := range []string{` {"schema_version": 1, "keep": 1}`, ` garbage`} {
		if _, err := Parse("b.json", []byte(`{"schema_version": 1, "keep": 2, "entries": []}`+tail)); err == nil {
			t.Errorf("Parse accepted trailing data %q", tail)
		}
	}
}

func TestParseUnsortedEntries(t *testing.T) {
	// A hand-edited (or merged) file whose entries are not in key order.
	const run = `{"date": "2026-01-01T00:00:00Z", "fingerprint": "fp", "iters": 1, "throughput_rps": 1, "latency_p50": 1, "latency_p95": 1, "latency_p99": 1, "samples_ms": [1]}`
	content := `{"schema_version": 1, "keep": 5, "entries": [
	{"key": "` + key("zeta") + `", "model": "zeta", "batch_size": 1, "compile": "off", "threads": 1, "interop_threads": 1, "channels_last": false, "quantize": false, "device": "cpu", "runs": [` + run + `]},
	{"key": "` + key("alpha") + `", "model": "alpha", "batch_size": 1, "compile": "off", "threads": 1, "interop_threads": 1, "channels_last": false, "quantize": false, "device": "cpu", "runs": [` + run + `]}]}`
	f, err := Parse("b.json", []byte(content))
	if err != nil {
		// Rejecting the file is an acceptable fix too.
		return
	}
	for _, m := range []string{"zeta", "alpha"} {
		if f.Lookup(key(m)) == nil {
			t.Errorf("Lookup(%s) = nil on a parsed file with unsorted entries", m)
		}
	}
	f.Update([]*record.Record{rec("alpha", "fp", 2), rec("zeta", "fp", 2)}, "c", day(2))
	b, _ := f.Marshal()
	if _, err := Parse("b.json", b); err != nil {
		t.Errorf("after Update, the baseline no longer parses: %v", err)
	}
}

// TestSaveValidates: a baseline with a sample that is not a latency is not written.
func TestSaveValidates(t *testing.T) {
	f := New("p", 5)
	f.Update([]*record.Record{rec("m", "fp", 1, 2)}, "c", day(1))
	f.Entries[0].Runs[0].SamplesMs[1] = -3
	path := filepath.Join(t.TempDir(), "b.json")
	if err := f.Save(path); err == nil || !strings.Contains(err.Error(), "entry "+key("m")+" run 1: samples_ms[1] = -3") {
		t.Fatalf("Save = %v, want an error naming the entry", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the invalid baseline was written: %v", err)
	}
	// Update skips records whose samples are not latencies.
	bad := rec("z", "fp", 1, 2)
	bad.SamplesMs[0] = 0
	if res := New("p", 5).Update([]*record.Record{bad}, "c", day(1)); res.Added != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "samples_ms[0] = 0 is not a latency") {
		t.Errorf("Update of a zero sample: %+v", res)
	}
}

// TestParseOldEntryCompile reads a baseline written before the knobs were shared, whose
// entries name the requested compile mode "compile".
func TestParseOldEntryCompile(t *testing.T) {
	old := `{"schema_version":1,"preset":"p","keep":3,"entries":[{"key":"m|b1|compile=on|t1|i1|cl=false|q=false|cpu","model":"m","batch_size":1,"compile":"on","threads":1,"interop_threads":1,"channels_last":false,"quantize":false,"device":"cpu","runs":[]}]}`
	f, err := Parse("old.json", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Entries[0]; e.Compile != "on" || e.Model != "m" || e.Threads != 1 || e.InteropThreads != 1 {
		t.Errorf("old entry read as %+v", e)
	}
}
