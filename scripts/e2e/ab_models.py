"""Writes the model files of make e2e's A/B pull requests (check 5): a small CNN as a user's
repository holds it, and two head versions of it. Run with the image's models stage
(Debian trixie's python3-torch 2.6). Input: float32[B,3,128,128]; output float32[B,10].
usage: python3 ab_models.py OUT_DIR   (writes OUT_DIR/base.pt, slow.pt, twin.pt)

base.pt  convolutions 3->32 (stride 2), 32->64 (stride 2), three 64->64 3x3 at 32x32, pool, linear.
slow.pt  base plus one block in the middle: a 64->64 3x3 convolution, batch norm and GELU at
         32x32 (about a quarter more multiply-adds: a pull request ~30% slower, from added
         operators).
twin.pt  base's architecture with other weights (1% noise, seeded): a retrained model, the
         same speed.
"""
import sys

import torch
from torch import nn


def conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class Net(nn.Module):
    def __init__(self, extra: bool):
        super().__init__()
        torch.manual_seed(5)
        layers = [conv(3, 32, 2), conv(32, 64, 2), conv(64, 64), conv(64, 64)]
        if extra:
            torch.manual_seed(6)
            layers.append(nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.GELU()))
            torch.manual_seed(7)
        layers.append(conv(64, 64))
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


out = sys.argv[1]
with torch.no_grad():
    x = torch.rand(1, 3, 128, 128)
    for name, m in (("base", Net(False)), ("slow", Net(True))):
        torch.jit.save(torch.jit.script(m.eval()), "%s/%s.pt" % (out, name))
    twin = Net(False).eval()
    g = torch.Generator().manual_seed(1)
    for p in twin.parameters():
        p.mul_(1 + 0.01 * torch.randn(p.shape, generator=g))
    torch.jit.save(torch.jit.script(twin), out + "/twin.pt")
    print("ab_models: base, slow, twin written to", out)
