package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseInputValid(t *testing.T) {
	tests := []struct {
		in    string
		want  InputSpec
		canon string // String() of the result
	}{
		{"float32[B,3,224,224]", InputSpec{DType: "float32", Dims: []int64{Batch, 3, 224, 224}}, "float32[B,3,224,224]"},
		{"int64[B,128]:0..8191", InputSpec{DType: "int64", Dims: []int64{Batch, 128}, HasRange: true, Lo: 0, Hi: 8191}, "int64[B,128]:0..8191"},
		{"bool[B]", InputSpec{DType: "bool", Dims: []int64{Batch}}, "bool[B]"},
		{"float32[B,8]:-1..1", InputSpec{DType: "float32", Dims: []int64{Batch, 8}, HasRange: true, Lo: -1, Hi: 1}, "float32[B,8]:-1..1"},
		{"float32[]", InputSpec{DType: "float32"}, "float32[]"}, // a scalar tensor
		{"float32[ ]", InputSpec{DType: "float32"}, "float32[]"},
		{"  float32 [ B , 3 , 16 , 16 ]  ", InputSpec{DType: "float32", Dims: []int64{Batch, 3, 16, 16}}, "float32[B,3,16,16]"},
		{"int64[B,4] : 0 .. 9 ", InputSpec{DType: "int64", Dims: []int64{Batch, 4}, HasRange: true, Lo: 0, Hi: 9}, "int64[B,4]:0..9"},
		{"int64[b,4]", InputSpec{DType: "int64", Dims: []int64{Batch, 4}}, "int64[B,4]"},
		{"uint8[3,B]", InputSpec{DType: "uint8", Dims: []int64{3, Batch}}, "uint8[3,B]"},
		{"float64[2,2]", InputSpec{DType: "float64", Dims: []int64{2, 2}}, "float64[2,2]"},
		{"bfloat16[B,4]:0.5..2.25", InputSpec{DType: "bfloat16", Dims: []int64{Batch, 4}, HasRange: true, Lo: 0.5, Hi: 2.25}, "bfloat16[B,4]:0.5..2.25"},
		{"float16[B]:-1e-3..1e3", InputSpec{DType: "float16", Dims: []int64{Batch}, HasRange: true, Lo: -1e-3, Hi: 1e3}, "float16[B]:-0.001..1000"},
		{"int8[B]:-128..127", InputSpec{DType: "int8", Dims: []int64{Batch}, HasRange: true, Lo: -128, Hi: 127}, "int8[B]:-128..127"},
		{"int32[B]:5..5", InputSpec{DType: "int32", Dims: []int64{Batch}, HasRange: true, Lo: 5, Hi: 5}, "int32[B]:5..5"},
		{"int16[B,1]", InputSpec{DType: "int16", Dims: []int64{Batch, 1}}, "int16[B,1]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseInput(tt.in)
			if err != nil {
				t.Fatalf("ParseInput(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseInput(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			s := got.String()
			if s != tt.canon {
				t.Errorf("String() = %q, want %q", s, tt.canon)
			}
			again, err := ParseInput(s)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseInput(String()) = %#v, %v; want %#v", again, err, got)
			}
		})
	}
}

func TestParseInputInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // besides the input itself
	}{
		{"missing bracket", "float32[B,3,224,224", nil},
		{"missing open bracket", "float32B,3]", nil},
		{"no dims at all", "float32", nil},
		{"unknown dtype", "float33[B,3]", []string{`"float33"`, "float32"}},
		{"uppercase dtype", "Float32[B,3]", nil},
		{"dim 0", "float32[B,0]", []string{`"0"`}},
		{"dim -3", "float32[B,-3]", []string{`"-3"`}},
		{"dim empty", "float32[B,,3]", []string{`""`}},
		{"dim word", "float32[B,N]", []string{`"N"`}},
		{"dim float", "float32[B,2.5]", []string{`"2.5"`}},
		{"x", "x", nil},
		{"empty", "", nil},
		{"range hi<lo", "float32[B]:5..1", []string{`"5..1"`}},
		{"range one number", "float32[B]:5", []string{`"5"`}},
		{"range missing hi", "int64[B]:0..", []string{`"0.."`}},
		{"range NaN", "float32[B]:nan..1", []string{"nan..1"}},
		{"range empty", "float32[B]:", nil},
		{"non-integer range for int", "int64[B,128]:0..8191.5", []string{"whole numbers"}},
		{"non-integer lo for int", "int32[B]:0.5..3", []string{"whole numbers"}},
		{"bool with range", "bool[B]:0..1", []string{"bool"}},
		{"trailing junk", "float32[B,3] extra", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := ParseInput(tt.in)
			if err == nil {
				t.Fatalf("ParseInput(%q) = %v, want an error", tt.in, spec)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "malformed --input ") {
				t.Errorf("error %q does not start with \"malformed --input\"", msg)
			}
			// The offending text, quoted, so the user sees what was wrong.
			for _, w := range append([]string{`"` + tt.in + `"`}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %s", msg, w)
				}
			}
		})
	}
}

