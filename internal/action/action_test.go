package action

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/github/githubtest"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/stats"
)

const fakeToken = "ghs_FAKEtoken4perflabTESTS_Zq9"

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// ---------------------------------------------------------------------------------------
// Inputs and event.

func TestParseInputsDefaults(t *testing.T) {
	in, err := ParseInputs(mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if in.Preset != "cpu_vision" || in.Quick || in.Models != nil || in.Iters != 0 || in.Baseline != "" ||
		in.Constraint != "balanced" || in.LatencyPct != "p95" || in.BudgetMs != 0 || in.Threshold != 0.05 ||
		in.Alpha != 0.01 || strings.Join(in.Metrics, ",") != "p95,p99,throughput" || !in.Comment || !in.FailOnRegression ||
		in.UpdateBaseline != "auto" || in.Token != "" || in.Results != nil || in.Shard != "" ||
		!in.AB || in.BaseModels != "" || strings.Join(in.GateConfigs, ",") != "recommended,batch1" || in.ABRounds != 6 ||
		in.ABBudget != 15*time.Minute || in.FailOnInconclusive {
		t.Errorf("defaults: %+v", in)
	}
	for name := range Defaults {
		if !strings.Contains(name, "-") && strings.ToLower(name) != name {
			t.Errorf("input %q: input names are lower case", name)
		}
	}
}

func TestParseInputsValues(t *testing.T) {
	env := map[string]string{
		"INPUT_PRESET": "presets/mine.yaml", "INPUT_QUICK": "TRUE", "INPUT_MODELS": "a, b\nc", "INPUT_ITERS": "50",
		"INPUT_BASELINE": "perf/b.json", "INPUT_CONSTRAINT": "Latency", "INPUT_LATENCY-PCT": "p99",
		"INPUT_LATENCY-BUDGET-MS": "20", "INPUT_THRESHOLD": "0.1", "INPUT_ALPHA": "0.05", "INPUT_METRICS": "p50, throughput",
		"INPUT_COMMENT": "false", "INPUT_FAIL-ON-REGRESSION": "False", "INPUT_UPDATE-BASELINE": "true",
		"INPUT_GITHUB-TOKEN": fakeToken, "INPUT_RESULTS": "shards/*.jsonl",
		"INPUT_AB": "false", "INPUT_BASE-MODELS": "base/", "INPUT_GATE-CONFIGS": "all", "INPUT_AB-ROUNDS": "4",
		"INPUT_AB-BUDGET": "90s", "INPUT_FAIL-ON-INCONCLUSIVE": "true",
	}
	in, err := ParseInputs(mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if in.AB || in.BaseModels != "base/" || strings.Join(in.GateConfigs, ",") != "all" || in.ABRounds != 4 || in.ABBudget != 90*time.Second || !in.FailOnInconclusive {
		t.Errorf("A/B inputs: %+v", in)
	}
	if in.Preset != "presets/mine.yaml" || !in.Quick || strings.Join(in.Models, "|") != "a|b|c" || in.Iters != 50 ||
		in.Baseline != "perf/b.json" || in.Constraint != "latency" || in.LatencyPct != "p99" || in.BudgetMs != 20 ||
		in.Threshold != 0.1 || in.Alpha != 0.05 || strings.Join(in.Metrics, ",") != "p50,throughput" || in.Comment ||
		in.FailOnRegression || in.UpdateBaseline != "true" || in.Token != fakeToken || strings.Join(in.Results, ",") != "shards/*.jsonl" {
		t.Errorf("parsed: %+v", in)
	}
	// A shell cannot set INPUT_FAIL-ON-REGRESSION: the underscore form is read too.
	in, err = ParseInputs(mapEnv(map[string]string{"INPUT_FAIL_ON_REGRESSION": "false"}))
	if err != nil || in.FailOnRegression {
		t.Errorf("INPUT_FAIL_ON_REGRESSION=false: %v, %v", in.FailOnRegression, err)
	}
}

func TestParseInputsErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"INPUT_CONSTRAINT": "fastest"}, []string{"input constraint", "balanced, latency, throughput", `"fastest"`}},
		{map[string]string{"INPUT_CONSTRAINT": "latency"}, []string{"latency-budget-ms"}},
		{map[string]string{"INPUT_LATENCY-PCT": "p42"}, []string{"latency-pct", "p42"}},
		{map[string]string{"INPUT_QUICK": "yes"}, []string{"input quick", `"yes"`, "true or false"}},
		{map[string]string{"INPUT_ITERS": "0"}, []string{"input iters"}},
		{map[string]string{"INPUT_THRESHOLD": "lots"}, []string{"input threshold"}},
		{map[string]string{"INPUT_ALPHA": "2"}, []string{"input alpha"}},
		{map[string]string{"INPUT_METRICS": "p95,p100"}, []string{"input metrics", "p100"}},
		{map[string]string{"INPUT_UPDATE-BASELINE": "always"}, []string{"input update-baseline", "auto"}},
		{map[string]string{"INPUT_SHARD": "5/4"}, []string{"input shard"}},
		{map[string]string{"INPUT_SHARD": "1/2", "INPUT_RESULTS": "x.jsonl"}, []string{"shard and results"}},
		{map[string]string{"INPUT_LATENCY-BUDGET-MS": "-3"}, []string{"latency-budget-ms"}},
		{map[string]string{"INPUT_AB-ROUNDS": "2"}, []string{"input ab-rounds", "between 3 and 200"}},
		{map[string]string{"INPUT_AB-ROUNDS": "6000"}, []string{"input ab-rounds", "\"6000\" is not an integer between 3 and 200"}},
		{map[string]string{"INPUT_AB-BUDGET": "soon"}, []string{"input ab-budget", "15m"}},
		{map[string]string{"INPUT_GATE-CONFIGS": "fastest"}, []string{"input gate-configs", "recommended, batch1, all"}},
		{map[string]string{"INPUT_FAIL-ON-INCONCLUSIVE": "maybe"}, []string{"input fail-on-inconclusive"}},
	}
	for _, tt := range tests {
		_, err := ParseInputs(mapEnv(tt.env))
		if err == nil {
			t.Errorf("%v: no error", tt.env)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not contain %q", tt.env, err, w)
			}
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("%v: error %q talks about flags, not inputs", tt.env, err)
		}
	}
}

