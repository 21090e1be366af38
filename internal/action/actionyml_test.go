package action

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The repository root, from internal/action.
const root = "../.."

type actionYML struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Author      string            `yaml:"author"`
	Branding    map[string]string `yaml:"branding"`
	Inputs      map[string]struct {
		Description string  `yaml:"description"`
		Required    bool    `yaml:"required"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
	} `yaml:"outputs"`
	Runs struct {
		Using      string   `yaml:"using"`
		Image      string   `yaml:"image"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
	} `yaml:"runs"`
}

func loadActionYML(t *testing.T) actionYML {
	t.Helper()
	return loadActionYMLFile(t, filepath.Join(root, "action.yml"))
}

func loadActionYMLFile(t *testing.T, path string) actionYML {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var a actionYML
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return a
}

// inputConstants returns the values of the In* constants of inputs.go: every input the
// code reads goes through one of them.
func inputConstants(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "inputs.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "In") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						v, _ := strconv.Unquote(lit.Value)
						names = append(names, v)
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

func TestActionYML(t *testing.T) {
	a := loadActionYML(t)
	if a.Name == "" || a.Description == "" {
		t.Error("action.yml needs a name and a description")
	}
	// The prebuilt image of this release; the Dockerfile's ENTRYPOINT is perflab, so
	// runs.entrypoint is not repeated (actionlint checks that it would be a file in the
	// repository), and args make it the action.
	if a.Runs.Using != "docker" || !prebuiltImage.MatchString(a.Runs.Image) || a.Runs.Entrypoint != "" || !slices.Equal(a.Runs.Args, []string{"action"}) {
		t.Errorf("runs: %+v; want docker, docker://ghcr.io/perflab/perflab:vX.Y.Z, no entrypoint, args [action]", a.Runs)
	}
	var inYML []string
	for name, in := range a.Inputs {
		inYML = append(inYML, name)
		if strings.TrimSpace(in.Description) == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Default == nil {
			t.Errorf("input %s has no documented default", name)
			continue
		}
		want, ok := Defaults[name]
		if name == InGitHubToken {
			want = "${{ github.token }}"
		}
		if ok && *in.Default != want {
			t.Errorf("input %s: action.yml default %q, the code's %q", name, *in.Default, want)
		}
		if in.Required {
			t.Errorf("input %s is required: every input has a default", name)
		}
	}
	sort.Strings(inYML)
	var inCode []string
	for name := range Defaults {
		inCode = append(inCode, name)
	}
	sort.Strings(inCode)
	if !slices.Equal(inYML, inCode) {
		t.Errorf("action.yml inputs %v\nthe code's (Defaults) %v", inYML, inCode)
	}
	if consts := inputConstants(t); !slices.Equal(consts, inCode) {
		t.Errorf("input name constants %v\nDefaults %v", consts, inCode)
	}
	var outYML []string
	for name, o := range a.Outputs {
		outYML = append(outYML, name)
		if strings.TrimSpace(o.Description) == "" {
			t.Errorf("output %s has no description", name)
		}
	}
	sort.Strings(outYML)
	outCode := slices.Clone(Outputs)
	sort.Strings(outCode)
	if !slices.Equal(outYML, outCode) {
		t.Errorf("action.yml outputs %v, the code's %v", outYML, outCode)
	}
	// The outputs the code sets are exactly Outputs.
	src, _ := os.ReadFile("outputs.go")
	set := regexp.MustCompile(`\{"([a-z-]+)", `).FindAllStringSubmatch(string(src), -1)
	var setNames []string
	for _, m := range set {
		setNames = append(setNames, m[1])
	}
	sort.Strings(setNames)
	if !slices.Equal(setNames, outCode) {
		t.Errorf("setOutputs sets %v, want %v", setNames, outCode)
	}
}

var prebuiltImage = regexp.MustCompile(`^docker://ghcr\.io/perflab/perflab:v\d+\.\d+\.\d+$`)

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	var runtime []string // instructions of the last stage
	var runtimeLines string
	for _, l := range strings.Split(df, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, " ") {
			continue
		}
		if ins := strings.Fields(l)[0]; ins == "FROM" {
			runtime, runtimeLines = nil, ""
		} else {
			runtime = append(runtime, ins)
			runtimeLines += l + "\n"
		}
	}
	if slices.Contains(runtime, "USER") || slices.Contains(runtime, "WORKDIR") {
		t.Errorf("the runtime stage sets USER or WORKDIR (%v): Docker actions run as root in the workspace", runtime)
	}
	for _, want := range []string{"ARG BASE_IMAGE=debian:trixie-slim", "FROM scratch AS runtime", "FROM --platform=$BUILDPLATFORM", "libtorch-dev", "libopenblas0-openmp", "scripts/blas-openmp.sh", "/usr/local/share/perflab/models",
		`ENTRYPOINT ["/usr/local/bin/perflab"]`, `CMD ["action"]`, "models/export.py", "scripts/image-root.sh"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n != 6 {
		t.Errorf("%d FROM lines; want the models, build, closure, inductor-root, inductor and runtime stages", n)
	}
	// The image's build runs every built-in in the image itself (a missing library fails
	// the build, not a user's workflow).
	for _, m := range []string{"resnet18", "mobilenet_v3_small", "tiny_transformer"} {
		if !strings.Contains(runtimeLines, `"bench", "--model", "`+m+`"`) {
			t.Errorf("the runtime stage does not bench %s in the image", m)
		}
	}
	// The OpenBLAS alternatives are found per architecture, not named for x86_64 only.
	if strings.Contains(df, "x86_64-linux-gnu") {
		t.Error("the Dockerfile names x86_64 paths: the image must build for arm64 too")
	}
	if strings.Contains(df, "curl ") || strings.Contains(df, "wget ") || strings.Contains(df, "pip ") {
		t.Error("the Dockerfile downloads outside package managers")
	}
}

