package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/torch"
)

// Preparing a configuration is the same for every command that runs one (bench.Run,
// RunPair, RunWorker, and perflab load's instances through Prepare): load the plain model
// and the configured one (the int8 file with quantize, channels_last applied to model and
// input), make the inputs at the configuration's batch size from its seed, apply compile,
// and check the outputs against the plain model's on the same input (the correctness
// guard).
//
// Compile auto is decided there, at the configuration's batch size (for perflab load: its
// max batch): optimize_for_inference is kept unless it fails, the optimized model fails to
// run, or its outputs differ from the unoptimized configuration's beyond the float
// tolerance (AutoCompileVerdict). The guard then compares whatever was kept with the plain
// model, and the record says what was applied (compile_applied) next to what was asked.

// Prepared is one configuration made ready to time by Prepare (or Replica): its module
// and inputs at the configuration's batch size, and what preparing found, for the record.
// Close frees its libtorch handles.
type Prepared struct {
	Model  *model.Model
	File   string          // the file loaded: the model's, or its int8 variant
	Module *torch.Module   // the configuration to time
	Inputs []*torch.Tensor // its inputs at the batch size (channels_last when configured)

	CompileApplied bool                // freeze + optimize_for_inference kept
	Correctness    *record.Correctness // the guard's verdict; nil for the plain model itself (and replicas)
	Notes          []string            // e.g. why compile auto fell back
	Warnings       []string            // the guard's warning, when the outputs differ or cannot be judged

	r *runner // holds the configuration and the handles
}

// Resolve finds configuration k's model and the file to load (the int8 variant with
// quantize) and checks the knobs that depend on the model, without loading anything.
func Resolve(k knobs.Knobs) (*model.Model, string, error) {
	return resolve(configOf(k, 0), k.Model)
}

// Prepare loads configuration k, with random inputs from seed at k.BatchSize, applies its
// knobs, decides compile auto and runs the correctness guard (see above). Set the thread
// counts (and the oneDNN ISA, SetOneDNNISA) on the calling OS thread before: the module
// runs on it.
func Prepare(k knobs.Knobs, seed int64) (*Prepared, error) {
	c := configOf(k, seed)
	m, file, err := resolve(c, c.Model)
	if err != nil {
		return nil, err
	}
	r := &runner{c: c, m: m, rec: &record.Record{}}
	if err := r.prepare(file); err != nil {
		r.close()
		return nil, err
	}
	rec := r.rec
	return &Prepared{Model: m, File: file, Module: r.module, Inputs: r.inputs, CompileApplied: rec.CompileApplied,
		Correctness: rec.Correctness, Notes: rec.Notes, Warnings: rec.Warnings, r: r}, nil
}

// Replica loads another copy of p's configuration as p applied it: optimized when p's
// compile was applied, without deciding or checking again (perflab load's further
// instances). Call it on the OS thread that runs the copy; p may be in use on another.
func (p *Prepared) Replica() (*Prepared, error) {
	r := &runner{c: p.r.c, m: p.Model, rec: &record.Record{}}
	q, err := r.replica(p)
	if err != nil {
		r.close()
		return nil, err
	}
	return q, nil
}

func (r *runner) replica(p *Prepared) (*Prepared, error) {
	plainIn, err := r.makeInputs(r.c.BatchSize)
	if err != nil {
		return nil, err
	}
	if r.c.inductor(r.m) {
		mod, err := torch.LoadAOTI(p.File)
		if err != nil {
			return nil, explainAOTI(p.File, err)
		}
		r.keep(mod)
		r.module, r.inputs = mod, plainIn
		return &Prepared{Model: p.Model, File: p.File, Module: mod, Inputs: plainIn, r: r}, nil
	}
	base, in, err := r.configure(p.File, nil, plainIn)
	if err != nil {
		return nil, err
	}
	final := base
	if p.CompileApplied {
		if final, err = base.Optimize(); err != nil {
			return nil, fmt.Errorf("optimize_for_inference worked on the first instance but failed on this one: %s", torchMsg(err))
		}
		r.keep(final)
	}
	r.module, r.inputs = final, in
	return &Prepared{Model: p.Model, File: p.File, Module: final, Inputs: in, CompileApplied: p.CompileApplied, r: r}, nil
}

