package action

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/untrusted"
	"github.com/perflab/perflab/internal/workspace"
)

// writeSummary writes the job summary (and perflab-results/summary.md).
func (j *job) writeSummary(rs *results, v *verdict, commentNote string) {
	limit := MaxSummaryBytes
	if p := j.d.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		if st, err := os.Stat(p); err == nil {
			limit -= int(st.Size())
		}
	}
	j.appendSummary(j.compose(max(limit, 4096), false, rs, v, commentNote))
}

func (j *job) appendSummary(md string) {
	md = untrusted.Markdown(j.redact(md))
	j.writeFile("summary.md", func(w io.Writer) error { _, err := io.WriteString(w, md); return err })
	if j.d.Getenv("GITHUB_STEP_SUMMARY") == "" {
		j.logf("GITHUB_STEP_SUMMARY is not set: the summary is in %s/summary.md", OutDir)
		return
	}
	if err := j.fileCommand(func() { j.gha.AddStepSummary(md) }); err != nil {
		j.warnf("job summary not written: %v", err)
	}
}

func (j *job) setOutputs(res *Result, rs *results) {
	rec := ""
	if rs.rep != nil {
		var err error
		if rec, err = RecommendedJSON(rs.rep); err != nil {
			j.warnf("recommended-config: %v", err)
		}
	}
	reportPath := ""
	if rs.rep != nil {
		reportPath = j.rel(filepath.Join(j.out, "report.md"))
	}
	outs := [][2]string{
		{"verdict", res.Verdict},
		{"regressions", fmt.Sprint(res.Regressions)},
		{"report", reportPath},
		{"results", j.rel(rs.path)},
		{"recommended-config", rec},
	}
	if j.d.Getenv("GITHUB_OUTPUT") == "" {
		j.logf("GITHUB_OUTPUT is not set: outputs are only logged")
		for _, o := range outs {
			j.logf("output %s=%s", o[0], untrusted.Printable(o[1]))
		}
		return
	}
	for _, o := range outs {
		// One line each: go-githubactions writes a value between fixed heredoc delimiters
		// ("_GitHubActionsFileCommandDelimeter_"), which a value with a newline could close.
		k, v := o[0], untrusted.Printable(j.redact(o[1]))
		if err := j.fileCommand(func() { j.gha.SetOutput(k, v) }); err != nil {
			j.warnf("output %s not set: %v", k, err)
		}
	}
}

// annotate emits at most MaxAnnotations annotations for the regressions: errors when they
// fail the check, warnings otherwise.
func (j *job) annotate(g *gate.Report) {
	msgs := annotations(g, MaxAnnotations)
	asErrors := j.mode == ModePullRequest && j.in.FailOnRegression
	a := j.gha.WithFieldsMap(map[string]string{"title": "perflab regression"})
	for _, m := range msgs {
		m = untrusted.Log(j.redact(m))
		if asErrors {
			a.Errorf("%s", m)
		} else {
			a.Warningf("%s", m)
		}
	}
}

// fileCommand runs a go-githubactions file command, which panics when its file cannot be
// written, and returns that as an erroj.
func (j *job) fileCommand(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}

func (j *job) writeFile(name string, write func(io.Writer) error) {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		j.warnf("%s/%s: %v", OutDir, name, err)
		return
	}
	if err := workspace.WriteNoFollow(filepath.Join(j.out, name), []byte(j.redact(buf.String()))); err != nil {
		j.warnf("write %s/%s: %v", OutDir, name, err)
	}
}

// rel returns p relative to the workspace (what later steps, on the host, can use: the
// container sees the workspace at another path).
func (j *job) rel(p string) string { return j.ws.Rel(p) }

// redact removes the token from s, whatever happens upstream, and the runner's paths:
// what people read names files as the repository does (the base's copy of a model file
// as base:models/m.pt).
func (j *job) redact(s string) string {
	if j.token != "" {
		s = strings.ReplaceAll(s, j.token, "***")
	}
	return j.relPaths(s)
}

// relPaths rewrites absolute paths inside the workspace (its real path, and the path the
// runner gave) to repository-relative ones.
func (j *job) relPaths(s string) string {
	if j.out != "" {
		s = strings.ReplaceAll(s, filepath.Join(j.out, "base-models")+string(filepath.Separator), "base:")
	}
	for _, dir := range []string{j.ws.Dir, j.d.Getenv("GITHUB_WORKSPACE")} {
		if dir != "" && filepath.IsAbs(dir) && dir != string(filepath.Separator) {
			s = strings.ReplaceAll(s, strings.TrimRight(dir, string(filepath.Separator))+string(filepath.Separator), "")
		}
	}
	return s
}

// logf, warnf, noticef and errorf are the Action's only ways to its log: what they say is
// redacted and neutralised (untrusted.Log), whatever it quotes.
func (j *job) logf(format string, a ...any) {
	fmt.Fprintln(j.d.Stdout, untrusted.Log(j.redact(fmt.Sprintf(format, a...))))
}

func (j *job) warnf(format string, a ...any) {
	j.gha.Warningf("%s", untrusted.Log(j.redact(fmt.Sprintf(format, a...))))
}

func (j *job) noticef(format string, a ...any) {
	j.gha.Noticef("%s", untrusted.Log(j.redact(fmt.Sprintf(format, a...))))
}

func (j *job) errorf(format string, a ...any) {
	j.gha.Errorf("%s", untrusted.Log(j.redact(fmt.Sprintf(format, a...))))
}
