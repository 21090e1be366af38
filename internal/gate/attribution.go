package gate

import (
	"strings"

	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/untrusted"
)

// Attribution says where the time of one A/B configuration's change went, per operator
// (internal/profile): made for a regressed comparison (or for every one on request), by
// profiling both sides after the verdict. Traces are the Chrome traces as users find them
// (repository-relative, in the uploaded results); Err says why there is none.
type Attribution struct {
	Key         string               `json:"key"`
	Attribution *profile.Attribution `json:"attribution,omitempty"`
	Traces      []string             `json:"traces,omitempty"`
	Err         string               `json:"error,omitempty"`
}

// writeAttributions writes the collapsed "Where the time went" section of each
// attribution (under the comparisons table of a comment).
func (rep *Report) writeAttributions(b *strings.Builder) {
	for _, a := range rep.Attributions {
		b.WriteString(a.Markdown())
		b.WriteString("\n")
	}
}

// Markdown is the attribution's collapsed section, headed by its configuration.
func (a Attribution) Markdown() string {
	if a.Attribution == nil {
		return "<details><summary>Where the time went in " + untrusted.Code(a.Key) + ": not profiled</summary>\n\n" + untrusted.Text(a.Err) + "\n\n</details>\n"
	}
	md := a.Attribution.Markdown(a.Traces)
	return strings.Replace(md, "<summary>Where the time went: ", "<summary>Where the time went in "+untrusted.Code(a.Key)+": ", 1)
}
