package record

import (
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Non-finite numbers: JSON has no NaN or infinity, yet a model's output can hold them and
// so can what a record says about it (correctness differences). Marshal writes such a
// field as 0 and names it in Record.NonFinite ("correctness.rel_diff": "NaN", "+Inf" or
// "-Inf"); Parse puts the value back. Paths are JSON names joined by dots, with slice
// indices and map keys as elements.

// encodeNonFinite replaces r's non-finite numbers by 0, listing them in r.NonFinite, and
// returns the function that restores r as it was.
func encodeNonFinite(r *Record) (restore func()) {
	saved := r.NonFinite
	found := map[string]string{}
	var undo []func()
	walkFloats(reflect.ValueOf(r).Elem(), "", func(path string, v float64) (float64, bool) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, false
		}
		found[path] = strconv.FormatFloat(v, 'g', -1, 64)
		if math.IsInf(v, 1) {
			found[path] = "+Inf"
		}
		return 0, true
	}, &undo)
	r.NonFinite = nil
	if len(found) > 0 {
		r.NonFinite = found
	}
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		r.NonFinite = saved
	}
}

// decodeNonFinite puts back the values r.NonFinite lists (which it keeps).
func decodeNonFinite(r *Record) {
	if len(r.NonFinite) == 0 {
		return
	}
	walkFloats(reflect.ValueOf(r).Elem(), "", func(path string, v float64) (float64, bool) {
		s, ok := r.NonFinite[path]
		if !ok {
			return v, false
		}
		switch s {
		case "NaN":
			return math.NaN(), true
		case "+Inf", "Inf":
			return math.Inf(1), true
		case "-Inf":
			return math.Inf(-1), true
		}
		return v, false
	}, nil)
}

// walkFloats calls fn on every float64 reachable from v (struct fields by JSON name,
// pointers, slices, maps with string keys) and stores what fn returns when it says so.
// With undo, it appends a function restoring each changed value.
func walkFloats(v reflect.Value, path string, fn func(string, float64) (float64, bool), undo *[]func()) {
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch v.Kind() {
	case reflect.Float64:
		old := v.Float()
		if nv, ok := fn(path, old); ok && v.CanSet() {
			v.SetFloat(nv)
			if undo != nil {
				*undo = append(*undo, func() { v.SetFloat(old) })
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walkFloats(v.Elem(), path, fn, undo)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkFloats(v.Field(i), join(name), fn, undo)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkFloats(v.Index(i), join(strconv.Itoa(i)), fn, undo)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		iter := v.MapRange()
		type entry struct{ k, old, cur reflect.Value }
		var changed []entry
		for iter.Next() {
			k := iter.Key()
			// Map values are not addressable: work on a copy, store it back if it changed.
			cur := reflect.New(v.Type().Elem()).Elem()
			cur.Set(iter.Value())
			dirty := false
			walkFloats(cur, join(k.String()), func(p string, f float64) (float64, bool) {
				nv, ok := fn(p, f)
				dirty = dirty || ok
				return nv, ok
			}, undo)
			if dirty {
				changed = append(changed, entry{k, iter.Value(), cur})
			}
		}
		for _, e := range changed {
			v.SetMapIndex(e.k, e.cur)
			if undo != nil {
				m, k, old := v, e.k, e.old
				*undo = append(*undo, func() { m.SetMapIndex(k, old) })
			}
		}
	}
}
