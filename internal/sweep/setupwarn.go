package sweep

import (
	"strings"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/record"
)

// SetupWarnings gathers, once each, the warnings about the process's runtime set-up that
// every record measured under it repeats (env.TwoPoolsWarning), so that a sweep can say
// them once instead of leaving them in the records only.
type SetupWarnings struct {
	List []string // in the order first seen
	seen map[string]bool
}

// Add takes r's set-up warnings.
func (s *SetupWarnings) Add(r *record.Record) {
	if r == nil {
		return
	}
	for _, w := range r.Warnings {
		if !strings.HasPrefix(w, env.TwoPoolsPrefix) || s.seen[w] {
			continue
		}
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		s.seen[w] = true
		s.List = append(s.List, w)
	}
}
