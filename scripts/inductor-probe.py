"""A small model for the inductor image's build (Dockerfile, inductor-root and inductor
stages): OUT.pt (TorchScript, the eager twin) and OUT.pt2 (its torch.export program, dynamic
batch 1..16, exported from an example batch of 2). perflab compiles the program with
AOTInductor twice: traced (strace) in the full Debian stage to find what a compile opens,
then again in the final image to check that it compiles there. Its layers (convolution,
batch norm, matrix products, layer norm, softmax, attention) reach Inductor's generated
kernels and its calls of ATen's (extern) kernels. Seeded weights, nothing downloaded.
usage: python3 inductor-probe.py OUT   (writes OUT.pt and OUT.pt2)
"""
import sys

import torch
from torch import nn


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.BatchNorm2d(16), nn.GELU(),
                                  nn.Conv2d(16, 16, 3, groups=4), nn.AdaptiveAvgPool2d(2))
        self.norm = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm(self.conv(x).flatten(2).transpose(1, 2))  # B, 4, 16
        t = t + self.attn(t, t, t, need_weights=False)[0]
        return torch.softmax(self.head(t.flatten(1)), dim=1)


out = sys.argv[1]
torch.manual_seed(5)
m = Probe().eval()
torch.jit.script(m).save(out + ".pt")
# Not under no_grad: there nn.MultiheadAttention takes its fused fast path
# (aten._native_multi_head_attention), which torch.export does not support.
ep = torch.export.export(m, (torch.randn(2, 3, 24, 24),), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=16)},))
torch.export.save(ep, out + ".pt2")
print("torch %s: wrote %s.pt and %s.pt2 (a torch.export program)" % (torch.__version__, out, out))
