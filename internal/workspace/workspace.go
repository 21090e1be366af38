// Package workspace is what a path means to perflab: a model's repository-relative name,
// the repository's top level, and the workspace boundary that paths read or written on a
// user's behalf must not cross. Every flow (gate, baseline, A/B against a base, the
// GitHub Action) resolves paths here, so that the rules live in one place.
package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
)

// Real returns p made absolute and resolved through symbolic links; when it cannot be
// resolved (it does not exist yet), the absolute path.
func Real(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// GitRoot returns the top level of the git checkout holding dir, or an error when dir is
// not in one (or git is missing).
func GitRoot(dir string) (string, error) {
	out, err := Git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Git runs git in dir and returns its standard output; an error says git's last words.
// safe.directory=*: the action's container runs as another user than the checkout's owner.
func Git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-c", "safe.directory=*", "-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// RepoRoot is the top level of the git checkout holding dir, else dir itself (absolute):
// user models are named by their path relative to it.
func RepoRoot(dir string) string {
	if root, err := GitRoot(dir); err == nil {
		return root
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

// RelativeModels rewrites the model of every record whose model is a file path to its
// path relative to root (the repository), with forward slashes, so that keys survive
// machines and checkouts: /home/ci/work/app/models/m.pt and ./models/m.pt are both
// models/m.pt. Relative paths are relative to wd ("" = the working directory). Built-in
// names and paths outside root are left as they are. It returns how many it rewrote.
func RelativeModels(recs []*record.Record, root, wd string) int {
	if root == "" {
		return 0
	}
	root = Real(root)
	n := 0
	for _, r := range recs {
		if rel, ok := RelativeModel(r.Model, root, wd); ok && rel != r.Model {
			r.Model = rel
			n++
		}
	}
	return n
}

// RelativeModel is the repository-relative name of one model (see RelativeModels); ok is
// false for built-in names and paths outside root (root resolved through links).
func RelativeModel(m, root, wd string) (string, bool) {
	if _, builtin := model.LookupBuiltin(m); builtin || !model.LooksLikePath(m) {
		return m, false
	}
	abs := m
	if !filepath.IsAbs(m) {
		if wd == "" {
			var err error
			if wd, err = os.Getwd(); err != nil {
				return m, false
			}
		}
		abs = filepath.Join(wd, m)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs))
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return m, false
	}
	return filepath.ToSlash(rel), true
}

// Workspace is a folder that paths given on a user's behalf (the Action's inputs) must
// stay in, symbolic links included: a pull request controls its checkout, links included.
type Workspace struct {
	Dir string // the real path (symbolic links resolved)
}

// Open returns the workspace at dir (its real path when it can be resolved).
func Open(dir string) Workspace {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return Workspace{Dir: dir}
}

// Path returns the real path of p (relative to the workspace, or absolute) after
// resolving every symbolic link on the way, and refuses a path that ends up outside the
// workspace. A link whose target does not exist is refused too (writing through it would
// create a file wherever it points). Parts of p that do not exist yet are allowed (a file
// about to be written). what names the input in the error.
func (w Workspace) Path(p, what string) (string, error) {
	ws, err := filepath.EvalSymlinks(w.Dir)
	if err != nil {
		return "", fmt.Errorf("workspace %s: %w", w.Dir, err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(w.Dir, p)
	}
	p = filepath.Clean(p)
	if !Within(w.Dir, p) && !Within(ws, p) {
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
		return "", fmt.Errorf("%s: %s is a symbolic link to nothing (or cannot be resolved): refusing to follow it", what, w.Rel(dir))
	}
	real = filepath.Join(append([]string{real}, rest...)...)
	if !Within(ws, real) {
		return "", fmt.Errorf("%s: %s leads outside the workspace (to %s) through a symbolic link: refusing to follow it", what, w.Rel(p), real)
	}
	return real, nil
}

// RepoPath is p (the path of a file in the repository, relative or absolute) as a clean
// repository-relative path with forward slashes; a path leading out of the workspace is
// refused (what names the input in the error).
func (w Workspace) RepoPath(p, what string) (string, error) {
	given := p
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(w.Dir, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "", fmt.Errorf("%s %s must be a path inside the repository", what, given)
		}
		p = rel
	}
	p = filepath.ToSlash(filepath.Clean(p))
	if strings.HasPrefix(p, "../") || p == ".." {
		return "", fmt.Errorf("%s %s must be a path inside the repository", what, given)
	}
	return p, nil
}

// WriteFile writes rel (a path in the repository) atomically at its real path in the
// workspace, refusing links that lead elsewhere.
func (w Workspace) WriteFile(rel string, b []byte) error {
	p, err := w.Path(filepath.FromSlash(rel), rel)
	if err != nil {
		return err
	}
	return atomicfile.Write(p, b)
}

// Rel returns p relative to the workspace with forward slashes (what later steps on the
// host can use: a container sees the workspace at another path), or p when it is outside.
func (w Workspace) Rel(p string) string {
	if p == "" {
		return ""
	}
	if rel, err := filepath.Rel(w.Dir, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// Within reports whether p is root or inside it (both clean and absolute).
func Within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// Regular returns the real path of p (see Path: no symbolic link out of the workspace)
// when it is a regular file of at most max bytes, and its first bytes (up to 512). A FIFO,
// device, socket or folder is refused in one line without waiting on it; so is a Git LFS
// pointer (the checkout has the pointer, not the file). what names the file in errors
// ("model file models/net.pt").
func (w Workspace) Regular(p, what string, max int64) (string, []byte, error) {
	real, err := w.Path(p, what)
	if err != nil {
		return "", nil, err
	}
	f, err := model.OpenRegular(real, what, true, max)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("%s does not exist: %w", what, os.ErrNotExist)
		}
		return "", nil, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if model.IsLFSPointer(head) {
		return "", nil, fmt.Errorf("%s %s", what, model.LFSPointerAdvice)
	}
	return real, head, nil
}

// ReadFile reads p, a regular file in the workspace of at most max bytes (see Regular).
func (w Workspace) ReadFile(p, what string, max int64) ([]byte, error) {
	real, _, err := w.Regular(p, what, max)
	if err != nil {
		return nil, err
	}
	f, err := model.OpenRegular(real, what, true, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// Fresh makes dir (a folder of the workspace the caller owns, such as the Action's results
// folder) new and empty: whatever is there already — a folder committed by a pull
// request, a file, a symbolic link — is moved aside (renamed, never followed, never read)
// to dir + ".old" (then ".old2", ...). It returns the real path of the new folder and the
// name of what was moved aside ("" when nothing was there).
func (w Workspace) Fresh(dir, what string) (string, string, error) {
	p, err := w.RepoPath(dir, what)
	if err != nil {
		return "", "", err
	}
	parent, err := w.Path(filepath.Dir(filepath.FromSlash(p)), what)
	if err != nil {
		return "", "", err
	}
	abs := filepath.Join(parent, filepath.Base(p))
	moved := ""
	if _, err := os.Lstat(abs); err == nil {
		for i := 1; ; i++ {
			aside := abs + ".old"
			if i > 1 {
				aside += strconv.Itoa(i)
			}
			if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
				if err := os.Rename(abs, aside); err != nil {
					return "", "", fmt.Errorf("%s: move the existing %s aside: %w", what, w.Rel(abs), err)
				}
				moved = w.Rel(aside)
				break
			}
			if i > 100 {
				return "", "", fmt.Errorf("%s: %s exists and so do %s.old..old100: remove them", what, w.Rel(abs), w.Rel(abs))
			}
		}
	}
	if err := os.Mkdir(abs, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", w.Rel(abs), err)
	}
	return abs, moved, nil
}

// WriteNoFollow writes b to path, a file in a folder the caller made (such as the
// Action's results folder), never through a symbolic link at path (O_NOFOLLOW: a link
// there is an error, not followed).
func WriteNoFollow(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return fmt.Errorf("%s is a symbolic link: refusing to write through it", path)
		}
		return err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file: refusing to write it", path)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
