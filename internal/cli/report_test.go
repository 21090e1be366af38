package cli

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportFixture is a small sweep: two models, a failed config, one whose outputs differ,
// and repeats (see internal/report/testdata).
const reportFixture = "../report/testdata/sweep.jsonl"

// parseReport runs `report args...` with a runF that captures the options.
func parseReport(t *testing.T, args ...string) (*ReportOptions, error) {
	t.Helper()
	return parseCmd(t, IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, NewReportCmd, args...)
}

func TestReportFlags(t *testing.T) {
	o, err := parseReport(t, "--input", "a.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Inputs) != 1 || o.Inputs[0] != "a.jsonl" || o.Out != "reports/latest.md" || o.OutSet ||
		o.Constraint != "balanced" || o.LatencyPct != "p95" || o.BudgetMs != 0 || o.JSON || o.NoPlots {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseReport(t, "--input", "a.jsonl", "--input", "b,c.jsonl", "--out", "x/y.md", "--constraint", "latency",
		"--latency-pct", "p99", "--latency-budget-ms", "20", "--json", "--no-plots")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Inputs) != 2 || o.Inputs[1] != "b,c.jsonl" || o.Out != "x/y.md" || !o.OutSet || o.Constraint != "latency" ||
		o.LatencyPct != "p99" || o.BudgetMs != 20 || !o.JSON || !o.NoPlots {
		t.Errorf("parsed: %+v", o)
	}
	if _, err := parseReport(t, "--out", "x.md"); err == nil || !strings.Contains(err.Error(), `"input"`) {
		t.Errorf("missing --input: err %v", err)
	}
}

// reportRun runs RunReport and returns stdout, stderr and the error.
func reportRun(t *testing.T, o ReportOptions) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IO = IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	if o.Constraint == "" {
		o.Constraint = "balanced"
	}
	if o.LatencyPct == "" {
		o.LatencyPct = "p95"
	}
	if o.Generator == "" {
		o.Generator = "perflab test"
	}
	err := RunReport(&o)
	return out.String(), errOut.String(), err
}

