package textfmt

import "testing"

func TestOr(t *testing.T) {
	if Or("", "(unknown)") != "(unknown)" || Or("main", "(unknown)") != "main" {
		t.Error("Or")
	}
}
