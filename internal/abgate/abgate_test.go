package abgate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/testutil"
)

// repo is a real git repository in a temporary folder.
type repo struct {
	t    *testing.T
	root string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, root: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.email", "ci@example.com")
	r.git("config", "user.name", "ci")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.root}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// commit writes files (repository-relative name -> fixture file to copy) and commits.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for rel, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			r.t.Fatal(err)
		}
		p := filepath.Join(r.root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func TestFilesFromGit(t *testing.T) {
	mlp, twin, slow := testutil.Fixture(t, "mlp.pt"), testutil.Fixture(t, "mlp_twin.pt"), testutil.Fixture(t, "mlp_slow.pt")
	r := newRepo(t)
	base := r.commit("base", map[string]string{"models/a.pt": mlp, "models/b.pt": mlp, "models/t.pt": mlp})
	r.commit("pr", map[string]string{"models/a.pt": slow, "models/c.pt": mlp, "models/t.pt": twin})
	dir := t.TempDir()
	outside := testutil.Fixture(t, "linear.pt")
	files, err := Files(context.Background(), []string{"models/a.pt", "models/b.pt", "models/c.pt", "./models/t.pt", "resnet18", outside, "models/a.pt"},
		r.root, &Git{Root: r.root, Rev: base}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"models/a.pt": Changed, "models/b.pt": Unchanged, "models/c.pt": New, "models/t.pt": Changed, outside: Outside}
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d (built-ins and repeats skipped): %+v", len(files), len(want), files)
	}
	for _, f := range files {
		if f.State != want[f.Name] {
			t.Errorf("%s: state %q, want %q", f.Name, f.State, want[f.Name])
		}
		if f.State == Changed || f.State == Unchanged {
			got, _ := os.ReadFile(f.Base)
			orig, _ := os.ReadFile(mlp)
			if !bytes.Equal(got, orig) || f.Base != filepath.Join(dir, filepath.FromSlash(f.Rel)) || f.SHA == "" || f.BaseSHA == "" {
				t.Errorf("%s: base file %s (%d bytes) is not the base's version", f.Name, f.Base, len(got))
			}
		}
	}
	if n := files[1].Note("git " + base[:10]); !strings.Contains(n, "unchanged at the base") || !strings.Contains(n, "cannot have regressed by itself") {
		t.Errorf("note %q", n)
	}
}

