package textfmt

// Or returns s, or empty when s is "" (e.g. Or(ref, "(unknown)")).
func Or(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}
