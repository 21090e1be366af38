package action

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
)

// comment posts or edits the sticky comment; its body is also written to
// perflab-results/comment.md (with pr.json) for the fork-safe workflow_run pattern.
func (j *job) comment(ctx context.Context, rs *results, v *verdict) (url, note string) {
	pr := j.ev.PR
	body := untrusted.Markdown(j.redact(j.compose(MaxCommentBytes, true, rs, v, "")))
	j.writeFile("comment.md", func(w io.Writer) error { _, err := io.WriteString(w, body); return err })
	j.writeFile("pr.json", func(w io.Writer) error {
		return json.NewEncoder(w).Encode(map[string]any{"number": pr.Number, "head_sha": pr.HeadSHA, "base_sha": pr.BaseSHA,
			"repository": j.ev.Owner + "/" + j.ev.Repo, "verdict": v.gate.Verdict, "regressions": v.gate.Regressions, "marker": j.marker()})
	})
	if !j.in.Comment {
		j.logf("comment: false: no pull request comment (the verdict is in the job summary)")
		return "", ""
	}
	if j.client == nil {
		j.noticef("no pull request comment: no github-token. %s", forkHint(pr))
		return "", "No comment was posted: the action got no `github-token`."
	}
	_, u, created, err := j.client.UpsertComment(ctx, j.ev.Owner, j.ev.Repo, pr.Number, j.marker(), body)
	switch {
	case err == nil:
		verb := "updated"
		if created {
			verb = "posted"
		}
		j.logf("comment %s on #%d: %s", verb, pr.Number, textfmt.Or(u, "(unknown)"))
		return u, ""
	case github.IsBadToken(err):
		j.warnf("no pull request comment: the github-token was refused (%v): it is wrong, expired or revoked. %s", err, badTokenFix)
		return "", fmt.Sprintf("No comment was posted: the github-token was refused (%v): it is wrong, expired or revoked. %s", err, badTokenFix)
	case github.IsPermission(err):
		why := "the token may not comment (read-only)"
		if pr.Fork() {
			why = "pull requests from forks get a read-only token"
		}
		j.noticef("no pull request comment: %s (%v). The verdict is in the job summary. %s", why, err, forkHint(pr))
		return "", fmt.Sprintf("No comment was posted: %s (%v). The comment's text is in `%s/comment.md`.", why, err, OutDir)
	default:
		j.warnf("the pull request comment could not be posted: %v", err)
		return "", fmt.Sprintf("The comment could not be posted: %v.", err)
	}
}

// marker is the hidden first line of this workflow's sticky comment: gate.Marker, or with
// the comment-key input <!-- perflab-gate:KEY -->, so that two workflows keep two comments.
func (j *job) marker() string {
	if j.in.CommentKey == "" {
		return gate.Marker
	}
	return strings.TrimSuffix(gate.Marker, " -->") + ":" + j.in.CommentKey + " -->"
}

// badTokenFix is what to do about a 401: no permission fixes a token GitHub does not accept.
const badTokenFix = "Leave the github-token input at its default (`${{ github.token }}`), or replace the secret it names with a valid token."

func forkHint(pr *PullRequest) string {
	s := "To get the comment on pull requests from forks, keep this workflow on pull_request, upload " + OutDir +
		"/ as an artifact, and post " + OutDir + "/comment.md from a second workflow triggered by workflow_run, which has a write token " +
		"(perflab's docs/action.md, \"Pull requests from forks\", has both files). Do not use pull_request_target with a checkout of the pull request's head: it would run the fork's code with a write token."
	if !pr.Fork() {
		s = "For a pull request from this repository, give the job `permissions: pull-requests: write`. " + s
	}
	return s
}