func TestGitFetchesTheBaseIntoAShallowClone(t *testing.T) {
	mlp, slow := testutil.Fixture(t, "mlp.pt"), testutil.Fixture(t, "mlp_slow.pt")
	origin := newRepo(t)
	base := origin.commit("base", map[string]string{"m.pt": mlp})
	origin.commit("pr", map[string]string{"m.pt": slow})
	// actions/checkout leaves a depth-1 clone of the merge commit: the base is not there.
	clone := filepath.Join(t.TempDir(), "ws")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+origin.root, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	noFetch := &Git{Root: clone, Rev: base}
	if _, err := noFetch.Read(context.Background(), "m.pt"); err == nil || !strings.Contains(err.Error(), "git fetch origin "+base) {
		t.Errorf("without fetch: %v, want the fix named", err)
	}
	var log []string
	g := &Git{Root: clone, Rev: base, Fetch: true, Log: func(s string) { log = append(log, s) }}
	b, err := g.Read(context.Background(), "m.pt")
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(mlp)
	if !bytes.Equal(b, orig) || len(log) != 1 || !strings.Contains(log[0], "fetch --no-tags --quiet --depth 1 --end-of-options origin "+base) {
		t.Errorf("read %d bytes (want the base's %d), log %q", len(b), len(orig), log)
	}
	if _, err := g.Read(context.Background(), "missing.pt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}
}

func TestDirSource(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "models", "m.pt"), []byte("x"), 0o644)
	d := Dir{Path: dir}
	if b, err := d.Read(context.Background(), "models/m.pt"); err != nil || string(b) != "x" {
		t.Errorf("read: %q, %v", b, err)
	}
	if _, err := d.Read(context.Background(), "models/none.pt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestConfigs(t *testing.T) {
	rec := func(model string, batch, threads int, p95 float64) *record.Record {
		return &record.Record{SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Knobs: knobs.Knobs{Model: model, Inputs: []string{"float32[B,64]"}, BatchSize: batch, Compile: "auto", Threads: threads, InteropThreads: 1, Device: "cpu"},
			CompileApplied: true, LatencyP95: p95}
	}
	recs := []*record.Record{rec("m.pt", 1, 1, 2), rec("m.pt", 1, 2, 1.5), rec("m.pt", 8, 2, 9), rec("other.pt", 1, 1, 1)}
	rep := &report.Report{Recommendations: []report.Recommendation{{Model: "m.pt", Chosen: &report.Entry{Key: recs[2].Key()}}}}
	files := []ModelFile{{Name: "m.pt", Path: "/ws/m.pt", Base: "/base/m.pt", State: Changed}, {Name: "other.pt", State: Unchanged}}
	got := Configs(recs, rep, files, DefaultSelectors, 300, 10)
	// The recommended b8 t2 and the fastest batch-1 (t2); sorted by key; other.pt unchanged.
	if len(got) != 2 || got[0].Key != recs[1].Key() || got[1].Key != recs[2].Key() {
		t.Fatalf("configs %+v", got)
	}
	c := got[1]
	if c.Old != "/base/m.pt" || c.New != "/ws/m.pt" || c.BatchSize != 8 || c.Threads != 2 || c.Compile != "auto" || c.Iters != 300 || c.Warmup != 10 || c.Inputs[0] != "float32[B,64]" {
		t.Errorf("config %+v", c)
	}
	if all := Configs(recs, rep, files, []string{SelAll}, 300, 10); len(all) != 3 {
		t.Errorf("all: %d configs, want 3", len(all))
	}
	if _, err := ParseSelectors("recommended, fastest"); err == nil || !strings.Contains(err.Error(), `"fastest"`) {
		t.Errorf("ParseSelectors: %v", err)
	}
	if s, _ := ParseSelectors(""); strings.Join(s, ",") != "recommended,batch1" {
		t.Errorf("default selectors %v", s)
	}
}

func TestRunApply(t *testing.T) {
	mlp := testutil.Fixture(t, "mlp.pt")
	r := newRepo(t)
	base := r.commit("base", map[string]string{"m.pt": mlp})
	recs := []*record.Record{{SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Knobs: knobs.Knobs{Model: "m.pt", BatchSize: 1, Device: "cpu"}}}
	never := func(context.Context, gate.ABConfig, int, int) ([]gate.Run, []gate.Run, error) {
		t.Fatal("an unchanged file was measured")
		return nil, nil, nil
	}
	res, err := Run(context.Background(), Request{Records: recs, Root: r.root, Source: &Git{Root: r.root, Rev: base}, Dir: t.TempDir(), Measure: never})
	if err != nil {
		t.Fatal(err)
	}
	// No stored baseline and one unchanged file: identical bytes, a pass that says why.
	rep := gate.Check(gate.Input{Results: recs, Metrics: []string{"p95"}, Options: gate.Options{Alpha: 0.01, Threshold: 0.05}})
	res.Apply(rep)
	if rep.Verdict != gate.Pass || !strings.HasPrefix(rep.Summary, "no model file changed since the base") || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "unchanged at the base") {
		t.Errorf("verdict %q: %q, notes %q", rep.Verdict, rep.Summary, rep.Notes)
	}
	// A built-in model of the preset is not known to be unchanged: no pass.
	recs = append(recs, &record.Record{SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 1, Device: "cpu"}})
	res, _ = Run(context.Background(), Request{Records: recs, Root: r.root, Source: &Git{Root: r.root, Rev: base}, Dir: t.TempDir(), Measure: never})
	rep = gate.Check(gate.Input{Results: recs, Metrics: []string{"p95"}, Options: gate.Options{Alpha: 0.01, Threshold: 0.05}})
	res.Apply(rep)
	if rep.Verdict != gate.NoBaseline {
		t.Errorf("with a built-in: verdict %q, want no baseline", rep.Verdict)
	}
}

