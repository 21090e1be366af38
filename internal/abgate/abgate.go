// Package abgate prepares the A/B test of a change against its base revision: which model
// files of a preset are files of the repository, their version at the base (from git, a
// folder, or any other Source), whether each changed (sha256), and which configurations
// are gated. Measuring and deciding are gate.Sequential's job; the action and
// `perflab gate --against` share this package so that both give the same verdict.
package abgate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
	"github.com/perflab/perflab/internal/workspace"
)

// ErrNotFound is returned by a Source for a file that does not exist at the base.
var ErrNotFound = errors.New("not at the base")

// Source reads a file's content at the base revision, by repository-relative path.
type Source interface {
	Describe() string
	Read(ctx context.Context, rel string) ([]byte, error)
}

// States of a model file.
const (
	Changed   = "changed"
	Unchanged = "unchanged"
	New       = "new"     // not at the base: nothing to compare with
	Outside   = "outside" // not a file of the repository
	Missing   = "missing" // not in the working tree (the sweep said why)
	// BaseBroken: the base's version does not load and this change's does (the change
	// fixes it): nothing to A/B against, and not a failure.
	BaseBroken = "base does not load"
)

// ModelFile is one model of the preset that is a file.
type ModelFile struct {
	Name    string `json:"name"` // as the records name it (repository-relative)
	Rel     string `json:"rel"`
	Path    string `json:"path"`           // the current file
	Base    string `json:"base,omitempty"` // the base version, written to a file
	SHA     string `json:"sha256"`
	BaseSHA string `json:"base_sha256,omitempty"`
	State   string `json:"state"`
	BaseErr string `json:"base_error,omitempty"` // BaseBroken: why the base's version does not load
}

// Note is what the verdict says about the file.
func (m ModelFile) Note(src string) string {
	switch m.State {
	case Unchanged:
		return fmt.Sprintf("model file unchanged at the base (%s; sha256 %.12s): it cannot have regressed by itself, no A/B run", src, m.SHA)
	case New:
		return fmt.Sprintf("model file is new in this change (not in %s): nothing to A/B against", src)
	case Outside:
		return "model file is outside the repository: not A/B tested"
	case Missing:
		return "model file is not in the working tree: not A/B tested"
	case BaseBroken:
		return fmt.Sprintf("the base's version does not load (%s) and this change's does: this change fixes it; nothing to A/B against, not a failure", untrusted.Text(m.BaseErr))
	}
	return fmt.Sprintf("model file changed (sha256 %.12s at the base, %.12s now): A/B against the base's version (%s)", m.BaseSHA, m.SHA, src)
}

// Files finds the preset's model files among models (built-in names are skipped; relative
// paths are relative to root), reads
// each one's base version from src into dir (same relative names) and compares sha256.
func Files(ctx context.Context, models []string, root string, src Source, dir string) ([]ModelFile, error) {
	root = workspace.Real(root)
	seen := map[string]bool{}
	var out []ModelFile
	for _, m := range models {
		if _, builtin := model.LookupBuiltin(m); builtin || seen[m] {
			continue
		}
		seen[m] = true
		mf := ModelFile{Name: m}
		rel, ok := workspace.RelativeModel(m, root, root)
		if !ok {
			mf.State = Outside
			out = append(out, mf)
			continue
		}
		mf.Name, mf.Rel, mf.Path = rel, rel, filepath.Join(root, filepath.FromSlash(rel))
		var err error
		if mf.SHA, err = model.SHA256(mf.Path); errors.Is(err, os.ErrNotExist) {
			mf.State = Missing
			out = append(out, mf)
			continue
		} else if err != nil {
			return nil, fmt.Errorf("model file %s: %v", rel, err)
		}
		b, err := src.Read(ctx, rel)
		switch {
		case errors.Is(err, ErrNotFound):
			mf.State = New
			out = append(out, mf)
			continue
		case err != nil:
			return nil, fmt.Errorf("read %s at the base (%s): %v", rel, src.Describe(), err)
		}
		mf.Base = filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(mf.Base), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(mf.Base, b, 0o644); err != nil {
			return nil, err
		}
		if mf.BaseSHA, err = model.SHA256(mf.Base); err != nil {
			return nil, err
		}
		if err := baseSidecars(ctx, src, rel, mf.Base); err != nil {
			return nil, err
		}
		mf.State = Changed
		if mf.BaseSHA == mf.SHA {
			mf.State = Unchanged
		}
		out = append(out, mf)
	}
	return out, nil
}

// baseSidecars writes beside the base's copy of a .pt2 model what runs it at the base: its
// input spec (<rel>.json) and its TorchScript twin (<stem>.pt, the eager reference of the
// inductor outputs), each when the base has one. Other models have none.
func baseSidecars(ctx context.Context, src Source, rel, base string) error {
	if !model.IsPackage(rel) {
		return nil
	}
	stem := strings.TrimSuffix(rel, model.PackageExt)
	for _, side := range [][2]string{{rel + ".json", base + ".json"}, {stem + ".pt", strings.TrimSuffix(base, model.PackageExt) + ".pt"}} {
		b, err := src.Read(ctx, side[0])
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("read %s at the base (%s): %v", side[0], src.Describe(), err)
		}
		if err := os.WriteFile(side[1], b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Selectors of gated configurations.
const (
	SelRecommended = "recommended" // the model's recommended configuration (report)
	SelBatch1      = "batch1"      // its fastest usable batch-1 configuration
	SelAll         = "all"         // every usable configuration
)

// DefaultSelectors are gated when none are given.
var DefaultSelectors = []string{SelRecommended, SelBatch1}

// ParseSelectors reads a comma-separated selector list.
func ParseSelectors(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "":
		case SelRecommended, SelBatch1, SelAll:
			out = append(out, f)
		default:
			return nil, fmt.Errorf("unknown gated configuration %q: want some of recommended, batch1, all", f)
		}
	}
	if len(out) == 0 {
		return DefaultSelectors, nil
	}
	return out, nil
}