// TestParseInputsThresholdNaN: the threshold input follows perflab gate --threshold's rule.
// A NaN threshold (once accepted here) would make no slowdown ever a regression.
func TestParseInputsThresholdNaN(t *testing.T) {
	for _, v := range []string{"NaN", "nan%", "Inf"} {
		_, err := ParseInputs(mapEnv(map[string]string{"INPUT_THRESHOLD": v}))
		want := "input threshold: " + strconv.Quote(v) + ": want between 0% and 100%"
		if err == nil || err.Error() != want {
			t.Errorf("threshold %q: error %v, want the one line %q", v, err, want)
		}
	}
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func prPayload(number int, headRepo string) map[string]any {
	return map[string]any{
		"action": "synchronize", "number": number,
		"repository": map[string]any{"full_name": "acme/app", "default_branch": "main"},
		"pull_request": map[string]any{
			"number": number,
			"base":   map[string]any{"sha": "ba5e000000000000000000000000000000000001", "ref": "main", "repo": map[string]any{"full_name": "acme/app"}},
			"head":   map[string]any{"sha": "fead000000000000000000000000000000000001", "ref": "feature", "repo": map[string]any{"full_name": headRepo}},
		},
	}
}

func TestReadEvent(t *testing.T) {
	dir := t.TempDir()
	p := writeJSON(t, dir, "pr.json", prPayload(12, "someone/app"))
	ev, err := ReadEvent(mapEnv(map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": p, "GITHUB_REPOSITORY": "acme/app"}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Owner != "acme" || ev.Repo != "app" || ev.PR == nil || ev.PR.Number != 12 || !ev.PR.Fork() || ev.PR.BaseRef != "main" ||
		!strings.HasPrefix(ev.PR.BaseSHA, "ba5e") || !strings.HasPrefix(ev.PR.HeadSHA, "fead") {
		t.Errorf("event %+v, pr %+v", ev, ev.PR)
	}
	p = writeJSON(t, dir, "push.json", map[string]any{"ref": "refs/heads/main", "after": "abc0000000000000000000000000000000000000", "repository": map[string]any{"full_name": "acme/app", "default_branch": "main"}})
	ev, err = ReadEvent(mapEnv(map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": p}))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.IsDefaultBranchPush() || ev.SHA != "abc0000000000000000000000000000000000000" || ev.IsPullRequest() || ev.Owner != "acme" {
		t.Errorf("push event %+v", ev)
	}
	if _, err := ReadEvent(mapEnv(nil)); err == nil || !strings.Contains(err.Error(), "GITHUB_EVENT_NAME") {
		t.Errorf("no event: %v", err)
	}
}

// ---------------------------------------------------------------------------------------
// Rendering.

func TestAssembleKeepsLimits(t *testing.T) {
	big := strings.Repeat("| row | of | a | table |\n", 5000) // ~120 kB
	secs := []section{
		{text: gate.Marker + "\n"},
		{text: "<details><summary>All</summary>\n\n" + big + "</details>\n"},
		{text: "optional chart\n", optional: true},
		{text: "report " + big, optional: true, fallback: "see the summary\n"},
		{text: "footer\n"},
	}
	out := assemble(MaxCommentBytes, secs)
	if len(out) > MaxCommentBytes {
		t.Fatalf("assembled %d bytes > %d", len(out), MaxCommentBytes)
	}
	if !strings.HasPrefix(out, gate.Marker) || !strings.HasSuffix(out, "footer\n") {
		t.Errorf("lost the marker or the footer")
	}
	if strings.Count(out, "<details>") != strings.Count(out, "</details>") || !strings.Contains(out, "truncated") {
		t.Errorf("truncation left <details> open or did not say so")
	}
	if strings.Contains(out, "report |") {
		t.Errorf("an optional section that cannot fit was included")
	}
	// Everything fits: nothing changes.
	small := assemble(MaxCommentBytes, []section{{text: "a\n"}, {text: "b\n", optional: true}, {text: "c\n"}})
	if small != "a\nb\nc\n" {
		t.Errorf("assemble = %q", small)
	}
	// The fallback replaces what does not fit.
	fb := assemble(20, []section{{text: "a\n"}, {text: strings.Repeat("x", 30), optional: true, fallback: "fb\n"}, {text: "c\n"}})
	if fb != "a\nfb\nc\n" {
		t.Errorf("fallback: %q", fb)
	}
}

func TestTruncateMarkdownClosesFences(t *testing.T) {
	s := "```mermaid\n" + strings.Repeat("line\n", 1000)
	out := truncateMarkdown(s, 500)
	if len(out) > 500 || strings.Count(out, "```")%2 != 0 {
		t.Errorf("len %d, fences %d", len(out), strings.Count(out, "```"))
	}
}

// rec builds a successful record whose samples are around ms (2% noise).
func rec(model string, batch, threads int, ms float64, n int, fp string, seed uint64) *record.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	samples := make([]float64, n)
	sum := 0.0
	for i := range samples {
		samples[i] = ms * (1 + 0.02*rng.NormFloat64())
		sum += samples[i]
	}
	s := stats.Summarize(samples, 0.95)
	return &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: model, BatchSize: batch, Compile: "off", Threads: threads, InteropThreads: 1, Device: "cpu"},
		Iters: n, Preset: "tiny",
		LatencyP50: s.P50, LatencyP90: s.P90, LatencyP95: s.P95, LatencyP99: s.P99, LatencyCI: s.CI, LatencyMean: s.Mean,
		IQROverMedian: s.IQROverMedian(), ThroughputRPS: float64(batch) * 1000 * float64(n) / sum, ForwardMsPerBatch: s.Mean,
		SamplesMs: samples, Env: &record.Env{Fingerprint: fp, CPUModel: "Test CPU", CPUsAvailable: 2, Torch: "1.13.1", BLAS: "openblas"}}
}

func TestChartAndRecommendations(t *testing.T) {
	var recs []*record.Record
	for i, b := range []int{1, 2, 4} {
		recs = append(recs, rec("models/my model.pt", b, 1, float64(2+i), 200, "fp", uint64(i)))
	}
	rep, err := report.Compute(recs, report.Options{Constraint: "latency", Percentile: "p95", BudgetMs: 4})
	if err != nil {
		t.Fatal(err)
	}
	c := chart(rep)
	for _, w := range []string{"```mermaid\nxychart-beta horizontal\n", `title "my model.pt: p95 latency (ms) per configuration"`, `x-axis ["`, "bar [", "line [4, 4, 4]", "★ b", "y-axis \"p95 latency (ms)\" 0 -->"} {
		if !strings.Contains(c, w) {
			t.Errorf("chart lacks %q:\n%s", w, c)
		}
	}
	if strings.Contains(c, "e-") || strings.Contains(c, "e+") {
		t.Errorf("chart numbers in exponent form:\n%s", c)
	}
	tbl := recommendations(rep)
	if !strings.Contains(tbl, "| `my model.pt` |") || !strings.Contains(tbl, "req/s") {
		t.Errorf("recommendations:\n%s", tbl)
	}
	js, err := RecommendedJSON(rep)
	if err != nil || strings.Contains(js, "\n") {
		t.Fatalf("RecommendedJSON = %q, %v", js, err)
	}
	var parsed report.JSONReport
	if err := json.Unmarshal([]byte(js), &parsed); err != nil || len(parsed.Recommendations) != 1 {
		t.Errorf("recommended-config does not parse as perflab report --json: %v", err)
	}
}

// TestSameNumberEverywhere: one latency prints the same in every renderer that ends up in
// the PR comment or the job summary: the gate's table (markdown and text), the comment's
// verdict and recommendation, and the full report. (They printed 12.35 and 12.3.)
func TestSameNumberEverywhere(t *testing.T) {
	const v = 12.3456
	r := rec("m.pt", 1, 1, v, 200, "fp", 1)
	r.LatencyP95 = v
	rep, err := report.Compute([]*record.Record{r}, report.Options{Constraint: "balanced", Percentile: "p95"})
	if err != nil {
		t.Fatal(err)
	}
	grep := &gate.Report{Verdict: gate.NoChange, Summary: "no change", Alpha: 0.01, Threshold: 0.05, Metrics: []string{"p95"},
		Comparisons: []gate.Comparison{{Key: r.Key(), Metric: "p95", Verdict: gate.NoChange,
			Baseline: gate.Estimate{Value: v, Runs: 1}, Current: gate.Estimate{Value: v, Runs: 1}, Ratio: 1, PAdj: 0.5}}}
	var gateMD, gateText, reportMD bytes.Buffer
	if err := grep.Markdown(&gateMD); err != nil {
		t.Fatal(err)
	}
	if err := grep.Text(&gateText); err != nil {
		t.Fatal(err)
	}
	if err := report.Markdown(&reportMD, rep, report.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"gate markdown": gateMD.String(), "gate text": gateText.String(), "report markdown": reportMD.String(),
		"comment verdict": verdictMarkdown(grep, "perflab gate: no change", "", ""), "comment recommendation": recommendations(rep),
	} {
		if !strings.Contains(out, "12.3 ms") || strings.Contains(out, "12.35") || strings.Contains(out, "12.346") {
			t.Errorf("%s does not print %g as \"12.3 ms\":\n%s", name, v, out)
		}
	}
}

// One slow outlier must not flatten the real bars: the axis follows the bulk of the values
// (and the budget), the outlier is cut at the axis end and its label says its value.
func TestChartClipsOutliers(t *testing.T) {
	var recs []*record.Record
	for i, ms := range []float64{11, 14, 20, 33, 55, 2400} {
		recs = append(recs, rec("m.pt", 1<<i, 1, ms, 200, "fp", uint64(i)))
	}
	rep, err := report.Compute(recs, report.Options{Constraint: "latency", Percentile: "p95", BudgetMs: 50})
	if err != nil {
		t.Fatal(err)
	}
	c := chart(rep)
	top := regexp.MustCompile(`y-axis "p95 latency \(ms\)" 0 --> ([0-9.]+)`).FindStringSubmatch(c)
	if top == nil {
		t.Fatalf("no y-axis range:\n%s", c)
	}
	end, _ := strconv.ParseFloat(top[1], 64)
	if end < 60 || end > 200 {
		t.Errorf("axis ends at %v ms; want it set by the 11-55 ms bars and the 50 ms budget, not the 2.4 s outlier:\n%s", end, c)
	}
	if !strings.Contains(c, "▶ 2") || !strings.Contains(c, "a bar cut at the end of the axis") {
		t.Errorf("the cut bar is not labelled with its value:\n%s", c)
	}
	bars := regexp.MustCompile(`bar \[([^\]]*)\]`).FindStringSubmatch(c)
	for _, v := range strings.Split(bars[1], ", ") {
		if f, _ := strconv.ParseFloat(v, 64); f > end {
			t.Errorf("bar %v beyond the axis end %v", f, end)
		}
	}
	// Without an outlier nothing is cut.
	rep2, _ := report.Compute(recs[:5], report.Options{Constraint: "latency", Percentile: "p95", BudgetMs: 50})
	if c2 := chart(rep2); strings.Contains(c2, "▶") {
		t.Errorf("a bar was cut without an outlier:\n%s", c2)
	}
}

// The verdict table fits a comment: six columns with the verdict first, short labels,
// values on inconclusive rows, p never printed as 0, capped rows.
func TestVerdictMarkdown(t *testing.T) {
	rep := &gate.Report{Verdict: gate.Regression, Summary: "1 regression", Alpha: 0.01, Threshold: 0.05, Metrics: []string{"p95"},
		Baseline: &gate.BaselineInfo{Path: "baselines/x.json", Source: "contents API at the merge base abc with main", Commits: []string{"a", "b"},
			FirstDate: "2026-11-30T10:00:00Z", LastDate: "2026-12-01T10:00:00Z", Fingerprints: []string{"fp1"}}}
	rep.Comparisons = append(rep.Comparisons,
		gate.Comparison{Key: "mobilenet_v3_small|b4|compile=on|t2|i1|cl=true|q=false|cpu", Metric: "p95", Verdict: gate.Regression,
			Baseline: gate.Estimate{Value: 10, Runs: 2}, Current: gate.Estimate{Value: 20, Runs: 1}, Ratio: 2, PAdj: 0},
		gate.Comparison{Key: "mobilenet_v3_small|b1|compile=off|t1|i1|cl=false|q=false|cpu", Metric: "p99", Verdict: gate.Inconclusive,
			Baseline: gate.Estimate{Value: 12, Runs: 1}, Current: gate.Estimate{Value: 13, Runs: 1}})
	for i := 0; i < 70; i++ {
		rep.Comparisons = append(rep.Comparisons, gate.Comparison{Key: fmt.Sprintf("m%d|b1|compile=off|t1|i1|cl=false|q=false|cpu", i), Metric: "p95",
			Verdict: gate.NoChange, Baseline: gate.Estimate{Value: 5, Runs: 1}, Current: gate.Estimate{Value: 5.1, Runs: 1}, Ratio: 1.02, PAdj: 0.5})
	}
	md := verdictMarkdown(rep, "perflab gate: regression", "", "")
	for _, want := range []string{
		"### ❌ perflab gate: regression", "| | configuration | metric | baseline | now | change |",
		"| ❌ | `mobilenet_v3_small` b4 t2 compile channels_last | p95 | 10.0 ms (×2) | 20.0 ms | **+100.0% (p<0.001)** |",
		"| ❔ | `mobilenet_v3_small` b1 t1 | p99 | 12.0 ms | 13.0 ms | +8.3% |",
		"*… and 11 more: every comparison is in `perflab-results/verdict.json`.*",
		"**Baseline:** `baselines/x.json` from the contents API at the merge base abc with main: 2 commits, measured from 2026-11-30 to 2026-12-01 on `fp1`.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("verdict lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"p=0)", "p=0 ", "))", "compile=off", "| - |"} {
		if strings.Contains(md, bad) {
			t.Errorf("verdict contains %q:\n%s", bad, md)
		}
	}
	// The widest row stays narrow: at most 6 cells, and no cell over 60 characters.
	for _, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), " | ")
		if len(cells) != 6 {
			t.Errorf("row with %d cells: %s", len(cells), l)
		}
		for _, c := range cells {
			if len([]rune(c)) > 60 {
				t.Errorf("cell of %d characters: %q", len([]rune(c)), c)
			}
		}
	}
}

