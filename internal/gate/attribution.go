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
	what := "in " + plainLabel(a.Key)
	if a.Attribution == nil {
		return "<details><summary>" + profile.SummaryText("Where the time went "+what+": not profiled") + "</summary>\n\n" + untrusted.Text(a.Err) + "\n\n</details>\n"
	}
	return a.Attribution.Markdown(what, a.Traces)
}

// plainLabel is ConfigLabel in plain text: the model's name, batch and threads.
func plainLabel(key string) string {
	parts := strings.Split(key, "|")
	if len(parts) < 4 {
		return key
	}
	return ModelName(parts[0]) + " " + parts[1] + " " + parts[3]
}
