package action

import "regexp"

// inWorkspace returns the real path of p in the workspace (see workspace.Path).
func (r *runner) inWorkspace(p, what string) (string, error) { return r.ws.Path(p, what) }

// writeWorkspaceFile writes rel (a path in the repository) atomically at its real path in
// the workspace, refusing links that lead elsewhere.
func (r *runner) writeWorkspaceFile(rel string, b []byte) error { return r.ws.WriteFile(rel, b) }

var quoted = regexp.MustCompile("`[^`]*`|\"[^\"\n]{12,}\"")

// withoutContent removes the quoted values a parser error shows of a file it read (YAML
// says "cannot unmarshal !!str `root:x:...`"): an input may name any file, and its content
// must not end up in a public log.
func withoutContent(msg string) string {
	return quoted.ReplaceAllString(msg, "(value not shown)")
}
