// Package torch is perflab's cgo binding to libtorch on the CPU: Debian's libtorch 1.13
// (bookworm) or 2.6 (trixie), or any libtorch 1.13 or later (make build LIBTORCH=...).
// Version differences live in native/shim.cc only, as compile-time switches on
// TORCH_VERSION_*.
//
// It is, with its subpackage native (the C and C++ sources, compiled apart so that test
// builds of this package do not compile them again), the only package in perflab that
// imports "C". It exposes TorchScript modules, input tensors and forward outputs as Go
// handles with one owner each and an idempotent Close; a finalizer only guards against
// leaks. Every libtorch failure comes back as an *Error (never a panic, never a C++
// backtrace) whose ErrorKind callers test with errors.Is (torch.ErrCheckpoint,
// torch.ErrNotArchive) rather than by reading its text.
//
// Threading: libtorch's intra-op thread count is per OS thread (OpenMP) and the inter-op
// count may be set once per process, before any parallel work. Callers that measure must
// lock their goroutine to one OS thread (runtime.LockOSThread) before SetThreads and keep
// every later call on it; perflab runs each configuration in a fresh process.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/native
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	_ "github.com/perflab/perflab/internal/torch/native" // shim.cc, crash.c: linked in
)

func init() { C.pl_init() }

// Error is a failure reported by libtorch, with the C++ backtrace removed.
type Error struct {
	Kind ErrorKind // what sort of failure; ErrOther unless classified
	Op   string    // the binding operation, e.g. "load", "forward"
	Msg  string    // libtorch's message, condensed to the part a user can act on
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

// Is reports whether target is e's kind: errors.Is(err, torch.ErrCheckpoint).
func (e *Error) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// ErrorKind is what sort of failure an Error is. libtorch says it only in its message's
// text: check reads it there, once, so that callers test the kind with errors.Is instead.
type ErrorKind int

const (
	ErrOther       ErrorKind = iota // any failure not classified below
	ErrCheckpoint                   // load: a torch.save checkpoint (a pickle), not TorchScript
	ErrNotArchive                   // load: not a TorchScript (zip) archive, or truncated
	ErrUnsupported                  // load: this libtorch cannot run the file (AOTInductor before 2.6)
	ErrTempDir                      // load: the AOTInductor loader could not use /tmp (noexec, read-only, full)
	ErrInputSpec                    // forward refused: inputs outside what an AOTInductor package was compiled for
)

func (k ErrorKind) Error() string {
	switch k {
	case ErrCheckpoint:
		return "torch: a torch.save checkpoint, not TorchScript"
	case ErrNotArchive:
		return "torch: not a TorchScript archive, or truncated"
	case ErrUnsupported:
		return "torch: unsupported by this runtime"
	case ErrTempDir:
		return "torch: the AOTInductor loader could not use /tmp"
	case ErrInputSpec:
		return "torch: inputs outside the package's input spec"
	}
	return "torch: libtorch error"
}

// Message returns the first line of a libtorch error's message (without the operation),
// what a one-line error shows; other errors as they are.
func Message(err error) string {
	var te *Error
	if errors.As(err, &te) {
		return firstLine(te.Msg)
	}
	return err.Error()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// classify reads the kind of a failure of operation op from libtorch's message.
func classify(op, msg string) ErrorKind {
	if !strings.HasPrefix(op, "load") {
		return ErrOther
	}
	switch first := firstLine(msg); {
	case strings.Contains(first, "constants.pkl"):
		// A torch.save file is a zip archive too, without TorchScript's constants.
		return ErrCheckpoint
	case strings.Contains(first, "PytorchStreamReader"), strings.Contains(first, "zip archive"),
		strings.Contains(first, "central directory"):
		return ErrNotArchive
	}
	return ErrOther
}

// ErrClosed is returned when a closed handle is used.
var ErrClosed = errors.New("torch: handle used after Close")

// check converts a C error string (NULL = success) into an *Error and frees it.
func check(op string, cerr *C.char) error {
	if cerr == nil {
		return nil
	}
	msg := condense(C.GoString(cerr))
	C.pl_free(unsafe.Pointer(cerr))
	return &Error{Kind: classify(op, msg), Op: op, Msg: msg}
}

// condense keeps the actionable part of a libtorch message. Errors raised inside the
// TorchScript interpreter carry the serialized TorchScript call stack followed by the
// original error; users need only the latter.
func condense(msg string) string {
	msg = strings.TrimSpace(msg)
	if strings.Contains(msg, "Traceback of TorchScript") {
		lines := strings.Split(msg, "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if m := errorLineRE.FindStringSubmatch(lines[i]); m != nil {
				first := m[1] + ": " + m[2]
				if m[1] == "RuntimeError" {
					first = m[2]
				}
				msg = strings.Join(append([]string{first}, lines[i+1:]...), "\n")
				break
			}
		}
	}
	// "Exception raised from X at file:line (most recent call first):" tails are backtraces.
	if i := strings.Index(msg, "\nException raised from "); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// errorLineRE matches the exception line that ends an interpreter traceback, e.g.
// "RuntimeError: ..." or "builtins.ValueError: ...": RuntimeError's name is dropped,
// other exception names are kept without their "builtins." module.
var errorLineRE = regexp.MustCompile(`^(?:builtins\.)?((?:[A-Za-z_][\w.]*)?(?:Error|Exception)): (.*)$`)

// newerPyTorchHint adds to a load failure on an operator this libtorch does not know (a
// file saved by a newer PyTorch, e.g. aten::scaled_dot_product_attention on 1.13) what to
// do about it, on its first line.
func newerPyTorchHint(msg, version string) string {
	first, rest, _ := strings.Cut(msg, "\n")
	if !strings.HasPrefix(first, "Unknown builtin op:") && !strings.HasPrefix(first, "Unknown type name") {
		return msg
	}
	first = strings.TrimSuffix(strings.TrimSpace(first), ".") + " (the file needs a newer libtorch than " + version +
		": build perflab against the PyTorch that saved it, docs/runtimes.md)"
	if rest == "" {
		return first
	}
	return first + "\n" + rest
}

func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.pl_free(unsafe.Pointer(p))
	return s
}

// SetThreads sets libtorch's intra-op and inter-op thread counts (0 leaves one as is) and
// caps OpenBLAS's own pool at intra. Call it from the locked OS thread that will run the
// model, before any forward.
func SetThreads(intra, interop int) error {
	if intra < 0 || interop < 0 {
		return &Error{Op: "set threads", Msg: fmt.Sprintf("thread counts must be >= 0, got intra %d, inter-op %d", intra, interop)}
	}
	return check("set threads", C.pl_set_threads(C.int(intra), C.int(interop)))
}

// Threads reports the intra-op and inter-op thread counts as libtorch sees them from the
// calling OS thread.
func Threads() (intra, interop int) {
	var a, b C.int
	C.pl_get_threads(&a, &b)
	return int(a), int(b)
}

// Warning is one libtorch warning (TORCH_WARN), said once for all the times it was
// raised: warnings whose texts differ only in shapes and numbers count as one.
type Warning struct {
	Text     string // as first raised
	Count    int    // times raised
	Variants int    // distinct texts among them (different shapes or numbers)
}

// String is the text, with the count when it was raised more than once.
func (w Warning) String() string {
	switch {
	case w.Count <= 1:
		return w.Text
	case w.Variants <= 1:
		return fmt.Sprintf("%s (said %d times)", w.Text, w.Count)
	}
	return fmt.Sprintf("%s (said %d times, in %d variants with other shapes or numbers)", w.Text, w.Count, w.Variants)
}

// TakeWarnings returns the libtorch warnings raised since the last call, in the order
// first raised. They are collected instead of being printed.
func TakeWarnings() []Warning {
	s := takeString(C.pl_take_warnings())
	if s == "" {
		return nil
	}
	var out []Warning
	for _, e := range strings.Split(s, "\x1e") {
		parts := strings.Split(e, "\x1f")
		w := Warning{Text: parts[0], Count: 1, Variants: 1}
		if len(parts) == 3 {
			w.Count, _ = strconv.Atoi(parts[1])
			w.Variants, _ = strconv.Atoi(parts[2])
		}
		out = append(out, w)
	}
	return out
}

// BuildInfo describes the libtorch this binary is linked against, and the build facts
// that change its speed.
type BuildInfo struct {
	TorchVersion  string // e.g. "1.13.0", "2.6.0"
	BLASConfig    string // openblas_get_config() when OpenBLAS is loaded, else ""
	ParallelInfo  string // at::get_parallel_info()
	OneDNNVersion string // the loaded oneDNN's version, e.g. "3.7.2"; "" when none is loaded
	TEFuser       bool   // TorchScript's TensorExpr fuser is on (perflab turns it off on 2.x)
	CXX11ABI      int    // _GLIBCXX_USE_CXX11_ABI of the build (0 or 1; -1 when unknown)
}

// Build returns the BuildInfo of the loaded libtorch.
func Build() (BuildInfo, error) {
	var v, b, p, d *C.char
	var te, abi C.int
	if err := check("build info", C.pl_build_info(&v, &b, &p, &d, &te, &abi)); err != nil {
		return BuildInfo{}, err
	}
	return BuildInfo{TorchVersion: takeString(v), BLASConfig: takeString(b), ParallelInfo: takeString(p),
		OneDNNVersion: takeString(d), TEFuser: te != 0, CXX11ABI: int(abi)}, nil
}

// handle holds one C pointer with an idempotent, goroutine-safe Close.
type handle struct {
	mu   sync.Mutex
	p    unsafe.Pointer
	free func(unsafe.Pointer)
}

func (h *handle) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p != nil {
		h.free(h.p)
		h.p = nil
	}
}

