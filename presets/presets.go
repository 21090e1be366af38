// Package presets embeds perflab's built-in sweep presets (the YAML files in this folder),
// so the binary finds them wherever it runs. internal/sweep parses them.
package presets

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Get returns the YAML text of the built-in preset called name.
func Get(name string) ([]byte, bool) {
	b, err := files.ReadFile(name + ".yaml")
	return b, err == nil
}

// Names lists the built-in presets.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}
