"""Writes the calibration models of scripts/calibrate-gate.sh.

usage: /usr/bin/python3 scripts/make_slow_model.py SRC.pt OUT_DIR CHANNELS [CHANNELS ...]

OUT_DIR/a.pt          SRC unchanged (a TorchScript copy)
OUT_DIR/twin.pt       SRC with other weights: every parameter times (1 + 1% noise), seeded.
                      The same architecture and the same speed: a PR that retrains the model.
OUT_DIR/slow.pt       SRC plus one extra convolution of its input (3 -> CHANNELS, 3x3,
                      stride 2) for the first CHANNELS, whose output is added times zero: a
                      single extra op whose cost grows with CHANNELS. It depends on the
                      input, so freezing cannot fold it away. The slowdown it causes is
                      measured by the calibration, not assumed.
OUT_DIR/slow-C.pt     the same for every CHANNELS value C given.
"""
import shutil
import sys

import torch
import torch.nn as nn


class Slower(nn.Module):
    def __init__(self, inner, channels: int):
        super().__init__()
        self.inner = inner
        torch.manual_seed(0)
        self.extra = nn.Conv2d(3, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.inner(x) + 0.0 * self.extra(x).sum()


def main():
    src, out, channels = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3:]]
    m = torch.jit.load(src).eval()
    torch.jit.save(m, out + "/a.pt")
    twin = torch.jit.load(src).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(1 + 0.01 * torch.randn(p.shape, generator=g))
    torch.jit.save(twin, out + "/twin.pt")
    for i, c in enumerate(channels):
        s = torch.jit.script(Slower(torch.jit.load(src).eval(), c).eval())
        torch.jit.save(s, out + "/slow-%d.pt" % c)
        if i == 0:
            shutil.copyfile(out + "/slow-%d.pt" % c, out + "/slow.pt")


if __name__ == "__main__":
    main()
