"""Writes a model perflab has never seen in two files, as a torch 2.x user makes them
(make e2e, check 0): OUT.pt (TorchScript, the eager twin) and OUT.pt2 (an AOTInductor package
of its torch.export program, dynamic batch 1..16, exported from an example batch of 2) with
OUT.pt2.json (its input spec: docs/cli.md). Run with the image's models stage (Debian
trixie's python3-torch 2.6, g++, libtorch-dev, python3-setuptools).
Input: float32[B,3,40,40]; output: float32[B,7]. Seeded weights.
usage: python3 unseen_pt2.py OUT   (writes OUT.pt, OUT.pt2, OUT.pt2.json)
       python3 unseen_pt2.py OUT --program   (OUT.pt and OUT.pt2, the torch.export program
       itself, for perflab to compile and cache: make e2e's inductor Action run, inductor.sh)
"""
import json
import sys
import time

import torch
from torch import nn


class Unseen(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 12, 5, stride=2), nn.SiLU(), nn.Conv2d(12, 20, 3, padding=1, groups=4),
            nn.BatchNorm2d(20), nn.Hardswish(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Linear(80, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.body(x).flatten(1)), dim=1)


out = sys.argv[1]
torch.manual_seed(3)
m = Unseen().eval()
torch.jit.script(m).save(out + ".pt")
example = torch.randn(2, 3, 40, 40)
start = time.monotonic()
ep = torch.export.export(m, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=16)},))
if sys.argv[2:] == ["--program"]:
    torch.export.save(ep, out + ".pt2")
    print("torch %s: wrote %s.pt and %s.pt2 (a torch.export program)" % (torch.__version__, out, out))
    sys.exit(0)
torch._inductor.aoti_compile_and_package(ep, package_path=out + ".pt2")
seconds = time.monotonic() - start
from torch._inductor import cpu_vec_isa  # noqa: E402 (the ISA Inductor compiled for, as models/export.py says it)
isa = cpu_vec_isa.pick_vec_isa()
spec = {"inputs": ["float32[B,3,40,40]"], "batch_min": 1, "batch_max": 16, "isa": str(isa) if isa else "scalar",
        "compile_seconds": round(seconds, 1), "torch_version": torch.__version__}
with open(out + ".pt2.json", "w") as f:
    json.dump(spec, f)
print("torch %s: wrote %s.pt, %s.pt2 (compiled in %.1f s) and %s.pt2.json" % (torch.__version__, out, out, seconds, out))