// Stored-baseline comparisons of a file unchanged since the base do not gate the change.
func TestApplyDropsUnchangedStored(t *testing.T) {
	mlp := testutil.Fixture(t, "mlp.pt")
	r := newRepo(t)
	base := r.commit("base", map[string]string{"m.pt": mlp})
	rec := &record.Record{SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Knobs: knobs.Knobs{Model: "m.pt", BatchSize: 1, Device: "cpu"}}
	res, err := Run(context.Background(), Request{Records: []*record.Record{rec}, Root: r.root, Source: &Git{Root: r.root, Rev: base}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rep := &gate.Report{Verdict: gate.Failed, Regressions: 1, Comparisons: []gate.Comparison{{Key: rec.Key(), Metric: "p95", Verdict: gate.Regression}}}
	res.Apply(rep)
	if rep.Verdict != gate.Pass || len(rep.Comparisons) != 0 || len(rep.Informational) != 1 || !strings.Contains(strings.Join(rep.Notes, "\n"), "not gated") {
		t.Errorf("verdict %q (%s), %d comparisons, %d informational, notes %q", rep.Verdict, rep.Summary, len(rep.Comparisons), len(rep.Informational), rep.Notes)
	}
}

// An option-shaped revision (a hostile event's base SHA) never reaches git: it is refused,
// and nothing it names runs. Every git call also ends its options with --end-of-options.
func TestGitRefusesOptionShapedRevisions(t *testing.T) {
	origin := newRepo(t)
	origin.commit("base", map[string]string{"m.pt": testutil.Fixture(t, "mlp.pt")})
	clone := filepath.Join(t.TempDir(), "ws")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+origin.root, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	for _, rev := range []string{"--upload-pack=touch " + pwned, "-c", "--output=" + pwned, ""} {
		var log []string
		g := &Git{Root: clone, Rev: rev, Fetch: true, Log: func(s string) { log = append(log, s) }}
		_, err := g.Read(context.Background(), "m.pt")
		if err == nil || !strings.Contains(err.Error(), "refusing to pass it to git") {
			t.Errorf("rev %q: %v, want it refused", rev, err)
		}
		if len(log) != 0 {
			t.Errorf("rev %q: git ran: %q", rev, log)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("rev %q: the option ran (%s exists)", rev, pwned)
		}
	}
}

// A pull request changing a .pt2 model is A/B-tested against the base's file: the base's
// package comes with its input spec and its TorchScript twin, as at the base.
func TestFilesPackageSidecars(t *testing.T) {
	base := t.TempDir()
	head := t.TempDir()
	for _, d := range []struct{ dir, pkg string }{{base, "base package"}, {head, "head package"}} {
		os.MkdirAll(filepath.Join(d.dir, "models"), 0o755)
		os.WriteFile(filepath.Join(d.dir, "models", "m.pt2"), []byte(d.pkg), 0o644)
		os.WriteFile(filepath.Join(d.dir, "models", "m.pt2.json"), []byte(`{"inputs":["float32[B,3]"],"batch_min":1,"batch_max":8}`), 0o644)
	}
	os.WriteFile(filepath.Join(base, "models", "m.pt"), []byte("base twin"), 0o644)
	out := t.TempDir()
	files, err := Files(context.Background(), []string{filepath.Join(head, "models", "m.pt2")}, head, Dir{Path: base}, out)
	if err != nil || len(files) != 1 || files[0].State != Changed {
		t.Fatalf("Files = %+v, %v", files, err)
	}
	for name, want := range map[string]string{
		"m.pt2":      "base package",
		"m.pt2.json": `{"inputs":["float32[B,3]"],"batch_min":1,"batch_max":8}`,
		"m.pt":       "base twin",
	} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(files[0].Base), name))
		if err != nil || string(b) != want {
			t.Errorf("base %s = %q, %v; want %q", name, b, err, want)
		}
	}
}
