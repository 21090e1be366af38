// Package textfmt holds the small word helpers every renderer uses (plurals, short commit
// names, capitalised sentences), so that a comment, a report and a log say things one way.
package textfmt

import (
	"strconv"
	"strings"
)

// Plural returns one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count returns "1 run" or "3 runs": n and the noun, with an "s" unless n is 1.
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Plural(n, noun, noun+"s")
}

// ShortSHALen is how many characters of a commit SHA are shown.
const ShortSHALen = 10

// ShortSHA returns the first ShortSHALen characters of a commit SHA (s itself when shorter).
func ShortSHA(s string) string {
	if len(s) > ShortSHALen {
		return s[:ShortSHALen]
	}
	return s
}

// Capitalize upper-cases the first byte of s (sentences here start with ASCII).
func Capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