func TestAnnotationsAreCapped(t *testing.T) {
	rep := &gate.Report{}
	for i := 0; i < 15; i++ {
		rep.Comparisons = append(rep.Comparisons, gate.Comparison{Key: fmt.Sprintf("k%d", i), Metric: "p95", Verdict: gate.Regression, Ratio: 1.5})
	}
	rep.Comparisons = append(rep.Comparisons, gate.Comparison{Key: "ok", Metric: "p95", Verdict: gate.NoChange})
	msgs := annotations(rep, MaxAnnotations)
	if !strings.Contains(msgs[0], "+50.0% (p<0.001)") || strings.Contains(msgs[0], "p=0") {
		t.Errorf("annotation %q: want the change and p<0.001, never p=0", msgs[0])
	}
	if len(msgs) != MaxAnnotations || !strings.Contains(msgs[9], "6 more regressions") {
		t.Errorf("%d annotations, last %q", len(msgs), msgs[len(msgs)-1])
	}
	if got := annotations(&gate.Report{Comparisons: rep.Comparisons[:3]}, MaxAnnotations); len(got) != 3 {
		t.Errorf("3 regressions gave %d annotations", len(got))
	}
}

// ---------------------------------------------------------------------------------------
// Run, in process, with a fake sweep and a fake API.

