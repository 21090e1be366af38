// Package untrusted neutralises text that a pull request controls (model file names,
// preset names and contents, configuration keys, notes, error messages that quote them,
// event fields such as branch names) before it reaches a sink that would otherwise
// interpret it. There is one function per sink:
//
//   - Printable: any text, one line: control characters written as Go escapes (\n, \r,
//     \x1b, \u2028), so that nothing starts a new line of its own.
//   - Log: a message for the runner's log (stdout or stderr of the Action): no line starts a
//     workflow command ("::", leading blanks allowed, as the runner trims them) and the
//     "##[" form, which the runner honours anywhere in a line, is broken. LogWriter does the
//     same to a stream.
//   - Code: a name shown as an inline code span in markdown (the backtick cannot close it);
//     CodeCell: the same in a table cell.
//   - Text: a name shown as markdown text (no HTML, no emphasis, no links, no table cell
//     break, no @-mention). Cell: the same in a table cell ("-" when blank).
//   - Markdown: the safety net over a whole comment or summary that the Action composed:
//     no @-mention pings anyone, and no "<!--" after the first line can open an HTML comment
//     (the sticky comment's marker is one).
//
// Annotations' properties (title=...) and data are escaped by go-githubactions
// (%, CR, LF, and ":" "," in properties); their text still goes through Log.
package untrusted

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// zwsp breaks a workflow command without changing what a reader sees; zwj breaks an
// @-mention. Neither is white space to the runner's TrimStart.
const (
	zwsp = "\u200b"
	zwj  = "\u200d"
)

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085'
}

// Printable returns s with its control characters (newlines, carriage returns, tabs,
// escape sequences, Unicode line separators) written as Go escapes (\n, \x1b, \u2028):
// a name read from a file or a flag then stays on its line wherever it is rendered.
func Printable(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Log returns msg made safe for the runner's log: each line (msg may hold several) keeps
// its text, but control characters other than the newline and tab are escaped, a line
// whose first non-blank characters are "::" has them broken (":\u200b:"), and every
// "##[" is broken ("##\u200b["). A message the Action writes on purpose as a workflow
// command does not go through here (go-githubactions writes those).
func Log(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = logLine(l)
	}
	return strings.Join(lines, "\n")
}

func logLine(l string) string {
	if strings.IndexFunc(l, func(r rune) bool { return r != '\t' && isControl(r) }) >= 0 {
		var b strings.Builder
		for _, r := range l {
			if r != '\t' && isControl(r) {
				q := strconv.QuoteRune(r)
				b.WriteString(q[1 : len(q)-1])
				continue
			}
			b.WriteRune(r)
		}
		l = b.String()
	}
	l = strings.ReplaceAll(l, "##[", "##"+zwsp+"[")
	trimmed := strings.TrimLeftFunc(l, unicode.IsSpace)
	if strings.HasPrefix(trimmed, "::") {
		l = l[:len(l)-len(trimmed)] + ":" + zwsp + trimmed[1:]
	}
	return l
}

// LogWriter returns a writer that passes every complete line written to it through Log
// before writing it to w (a partial last line waits for its newline, or for Close). It is
// safe for concurrent use.
func LogWriter(w io.Writer) *LineWriter { return &LineWriter{w: w} }

// LineWriter is LogWriter's writer.
type LineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// Write writes the complete lines of p, neutralised.
func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	for {
		i := strings.IndexByte(string(lw.buf), '\n')
		if i < 0 {
			break
		}
		line := string(lw.buf[:i])
		lw.buf = lw.buf[i+1:]
		// A progress line redrawn with CR: each part is a line to the runner's parser.
		for _, part := range strings.Split(line, "\r") {
			if _, err := io.WriteString(lw.w, Log(part)+"\n"); err != nil {
				return len(p), err
			}
		}
	}
	return len(p), nil
}

// Close writes what is left of a last line without its newline.
func (lw *LineWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) == 0 {
		return nil
	}
	line := string(lw.buf)
	lw.buf = nil
	_, err := io.WriteString(lw.w, Log(strings.ReplaceAll(line, "\r", "\n"))+"\n")
	return err
}

// Code returns s as an inline markdown code span: one line (Printable), its backticks
// replaced by a look-alike (U+02CB), so that nothing in it is read as markdown or HTML,
// and no @-mention in it pings. Pipes are left to the table's renderer (escape them as \|
// inside a table row: GitHub splits cells even inside code spans).
func Code(s string) string {
	s = strings.ReplaceAll(Printable(s), "`", "\u02cb")
	if strings.TrimSpace(s) == "" {
		s = "\u00a0" // an empty code span is not one
	}
	return "`" + s + "`"
}

// CodeCell is Code for a markdown table cell: its pipes escaped (\|), which GitHub reads
// as a pipe inside the code span instead of a cell break.
func CodeCell(s string) string { return strings.ReplaceAll(Code(s), "|", `\|`) }

// mdSpecial are the characters Text escapes with a backslash: what could start HTML, a
// link, an image, strong emphasis, a code span, a table cell, a heading or an entity
// ("_" is left: GitHub does not read it inside words, and alone it only emphasises).
const mdSpecial = "\\`*[]<>|&~#"

// Text returns s as markdown text: one line (Printable), every character markdown or HTML
// could read escaped with a backslash, and each @-mention broken. It renders as s.
func Text(s string) string {
	s = Printable(s)
	var b strings.Builder
	for _, r := range s {
		if r < 128 && strings.ContainsRune(mdSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		if r == '@' {
			b.WriteString(zwj)
		}
	}
	return b.String()
}

// Cell returns s as the text of a markdown table cell (Text; "-" when blank).
func Cell(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return Text(s)
}

// mention is an @-mention as GitHub links it: an @ not preceded by a word character (or a
// character that makes it part of an address or path), followed by a login.
var mention = regexp.MustCompile("(^|[^A-Za-z0-9_.`/@\u200d-])@([A-Za-z0-9])")

// htmlComment is "<!--" not already escaped as "\<!--" (Text's form, which is no comment).
var htmlComment = regexp.MustCompile(`(^|[^\\])<!--`)

// Markdown is the last pass over a comment or summary the Action composed: every
// @-mention gets a zero-width joiner after its @ (it renders the same and pings nobody),
// and "<!--" anywhere after the first line is written as "&lt;!--", so that no text can
// open an HTML comment that hides the rest of the body or carries a second sticky-comment
// marker. The first line (the marker) is left as it is.
func Markdown(body string) string {
	first, rest, ok := strings.Cut(body, "\n")
	if !ok {
		first, rest = "", body
	}
	if !strings.HasPrefix(first, "<!--") {
		first, rest = "", body
		ok = false
	}
	rest = mention.ReplaceAllString(rest, "${1}@"+zwj+"${2}")
	rest = htmlComment.ReplaceAllString(rest, "${1}&lt;!--")
	if ok {
		return first + "\n" + rest
	}
	return rest
}