// InputsAt returns the configuration's inputs at batch size b: the same seeds as Inputs,
// channels_last when configured. p keeps them.
func (p *Prepared) InputsAt(b int) ([]*torch.Tensor, error) {
	if b == p.r.c.BatchSize {
		return p.Inputs, nil
	}
	in, err := p.r.makeInputs(b)
	if err != nil || !p.r.c.ChannelsLast {
		return in, err
	}
	return p.r.channelsLast(in)
}

// Close frees the libtorch handles of p.
func (p *Prepared) Close() error {
	p.r.close()
	return nil
}

// configOf is the Config of knobs k and input seed: what preparing reads of it. Prepare
// and Resolve serve perflab load, whose batch size is its --max-batch: errors say so.
func configOf(k knobs.Knobs, seed int64) Config {
	return Config{Knobs: k, Seed: seed, BatchFlag: "--" + knobs.FlagMaxBatch}
}

// makeInputs makes the model's random inputs at batch size b, contiguous: input i from
// seed Seed+i, so that a configuration and the plain model it is checked against (and
// every batch size) see the same data.
func (r *runner) makeInputs(b int) ([]*torch.Tensor, error) {
	in := make([]*torch.Tensor, len(r.m.Inputs))
	for i, s := range r.m.Inputs {
		dt, err := torch.ParseDType(s.DType)
		if err != nil {
			return nil, err
		}
		t, err := torch.Random(dt, s.Shape(b), s.HasRange, s.Lo, s.Hi, uint64(r.c.Seed)+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("make input %d (%s) at batch size %d: %v", i, s, b, torchMsg(err))
		}
		r.keep(t)
		in[i] = t
	}
	return in, nil
}

// channelsLast returns the inputs with the 4-d ones in channels_last memory format.
func (r *runner) channelsLast(plainIn []*torch.Tensor) ([]*torch.Tensor, error) {
	in := make([]*torch.Tensor, len(plainIn))
	for i, t := range plainIn {
		if len(r.m.Inputs[i].Dims) != 4 {
			in[i] = t
			continue
		}
		var err error
		if in[i], err = t.ChannelsLast(); err != nil {
			return nil, fmt.Errorf("convert input %d to channels_last: %v", i, torchMsg(err))
		}
		r.keep(in[i])
	}
	return in, nil
}

// configure returns the configuration before compile and its inputs: the int8 file or
// the plain model (a copy of it for channels_last; loaded when plain is nil), in
// channels_last when configured.
func (r *runner) configure(file string, plain *torch.Module, plainIn []*torch.Tensor) (*torch.Module, []*torch.Tensor, error) {
	base, in := plain, plainIn
	var err error
	if plain == nil || file != r.m.Path {
		if base, err = r.load(file); err != nil {
			return nil, nil, err
		}
	}
	if !r.c.ChannelsLast {
		return base, in, nil
	}
	if base == plain {
		if base, err = plain.Clone(); err != nil {
			return nil, nil, fmt.Errorf("clone model for channels_last: %v", torchMsg(err))
		}
		r.keep(base)
	}
	if err := base.ToChannelsLast(); err != nil {
		return nil, nil, fmt.Errorf("convert model to channels_last: %v", torchMsg(err))
	}
	if in, err = r.channelsLast(plainIn); err != nil {
		return nil, nil, err
	}
	return base, in, nil
}

// references holds the plain model and, per batch size, its random input and its output:
// what every configuration of a model is checked against. A worker shares one between
// its configurations (the reference runs once per model and batch size); handles are
// kept by the runner that made it.
type references struct {
	plain   *torch.Module
	byBatch map[int]*reference
	// calls counts the forward calls each module of the model made so far (preparation's
	// and warm-up's): a sweep worker's warm-up skips the profiling executor's unjudged
	// calls a module already made (roundsRun.warmUp).
	calls map[*torch.Module]int
}

