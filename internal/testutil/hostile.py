"""Hostile TorchScript models for perflab's fault tests (written by internal/testutil).

Every model takes float32[B,8] unless said otherwise. Usage: /usr/bin/python3 hostile.py OUT_DIR
"""
import os
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)


class Segv(nn.Module):
    """Writes far out of bounds inside libtorch (max-pool backward with a bad index, which
    libtorch 1.13 and 2.x alike do not check): SIGSEGV."""

    def forward(self, x):
        grad = torch.ones([1, 1, 2, 2])
        inp = torch.zeros([1, 1, 4, 4])
        idx = torch.full([1, 1, 2, 2], 1 << 40, dtype=torch.int64)
        y = torch.ops.aten.max_pool2d_with_indices_backward(grad, inp, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)
        return x + y.sum()


class Fpe(nn.Module):
    """An int64 division overflow (INT64_MIN // -1) inside libtorch: SIGFPE."""

    def forward(self, x):
        a = torch.full([4], -9223372036854775807, dtype=torch.int64) - 1
        b = torch.full([4], -1, dtype=torch.int64)
        return x + (a // b).to(torch.float32).sum()


class Hang(nn.Module):
    """Never returns."""

    def forward(self, x):
        while bool(x.sum() > -1e30):
            x = x * 1.0
        return x


class Prints(nn.Module):
    """print()s 500 bytes on every forward, a JSON-looking line among them (C++ stdout
    buffers 4 KiB when it is a pipe: a handful of forwards fill it)."""

    def forward(self, x):
        print('{"model": "fake", "batch_size": 99')
        print("hello from forward " + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
        return x * 2


class InfOut(nn.Module):
    """Its output holds +Inf and -Inf."""

    def forward(self, x):
        return torch.cat([x, torch.full_like(x, float("inf")), torch.full_like(x, -float("inf"))], dim=1)


class NoArg(nn.Module):
    """forward takes no argument."""

    def forward(self):
        return torch.ones(2, 3)


class LaterRaise(nn.Module):
    """Works once, then raises: a failure that is not about the input."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("model gave up after 1 call")
        return x * 2


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, m in [("segv", Segv()), ("fpe", Fpe()), ("hang", Hang()), ("prints", Prints()),
                    ("inf_out", InfOut()), ("noarg", NoArg()), ("later_raise", LaterRaise())]:
        m.eval()
        torch.jit.save(torch.jit.script(m), os.path.join(out, name + ".pt"))


if __name__ == "__main__":
    main()