type world struct {
	t      *testing.T
	ws     string
	env    map[string]string
	stdout bytes.Buffer
	stderr bytes.Buffer
	recs   []*record.Record // what the fake sweep writes
	swept  []SweepRequest
}

func newWorld(t *testing.T, event string, payload map[string]any) *world {
	t.Helper()
	w := &world{t: t, ws: t.TempDir()}
	dir := t.TempDir()
	w.env = map[string]string{
		"GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": writeJSON(t, dir, "event.json", payload),
		"GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKSPACE": w.ws, "GITHUB_SHA": "a5a0000000000000000000000000000000000001",
		"GITHUB_OUTPUT": filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "99",
		"INPUT_PRESET": "tiny", "INPUT_GITHUB-TOKEN": fakeToken,
	}
	os.WriteFile(filepath.Join(w.ws, "tiny.yaml"), []byte("name: tiny\ngrid:\n  models: [m.pt]\n  inputs: ['float32[B,8]']\n"), 0o644)
	w.env["INPUT_PRESET"] = "tiny.yaml"
	w.recs = []*record.Record{rec("m.pt", 1, 1, 5, 200, "fp1", 1), rec("m.pt", 4, 1, 12, 200, "fp1", 2)}
	return w
}

func (w *world) run(api *githubtest.Server) (*Result, error) {
	if api != nil {
		w.env["GITHUB_API_URL"] = api.URL
	}
	return w.runNow()
}