// called adds n forward calls of mod.
func (refs *references) called(mod *torch.Module, n int) {
	if refs.calls == nil {
		refs.calls = map[*torch.Module]int{}
	}
	refs.calls[mod] += n
}

type reference struct {
	in  []*torch.Tensor
	out *torch.Value
}

// get returns the reference of r's batch size, making it on first use.
func (refs *references) get(r *runner) (*reference, error) {
	c := r.c
	if ref, ok := refs.byBatch[c.BatchSize]; ok {
		return ref, nil
	}
	in, err := r.makeInputs(c.BatchSize)
	if err != nil {
		return nil, err
	}
	out, err := r.forward(refs.plain, in, "model "+r.m.Name)
	if err != nil {
		return nil, err
	}
	ref := &reference{in: in, out: out}
	refs.byBatch[c.BatchSize] = ref
	return ref, nil
}

// prepare loads the plain model and the configuration, and runs the correctness guard.
func (r *runner) prepare(file string) error {
	if r.c.inductor(r.m) {
		return r.prepareInductor(file)
	}
	if r.c.Compile == CompileAuto {
		if why := AutoInductorNote(r.m); why != "" {
			r.rec.Notes = append(r.rec.Notes, why)
		}
	}
	if r.refs == nil {
		plain, err := r.load(r.m.Path)
		if err != nil {
			return err
		}
		r.refs = &references{plain: plain, byBatch: map[int]*reference{}}
	}
	c, rec := r.c, r.rec
	plain := r.refs.plain
	ref, err := r.refs.get(r)
	if err != nil {
		return err
	}
	plainIn, refOut := ref.in, ref.out
	rec.Output = refOut.String()

	// The configuration before compile: the int8 file or the plain model, channels_last.
	base, in, err := r.configure(file, plain, plainIn)
	if err != nil {
		return err
	}
	final := base
	if c.Compile != CompileOff {
		final, err = r.compile(base, in)
		if err != nil {
			return err
		}
	}
	rec.CompileApplied = final != base
	r.module, r.inputs = final, in
	if final == plain && !c.ChannelsLast {
		return nil // the plain model itself: nothing to compare
	}
	out, err := r.forward(final, in, "the configured model")
	if err != nil {
		return err
	}
	tol := FloatTolerance
	if c.Quantize {
		tol = Int8Tolerance
	}
	cr, err := CompareOutputs(refOut, out, tol)
	if err != nil {
		return err
	}
	cr.Reference = "plain model (no compile, contiguous, float) on the same input"
	rec.Correctness = cr
	if w := GuardWarning(cr, rec.CompileApplied); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	return nil
}

// GuardWarning is the record's warning for a configuration whose outputs differ from the
// plain model, or cannot be judged; "" when they match. compiled says whether
// optimize_for_inference was applied: its oneDNN kernels then depend on the ISA.
func GuardWarning(cr *record.Correctness, compiled bool) string {
	switch cr.Verdict {
	case record.VerdictDiffer:
		w := "outputs differ from the plain model: " + cr.Detail() + "; recommendations will refuse this configuration"
		if compiled {
			w += "; " + isaAdvice()
		}
		return w
	case record.VerdictDegenerate:
		return "outputs cannot be checked against the plain model: " + cr.Note
	}
	return ""
}

// isaAdvice names the oneDNN ISA this process used and suggests the other kernels.
func isaAdvice() string {
	isa, err := torch.OneDNNISA()
	if err != nil {
		return "the optimized kernels are oneDNN's: compare with --compile off"
	}
	if strings.HasPrefix(isa, "avx512") {
		return fmt.Sprintf("the optimized kernels used oneDNN ISA %s: try --onednn-isa avx2 (oneDNN 2.6's AVX-512 kernels miscompute some fused convolutions) or --compile off", isa)
	}
	return fmt.Sprintf("the optimized kernels used oneDNN ISA %s: try another with --onednn-isa (or none, for the best the CPU has) or --compile off", isa)
}