// compose builds the comment (withMarker) or the summary, within limit bytes.
func (j *job) compose(limit int, withMarker bool, rs *results, v *verdict, commentNote string) string {
	var secs []section
	if withMarker {
		secs = append(secs, section{text: j.marker() + "\n"})
	}
	switch {
	case v.gate != nil && j.mode == ModeBaseline:
		icon := "✅"
		if !strings.HasPrefix(v.stored, "stored") {
			icon = "⚠️"
		}
		head := fmt.Sprintf("### %s perflab: baseline %s %s\n\n", icon, untrusted.Code(v.baselineRel), untrusted.Text(textfmt.Or(v.stored, "(unknown)")))
		if icon != "✅" {
			head += "**No baseline was stored by this run**: pull requests keep being compared with the previous baseline, or with none (their verdict is then \"no baseline\" and they cannot fail).\n\n"
		}
		secs = append(secs, section{text: head})
		if v.gate.Baseline == nil {
			secs = append(secs, section{text: fmt.Sprintf("This is the first baseline of %s (%s): there was nothing to compare this %s with.\n\n", untrusted.Code(v.baselineRel), untrusted.Text(v.source), untrusted.Text(j.ev.Name))})
		} else {
			secs = append(secs, section{text: "<details><summary>This run compared with the previous baseline (information only: the baseline moves on)</summary>\n\n" +
				escapeTablePipes(verdictMarkdown(v.gate, "compared with the previous baseline: "+v.gate.Verdict, "", "")) + "</details>\n\n", optional: true})
		}
	case v.gate != nil:
		secs = append(secs, section{text: escapeTablePipes(verdictMarkdown(v.gate, "perflab gate: "+v.gate.Verdict, atAGlance(rs.rep), v.compared))})
		if v.gate.Baseline == nil {
			secs = append(secs, section{text: fmt.Sprintf("**Baseline used:** %s: %s.\n\n", untrusted.Code(v.baselineRel), untrusted.Text(v.source))})
		}
	default:
		secs = append(secs, section{text: fmt.Sprintf("### perflab report (%s: not gated)\n\n", untrusted.Text(j.ev.Name))})
	}
	var notes []string
	for _, n := range v.notes {
		notes = append(notes, "- "+n)
	}
	if !withMarker && commentNote != "" {
		notes = append(notes, "- "+commentNote)
	}
	if len(notes) > 0 {
		secs = append(secs, section{text: strings.Join(notes, "\n") + "\n\n"})
	}
	secs = append(secs, section{text: recommendations(rs.rep)})
	if c := chart(rs.rep); c != "" {
		secs = append(secs, section{text: c, optional: true})
	}
	if rs.reportMD != "" {
		secs = append(secs, section{
			text:     "<details><summary>Full report</summary>\n\n" + escapeTablePipes(stripImages(rs.reportMD)) + "\n</details>\n\n",
			optional: true, fallback: "*The full report did not fit here: it is in the job summary and in `" + OutDir + "/report.md`.*\n\n",
		})
	}
	secs = append(secs, section{text: j.footer(rs.preset)})
	return assemble(limit, secs)
}

func (j *job) footer(preset string) string {
	parts := []string{"perflab " + j.version()}
	src := "preset " + untrusted.Code(preset)
	if j.in.Quick {
		src += " (quick)"
	}
	parts = append(parts, src)
	// On a pull request GITHUB_SHA is the merge commit GitHub made, which nobody knows:
	// the head commit is what was measured.
	if sha := j.ev.SHA; j.ev.PR != nil && j.ev.PR.HeadSHA != "" {
		parts = append(parts, "head "+textfmt.ShortSHA(j.ev.PR.HeadSHA))
	} else if sha != "" {
		parts = append(parts, "commit "+textfmt.ShortSHA(sha))
	}
	if u := j.runURL(); u != "" {
		parts = append(parts, "[workflow run]("+u+")")
	}
	parts = append(parts, "results, report and plots in `"+OutDir+"/`")
	return "<sub>" + strings.Join(parts, " · ") + "</sub>\n"
}

// version is perflab's version as built into the image (the release tag, or git describe of
// the commit the image was built from), with the action's ref when the runner says it
// (GITHUB_ACTION_REF) and it differs.
func (j *job) version() string {
	v := j.d.Version
	if v == "" {
		v = "(unknown version)"
	}
	if ref := j.d.Getenv("GITHUB_ACTION_REF"); ref != "" && ref != v {
		v += " (action " + textfmt.Or(j.d.Getenv("GITHUB_ACTION_REPOSITORY"), "(unknown)") + "@" + ref + ")"
	}
	return v
}

func (j *job) runURL() string {
	server, repo, id := j.d.Getenv("GITHUB_SERVER_URL"), j.d.Getenv("GITHUB_REPOSITORY"), j.d.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	return strings.TrimRight(server, "/") + "/" + repo + "/actions/runs/" + id
}

// verdictMarkdown is the gate's verdict as the comment and the summary show it (every
// comparison is in perflab-results/verdict.json).
func verdictMarkdown(g *gate.Report, heading, glance, compared string) string {
	return g.CommentMarkdown(gate.CommentOptions{Heading: heading, Glance: glance, Compared: compared, Everything: OutDir + "/verdict.json"})
}