func (w *world) runNow() (*Result, error) {
	w.stdout.Reset()
	w.stderr.Reset()
	return Run(context.Background(), Deps{
		Getenv: mapEnv(w.env), Stdout: &w.stdout, Version: "test",
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		NewClient: func(token, apiURL string) (*github.Client, error) {
			c, err := github.NewClient(token, apiURL)
			if c != nil {
				c.Sleep = func(time.Duration) {}
			}
			return c, err
		},
		Sweep: func(ctx context.Context, req SweepRequest) (string, error) {
			w.swept = append(w.swept, req)
			for _, r := range w.recs {
				if err := record.AppendFile(req.Out, r); err != nil {
					return "", err
				}
			}
			return req.Out, nil
		},
	})
}

// outputs parses the GITHUB_OUTPUT file (name<<DELIM ... DELIM blocks).
func (w *world) outputs() map[string]string {
	return parseOutputs(w.t, w.env["GITHUB_OUTPUT"])
}

func parseOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, delim, ok := strings.Cut(sc.Text(), "<<")
		if !ok {
			t.Fatalf("output line %q is not name<<delimiter", sc.Text())
		}
		var val []string
		for sc.Scan() && sc.Text() != delim {
			val = append(val, sc.Text())
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func (w *world) file(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// baselineFor returns a baseline built from recs with every latency scaled by factor.
func baselineFor(t *testing.T, recs []*record.Record, factor float64) []byte {
	t.Helper()
	var scaled []*record.Record
	for _, r := range recs {
		c := *r
		c.SamplesMs = nil
		for _, s := range r.SamplesMs {
			c.SamplesMs = append(c.SamplesMs, s*factor)
		}
		c.ThroughputRPS /= factor
		c.LatencyP50, c.LatencyP95, c.LatencyP99 = r.LatencyP50*factor, r.LatencyP95*factor, r.LatencyP99*factor
		scaled = append(scaled, &c)
	}
	f := baseline.New("tiny", 5)
	for i := 0; i < 3; i++ { // three runs: between-run noise is known
		f.Update(scaled, fmt.Sprintf("c%d", i), time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC))
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contents(b []byte, sha string) map[string]any {
	return map[string]any{"type": "file", "encoding": "base64", "sha": sha, "size": len(b), "content": github.EncodeContent(b)}
}

func TestRunPullRequestCommentsOnceThenEdits(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
	api := githubtest.New(t)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 200, contents(baselineFor(t, w.recs, 1), "blob1")).
		WithQuery("ref", "ba5e000000000000000000000000000000000001").Times(2)
	var comments []map[string]any
	api.Handle("GET", "/repos/acme/app/issues/7/comments", func(*githubtest.Request) (int, any) { return 200, comments }).Times(2)
	api.Handle("POST", "/repos/acme/app/issues/7/comments", func(r *githubtest.Request) (int, any) {
		var in map[string]any
		r.JSON(&in)
		c := map[string]any{"id": 501, "body": in["body"], "html_url": "https://github.com/acme/app/pull/7#issuecomment-501",
			"user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}}
		comments = append(comments, c)
		return 201, c
	})
	// The workflow token may not read its own user: its comments are a Bot's.
	api.Reply("GET", "/user", 403, githubtest.Message("Resource not accessible by integration"))
	var edited string
	api.Handle("PATCH", "/repos/acme/app/issues/comments/501", func(r *githubtest.Request) (int, any) {
		var in map[string]string
		r.JSON(&in)
		edited = in["body"]
		return 200, map[string]any{"id": 501, "body": in["body"]}
	})

	res, err := w.run(api)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.stdout.String())
	}
	// Three stored runs of the same speed cannot show that nothing changed within 5% (drift
	// between runs is assumed ~10%): inconclusive, which does not fail the check by default.
	if res.Mode != ModePullRequest || res.Verdict != gate.NotConclusive || res.Fail || res.CommentURL == "" {
		t.Errorf("result %+v\n%s", res, w.stdout.String())
	}
	body := comments[0]["body"].(string)
	for _, want := range []string{gate.Marker, "perflab gate: inconclusive", "smallest change they could flag", "contents API at the base main ba5e000000", "Recommended configuration", "**Recommended for `m.pt`:** batch ",
		"```mermaid", "<details><summary>Full report</summary>", "[workflow run](https://github.com/acme/app/actions/runs/99)"} {
		if !strings.Contains(body, want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "![") {
		t.Error("the comment links local plot images")
	}
	if len(w.swept) != 1 || w.swept[0].Preset != filepath.Join(w.ws, "tiny.yaml") {
		t.Errorf("sweeps %+v; want the preset path made absolute against the workspace", w.swept)
	}
	out := w.outputs()
	if out["verdict"] != "inconclusive" || out["regressions"] != "0" || out["report"] != "perflab-results/report.md" || out["results"] != "perflab-results/results.jsonl" {
		t.Errorf("outputs %v", out)
	}
	var rc report.JSONReport
	if err := json.Unmarshal([]byte(out["recommended-config"]), &rc); err != nil || len(rc.Recommendations) != 1 {
		t.Errorf("recommended-config %q: %v", out["recommended-config"], err)
	}
	summary := w.file(w.env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(summary, "perflab gate: inconclusive") || strings.Contains(summary, gate.Marker) {
		t.Errorf("summary:\n%s", summary)
	}
	for _, f := range []string{"report.md", "results.jsonl", "comment.md", "pr.json", "summary.md", "verdict.json"} {
		if _, err := os.Stat(filepath.Join(w.ws, OutDir, f)); err != nil {
			t.Errorf("%s/%s: %v", OutDir, f, err)
		}
	}

	// Second run: the same comment is edited, no second POST (the stubs' counts say so).
	os.Remove(w.env["GITHUB_OUTPUT"])
	if _, err := w.run(api); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(edited, gate.Marker) {
		t.Errorf("edited body lacks the marker")
	}
	if n := api.Count("POST", "/repos/acme/app/issues/7/comments"); n != 1 {
		t.Errorf("%d comments created", n)
	}
	checkNoToken(t, w)
}

func checkNoToken(t *testing.T, w *world) {
	t.Helper()
	for _, line := range strings.Split(w.stdout.String(), "\n") {
		if strings.Contains(line, fakeToken) && line != "::add-mask::"+fakeToken {
			t.Errorf("the token is printed: %q", line)
		}
	}
	if !strings.Contains(w.stdout.String(), "::add-mask::"+fakeToken) {
		t.Error("the token was not masked")
	}
	if strings.Contains(w.stderr.String(), fakeToken) {
		t.Error("the token is on stderr")
	}
	for _, f := range []string{w.env["GITHUB_OUTPUT"], w.env["GITHUB_STEP_SUMMARY"]} {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(fakeToken)) {
			t.Errorf("%s holds the token", f)
		}
	}
	filepath.Walk(filepath.Join(w.ws, OutDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(fakeToken)) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
}

func TestRunRegression(t *testing.T) {
	for _, fail := range []bool{true, false} {
		t.Run(fmt.Sprint("fail-on-regression=", fail), func(t *testing.T) {
			w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
			w.env["INPUT_FAIL-ON-REGRESSION"] = fmt.Sprint(fail)
			w.env["INPUT_COMMENT"] = "false"
			api := githubtest.New(t)
			api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 200, contents(baselineFor(t, w.recs, 0.5), "blob1"))
			res, err := w.run(api)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != gate.Failed || res.Regressions == 0 || res.Fail != fail {
				t.Fatalf("result %+v", res)
			}
			kind := "::warning"
			if fail {
				kind = "::error"
			}
			if n := strings.Count(w.stdout.String(), kind+" title=perflab regression::"); n == 0 || n > MaxAnnotations {
				t.Errorf("%d %s annotations:\n%s", n, kind, w.stdout.String())
			}
			if out := w.outputs(); out["verdict"] != "regression" || out["regressions"] == "0" {
				t.Errorf("outputs %v", out)
			}
		})
	}
}

func TestRunFailOnInconclusive(t *testing.T) {
	for _, fail := range []bool{true, false} {
		w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
		w.env["INPUT_FAIL-ON-INCONCLUSIVE"] = fmt.Sprint(fail)
		w.env["INPUT_COMMENT"] = "false"
		api := githubtest.New(t)
		// The same speed as three stored runs: not enough to say "no change".
		api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 200, contents(baselineFor(t, w.recs, 1), "blob1"))
		res, err := w.run(api)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != gate.NotConclusive || res.Fail != fail {
			t.Errorf("fail-on-inconclusive %v: result %+v", fail, res)
		}
		if want := "failing the check (fail-on-inconclusive: true)"; strings.Contains(w.stdout.String(), want) != fail {
			t.Errorf("fail-on-inconclusive %v: log (want %q said: %v):\n%s", fail, want, fail, w.stdout.String())
		}
	}
}

func TestRunNoBaselineAndNoRunnerFiles(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
	delete(w.env, "GITHUB_OUTPUT")
	delete(w.env, "GITHUB_STEP_SUMMARY")
	// A baseline in the checkout comes from the pull request: it must not be used.
	os.MkdirAll(filepath.Join(w.ws, "baselines"), 0o755)
	os.WriteFile(filepath.Join(w.ws, "baselines", "tiny.json"), baselineFor(t, w.recs, 0.5), 0o644)
	api := githubtest.New(t)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 404, githubtest.Message("Not Found")).WithQuery("ref", "ba5e000000000000000000000000000000000001")
	api.Reply("GET", "/repos/acme/app/issues/7/comments", 200, []any{})
	api.Reply("POST", "/repos/acme/app/issues/7/comments", 201, map[string]any{"id": 1})
	res, err := w.run(api)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != gate.NoBaseline || res.Fail {
		t.Errorf("result %+v", res)
	}
	log := w.stdout.String()
	for _, want := range []string{"GITHUB_OUTPUT is not set", "output verdict=no baseline", "GITHUB_STEP_SUMMARY is not set"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	summary := w.file(filepath.Join(w.ws, OutDir, "summary.md"))
	if !strings.Contains(summary, "it is not used") || !strings.Contains(summary, "does not exist at the base main ba5e000000") || !strings.Contains(summary, "No baseline was found") {
		t.Errorf("summary:\n%s", summary)
	}
}

func TestRunReadOnlyTokenOnFork(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "someone/app"))
	api := githubtest.New(t)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 404, githubtest.Message("Not Found"))
	api.Reply("GET", "/repos/acme/app/issues/7/comments", 200, []any{})
	api.Reply("POST", "/repos/acme/app/issues/7/comments", 403, githubtest.Message("Resource not accessible by integration"))
	res, err := w.run(api)
	if err != nil || res.Fail {
		t.Fatalf("result %+v, err %v", res, err)
	}
	log := w.stdout.String()
	if !strings.Contains(log, "::notice::") || !strings.Contains(log, "workflow_run") || !strings.Contains(log, "forks get a read-only token") ||
		!strings.Contains(log, "pull_request_target") {
		t.Errorf("log does not explain the read-only token:\n%s", log)
	}
	if s := w.file(w.env["GITHUB_STEP_SUMMARY"]); !strings.Contains(s, "No comment was posted") {
		t.Errorf("summary:\n%s", s)
	}
	checkNoToken(t, w)
}