// compile applies freeze + optimize_for_inference. With auto, a failure or an output
// change falls back to base with a note; with on, a failure is an error.
func (r *runner) compile(base *torch.Module, in []*torch.Tensor) (*torch.Module, error) {
	opt, err := base.Optimize()
	if err != nil {
		if r.c.Compile == CompileOn {
			return nil, fmt.Errorf("--compile on: optimize_for_inference failed on %s: %s: use --compile auto or off", r.m.Name, torchMsg(err))
		}
		r.rec.Notes = append(r.rec.Notes, "compile auto: optimize_for_inference failed, ran without it: "+torchMsg(err))
		return base, nil
	}
	r.keep(opt)
	if r.c.Compile == CompileOn {
		return opt, nil
	}
	baseOut, err := r.forward(base, in, "model "+r.m.Name)
	if err != nil {
		return nil, err
	}
	optOut, err := opt.Forward(in)
	if err != nil {
		r.rec.Notes = append(r.rec.Notes, "compile auto: the optimized model failed to run, ran without it: "+torchMsg(err))
		return base, nil
	}
	r.keep(optOut)
	// base and opt are the same model (float or int8): they must agree to float precision.
	if note, ok := AutoCompileVerdict(baseOut, optOut); !ok {
		r.rec.Notes = append(r.rec.Notes, note)
		return base, nil
	} else if note != "" {
		r.rec.Notes = append(r.rec.Notes, note)
	}
	return opt, nil
}

// AutoCompileVerdict decides compile auto: whether the optimized model's output opt may
// replace the unoptimized model's base (same model, same input), with a note for the
// record when it may not, or when it cannot be judged (then the optimized model is kept:
// nothing shows that it computes anything else).
func AutoCompileVerdict(base, opt *torch.Value) (note string, ok bool) {
	cr, err := CompareOutputs(base, opt, FloatTolerance)
	switch {
	case err != nil:
		return "compile auto: " + err.Error() + ", ran without optimize_for_inference", false
	case cr.Verdict == record.VerdictDiffer:
		return "compile auto: optimize_for_inference changed the outputs, " + cr.Summary() + ", ran without it; " + isaAdvice(), false
	case cr.Verdict == record.VerdictDegenerate:
		return "compile auto: applied, but its outputs could not be checked: " + cr.Note, true
	}
	return "", true
}

// CompareOutputs is the correctness guard: it compares a configuration's output with the
// reference (plain model) output under tol, as record.Correctness documents.
func CompareOutputs(ref, out *torch.Value, tol Tolerance) (*record.Correctness, error) {
	cmp, err := ref.Compare(out, tol.Rtol, tol.AtolScale)
	if err != nil {
		return nil, fmt.Errorf("compare outputs with the plain model: %s", torchMsg(err))
	}
	return judge(cmp, tol), nil
}

// judge turns a comparison into the guard's verdict.
func judge(cmp torch.Comparison, tol Tolerance) *record.Correctness {
	c := &record.Correctness{MaxAbsDiff: cmp.MaxAbsDiff, RefMaxAbs: cmp.RefMaxAbs, RefRMS: cmp.RefRMS,
		Tolerance: tol.Rtol, AtolScale: tol.AtolScale, Worst: cmp.Worst, NonFiniteMismatch: cmp.NonFiniteMismatch,
		Rows: cmp.Rows, Top1Agree: cmp.Top1Agree, Top5Agree: cmp.Top5Agree, Verdict: record.VerdictMatch}
	if cmp.RefMaxAbs > 0 {
		c.RelDiff = cmp.MaxAbsDiff / cmp.RefMaxAbs
	}
	switch {
	case cmp.NonFiniteMismatch > 0:
		c.Verdict = record.VerdictDiffer
		c.Note = fmt.Sprintf("%d of %d output values are NaN or Inf on one side only", cmp.NonFiniteMismatch, cmp.Elements)
	case cmp.Elements > 0 && cmp.RefNonFinite == cmp.Elements:
		c.Verdict = record.VerdictDegenerate
		c.Note = fmt.Sprintf("the plain model's outputs are all NaN or Inf (%d values): fix the model or its inputs (--input ranges)", cmp.Elements)
	case cmp.Elements > 0 && cmp.RefMaxAbs <= DegenerateScale:
		c.Verdict = record.VerdictDegenerate
		c.Note = fmt.Sprintf("the plain model's outputs are all near zero (largest |value| %.2g <= %g): activations vanished (e.g. untrained BatchNorm statistics) and only rounding is left to compare", cmp.RefMaxAbs, DegenerateScale)
	case cmp.Worst > 1:
		c.Verdict = record.VerdictDiffer
		c.Note = fmt.Sprintf("largest difference %.3g = %.3gx the tolerance (atol %.2g + rtol %.2g x |ref|)", cmp.MaxAbsDiff, cmp.Worst, cmp.WorstAtol, tol.Rtol)
	case cmp.Rows > 0 && cmp.Top5Agree < cmp.Rows:
		c.Verdict = record.VerdictDiffer
		c.Note = fmt.Sprintf("the plain model's top-1 class is outside the top-5 on %d of %d rows", cmp.Rows-cmp.Top5Agree, cmp.Rows)
	}
	c.OK = c.Verdict != record.VerdictDiffer
	for _, f := range []*float64{&c.MaxAbsDiff, &c.RelDiff} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = -1 // JSON has no NaN: -1 marks "not a number"
		}
	}
	if math.IsInf(c.Worst, 1) || math.IsNaN(c.Worst) {
		c.Worst = math.MaxFloat64 // a difference where the reference tensor is exactly 0
	}
	return c
}

