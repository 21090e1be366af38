package untrusted

import (
	"bytes"
	"strings"
	"testing"
)

// Hostile names as a pull request could commit them: each must come out of every sink
// unable to start a workflow command, a new line, HTML, a link or a mention.
func TestLog(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain name", "plain name"},
		{"::error title=x::forged", ":\u200b:error title=x::forged"},
		{"  ::add-mask::x", "  :\u200b:add-mask::x"},
		{"model ##[error]forged", "model ##\u200b[error]forged"},
		{"a\n::error::b", "a\n:\u200b:error::b"},
		{"a\r::error::b", `a\r::error::b`},
		{"a\u2028::error::b", `a\u2028::error::b`},
		{"tab\tkept", "tab\tkept"},
		{"x::y", "x::y"}, // not at the start: not a command
	} {
		if got := Log(tc.in); got != tc.want {
			t.Errorf("Log(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogWriter(t *testing.T) {
	var b bytes.Buffer
	w := LogWriter(&b)
	w.Write([]byte("ok line\n::err"))
	w.Write([]byte("or::x\nprogress 1\rprogress ##[error]2\n::last"))
	w.Close()
	want := "ok line\n:\u200b:error::x\nprogress 1\nprogress ##\u200b[error]2\n:\u200b:last\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestCodeTextCell(t *testing.T) {
	for _, tc := range []struct{ in, code, text string }{
		{"resnet18", "`resnet18`", "resnet18"},
		{"a`b", "`a\u02cbb`", "a\\`b"},
		{"x</details><details>", "`x</details><details>`", `x\</details\>\<details\>`},
		{"<!-- perflab -->", "`<!-- perflab -->`", `\<!-- perflab --\>`},
		{"@org/team", "`@org/team`", "@\u200dorg/team"},
		{"a|b", "`a|b`", `a\|b`},
		{"l1\n### pass", "`l1\\n### pass`", `l1\\n\#\#\# pass`},
		{"[click](http://x)", "`[click](http://x)`", `\[click\](http://x)`},
		{"", "`\u00a0`", ""},
	} {
		if got := Code(tc.in); got != tc.code {
			t.Errorf("Code(%q) = %q, want %q", tc.in, got, tc.code)
		}
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
	if Cell(" ") != "-" || Cell("a|b") != `a\|b` {
		t.Errorf("Cell: %q %q", Cell(" "), Cell("a|b"))
	}
}

func TestMarkdown(t *testing.T) {
	in := "<!-- perflab -->\n### pass\nby @org/team and @alice, user@example.com, action x/y@v1\n`<!-- perflab -->`\n"
	got := Markdown(in)
	for _, bad := range []string{" @org", " @alice", "\n`<!--"} {
		if strings.Contains(got, bad) {
			t.Errorf("Markdown kept %q:\n%s", bad, got)
		}
	}
	for _, keep := range []string{"<!-- perflab -->\n### pass", "user@example.com", "x/y@v1", "@\u200dorg/team"} {
		if !strings.Contains(got, keep) {
			t.Errorf("Markdown lost %q:\n%s", keep, got)
		}
	}
	if s := Markdown("### summary <!-- x"); strings.Contains(s, "<!--") {
		t.Errorf("no marker: %q", s)
	}
}