type workflow struct {
	Name string                 `yaml:"name"`
	On   any                    `yaml:"on"`
	Jobs map[string]workflowJob `yaml:"jobs"`
}

type workflowJob struct {
	RunsOn any    `yaml:"runs-on"`
	Steps  []step `yaml:"steps"`
}

type step struct {
	ID   string            `yaml:"id"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
}

var stepOutputRef = regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)

func TestWorkflows(t *testing.T) {
	a := loadActionYML(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("workflows: %v, %v", files, err)
	}
	usesAction := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflow
		if err := yaml.Unmarshal(b, &w); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		base := filepath.Base(f)
		if w.Name == "" || w.On == nil || len(w.Jobs) == 0 {
			t.Errorf("%s: needs name, on and jobs", base)
		}
		for jn, j := range w.Jobs {
			if j.RunsOn == nil || len(j.Steps) == 0 {
				t.Errorf("%s: job %s needs runs-on and steps", base, jn)
			}
			ours := map[string]bool{} // ids of steps using this action
			for _, s := range j.Steps {
				if s.Uses == "" && s.Run == "" {
					t.Errorf("%s: job %s: a step with neither uses nor run", base, jn)
				}
				if s.Uses != "./" {
					continue
				}
				usesAction[base]++
				if s.ID != "" {
					ours[s.ID] = true
				}
				for k := range s.With {
					if _, ok := a.Inputs[k]; !ok {
						t.Errorf("%s: job %s: input %q is not in action.yml", base, jn, k)
					}
				}
			}
			for _, m := range stepOutputRef.FindAllStringSubmatch(string(b), -1) {
				if ours[m[1]] {
					if _, ok := a.Outputs[m[2]]; !ok {
						t.Errorf("%s: steps.%s.outputs.%s is not an output of action.yml", base, m[1], m[2])
					}
				}
			}
		}
	}
	for _, want := range []string{"perf-gate.yml", "perf-baseline.yml", "perf-sharded.yml"} {
		if usesAction[want] == 0 {
			t.Errorf("%s does not use the action (uses: ./)", want)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "ci.yml"))
	if err != nil || !strings.Contains(string(ci), "make test") {
		t.Errorf("ci.yml does not run make test: %v", err)
	}
	fork, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "perf-fork-comment.yml"))
	if err != nil || !strings.Contains(string(fork), "workflow_run") || strings.Contains(string(fork), "actions/checkout") {
		t.Errorf("perf-fork-comment.yml must run on workflow_run and never check out code: %v", err)
	}
}

// The README's "Use it in your workflow" examples are the workflow files make e2e runs: the
// files without their header comment, with `uses: ./` as a user writes it (the release that
// action.yml's image names).
func TestReadmeExamplesAreTheWorkflows(t *testing.T) {
	a := loadActionYML(t)
	version := a.Runs.Image[strings.LastIndex(a.Runs.Image, ":")+1:]
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"perf-gate.yml", "perf-baseline.yml", "perf-fork-comment.yml"} {
		b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		i := 0
		for i < len(lines) && (strings.HasPrefix(lines[i], "#") || lines[i] == "") {
			i++
		}
		body := strings.ReplaceAll(strings.TrimRight(strings.Join(lines[i:], "\n"), "\n"), "uses: ./", "uses: perflab/perflab@"+version)
		want := "```yaml\n# .github/workflows/" + name + "\n" + body + "\n```"
		if name == "perf-fork-comment.yml" {
			want = "```yaml\n" + body + "\n```"
		}
		if !strings.Contains(string(readme), want) {
			t.Errorf("README lacks %s as it is (header comment dropped, uses: perflab/perflab@%s); want:\n%s", name, version, want)
		}
	}
}
