package action

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/perflab/perflab/internal/atomicfile"
)

// inWorkspace returns the real path of p (relative to the workspace, or absolute) after
// resolving every symbolic link on the way, and refuses a path that ends up outside the
// workspace: a pull request controls its checkout, links included, and the action runs as
// root next to the runner's own files. A link whose target does not exist is refused too
// (writing through it would create a file wherever it points). Parts of p that do not exist
// yet are allowed (a file about to be written). what names the input in the error.
func (r *runner) inWorkspace(p, what string) (string, error) {
	ws, err := filepath.EvalSymlinks(r.ws)
	if err != nil {
		return "", fmt.Errorf("workspace %s: %w", r.ws, err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.ws, p)
	}
	p = filepath.Clean(p)
	if !within(r.ws, p) && !within(ws, p) {
		return "", fmt.Errorf("%s: %s is outside the workspace: give a path in the repository", what, p)
	}
	// Resolve the longest prefix that exists; the rest is joined as is.
	dir, rest := p, []string{}
	for {
		if _, err := os.Lstat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
		dir = parent
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %s is a symbolic link to nothing (or cannot be resolved): refusing to follow it", what, relTo(r.ws, dir))
	}
	real = filepath.Join(append([]string{real}, rest...)...)
	if !within(ws, real) {
		return "", fmt.Errorf("%s: %s leads outside the workspace (to %s) through a symbolic link: refusing to follow it", what, relTo(r.ws, p), real)
	}
	return real, nil
}

// within reports whether p is root or inside it (both clean and absolute).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func relTo(ws, p string) string {
	if rel, err := filepath.Rel(ws, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// writeWorkspaceFile writes rel (a path in the repository) atomically at its real path in
// the workspace, refusing links that lead elsewhere.
func (r *runner) writeWorkspaceFile(rel string, b []byte) error {
	p, err := r.inWorkspace(filepath.FromSlash(rel), rel)
	if err != nil {
		return err
	}
	return atomicfile.Write(p, b)
}

var quoted = regexp.MustCompile("`[^`]*`|\"[^\"\n]{12,}\"")

// withoutContent removes the quoted values a parser error shows of a file it read (YAML
// says "cannot unmarshal !!str `root:x:...`"): an input may name any file, and its content
// must not end up in a public log.
func withoutContent(msg string) string {
	return quoted.ReplaceAllString(msg, "(value not shown)")
}
