#!/usr/bin/python3
"""Export perflab benchmark models as TorchScript for libtorch C++ (1.13).

Usage:
    /usr/bin/python3 models/export.py --out models/exported [--only NAME ...]

Models (weights come from torch.manual_seed(0), never from the hub: this
machine has no internet, and inference latency does not depend on weight
values):

    resnet18               torchvision resnet18, float32[B,3,224,224]
    mobilenet_v3_small     torchvision mobilenet_v3_small, float32[B,3,224,224]
    tiny_transformer       small text encoder from plain layers, int64[B,128]
    tiny_transformer_int8  dynamic int8 quantization (nn.Linear) of the above

Each <name>.pt gets a <name>.json metadata file next to it. Every file is
written atomically (temp file in the same folder + os.replace).

With torch >= 2.6, the float models (--aoti, default: all but the int8 one) are
also exported with torch.export (a dynamic batch 1..AOTI_MAX_BATCH, example batch
2) into <name>.export.pt2 (torch.export.save: the program, which perflab can
compile itself), and compiled ahead of time with AOTInductor into <name>.pt2
(torch._inductor.aoti_compile_and_package), with <name>.pt2.json beside it: the
input spec the package was compiled for (the package itself checks nothing),
its batch range, the vector ISA Inductor compiled for ("scalar" when it found
none: Debian's torch finds no sleef.h) and the compile time. Older torch skips
this with a note. Compiling takes 20-50 s per model.
"""

import argparse
import io
import json
import math
import os
import sys
import tempfile

# TorchScript serializes some module constants in Python set/dict order, which
# depends on string hash randomization. Re-exec once with a fixed hash seed so
# that a full export is byte-for-byte reproducible (weights are reproducible
# either way thanks to torch.manual_seed).
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

try:
    import torch
    import torch.nn as nn
    import torchvision
except ImportError as exc:  # pragma: no cover - environment check
    sys.stderr.write(
        "error: cannot import torch/torchvision (%s); "
        "install python3-torch python3-torchvision (make setup) and run with "
        "/usr/bin/python3\n" % exc
    )
    sys.exit(2)

SEED = 0
SOURCE = "models/export.py"

VISION_INPUT = "float32[B,3,224,224]"
TEXT_INPUT = "int64[B,128]:0..8191"

VOCAB = 8192
SEQ_LEN = 128
D_MODEL = 256
N_HEADS = 4
D_FF = 1024
N_LAYERS = 4
N_CLASSES = 2


