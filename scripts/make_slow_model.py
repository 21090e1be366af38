"""Writes the calibration models of scripts/calibrate-gate.sh.

usage: /usr/bin/python3 scripts/make_slow_model.py SRC.pt OUT_DIR CHANNELS

OUT_DIR/a.pt     SRC unchanged (a TorchScript copy)
OUT_DIR/slow.pt  SRC plus one extra convolution of its input (3 -> CHANNELS, 3x3, stride 2),
                 whose output is added times zero: a single extra op whose cost grows with
                 CHANNELS. It depends on the input, so freezing cannot fold it away. The
                 slowdown it causes is measured by the calibration, not assumed.
"""
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
    src, out, channels = sys.argv[1], sys.argv[2], int(sys.argv[3])
    m = torch.jit.load(src).eval()
    torch.jit.save(m, out + "/a.pt")
    torch.jit.save(torch.jit.script(Slower(m, channels).eval()), out + "/slow.pt")


if __name__ == "__main__":
    main()
