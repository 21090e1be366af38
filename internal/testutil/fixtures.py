"""Tiny TorchScript models for perflab's tests (written by internal/testutil).

Usage: /usr/bin/python3 fixtures.py OUT_DIR
"""
import os
import sys
from typing import Tuple

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)


class Conv(nn.Module):
    """A small vision model: float32[B,3,16,16] -> float32[B,4]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean(dim=(2, 3)))


class TwoInputs(nn.Module):
    """forward(x: float32[B,8], ids: int64[B,4]) -> (float32[B,3], int64[B])."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x, ids) -> Tuple[torch.Tensor, torch.Tensor]:
        h = x + self.emb(ids).mean(dim=1)
        return self.fc(h), ids.sum(dim=1)


class Linear(nn.Module):
    """float32[B,8] -> float32[B,2]."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)


class Raises(nn.Module):
    """Raises unless x has 8 features: a user-visible TorchScript exception."""

    def forward(self, x):
        if x.size(1) != 8:
            raise ValueError("expected 8 features")
        return x * 2


class Noisy(nn.Module):
    """Its output changes on every call: outputs never match between two runs."""

    def forward(self, x):
        return x + torch.rand_like(x)


class Warns(nn.Module):
    """Raises a TorchScript warning on every forward."""

    def forward(self, x):
        warnings.warn("perflab test warning")
        return x + 1


class MLP(nn.Module):
    """float32[B,64] -> float32[B,64] through `layers` hidden 256-wide layers: mlp.pt (2),
    mlp_twin.pt (2, other weights: the same speed), mlp_slow.pt (8: several times slower)."""

    def __init__(self, layers: int):
        super().__init__()
        dims = [64] + [256] * layers + [64]
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class WarnsShapes(nn.Module):
    """Raises a warning naming its input's shape: one text per batch size."""

    def forward(self, x):
        warnings.warn("perflab shape warning: input of shape [" + str(x.size(0)) + ", 8] resized 2 times")
        return x + 1


import warnings  # noqa: E402  (TorchScript resolves warnings.warn from the module globals)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, m in [("conv", Conv()), ("two_inputs", TwoInputs()), ("linear", Linear()),
                    ("raises", Raises()), ("noisy", Noisy()), ("warns", Warns()),
                    ("mlp", MLP(2)), ("mlp_twin", MLP(2)), ("mlp_slow", MLP(8)),
                    ("warns_shapes", WarnsShapes())]:
        m.eval()
        torch.jit.save(torch.jit.script(m), os.path.join(out, name + ".pt"))
    # A plain torch.save checkpoint (not TorchScript).
    torch.save(Linear().state_dict(), os.path.join(out, "state_dict.pt"))


if __name__ == "__main__":
    main()