// Configs picks the gated configurations of the changed files from the sweep's records
// (model names repository-relative) and its report, in a stable order.
func Configs(recs []*record.Record, rep *report.Report, files []ModelFile, selectors []string, iters, warmup int) []gate.ABConfig {
	var out []gate.ABConfig
	for _, f := range files {
		if f.State != Changed {
			continue
		}
		byKey := map[string]*record.Record{}
		var usable []*record.Record
		for _, r := range recs {
			if r.Model == f.Name && r.OK() && r.Usable() && r.Load == nil {
				if byKey[r.Key()] == nil {
					usable = append(usable, r)
				}
				byKey[r.Key()] = r
			}
		}
		picked := map[string]bool{}
		var keys []string
		add := func(r *record.Record) {
			if r != nil && !picked[r.Key()] {
				picked[r.Key()] = true
				keys = append(keys, r.Key())
			}
		}
		for _, sel := range selectors {
			switch sel {
			case SelRecommended:
				if rep == nil {
					continue
				}
				for _, rc := range rep.Recommendations {
					if rc.Model != f.Name {
						continue
					}
					e := rc.Chosen
					if e == nil {
						e = rc.Closest
					}
					if e != nil {
						add(byKey[e.Key])
					}
				}
			case SelBatch1:
				var best *record.Record
				for _, r := range usable {
					if r.BatchSize == 1 && (best == nil || r.LatencyP95 < best.LatencyP95) {
						best = r
					}
				}
				add(best)
			case SelAll:
				for _, r := range usable {
					add(r)
				}
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			r := byKey[k]
			out = append(out, gate.ABConfig{Key: k, Old: f.Base, New: f.Path, Name: orName(f), Knobs: r.Configuration(), Iters: iters, Warmup: warmup})
		}
	}
	return out
}

// Git reads files at a revision of a git checkout.
type Git struct {
	Root string // the checkout's top level
	Rev  string // a commit sha or any revision git understands
	// Fetch: when the commit is not in the checkout, fetch it from origin (depth 1 when
	// the history is shallow, as actions/checkout leaves it).
	Fetch   bool
	fetched bool
	Log     func(string) // what it does, for the run's log; may be nil
}

var git = workspace.Git

// Describe says where the files come from.
func (g *Git) Describe() string {
	return "git " + revName(g.Rev)
}

// Resolve checks that the revision is there (fetching it when allowed) and returns its
// commit sha.
//
// The revision never reaches git as an option: one that starts with "-" is refused, and
// every git call here ends its options with --end-of-options.
func (g *Git) Resolve() (string, error) {
	if strings.HasPrefix(g.Rev, "-") || g.Rev == "" {
		return "", fmt.Errorf("revision %q is not a commit or ref name: refusing to pass it to git", untrusted.Printable(g.Rev))
	}
	if out, err := git(g.Root, "rev-parse", "--verify", "--quiet", "--end-of-options", g.Rev+"^{commit}"); err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	if !g.Fetch || g.fetched {
		return "", fmt.Errorf("revision %s is not in the checkout at %s: fetch it (git fetch origin %s) or name another", g.Rev, g.Root, g.Rev)
	}
	g.fetched = true
	args := []string{"fetch", "--no-tags", "--quiet"}
	if out, err := git(g.Root, "rev-parse", "--is-shallow-repository"); err == nil && strings.TrimSpace(string(out)) == "true" {
		args = append(args, "--depth", "1")
	}
	args = append(args, "--end-of-options", "origin", g.Rev)
	if g.Log != nil {
		g.Log("git " + strings.Join(args, " "))
	}
	if _, err := git(g.Root, args...); err != nil {
		return "", fmt.Errorf("the base commit %s is not in the checkout and could not be fetched: %v", revName(g.Rev), err)
	}
	return g.Resolve()
}

// Read returns the file at the revision.
func (g *Git) Read(_ context.Context, rel string) ([]byte, error) {
	if _, err := g.Resolve(); err != nil {
		return nil, err
	}
	spec := g.Rev + ":" + rel
	if _, err := git(g.Root, "cat-file", "-e", "--end-of-options", spec); err != nil {
		return nil, ErrNotFound
	}
	return git(g.Root, "cat-file", "blob", "--end-of-options", spec)
}

// Dir reads the base's files from a folder with the same relative names (a `git worktree`
// of the base, or a folder where the workflow built the base's models).
type Dir struct{ Path string }

// Describe says where the files come from.
func (d Dir) Describe() string { return "folder " + d.Path }

// Read returns the file in the folder: a regular file, reached without a symbolic link
// out of the folder (a FIFO is refused, never waited on).
func (d Dir) Read(_ context.Context, rel string) ([]byte, error) {
	b, err := workspace.Open(d.Path).ReadFile(filepath.FromSlash(rel), "base model file "+rel, model.MaxFileBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Func is a Source from a function (e.g. the contents API).
type Func struct {
	Name string
	F    func(ctx context.Context, rel string) ([]byte, error)
}

// Describe says where the files come from.
func (f Func) Describe() string { return f.Name }

// Read calls the function.
func (f Func) Read(ctx context.Context, rel string) ([]byte, error) { return f.F(ctx, rel) }

// revName shortens a full commit SHA for messages and leaves a ref name (main, HEAD~1) as it is.
func revName(s string) string {
	if len(s) == 40 {
		return textfmt.ShortSHA(s)
	}
	return s
}