func TestReportWritesMarkdownAndPlots(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "reports", "latest.md")
	stdout, stderr, err := reportRun(t, ReportOptions{Inputs: []string{reportFixture}, Out: out, BudgetMs: 50})
	if err != nil {
		t.Fatal(err)
	}
	if stderr != "" {
		t.Errorf("stderr: %q", stderr)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# perflab report", "### mobilenet_v3_small", "![Throughput vs p95 latency](latest_throughput_vs_p95.png)", "![Latency percentiles by batch size](latest_latency_by_batch.png)"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
	for _, name := range []string{"latest_throughput_vs_p95.png", "latest_latency_by_batch.png"} {
		f, err := os.Open(filepath.Join(dir, "reports", name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 {
			t.Errorf("%s is %dx%d", name, b.Dx(), b.Dy())
		}
		if !strings.Contains(stdout, filepath.Join(dir, "reports", name)) {
			t.Errorf("stdout does not name %s: %q", name, stdout)
		}
	}
	for _, s := range []string{"mobilenet_v3_small: batch 1, compile on, 1 thread", "why: best throughput/p95 ratio", "runner-up:", "report: " + out} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}

	// --no-plots: no PNG, no Plots section.
	out2 := filepath.Join(dir, "np", "r.md")
	if _, _, err := reportRun(t, ReportOptions{Inputs: []string{reportFixture}, Out: out2, NoPlots: true}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(out2))
	if len(ents) != 1 {
		t.Errorf("--no-plots wrote %d files, want only the markdown", len(ents))
	}
	if md, _ := os.ReadFile(out2); strings.Contains(string(md), "## Plots") {
		t.Errorf("--no-plots markdown has a Plots section")
	}
}

func TestReportJSON(t *testing.T) {
	abs, err := filepath.Abs(reportFixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir) // the default --out must not be written with --json
	stdout, stderr, err := reportRun(t, ReportOptions{Inputs: []string{abs}, Out: defaultReportOut, Constraint: "latency", LatencyPct: "p99", BudgetMs: 20, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	if stderr != "" {
		t.Errorf("stderr: %q", stderr)
	}
	var got struct {
		Recommendations []map[string]any `json:"recommendations"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the JSON object: %v\n%s", err, stdout)
	}
	if len(got.Recommendations) != 2 {
		t.Fatalf("%d recommendations, want one per model (2)", len(got.Recommendations))
	}
	m := got.Recommendations[0]
	for _, k := range []string{"model", "constraint", "batch_size", "compile", "threads", "interop_threads", "channels_last", "quantize", "latency_ms", "throughput_rps", "reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("recommendation lacks %q: %v", k, m)
		}
	}
	if m["model"] != "mobilenet_v3_small" || m["constraint"] != "latency" || m["batch_size"] != 4.0 || m["latency_ms"] != 14.4 || m["throughput_rps"] != 400.0 {
		t.Errorf("mobilenet: %v", m)
	}
	if r := got.Recommendations[1]; r["model"] != "resnet18" || r["none"] != true || !strings.Contains(r["reason"].(string), "closest") {
		t.Errorf("resnet18: %v", r)
	}
	if _, err := os.Stat(defaultReportOut); err == nil {
		t.Errorf("--json without --out wrote %s", defaultReportOut)
	}

	// --json with an explicit --out writes the markdown too; stdout stays pure JSON.
	out := filepath.Join(dir, "both.md")
	stdout, _, err = reportRun(t, ReportOptions{Inputs: []string{abs}, Out: out, OutSet: true, JSON: true, NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(stdout)) {
		t.Errorf("stdout is not JSON: %q", stdout)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("--json --out did not write the markdown: %v", err)
	}
}

func TestReportMalformedLines(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(reportFixture)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	in := filepath.Join(dir, "mixed.jsonl")
	// Line 2 is not JSON, line 4 lacks the model, line 5 is blank; the rest are records.
	content := lines[0] + "{not json\n" + lines[1] + `{"batch_size": 1}` + "\n\n" + strings.Join(lines[2:], "")
	if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := reportRun(t, ReportOptions{Inputs: []string{in}, Out: filepath.Join(dir, "r.md"), NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"warning: " + in + ":2: malformed record: invalid JSON", "warning: " + in + `:4: malformed record: missing "model"`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); n != 2 {
		t.Errorf("stderr has %d lines, want 2 warnings:\n%s", n, stderr)
	}
	if !strings.Contains(stdout, "mobilenet_v3_small:") || !strings.Contains(stdout, "resnet18:") {
		t.Errorf("the valid records were not reported:\n%s", stdout)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "r.md"))
	if !strings.Contains(string(md), "13 records") {
		t.Errorf("markdown does not count the 13 valid records")
	}
}

func TestReportInputErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	bad := filepath.Join(dir, "bad.jsonl")
	blank := filepath.Join(dir, "blank.jsonl")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(bad, []byte("garbage\n{\"model\": \"\"}\n"), 0o644)
	os.WriteFile(blank, []byte("\n\n"), 0o644)
	missing := filepath.Join(dir, "missing.jsonl")
	out := filepath.Join(dir, "r.md")

	tests := []struct {
		name   string
		o      ReportOptions
		want   string
		stderr string
	}{
		{"empty file", ReportOptions{Inputs: []string{empty}}, "no valid record in " + empty + ": the file is empty", ""},
		{"blank lines only", ReportOptions{Inputs: []string{blank}}, "no valid record in " + blank + ": the file is empty", ""},
		{"only malformed lines", ReportOptions{Inputs: []string{bad}}, "no valid record in " + bad + ": 2 malformed lines", bad + ":1: malformed record"},
		{"one good file, one empty", ReportOptions{Inputs: []string{reportFixture, empty}}, "no valid record in " + empty, ""},
		{"missing file", ReportOptions{Inputs: []string{missing}}, "input " + missing + " does not exist", ""},
		{"latency without budget", ReportOptions{Inputs: []string{reportFixture}, Constraint: "latency"}, "--constraint latency needs --latency-budget-ms", ""},
		{"unknown constraint", ReportOptions{Inputs: []string{reportFixture}, Constraint: "cheap"}, `--constraint must be one of balanced, latency, throughput, got "cheap"`, ""},
		{"unknown percentile", ReportOptions{Inputs: []string{reportFixture}, LatencyPct: "p75"}, `--latency-pct must be p50, p90, p95 or p99, got "p75"`, ""},
		{"negative budget", ReportOptions{Inputs: []string{reportFixture}, BudgetMs: -5}, "--latency-budget-ms must be a positive number", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Out = out
			_, stderr, err := reportRun(t, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a report was written despite the error")
			}
		})
	}
}

func TestReportMain(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	code, stdout, stderr := runReportMain("report", "--input", empty, "--out", filepath.Join(dir, "r.md"))
	if code != ExitUsage || stdout != "" || !strings.HasPrefix(stderr, "perflab: no valid record in "+empty) {
		t.Errorf("empty input: code %d, stdout %q, stderr %q; want %d and one error line", code, stdout, stderr, ExitUsage)
	}
	code, _, stderr = runReportMain("report", "--input", reportFixture, "--constraint", "fast")
	if code != ExitUsage || !strings.Contains(stderr, "--constraint must be one of") {
		t.Errorf("bad constraint: code %d, stderr %q", code, stderr)
	}
	code, stdout, stderr = runReportMain("report", "--input", reportFixture, "--constraint", "latency", "--latency-pct", "p99", "--latency-budget-ms", "20", "--json")
	if code != ExitOK || !json.Valid([]byte(stdout)) || stderr != "" {
		t.Errorf("--json: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runReportMain("report", "--help")
	for _, w := range []string{"--latency-budget-ms", "balanced", "throughput", "Examples:", "perflab report --input", "Exit codes"} {
		if code != ExitOK || !strings.Contains(stdout, w) {
			t.Errorf("report --help (code %d) lacks %q", code, w)
		}
	}
}

func runReportMain(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}