// TestParseInputErrorsGiveExample: every --input error shows what a valid value looks
// like, not only what was wrong.
func TestParseInputErrorsGiveExample(t *testing.T) {
	for _, in := range []string{
		"x", "float32[B,3", "float33[B,3]", "float32[B,0]", "float32[B,-3]", "float32[B]:5..1",
		"int64[B]:0..1.5", "bool[B]:0..1",
	} {
		_, err := ParseInput(in)
		if err == nil {
			t.Errorf("ParseInput(%q) succeeded", in)
			continue
		}
		if !strings.Contains(err.Error(), "e.g. 'float32[B,3,224,224]'") {
			t.Errorf("ParseInput(%q): error %q gives no example (want e.g. 'float32[B,3,224,224]')", in, err)
		}
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		spec  string
		batch int
		want  []int64
	}{
		{"float32[B,3,224,224]", 4, []int64{4, 3, 224, 224}},
		{"float32[B,3,224,224]", 1, []int64{1, 3, 224, 224}},
		{"int64[3,B]", 7, []int64{3, 7}},
		{"int64[B,B]", 2, []int64{2, 2}},
		{"float32[5]", 8, []int64{5}},
		{"float32[]", 8, []int64{}},
	}
	for _, tt := range tests {
		s, err := ParseInput(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		got := s.Shape(tt.batch)
		if !slices.Equal(got, tt.want) || got == nil {
			t.Errorf("%s.Shape(%d) = %#v, want %v", tt.spec, tt.batch, got, tt.want)
		}
		if s.Dims != nil && s.Dims[0] == Batch && &got[0] == &s.Dims[0] {
			t.Errorf("Shape must not alias Dims")
		}
	}
	// Shape must not modify the spec.
	s, _ := ParseInput("float32[B,3]")
	s.Shape(9)
	if s.Dims[0] != Batch {
		t.Errorf("Shape modified Dims: %v", s.Dims)
	}
}

func TestIsFloat(t *testing.T) {
	for dt, want := range map[string]bool{
		"float32": true, "float64": true, "float16": true, "bfloat16": true,
		"int64": false, "int32": false, "int16": false, "int8": false, "uint8": false, "bool": false,
	} {
		if got := (InputSpec{DType: dt}).IsFloat(); got != want {
			t.Errorf("IsFloat(%s) = %v, want %v", dt, got, want)
		}
	}
	// Every listed dtype must parse.
	for _, dt := range DTypes {
		if _, err := ParseInput(dt + "[B]"); err != nil {
			t.Errorf("dtype %s from DTypes does not parse: %v", dt, err)
		}
	}
}

func TestBuiltins(t *testing.T) {
	if got, want := BuiltinNames(), []string{"resnet18", "mobilenet_v3_small", "tiny_transformer"}; !slices.Equal(got, want) {
		t.Errorf("BuiltinNames() = %v, want the seed's models %v", got, want)
	}
	for _, b := range Builtins {
		got, ok := LookupBuiltin(b.Name)
		if !ok || got.Name != b.Name {
			t.Errorf("LookupBuiltin(%s) = %v, %v", b.Name, got, ok)
		}
		for _, in := range b.Inputs {
			if _, err := ParseInput(in); err != nil {
				t.Errorf("built-in %s has an invalid input %q: %v", b.Name, in, err)
			}
		}
	}
	if _, ok := LookupBuiltin("ResNet18"); ok {
		t.Error("LookupBuiltin must be exact")
	}
}

// placeholderModels makes a folder with empty files named like the built-ins and points
// PERFLAB_MODELS_DIR at it (Resolve only stats built-in files).
func placeholderModels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range Builtins {
		for _, f := range []string{b.File, b.Int8File} {
			if f == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv(EnvModelsDir, dir)
	return dir
}

func TestResolveBuiltin(t *testing.T) {
	dir := placeholderModels(t)
	tests := []struct {
		name   string
		inputs []string
		file   string
		int8   string
		task   Task
		spec   string
	}{
		{"resnet18", nil, "resnet18.pt", "", Vision, "float32[B,3,224,224]"},
		{"mobilenet_v3_small", nil, "mobilenet_v3_small.pt", "", Vision, "float32[B,3,224,224]"},
		{"tiny_transformer", nil, "tiny_transformer.pt", "tiny_transformer_int8.pt", Text, "int64[B,128]:0..8191"},
		// Its own input, written differently, is accepted.
		{"resnet18", []string{" float32[ b,3,224,224 ] "}, "resnet18.pt", "", Vision, "float32[B,3,224,224]"},
		{"tiny_transformer", []string{"int64[B,128]:0..8191"}, "tiny_transformer.pt", "tiny_transformer_int8.pt", Text, "int64[B,128]:0..8191"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Resolve(tt.name, tt.inputs)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tt.name, err)
			}
			want := &Model{Name: tt.name, Path: filepath.Join(dir, tt.file), Task: tt.task, Builtin: true}
			if tt.int8 != "" {
				want.Int8Path = filepath.Join(dir, tt.int8)
			}
			spec, _ := ParseInput(tt.spec)
			want.Inputs = []InputSpec{spec}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("Resolve(%s) =\n %+v\nwant\n %+v", tt.name, m, want)
			}
			if got, want := m.HasImageInput(), tt.task == Vision; got != want {
				t.Errorf("HasImageInput() = %v, want %v", got, want)
			}
		})
	}
}

