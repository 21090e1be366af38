"""Writes a TorchScript text model as a user of PyTorch 2.x makes one (make e2e, check 0):
python3 transformer.py OUT.pt, run with the image's models stage (Debian trixie's
python3-torch 2.6). torch.jit.script of an nn.TransformerEncoder saves code that calls
aten::scaled_dot_product_attention, which libtorch 1.13 cannot load ("Unknown builtin op").
Input: float32[B,32,64] (batch first); output: float32[B,10]. Seeded weights.
"""
import sys
import zipfile

import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(dim=1))


torch.manual_seed(0)
m = torch.jit.script(Classifier().eval())
m.save(sys.argv[1])
with zipfile.ZipFile(sys.argv[1]) as z:  # the saved TorchScript code
    sdpa = any(b"scaled_dot_product_attention" in z.read(n) for n in z.namelist() if n.endswith(".py"))
with torch.inference_mode():
    y = m(torch.randn(2, 32, 64))
print("torch %s: scripted %s, output %s, calls scaled_dot_product_attention: %s" % (
    torch.__version__, sys.argv[1], list(y.shape), sdpa))
if not sdpa:
    sys.exit("the saved code does not call scaled_dot_product_attention: not the model issue 19 is about")