func (h *handle) get() (unsafe.Pointer, error) {
	if h == nil || h.p == nil {
		return nil, ErrClosed
	}
	return h.p, nil
}

func (m *Module) ptr() (*C.pl_module, error) {
	if m == nil {
		return nil, ErrClosed
	}
	p, err := m.h.get()
	return (*C.pl_module)(p), err
}

func (t *Tensor) ptr() (*C.pl_tensor, error) {
	if t == nil {
		return nil, ErrClosed
	}
	p, err := t.h.get()
	return (*C.pl_tensor)(p), err
}

func (v *Value) ptr() (*C.pl_value, error) {
	if v == nil {
		return nil, ErrClosed
	}
	p, err := v.h.get()
	return (*C.pl_value)(p), err
}

// Module is a loaded TorchScript module in eval mode. A handle has one owner: Close must
// not race a call that is still using it.
type Module struct{ h *handle }

func newModule(p *C.pl_module) *Module {
	m := &Module{h: &handle{p: unsafe.Pointer(p), free: func(p unsafe.Pointer) { C.pl_module_free((*C.pl_module)(p)) }}}
	runtime.SetFinalizer(m, func(m *Module) { m.h.close() })
	return m
}

// Load reads a TorchScript file (torch.jit.save) onto the CPU and puts it in eval mode.
func Load(path string) (*Module, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var p *C.pl_module
	if err := check("load "+path, C.pl_module_load(cpath, &p)); err != nil {
		if te, ok := err.(*Error); ok {
			te.Msg = newerPyTorchHint(te.Msg, C.GoString(C.pl_torch_version()))
		}
		return nil, err
	}
	return newModule(p), nil
}

