"""Writes the calibration models of scripts/calibrate-gate.sh.

usage: /usr/bin/python3 scripts/make_slow_model.py SRC.pt OUT_DIR PAD

OUT_DIR/a.pt   SRC unchanged (a TorchScript copy)
OUT_DIR/slow.pt  SRC run on its input padded by PAD pixels on the right and bottom: for a
               convolutional net the work grows with the pixel count, so PAD=11 on 224x224
               costs about (235/224)^2 - 1 = 10% more.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Padded(nn.Module):
    def __init__(self, inner, pad: int):
        super().__init__()
        self.inner = inner
        self.pad = pad

    def forward(self, x):
        return self.inner(F.pad(x, [0, self.pad, 0, self.pad]))


def main():
    src, out, pad = sys.argv[1], sys.argv[2], int(sys.argv[3])
    m = torch.jit.load(src).eval()
    torch.jit.save(m, out + "/a.pt")
    torch.jit.save(torch.jit.script(Padded(m, pad).eval()), out + "/slow.pt")


if __name__ == "__main__":
    main()
