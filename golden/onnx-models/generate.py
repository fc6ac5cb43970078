#!/usr/bin/python3
"""Exports the small real models for tests/frontends/onnx_models_test.cc with Debian's torch.

Run from anywhere with Debian's interpreter (python3-torch 1.13, python3-onnx 1.12):
    /usr/bin/python3 golden/onnx-models/generate.py
For each model it writes <name>/model.onnx (torch.onnx.export) and <name>/input_0.pb, output_0.pb
(ONNX TensorProto files: the input fed to torch and torch's fp32 output). Weights come from fixed seeds.
"""
import math
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 14


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.block = ResidualBlock(8)
        self.post_bn = nn.BatchNorm2d(8)  # follows an Add, so the exporter cannot fold it into a conv
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.down(self.post_bn(self.block(self.stem(x))))
        x = nn.functional.avg_pool2d(x, 2, ceil_mode=False)
        return self.fc(torch.flatten(self.pool(x), 1))


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads, seq):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.reshape(b, t, self.h, self.dh).transpose(1, 2)
        k = k.reshape(b, t, self.h, self.dh).transpose(1, 2)
        v = v.reshape(b, t, self.h, self.dh).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.dh) + self.mask[:t, :t]
        y = torch.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, seq):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, seq)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyCausalTransformer(nn.Module):
    """2-layer decoder-only transformer: token + position embeddings, causal attention, tied-free head."""

    def __init__(self, vocab=64, d=32, heads=4, seq=8, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.1)
        self.blocks = nn.Sequential(*[Block(d, heads, seq) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        x = self.tok(ids) + self.pos[:, : ids.shape[1]]
        return self.head(self.ln(self.blocks(x)))


def randomize_batchnorm(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g) * 0.1)


def save(name, model, x, input_name):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    model.eval()
    with torch.no_grad():
        y = model(x)
    path = os.path.join(d, "model.onnx")
    torch.onnx.export(model, (x,), path, input_names=[input_name], output_names=["output"], opset_version=OPSET,
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for fname, t in (("input_0.pb", x), ("output_0.pb", y)):
        with open(os.path.join(d, fname), "wb") as f:
            f.write(onnx.numpy_helper.from_array(t.numpy(), name=input_name if fname.startswith("input") else "output")
                    .SerializeToString())
    print(f"{name}: {os.path.getsize(path)} bytes, input {tuple(x.shape)}, output {tuple(y.shape)}")


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    save("mlp", Mlp(), torch.randn(4, 16, generator=g), "x")
    cnn = SmallCnn()
    randomize_batchnorm(cnn, g)
    save("small_cnn", cnn, torch.randn(2, 3, 16, 16, generator=g), "image")
    save("causal_transformer", TinyCausalTransformer(), torch.randint(0, 64, (2, 8), generator=g), "ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