// Close frees the module. It is safe to call more than once.
func (m *Module) Close() error {
	m.h.close()
	return nil
}

// Schema returns the forward method's schema and its number of arguments (without self).
func (m *Module) Schema() (schema string, nArgs int, err error) {
	p, err := m.ptr()
	if err != nil {
		return "", 0, err
	}
	var s *C.char
	var n C.int
	if err := check("schema", C.pl_module_schema(p, &s, &n)); err != nil {
		return "", 0, err
	}
	runtime.KeepAlive(m)
	return takeString(s), int(n), nil
}

// Clone returns an independent copy of the module.
func (m *Module) Clone() (*Module, error) {
	p, err := m.ptr()
	if err != nil {
		return nil, err
	}
	var out *C.pl_module
	if err := check("clone", C.pl_module_clone(p, &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(m)
	return newModule(out), nil
}

// ToChannelsLast converts the module's 4-d parameters and buffers to channels_last, in place.
func (m *Module) ToChannelsLast() error {
	p, err := m.ptr()
	if err != nil {
		return err
	}
	err = check("channels_last", C.pl_module_channels_last(p))
	runtime.KeepAlive(m)
	return err
}

// Optimize returns torch::jit::optimize_for_inference(torch::jit::freeze(m)), the C++
// twin of torch.jit.optimize_for_inference. m itself is unchanged.
func (m *Module) Optimize() (*Module, error) {
	p, err := m.ptr()
	if err != nil {
		return nil, err
	}
	var out *C.pl_module
	if err := check("optimize_for_inference", C.pl_module_optimize(p, &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(m)
	return newModule(out), nil
}

// inputPtrs returns the C handles of inputs in C memory (cgo forbids passing Go memory
// that holds Go-visible pointers to C), to be freed by the caller.
func inputPtrs(inputs []*Tensor) (**C.pl_tensor, func(), error) {
	if len(inputs) == 0 {
		return nil, func() {}, nil
	}
	size := C.size_t(len(inputs)) * C.size_t(unsafe.Sizeof(uintptr(0)))
	arr := unsafe.Slice((**C.pl_tensor)(C.malloc(size)), len(inputs))
	for i, t := range inputs {
		p, err := t.ptr()
		if err != nil {
			C.free(unsafe.Pointer(&arr[0]))
			return nil, nil, fmt.Errorf("input %d: %w", i, err)
		}
		arr[i] = p
	}
	return &arr[0], func() { C.free(unsafe.Pointer(&arr[0])) }, nil
}

// Forward runs one forward call under c10::InferenceMode.
func (m *Module) Forward(inputs []*Tensor) (*Value, error) {
	p, err := m.ptr()
	if err != nil {
		return nil, err
	}
	in, free, err := inputPtrs(inputs)
	if err != nil {
		return nil, err
	}
	defer free()
	var out *C.pl_value
	if err := check("forward", C.pl_forward(p, in, C.int(len(inputs)), &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(inputs)
	return newValue(out), nil
}

// TimedForward runs len(nsEach) forward calls in one cgo crossing, timing each call with
// C++'s steady_clock around the forward alone, and returns the wall time of the whole loop
// in nanoseconds. nsEach is written in place: the loop allocates nothing on the Go side.
func (m *Module) TimedForward(inputs []*Tensor, nsEach []int64) (wallNs int64, err error) {
	if len(nsEach) == 0 {
		return 0, nil
	}
	p, err := m.ptr()
	if err != nil {
		return 0, err
	}
	in, free, err := inputPtrs(inputs)
	if err != nil {
		return 0, err
	}
	defer free()
	var wall C.int64_t
	if err := check("forward", C.pl_forward_timed(p, in, C.int(len(inputs)), C.int(len(nsEach)),
		(*C.int64_t)(unsafe.Pointer(&nsEach[0])), &wall)); err != nil {
		return 0, err
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(inputs)
	return int64(wall), nil
}

// TimedForwardPair alternates forward calls of m and other (m other, other m, ...), one
// pair per element of nsA/nsB (equal lengths), in one cgo crossing, writing each call's
// wall time in nanoseconds. Interleaving at the call level exposes both models to the same
// machine conditions, which is what an A/B comparison on a noisy machine needs.
func (m *Module) TimedForwardPair(inputs []*Tensor, other *Module, otherInputs []*Tensor, nsA, nsB []int64) error {
	if len(nsA) != len(nsB) {
		return &Error{Op: "forward pair", Msg: "sample buffers differ in length"}
	}
	if len(nsA) == 0 {
		return nil
	}
	pa, err := m.ptr()
	if err != nil {
		return err
	}
	pb, err := other.ptr()
	if err != nil {
		return err
	}
	ina, freeA, err := inputPtrs(inputs)
	if err != nil {
		return err
	}
	defer freeA()
	inb, freeB, err := inputPtrs(otherInputs)
	if err != nil {
		return err
	}
	defer freeB()
	err = check("forward", C.pl_forward_timed_pair(pa, ina, C.int(len(inputs)), pb, inb, C.int(len(otherInputs)), C.int(len(nsA)),
		(*C.int64_t)(unsafe.Pointer(&nsA[0])), (*C.int64_t)(unsafe.Pointer(&nsB[0]))))
	runtime.KeepAlive(m)
	runtime.KeepAlive(other)
	runtime.KeepAlive(inputs)
	runtime.KeepAlive(otherInputs)
	return err
}

// Tensor is an input tensor owned by libtorch.
type Tensor struct{ h *handle }

func newTensor(p *C.pl_tensor) *Tensor {
	t := &Tensor{h: &handle{p: unsafe.Pointer(p), free: func(p unsafe.Pointer) { C.pl_tensor_free((*C.pl_tensor)(p)) }}}
	runtime.SetFinalizer(t, func(t *Tensor) { t.h.close() })
	return t
}

func shapeArg(shape []int64) (*C.int64_t, C.int) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int(len(shape))
}

// Random returns a tensor filled from a generator seeded with seed. With a range, integer
// values are uniform in [lo, hi] and float values uniform in [lo, hi); without one, floats
// are standard normal and integers 0 or 1.
func Random(dtype DType, shape []int64, hasRange bool, lo, hi float64, seed uint64) (*Tensor, error) {
	sp, n := shapeArg(shape)
	var out *C.pl_tensor
	hr := C.int(0)
	if hasRange {
		hr = 1
	}
	if err := check("tensor", C.pl_tensor_random(C.int(dtype), sp, n, hr, C.double(lo), C.double(hi), C.uint64_t(seed), &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(shape)
	return newTensor(out), nil
}

// FromFloat32 copies data into a new float32 tensor of the given shape.
func FromFloat32(data []float32, shape []int64) (*Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if int64(len(data)) != n {
		return nil, &Error{Op: "tensor", Msg: fmt.Sprintf("%d values do not fill shape %v", len(data), shape)}
	}
	sp, nd := shapeArg(shape)
	var dp *C.float
	if len(data) > 0 {
		dp = (*C.float)(unsafe.Pointer(&data[0]))
	}
	var out *C.pl_tensor
	if err := check("tensor", C.pl_tensor_from_float32(dp, sp, nd, &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(data)
	runtime.KeepAlive(shape)
	return newTensor(out), nil
}

// ChannelsLast returns a channels_last copy of a 4-d tensor.
func (t *Tensor) ChannelsLast() (*Tensor, error) {
	p, err := t.ptr()
	if err != nil {
		return nil, err
	}
	var out *C.pl_tensor
	if err := check("channels_last", C.pl_tensor_channels_last(p, &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(t)
	return newTensor(out), nil
}

// Close frees the tensor. It is safe to call more than once.
func (t *Tensor) Close() error {
	t.h.close()
	return nil
}

// Value is the output of a forward call: a tensor or a nest of tuples/lists/dicts of them.
type Value struct{ h *handle }

func newValue(p *C.pl_value) *Value {
	v := &Value{h: &handle{p: unsafe.Pointer(p), free: func(p unsafe.Pointer) { C.pl_value_free((*C.pl_value)(p)) }}}
	runtime.SetFinalizer(v, func(v *Value) { v.h.close() })
	return v
}

// String describes the value's dtypes and shapes, e.g. "float32[2,1000]".
func (v *Value) String() string {
	p, err := v.ptr()
	if err != nil {
		return "<closed>"
	}
	var s *C.char
	if err := check("describe", C.pl_value_describe(p, &s)); err != nil {
		return "<" + err.Error() + ">"
	}
	runtime.KeepAlive(v)
	return takeString(s)
}

// Comparison is how an output compares with a reference output, element by element on
// the positions finite in both: |ref-out| <= atol + rtol*|ref|, where each tensor's atol
// is atolScale times the root mean square of its finite reference values (so the absolute
// tolerance follows the output's own scale).
type Comparison struct {
	Elements          int64   // elements compared, over all tensors
	RefNonFinite      int64   // NaN or Inf elements of the reference
	NonFiniteMismatch int64   // positions where one side is NaN/Inf and the other is not the same
	MaxAbsDiff        float64 // largest |ref-out| over positions finite in both
	RefMaxAbs         float64 // largest finite |ref|
	RefRMS            float64 // root mean square of the finite reference values
	Worst             float64 // largest |ref-out| / (atol + rtol*|ref|); <= 1 is within tolerance
	WorstAtol         float64 // the atol of the tensor holding the worst element
	// Classifier-shaped outputs (a single 2-d float tensor [B, C], C >= 2): B rows, how
	// many agree on the arg-max, and how many have the reference's arg-max among the
	// output's top min(5, C). Rows is 0 for other outputs.
	Rows, Top1Agree, Top5Agree int64
}

// Compare compares v (the reference) with other, which must have the same structure and
// shapes (quantized tensors are dequantized first).
func (v *Value) Compare(other *Value, rtol, atolScale float64) (Comparison, error) {
	a, err := v.ptr()
	if err != nil {
		return Comparison{}, err
	}
	b, err := other.ptr()
	if err != nil {
		return Comparison{}, err
	}
	var r C.pl_compare
	if err := check("compare outputs", C.pl_value_compare(a, b, C.double(rtol), C.double(atolScale), &r)); err != nil {
		return Comparison{}, err
	}
	runtime.KeepAlive(v)
	runtime.KeepAlive(other)
	return Comparison{
		Elements: int64(r.elements), RefNonFinite: int64(r.ref_nonfinite), NonFiniteMismatch: int64(r.nonfinite_mismatch),
		MaxAbsDiff: float64(r.max_abs_diff), RefMaxAbs: float64(r.ref_max_abs), RefRMS: float64(r.ref_rms),
		Worst: float64(r.worst), WorstAtol: float64(r.worst_atol),
		Rows: int64(r.rows), Top1Agree: int64(r.top1_agree), Top5Agree: int64(r.top5_agree),
	}, nil
}

// MaxAbsDiff returns the largest |v-other| over all tensors and the largest |v|.
func (v *Value) MaxAbsDiff(other *Value) (maxAbsDiff, refMaxAbs float64, err error) {
	c, err := v.Compare(other, 0, 0)
	return c.MaxAbsDiff, c.RefMaxAbs, err
}

// SetOneDNNISA caps the instruction set oneDNN's kernels may use ("avx2", "avx512_core",
// ... as ONEDNN_MAX_CPU_ISA names them). It works only before oneDNN generates its first
// kernel (call it before loading or running any model) and only once per process.
func SetOneDNNISA(name string) error {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return check("set oneDNN ISA", C.pl_onednn_set_max_isa(cs))
}

// OneDNNISA returns the instruction set oneDNN's kernels use in this process: the cap
// (SetOneDNNISA or ONEDNN_MAX_CPU_ISA) meet what the CPU supports.
func OneDNNISA() (string, error) {
	var s *C.char
	if err := check("oneDNN ISA", C.pl_onednn_effective_isa(&s)); err != nil {
		return "", err
	}
	return takeString(s), nil
}

// Close frees the value. It is safe to call more than once.
func (v *Value) Close() error {
	v.h.close()
	return nil
}

// ReferenceWorkload names perflab's fixed reference workload (ReferenceTimed). Timings of
// the reference are comparable only between equal names: a change of the workload changes
// the name.
const ReferenceWorkload = "conv3x3-64ch-28x28+relu+matmul256 float32 v1"

// ReferenceTimed runs len(nsEach) calls of the fixed reference workload in one cgo
// crossing (after one untimed call), with the calling OS thread's libtorch thread
// settings, timing each call with C++'s steady_clock. It depends on nothing but libtorch:
// its time measures how fast this machine runs libtorch right now. The checksum is the
// workload's result, the same on every run of one build.
func ReferenceTimed(nsEach []int64) (checksum float64, err error) {
	if len(nsEach) == 0 {
		return 0, nil
	}
	var sum C.double
	if err := check("reference workload", C.pl_reference_timed(C.int(len(nsEach)), (*C.int64_t)(unsafe.Pointer(&nsEach[0])), &sum)); err != nil {
		return 0, err
	}
	return float64(sum), nil
}