# --------------------------------------------------------------------------
# Tiny transformer: plain layers only (no nn.TransformerEncoderLayer /
# nn.MultiheadAttention, whose dynamically quantized form does not script in
# torch 1.13).
# --------------------------------------------------------------------------
class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        # [B, T, D] -> [B, H, T, Dh]
        b, t, _ = x.shape
        return x.reshape(b, t, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q = self._split(self.q_proj(x))
        k = self._split(self.k_proj(x))
        v = self._split(self.v_proj(x))
        attn = torch.matmul(q, k.transpose(-2, -1)) * self.scale  # [B,H,T,T]
        attn = torch.softmax(attn, dim=-1)
        ctx = torch.matmul(attn, v)  # [B,H,T,Dh]
        ctx = ctx.transpose(1, 2).reshape(b, t, d)
        return self.out_proj(ctx)


class EncoderBlock(nn.Module):
    """Pre-norm encoder block: x + Attn(LN(x)); x + FFN(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.act = nn.GELU()
        self.ff2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        x = x + self.ff2(self.act(self.ff1(self.ln2(x))))
        return x


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int = VOCAB, seq_len: int = SEQ_LEN,
                 d_model: int = D_MODEL, n_heads: int = N_HEADS,
                 d_ff: int = D_FF, n_layers: int = N_LAYERS,
                 n_classes: int = N_CLASSES):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)  # learned positions
        self.blocks = nn.ModuleList(
            [EncoderBlock(d_model, n_heads, d_ff) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: int64 [B, T] with T <= 128
        t = ids.shape[1]
        pos = torch.arange(t, dtype=torch.long, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos).unsqueeze(0)
        for blk in self.blocks:
            x = blk(x)
        x = self.ln_f(x)
        x = x.mean(dim=1)  # mean-pool over tokens
        return self.head(x)  # [B, 2]


# --------------------------------------------------------------------------
# Builders. Each seeds before construction so weights are reproducible.
# --------------------------------------------------------------------------
def build_resnet18():
    torch.manual_seed(SEED)
    return calibrate_batchnorm(torchvision.models.resnet18(weights=None))


def build_mobilenet_v3_small():
    torch.manual_seed(SEED)
    return calibrate_batchnorm(torchvision.models.mobilenet_v3_small(weights=None))


# BatchNorm recalibration. A freshly initialised network keeps BatchNorm's running
# statistics at mean 0 / var 1, which matches nothing its convolutions produce: in eval
# mode the activations shrink layer after layer (mobilenet_v3_small's outputs were
# ~2e-9). Then any comparison of outputs divides by almost nothing, and the last-bit
# rounding differences of oneDNN's AVX-512 kernels look like 36% errors. A trained
# network has activations of order 1 at every layer. We get that by running a few
# seeded random batches through the model in train mode with cumulative averaging
# (momentum=None), so every BatchNorm learns the real mean/variance of its input,
# then switching to eval. Latency does not change: the same ops, same shapes.
BN_CALIBRATION_BATCHES = 2
BN_CALIBRATION_BATCH = 8


def calibrate_batchnorm(model):
    gen = torch.Generator().manual_seed(SEED + 1)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over the calibration batches
    # In float64: oneDNN has no float64 kernels, so the statistics do not depend on which
    # of its kernels (AVX2, AVX-512) this CPU runs, and the float32 values they round to
    # are the same on every machine.
    model.double().train()
    with torch.no_grad():
        for _ in range(BN_CALIBRATION_BATCHES):
            model(torch.randn(BN_CALIBRATION_BATCH, 3, 224, 224, generator=gen, dtype=torch.float64))
    model.float()
    for bn in bns:
        bn.momentum = 0.1  # torchvision's default, as a trained model would carry
        bn.num_batches_tracked.zero_()
    return model.eval()




def build_tiny_transformer():
    torch.manual_seed(SEED)
    return TinyTransformer().eval()


def build_tiny_transformer_int8():
    # Same float weights (same seed) then dynamic int8 quantization of
    # every nn.Linear. Embeddings / LayerNorm stay float.
    float_model = build_tiny_transformer()
    return torch.ao.quantization.quantize_dynamic(
        float_model, {nn.Linear}, dtype=torch.qint8).eval()


def vision_example():
    return torch.randn(1, 3, 224, 224)


def text_example():
    return torch.randint(0, VOCAB, (1, SEQ_LEN), dtype=torch.long)


# name -> (builder, task, input spec, example-input factory, extra metadata)
MODELS = {
    "resnet18": (build_resnet18, "vision", VISION_INPUT, vision_example, {}),
    "mobilenet_v3_small": (build_mobilenet_v3_small, "vision", VISION_INPUT,
                           vision_example, {}),
    "tiny_transformer": (build_tiny_transformer, "text", TEXT_INPUT,
                         text_example,
                         {"int8_variant": "tiny_transformer_int8.pt"}),
    "tiny_transformer_int8": (build_tiny_transformer_int8, "text", TEXT_INPUT,
                              text_example, {"quantized": True}),
}


# --------------------------------------------------------------------------
# Export helpers
# --------------------------------------------------------------------------
def to_torchscript(model, example_factory):
    """torch.jit.script; fall back to torch.jit.trace (batch-1 example) only
    if scripting fails. Returns (module, method)."""
    try:
        return torch.jit.script(model), "script"
    except Exception as exc:  # fall back to tracing
        sys.stderr.write("warning: torch.jit.script failed (%s: %s); "
                         "falling back to torch.jit.trace\n"
                         % (type(exc).__name__, str(exc).splitlines()[0]
                            if str(exc) else ""))
        with torch.no_grad():
            return torch.jit.trace(model, example_factory()), "trace"


def atomic_write_bytes(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def export_one(name, out_dir):
    builder, task, input_spec, example_factory, extra = MODELS[name]
    model = builder()
    scripted, method = to_torchscript(model, example_factory)

    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    pt_path = os.path.join(out_dir, name + ".pt")
    atomic_write_bytes(pt_path, buf.getvalue())

    meta = {
        "name": name,
        "task": task,
        "inputs": [input_spec],
    }
    meta.update(extra)
    meta.update({
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "seed": SEED,
        "source": SOURCE,
        "export_method": method,
    })
    json_path = os.path.join(out_dir, name + ".json")
    atomic_write_bytes(json_path,
                       (json.dumps(meta, indent=2) + "\n").encode("utf-8"))

    size = os.path.getsize(pt_path)
    print("%s %d bytes (%.1f MiB, %s)" % (pt_path, size, size / 2**20, method))


AOTI_MAX_BATCH = 64
AOTI_MIN_TORCH = (2, 6)


def torch_at_least(version):
    parts = torch.__version__.split("+")[0].split(".")
    try:
        return tuple(int(p) for p in parts[:2]) >= version
    except ValueError:
        return False


def inductor_isa():
    """The vector ISA Inductor compiles CPU kernels for, or "scalar" when it finds none."""
    try:
        from torch._inductor import cpu_vec_isa
        isa = cpu_vec_isa.pick_vec_isa()
    except Exception:  # pragma: no cover - older layouts
        return "unknown"
    return str(isa) if isa else "scalar"


def aoti_missing():
    """What AOTInductor compiling needs and this system lacks: setuptools (imported by
    Inductor's C++ builder), a C++ compiler and libtorch's C++ headers (libtorch-dev)."""
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
    return missing


def example_at(example_factory, batch):
    x = example_factory()
    return x.expand(batch, *x.shape[1:]).contiguous() if batch != x.shape[0] else x


def export_program(name, out_dir):
    """Writes <name>.export.pt2: the torch.export program (dynamic batch 1..AOTI_MAX_BATCH,
    example batch 2), which perflab compiles with AOTInductor itself (and caches) when a
    configuration asks for compile inductor and there is no package. Returns it."""
    builder, task, input_spec, example_factory, extra = MODELS[name]
    model = builder()
    # An example batch of 2: a dynamic batch with min=1 fails to export from a batch-1
    # example ("Constraints violated": torch.export specializes size-1 dimensions).
    example = (example_at(example_factory, 2),)
    batch = torch.export.Dim("batch", min=1, max=AOTI_MAX_BATCH)
    program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
    path = os.path.join(out_dir, name + ".export.pt2")
    buf = io.BytesIO()
    torch.export.save(program, buf)
    atomic_write_bytes(path, buf.getvalue())
    size = os.path.getsize(path)
    print("%s %d bytes (%.1f MiB, torch.export program)" % (path, size, size / 2**20))
    return program


def export_aoti(name, out_dir, program):
    """Writes <name>.pt2 (AOTInductor package of program, dynamic batch) and <name>.pt2.json."""
    import time
    builder, task, input_spec, example_factory, extra = MODELS[name]
    start = time.monotonic()
    pt2_path = os.path.join(out_dir, name + ".pt2")
    directory = os.path.dirname(os.path.abspath(pt2_path))
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".pt2", dir=directory)
    os.close(fd)
    try:
        torch._inductor.aoti_compile_and_package(program, package_path=tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, pt2_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    seconds = time.monotonic() - start
    spec = {
        "name": name,
        "format": "aoti",
        "inputs": [input_spec],
        "batch_min": 1,
        "batch_max": AOTI_MAX_BATCH,
        "isa": inductor_isa(),
        "compile_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
        "twin": name + ".pt",
        "source": SOURCE,
    }
    atomic_write_bytes(pt2_path + ".json", (json.dumps(spec, indent=2) + "\n").encode("utf-8"))
    size = os.path.getsize(pt2_path)
    print("%s %d bytes (%.1f MiB, AOTInductor, %s kernels, compiled in %.1f s)"
          % (pt2_path, size, size / 2**20, spec["isa"], seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/exported",
                        help="output folder (default: models/exported)")
    parser.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                        choices=sorted(MODELS), default=None,
                        help="export only these models (repeatable)")
    parser.add_argument("--aoti", nargs="+", action="extend", metavar="NAME",
                        choices=sorted(MODELS) + ["none"], default=None,
                        help="with torch >= 2.6, also write these models' AOTInductor "
                             "packages (default: every float model; 'none': no package)")
    args = parser.parse_args(argv)

    torch.set_num_threads(2)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    os.makedirs(args.out, exist_ok=True)
    names = [n for n in MODELS if args.only is None or n in args.only]
    with torch.no_grad():
        for name in names:
            try:
                export_one(name, args.out)
            except Exception as exc:
                sys.stderr.write("error: exporting %s failed: %s: %s\n"
                                 % (name, type(exc).__name__, exc))
                return 1
    aoti = [n for n in names if not MODELS[n][4].get("quantized")]
    if args.aoti is not None:
        aoti = [n for n in aoti if n in args.aoti]
    if aoti and not torch_at_least(AOTI_MIN_TORCH):
        print("note: torch %s: AOTInductor packages (.pt2) need torch 2.6 or later, skipped"
              % torch.__version__)
        aoti = []
    missing = aoti_missing() if aoti else []
    if missing and args.aoti is not None:
        sys.stderr.write("error: --aoti: compiling AOTInductor packages needs %s\n" % ", ".join(missing))
        return 1
    if missing:
        # The default: a system that cannot compile C++ (e.g. an image's model stage with
        # python3-torch alone) still exports the TorchScript models and the programs.
        print("note: AOTInductor packages (.pt2) skipped: compiling them needs %s"
              % ", ".join(missing))
    for name in aoti:
        try:
            program = export_program(name, args.out)
            if not missing:
                export_aoti(name, args.out, program)
        except Exception as exc:
            sys.stderr.write("error: exporting %s with torch.export/AOTInductor failed: %s: %s\n"
                             % (name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