func TestRunNoToken(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
	delete(w.env, "INPUT_GITHUB-TOKEN")
	res, err := w.run(nil)
	if err != nil || res.Verdict != gate.NoBaseline {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if !strings.Contains(w.stdout.String(), "no github-token") {
		t.Errorf("log:\n%s", w.stdout.String())
	}
}

func pushPayload(branch string) map[string]any {
	return map[string]any{"ref": "refs/heads/" + branch, "after": "a5a0000000000000000000000000000000000001",
		"repository": map[string]any{"full_name": "acme/app", "default_branch": "main"}}
}

func TestRunPushToMainStoresBaselineWithRetry(t *testing.T) {
	w := newWorld(t, "push", pushPayload("main"))
	w.env["GITHUB_REF"] = "refs/heads/main"
	api := githubtest.New(t)
	old := baselineFor(t, w.recs[:1], 1)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 200, contents(old, "blob-old")).WithQuery("ref", "main")
	// Someone stored a newer file meanwhile: the first PUT conflicts.
	newer := baselineFor(t, w.recs, 1)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 200, contents(newer, "blob-newer")).WithQuery("ref", "main")
	var puts []map[string]any
	api.Handle("PUT", "/repos/acme/app/contents/baselines/tiny.json", func(r *githubtest.Request) (int, any) {
		var in map[string]any
		r.JSON(&in)
		puts = append(puts, in)
		if len(puts) == 1 {
			return 409, githubtest.Message("baselines/tiny.json does not match blob-old")
		}
		return 200, map[string]any{"content": map[string]any{"sha": "blob-new"}, "commit": map[string]any{"sha": "commitnew0001"}}
	}).Times(2)
	res, err := w.run(api)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.stdout.String())
	}
	if res.Mode != ModeBaseline || res.Fail {
		t.Errorf("result %+v", res)
	}
	if puts[0]["sha"] != "blob-old" || puts[1]["sha"] != "blob-newer" || puts[0]["branch"] != "main" {
		t.Errorf("PUT shas %v, %v", puts[0]["sha"], puts[1]["sha"])
	}
	msg := puts[1]["message"].(string)
	if !strings.HasPrefix(msg, "perflab: update baseline baselines/tiny.json [skip ci]") {
		t.Errorf("commit message %q", msg)
	}
	// The retried content is the newer file plus this run: 3 runs there + 1.
	var f baseline.File
	b, _ := decodeBase64(puts[1]["content"].(string))
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 2 || len(f.Entries[0].Runs) != 4 {
		t.Errorf("stored entries %d, runs %d", len(f.Entries), len(f.Entries[0].Runs))
	}
	if local := w.file(filepath.Join(w.ws, "baselines", "tiny.json")); local != string(b) {
		t.Error("the workspace copy is not the stored file")
	}
	if !strings.Contains(w.stdout.String(), "stored on main in commit commitnew0") {
		t.Errorf("log:\n%s", w.stdout.String())
	}
}