// prepareInductor loads the AOTInductor package pkg and checks its outputs against its
// eager TorchScript twin (the model's .pt file) on the same input, with the float
// tolerance of compile on. Without a twin the record says the outputs were not checked.
func (r *runner) prepareInductor(pkg string) error {
	rec := r.rec
	mod, err := torch.LoadAOTI(pkg)
	if err != nil {
		return explainAOTI(pkg, err)
	}
	r.keep(mod)
	rec.InductorPackage = pkg
	rec.CompileCache = r.m.Package.Cache
	if s := r.m.Package.Spec; s != nil {
		rec.CompileSeconds, rec.CompileISA = s.CompileSeconds, s.ISA
	} else {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%s has no input spec (%s.json): inputs taken from --input, unchecked", filepath.Base(pkg), filepath.Base(pkg)))
	}
	var in []*torch.Tensor
	var refOut *torch.Value
	if r.m.Path != "" {
		if r.refs == nil {
			plain, err := r.load(r.m.Path)
			if err != nil {
				return err
			}
			r.refs = &references{plain: plain, byBatch: map[int]*reference{}}
		}
		if r.refs.plain != nil {
			ref, err := r.refs.get(r)
			if err != nil {
				return err
			}
			in, refOut = ref.in, ref.out
		}
	}
	if in == nil {
		if in, err = r.makeInputs(r.c.BatchSize); err != nil {
			return err
		}
	}
	out, err := r.forward(mod, in, "the AOTInductor package "+filepath.Base(pkg))
	if err != nil {
		return err
	}
	r.module, r.inputs = mod, in
	if refOut == nil {
		rec.Output = out.String()
		note := fmt.Sprintf("outputs not checked: no TorchScript twin (%s) beside %s", strings.TrimSuffix(filepath.Base(pkg), model.PackageExt)+".pt", filepath.Base(pkg))
		rec.Correctness = &record.Correctness{Reference: "none", Verdict: record.VerdictUnchecked, Note: note, OK: true, Tolerance: FloatTolerance.Rtol}
		rec.Warnings = append(rec.Warnings, note)
		return nil
	}
	rec.Output = refOut.String()
	cr, err := CompareOutputs(refOut, out, FloatTolerance)
	if err != nil {
		return err
	}
	cr.Reference = "eager TorchScript twin " + filepath.Base(r.m.Path) + " (no compile, contiguous, float) on the same input"
	rec.Correctness = cr
	if w := GuardWarning(cr, false); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	return nil
}

// explainAOTI makes a package load failure one line naming the file; errors.Is still
// sees its torch.ErrorKind.
func explainAOTI(pkg string, err error) error {
	return &loadError{msg: "load AOTInductor package " + pkg + ": " + torchMsg(err), err: err}
}

type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }
