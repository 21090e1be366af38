package textfmt

import "testing"

func TestHelpers(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Plural(1, "run", "runs"), "run"},
		{Plural(0, "run", "runs"), "runs"},
		{Count(1, "run"), "1 run"},
		{Count(3, "configuration"), "3 configurations"},
		{ShortSHA("0123456789abcdef0123456789abcdef01234567"), "0123456789"},
		{ShortSHA("abc"), "abc"},
		{Capitalize("no change"), "No change"},
		{Capitalize(""), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