func TestRunPushReadOnly(t *testing.T) {
	w := newWorld(t, "push", pushPayload("main"))
	w.env["GITHUB_REF"] = "refs/heads/main"
	api := githubtest.New(t)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 404, githubtest.Message("Not Found"))
	api.Reply("PUT", "/repos/acme/app/contents/baselines/tiny.json", 403, githubtest.Message("Resource not accessible by integration"))
	res, err := w.run(api)
	if err != nil || res.Fail {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if _, err := baseline.Load(filepath.Join(w.ws, "baselines", "tiny.json")); err != nil {
		t.Errorf("the updated baseline is not in the workspace: %v", err)
	}
	if log := w.stdout.String(); !strings.Contains(log, "contents: write") || !strings.Contains(log, "git commit") {
		t.Errorf("log does not say how to store it:\n%s", log)
	}
}

func TestRunPushOtherBranchReportsOnly(t *testing.T) {
	w := newWorld(t, "push", pushPayload("feature"))
	w.env["GITHUB_REF"] = "refs/heads/feature"
	api := githubtest.New(t) // no request expected
	res, err := w.run(api)
	if err != nil || res.Mode != ModeReport || res.Verdict != NotGated {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if len(api.Requests()) != 0 {
		t.Errorf("requests %v", api.Requests())
	}
}

func TestRunShardAndResults(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
	w.env["INPUT_SHARD"] = "2/3"
	res, err := w.run(nil)
	if err != nil || res.Mode != ModeShard {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if w.swept[0].Shard != "2/3" || !strings.HasSuffix(w.swept[0].Out, "shard-2-of-3.jsonl") {
		t.Errorf("sweep %+v", w.swept[0])
	}
	if out := w.outputs(); out["results"] != "perflab-results/shard-2-of-3.jsonl" || out["verdict"] != NotGated {
		t.Errorf("outputs %v", out)
	}
	// The merging job: results from two shard files (one line duplicated), no sweep.
	delete(w.env, "INPUT_SHARD")
	os.Remove(w.env["GITHUB_OUTPUT"])
	sh := filepath.Join(w.ws, "shards")
	os.MkdirAll(sh, 0o755)
	for i, r := range w.recs {
		record.AppendFile(filepath.Join(sh, fmt.Sprintf("s%d.jsonl", i)), r)
	}
	record.AppendFile(filepath.Join(sh, "s1.jsonl"), w.recs[1])
	for i := range w.recs {
		WriteRunIdentity(mapEnv(w.env), filepath.Join(sh, fmt.Sprintf("s%d.jsonl", i)))
	}
	if _, err := os.Stat(filepath.Join(w.ws, OutDir, "shard-2-of-3.jsonl"+RunIdentitySuffix)); err != nil {
		t.Errorf("the shard wrote no run identity: %v", err)
	}
	w.env["INPUT_RESULTS"] = "shards/*.jsonl"
	w.env["INPUT_COMMENT"] = "false"
	api := githubtest.New(t)
	api.Reply("GET", "/repos/acme/app/contents/baselines/tiny.json", 404, githubtest.Message("Not Found"))
	res, err = w.run(api)
	if err != nil || res.Mode != ModePullRequest || len(w.swept) != 1 {
		t.Fatalf("result %+v, err %v, sweeps %d", res, err, len(w.swept))
	}
	recs, _ := record.ReadFile(filepath.Join(w.ws, OutDir, "results.jsonl"), nil)
	if len(recs) != 2 || !strings.Contains(w.stdout.String(), "1 duplicates dropped") {
		t.Errorf("%d merged records\n%s", len(recs), w.stdout.String())
	}
	w.env["INPUT_RESULTS"] = "missing/*.jsonl"
	if _, err := w.run(nil); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("missing shard files: %v", err)
	}
}

func TestRunBadInputFailsClearly(t *testing.T) {
	w := newWorld(t, "pull_request", prPayload(7, "acme/app"))
	w.env["INPUT_CONSTRAINT"] = "fastest"
	_, err := w.run(nil)
	if err == nil || !strings.Contains(err.Error(), "input constraint") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(w.stdout.String(), "::error::perflab: input constraint") {
		t.Errorf("no error annotation:\n%s", w.stdout.String())
	}
	if len(w.swept) != 0 {
		t.Error("swept despite a bad input")
	}
}

func decodeBase64(s string) ([]byte, error) {
	var out []byte
	err := json.Unmarshal([]byte(`"`+s+`"`), &out)
	return out, err
}

func TestEscapeTablePipes(t *testing.T) {
	in := "| `a|b` | x |\n- `a|b` outside a table\n| `c\\|d` | plain | pipe |"
	want := "| `a\\|b` | x |\n- `a|b` outside a table\n| `c\\|d` | plain | pipe |"
	if got := escapeTablePipes(in); got != want {
		t.Errorf("escapeTablePipes:\n%s\nwant\n%s", got, want)
	}
	if escapeTablePipes(want) != want {
		t.Error("not idempotent")
	}
}

func TestStripImages(t *testing.T) {
	md := "# r\n\n## Plots\n\n### A\n\n![A](report_a.png)\n\n### B\n\n![B](b.png)\n\n## After\n\nx\n"
	got := stripImages(md)
	if strings.Contains(got, "![") || strings.Contains(got, "### A") || !strings.Contains(got, "## After\n\nx") || !strings.Contains(got, "perflab-results/") {
		t.Errorf("stripImages:\n%s", got)
	}
}

// TestRecommendationNamesEveryKnob: the recommended configuration in the comment names the
// knobs it needs beyond batch, threads and compile (it once dropped the oneDNN ISA cap and
// the CPU knobs, so following it measured another configuration).
func TestRecommendationNamesEveryKnob(t *testing.T) {
	var recs []*record.Record
	for i, b := range []int{1, 2} {
		r := rec("m.pt", b, 1, float64(2+i), 200, "fp", uint64(i))
		r.OneDNNISA, r.Allocator, r.Pin = "avx2", "jemalloc", "cores"
		recs = append(recs, r)
	}
	rep, err := report.Compute(recs, report.Options{Constraint: "latency", Percentile: "p95", BudgetMs: 4})
	if err != nil {
		t.Fatal(err)
	}
	tbl := recommendations(rep)
	if !strings.Contains(tbl, "eager, oneDNN avx2, jemalloc, pinned cores") {
		t.Errorf("the recommendation does not name its knobs:\n%s", tbl)
	}
}
