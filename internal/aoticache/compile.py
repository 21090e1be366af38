"""perflab's AOTInductor compile step (internal/aoticache, embedded in the binary).

Usage: python3 - PROGRAM PACKAGE SPEC WANT_TORCH < compile.py

Loads the torch.export program PROGRAM (torch.export.save), compiles it with
torch._inductor.aoti_compile_and_package into PACKAGE and writes SPEC: the input spec
perflab checks before a package runs (it checks nothing itself), the batch range, the
vector ISA Inductor compiled for ("scalar": none), the compile time and torch's version.
Fails with exit status 3 and one line on stderr when this python3 cannot compile for
perflab's libtorch WANT_TORCH (another torch, no setuptools, no C++ compiler or headers),
with 4 and one line when the program cannot be compiled.
"""
import json
import os
import sys
import time


def fail(code, msg):
    sys.stderr.write(msg.replace("\n", " ") + "\n")
    sys.exit(code)


def version3(v):
    return ".".join(v.split("+")[0].split(".")[:3])


def main(argv):
    program, package, spec_path, want = argv
    try:
        import torch
    except ImportError as exc:
        fail(3, "python3 has no torch (%s): install python3-torch %s (the libtorch perflab runs on)" % (exc, want))
    have = torch.__version__
    if version3(have) != version3(want):
        fail(3, "python3's torch is %s and perflab runs on libtorch %s: a package only loads in the libtorch that compiled it (set PERFLAB_PYTHON to a python3 with torch %s)" % (have, want, version3(want)))
    import importlib.util
    import shutil
    missing = []
    if importlib.util.find_spec("setuptools") is None:
        missing.append("python3-setuptools")
    if not (shutil.which("g++") or shutil.which("c++")):
        missing.append("g++")
    header = os.path.join("torch", "csrc", "inductor", "aoti_runtime", "model.h")
    roots = ["/usr/include", os.path.join(os.path.dirname(torch.__file__), "include")]
    if not any(os.path.exists(os.path.join(r, header)) for r in roots):
        missing.append("libtorch-dev (torch's C++ headers)")
    if missing:
        fail(3, "compiling a torch.export program with AOTInductor needs %s" % ", ".join(missing))

    start = time.monotonic()
    try:
        ep = torch.export.load(program)
    except Exception as exc:
        fail(4, "cannot load the torch.export program: %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""))

    # The input spec: user inputs in order, dtype and shape; a symbolic first dimension is
    # the batch (its range from the program's range constraints), any other is refused.
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    inputs = []
    bmin = bmax = None
    for name in ep.graph_signature.user_inputs:
        val = placeholders[name].meta.get("val") if name in placeholders else None
        if not isinstance(val, torch.Tensor):
            fail(4, "input %s is not a tensor: perflab feeds tensors only" % name)
        dims = []
        for i, d in enumerate(val.shape):
            if isinstance(d, torch.SymInt):
                if i != 0:
                    fail(4, "input %s has a dynamic dimension %d: perflab varies the batch (dimension 0) only; export with a static shape there" % (name, i))
                expr = d.node.expr
                vr = ep.range_constraints.get(expr)
                lo = int(vr.lower) if vr is not None else 1
                try:
                    hi = int(vr.upper) if vr is not None else 1 << 20
                except (TypeError, ValueError, OverflowError):  # int_oo: unbounded
                    hi = 1 << 20
                hi = min(hi, 1 << 20)
                bmin = lo if bmin is None else max(bmin, lo)
                bmax = hi if bmax is None else min(bmax, hi)
                dims.append("B")
            elif i == 0:
                n = int(d)
                bmin = n if bmin is None else max(bmin, n)
                bmax = n if bmax is None else min(bmax, n)
                dims.append("B")
            else:
                dims.append(str(int(d)))
        dtype = str(val.dtype).replace("torch.", "")
        inputs.append("%s[%s]" % (dtype, ",".join(dims)))
    if not inputs:
        fail(4, "the program takes no inputs")
    if bmin is None or bmax is None or bmin > bmax:
        fail(4, "the inputs' batch dimensions disagree")

    try:
        torch._inductor.aoti_compile_and_package(ep, package_path=package)
    except Exception as exc:
        fail(4, "AOTInductor failed: %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""))
    seconds = time.monotonic() - start
    try:
        from torch._inductor import cpu_vec_isa
        isa = cpu_vec_isa.pick_vec_isa()
        isa = str(isa) if isa else "scalar"
    except Exception:
        isa = "unknown"
    spec = {
        "format": "aoti",
        "inputs": inputs,
        "batch_min": bmin,
        "batch_max": bmax,
        "isa": isa,
        "compile_seconds": round(seconds, 1),
        "torch_version": have,
    }
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