func TestResolveBuiltinWithOtherInput(t *testing.T) {
	placeholderModels(t)
	tests := []struct {
		name   string
		inputs []string
		want   []string
	}{
		{"resnet18", []string{"float32[B,3,32,32]"}, []string{"resnet18", "float32[B,3,224,224]", "drop --input"}},
		{"tiny_transformer", []string{"int64[B,128]:0..10"}, []string{"tiny_transformer", "int64[B,128]:0..8191", "drop --input"}},
		{"resnet18", []string{"float32[B,3,224,224]", "float32[B,3,224,224]"}, []string{"drop --input"}},
		{"resnet18", []string{"float32[B,3,224"}, []string{"malformed --input"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Resolve(tt.name, tt.inputs)
			if err == nil {
				t.Fatalf("Resolve(%s, %q) = %+v, want an error", tt.name, tt.inputs, m)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestResolveBuiltinNotExported(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvModelsDir, empty)
	// When set, $PERFLAB_MODELS_DIR is the only folder searched: a mistyped folder must be
	// an error, not a silent fallback to another copy of the models.
	if dirs := SearchDirs(); len(dirs) != 1 || dirs[0] != empty {
		t.Fatalf("SearchDirs() = %v: want only $%s", dirs, EnvModelsDir)
	}
	m, err := Resolve("resnet18", nil)
	if err == nil {
		t.Fatalf("Resolve(resnet18) with an empty models folder = %+v, want an error", m)
	}
	for _, w := range []string{"resnet18", "make models", EnvModelsDir, empty, "resnet18.pt"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestSearchDirsWithoutEnv(t *testing.T) {
	t.Setenv(EnvModelsDir, "")
	dirs := SearchDirs()
	if len(dirs) == 0 || dirs[len(dirs)-1] != "/usr/share/perflab/models" {
		t.Fatalf("SearchDirs() = %v", dirs)
	}
	for _, d := range dirs {
		if d == "" {
			t.Errorf("SearchDirs() has an empty folder (the current directory): %v", dirs)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if want := filepath.Join(filepath.Dir(filepath.Dir(exe)), "models", "exported"); dirs[0] != want {
		t.Errorf("SearchDirs()[0] = %s, want %s (next to the executable)", dirs[0], want)
	}
}

func TestResolveUnknownName(t *testing.T) {
	for _, name := range []string{"resnet", "ResNet18", "bert-base", "model.onnx"} {
		t.Run(name, func(t *testing.T) {
			m, err := Resolve(name, []string{"float32[B,8]"})
			if err == nil {
				t.Fatalf("Resolve(%s) = %+v, want an error", name, m)
			}
			for _, w := range []string{"unknown model", `"` + name + `"`, "resnet18, mobilenet_v3_small, tiny_transformer"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	_, err := Resolve("", nil)
	if err == nil || !strings.Contains(err.Error(), "missing --model") {
		t.Errorf("Resolve(\"\") = %v, want a missing --model error", err)
	}
}

func TestResolveCustomFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pt")
	empty := filepath.Join(dir, "empty.pt")
	folder := filepath.Join(dir, "folder.pt")
	plain := filepath.Join(dir, "plainfile")
	for p, data := range map[string]string{good: "not really torchscript", empty: "", plain: "x"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	in := []string{"float32[B,8]"}

	m, err := Resolve(good, []string{"float32[B,8]", "int64[B,4]:0..9"})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := ParseInput("float32[B,8]")
	s2, _ := ParseInput("int64[B,4]:0..9")
	want := &Model{Name: good, Path: good, Task: Custom, Inputs: []InputSpec{s1, s2}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Resolve(custom) = %+v, want %+v", m, want)
	}

	tests := []struct {
		name   string
		path   string
		inputs []string
		want   []string
	}{
		{"missing", filepath.Join(dir, "nope.pt"), in, []string{"nope.pt", "does not exist"}},
		{"missing, relative", "models/nope.pt", in, []string{"models/nope.pt", "does not exist"}},
		// A bare file name is a path when it has a TorchScript extension.
		{"bare .pt", "nope.pt", in, []string{"nope.pt", "does not exist"}},
		{"bare .pth", "nope.pth", in, []string{"nope.pth", "does not exist"}},
		{"bare .ts", "nope.ts", in, []string{"nope.ts", "does not exist"}},
		{"bare .torchscript", "nope.torchscript", in, []string{"nope.torchscript", "does not exist"}},
		{"windows separator", `models\nope`, in, []string{"does not exist"}},
		{"empty", empty, in, []string{empty, "is empty"}},
		{"folder", folder, in, []string{folder, "folder"}},
		{"folder with slash", dir + "/", in, []string{"folder"}},
		{"under a file", filepath.Join(plain, "m.pt"), in, []string{filepath.Join(plain, "m.pt"), "not a directory"}},
		{"bad --input", good, []string{"float32[B,0]"}, []string{"malformed --input", `"0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Resolve(tt.path, tt.inputs)
			if err == nil {
				t.Fatalf("Resolve(%s) = %+v, want an error", tt.path, m)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHasImageInput(t *testing.T) {
	tests := []struct {
		inputs []string
		want   bool
	}{
		{[]string{"float32[B,3,224,224]"}, true},
		{[]string{"float16[B,3,8,8]"}, true},
		{[]string{"bfloat16[B,1,8,8]"}, true},
		{[]string{"int64[B,4]:0..9", "float32[B,3,16,16]"}, true},
		{[]string{"int64[B,128]"}, false},
		{[]string{"float32[B,8]"}, false},
		{[]string{"float32[B,3,16]"}, false},
		{[]string{"float32[B,3,16,16,2]"}, false},
		{[]string{"int64[B,3,16,16]"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		specs, err := parseInputs(tt.inputs)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&Model{Inputs: specs}).HasImageInput(); got != tt.want {
			t.Errorf("HasImageInput(%v) = %v, want %v", tt.inputs, got, tt.want)
		}
	}
}

func TestSHA256(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20+17) // more than io.Copy's buffer
	for i := range big {
		big[i] = byte(i * 7)
	}
	bigSum := sha256.Sum256(big)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"abc", []byte("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"empty", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"big", big, hex.EncodeToString(bigSum[:])},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := SHA256(p)
		if err != nil || got != tt.want {
			t.Errorf("SHA256(%s) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := SHA256(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SHA256 of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := SHA256(dir); err == nil {
		t.Errorf("SHA256 of a folder: want an error")
	}
}
