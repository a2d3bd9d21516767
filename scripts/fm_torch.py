#!/usr/bin/env python3
"""fm.cpp checkpoints in PyTorch, and back.

fm writes its models as safetensors files (nn/checkpoint.h): F32 tensors named like a PyTorch
state_dict, and in __metadata__ the model config (JSON), the step, the data and the path. This
file holds PyTorch modules whose state_dict names and layouts are exactly fm's (so
load_state_dict(..., strict=True) works) and whose forward(x, t) computes fm's field op for op:

    from fm_torch import load_fm_model, save_fm_checkpoint
    model = load_fm_model("runs/checkerboard/model.safetensors")    # eval mode, strict load
    v = model(x, t)                                                 # x [B, D] or [B, C, H, W], t [B]
    save_fm_checkpoint("mine.safetensors", model, model.fm_metadata)  # fm sample/nll/field read it

No safetensors package is needed: the format is a u64 header length, a JSON header and raw data.

Command line (run with the system python, which has PyTorch: /usr/bin/python3):
    fm_torch.py field CKPT X.npy T OUT.npy      v(x, t) in PyTorch; T is a number or a .npy of one
                                                time per row; prints {"strict": true, ...} as JSON
    fm_torch.py perturb CKPT OUT_CKPT [--seed S] [--scale S]
                                                adds scale * N(0, 1) to every weight in PyTorch and
                                                writes the result for fm (the metadata kept)
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "fm.cpp/1"  # __metadata__["format"] of fm's checkpoints


# ---- safetensors (tensor/io/safetensors.h) ------------------------------------------------------
def load_safetensors(path):
    """(state_dict, metadata): F32 tensors in data-section order, metadata as a dict of strings."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(blob)}")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = memoryview(blob)[8 + n:]
    state = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: tensor '{name}' has dtype {e['dtype']}; fm writes F32 only")
        begin, end = e["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype="<f4").reshape(e["shape"])
        state[name] = torch.from_numpy(a.copy())
    return state, metadata


def save_safetensors(path, state_dict, metadata):
    """The layout fm writes: the header padded with spaces to a multiple of 8 bytes, F32 tensors
    laid out contiguously in the given order, string metadata. Written to PATH.tmp, then renamed."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in state_dict.items():
        a = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4", copy=False)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in chunks:
            f.write(b)
    os.replace(tmp, path)


# ---- the MLP field (nn/mlp.h) -------------------------------------------------------------------
class MlpField(nn.Module):
    """v(x, t) = Linear(W, D) . [SiLU . Linear(W, W)] x (depth - 2) . SiLU . Linear(D + 1, W) ([x, t]);
    t enters as one extra column after x. Parameters: net.0.weight, net.0.bias, net.2.weight, ..."""

    def __init__(self, dim, width, depth, classes=0):
        super().__init__()
        self.fm_config = {"model": "mlp", "dim": dim, "width": width, "depth": depth}
        layers = []
        for i in range(depth):
            layers.append(nn.Linear(dim + 1 if i == 0 else width, dim if i == depth - 1 else width))
            if i + 1 < depth:
                layers.append(nn.SiLU())
        self.net = nn.Sequential(*layers)
        self.classes = classes
        if classes > 0:  # fm train --conditional: e_y added to the first layer's output (nn/mlp.h)
            self.fm_config["classes"] = classes
            self.class_emb = nn.Embedding(classes + 1, width)

    def forward(self, x, t, y=None):
        """y: a class per row (0..K-1, or K for "no class"); None: "no class" (the unconditional field)."""
        t = t.to(torch.float32).reshape(-1, 1).expand(x.shape[0], 1)
        h = torch.cat([x, t], dim=1)
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i == 0 and self.classes > 0:
                h = h + self.class_emb(class_rows(y, x.shape[0], self.classes))
        return h


def class_rows(y, n, classes):
    """The class of each of n rows as a LongTensor; None means "no class" (index K) for all."""
    if y is None:
        return torch.full((n,), classes, dtype=torch.long)
    return torch.as_tensor(y, dtype=torch.long).reshape(-1).expand(n)


# ---- the U-Net (nn/unet.h, nn/unet.cpp, autodiff/ops_image.cpp) ---------------------------------
def timestep_embedding(t, dim, scale=1000.0, max_period=10000.0):
    """fm's sinusoid of scale * t: half = dim // 2, freq_i = exp(-log(max_period) i / half),
    [cos(scale t freq), sin(scale t freq)] (cos half first), a zero column when dim is odd.
    t is fm's float32 time; everything after is float64, cast to float32 at the end, as fm does."""
    half = dim // 2
    freq = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64, device=t.device) / half)
    arg = scale * t.to(torch.float32).to(torch.float64).reshape(-1)[:, None] * freq[None, :]
    emb = torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb.to(torch.float32)


class ResBlock(nn.Module):
    """h = conv1(silu(norm1(x))) + emb_proj(silu(temb)) over H x W; h = conv2(dropout(silu(norm2(h))));
    skip(x) + h, skip a 1x1 conv when the channel count changes. Registered in fm's order."""

    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)  # eps 1e-5, as fm's
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb_proj = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.dropout = nn.Dropout(dropout)  # no parameters

    def forward(self, x, silu_temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.emb_proj(silu_temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    """Single-head attention over the N = H W positions: q, k, v = qkv(norm(x)) (1x1 conv to 3C),
    w = softmax(q^T k / sqrt(C)) [B, N, N] (rows: queries), out[c, i] = sum_j v[c, j] w[i, j],
    x + proj(out)."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.qkv(self.norm(x)).reshape(B, 3 * C, H * W)
        q, k, v = h[:, :C], h[:, C:2 * C], h[:, 2 * C:]
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) * (1.0 / math.sqrt(C)), dim=-1)
        out = torch.bmm(v, w.transpose(1, 2))
        return x + self.proj(out.reshape(B, C, H, W))


class Level(nn.Module):
    """One resolution: res.<j> ResBlocks, attn.<j> after each where the resolution has attention,
    and the resampling conv, named `downsample` or `upsample` as in fm's checkpoints."""

    def __init__(self, resample_name):
        super().__init__()
        self.res = nn.ModuleList()
        self.attn = nn.ModuleList()
        self.resample_name = resample_name
        setattr(self, resample_name, None)

    @property
    def resample(self):
        return getattr(self, self.resample_name)


class Mid(nn.Module):
    def __init__(self, h, emb, groups, dropout):
        super().__init__()
        self.res1 = ResBlock(h, h, emb, groups, dropout)
        self.attn = AttnBlock(h, groups)
        self.res2 = ResBlock(h, h, emb, groups, dropout)


class UNetField(nn.Module):
    """fm's U-Net (nn/unet.h). Names: time_embed.{0,2}, stem, down.<i>.{res,attn}.<j>,
    down.<i>.downsample, mid.{res1,attn,res2}, up.<i>.{res,attn}.<j>, up.<i>.upsample, out_norm,
    out_conv, where <i> is the resolution level (0 finest) on both paths."""

    def __init__(self, in_channels, height, width, channels, mult, num_res, attn_res, groups, dropout=0.0, classes=0):
        super().__init__()
        self.fm_config = {"model": "unet", "in_channels": in_channels, "height": height, "width": width,
                          "channels": channels, "mult": list(mult), "num_res": num_res,
                          "attn_res": list(attn_res), "groups": groups, "dropout": dropout}
        self.classes = classes
        ch, E, L = channels, 4 * channels, len(mult)
        self.channels = ch
        self.time_embed = nn.Sequential(nn.Linear(ch, E), nn.SiLU(), nn.Linear(E, E))
        self.stem = nn.Conv2d(in_channels, ch, 3, padding=1)

        skips = [ch]  # channels pushed on the skip stack: the stem, every block, every downsample
        h, res = ch, height  # attention is chosen by the height at each level, as in fm
        self.down = nn.ModuleList()
        for i in range(L):
            lvl = Level("downsample")
            for _ in range(num_res):
                lvl.res.append(ResBlock(h, ch * mult[i], E, groups, dropout))
                h = ch * mult[i]
                if res in attn_res:
                    lvl.attn.append(AttnBlock(h, groups))
                skips.append(h)
            if i + 1 < L:
                lvl.downsample = nn.Conv2d(h, h, 3, stride=2, padding=1)
                skips.append(h)
                res //= 2
            self.down.append(lvl)

        self.mid = Mid(h, E, groups, dropout)

        up = [None] * L  # built coarsest first (the skip stack's order), stored by level
        for i in reversed(range(L)):
            lvl = Level("upsample")
            for _ in range(num_res + 1):
                lvl.res.append(ResBlock(h + skips.pop(), ch * mult[i], E, groups, dropout))
                h = ch * mult[i]
                if res in attn_res:
                    lvl.attn.append(AttnBlock(h, groups))
            if i > 0:
                lvl.upsample = nn.Conv2d(h, h, 3, padding=1)
                res *= 2
            up[i] = lvl
        self.up = nn.ModuleList(up)

        self.out_norm = nn.GroupNorm(groups, ch)
        self.out_conv = nn.Conv2d(ch, in_channels, 3, padding=1)
        if classes > 0:  # fm train --conditional: temb += e_y (nn/unet.h)
            self.fm_config["classes"] = classes
            self.class_emb = nn.Embedding(classes + 1, E)

    def forward(self, x, t, y=None):
        """y: a class per row (0..K-1, or K for "no class"); None: "no class" (the unconditional field)."""
        t = t.reshape(-1).expand(x.shape[0])
        temb = self.time_embed(timestep_embedding(t, self.channels))
        if self.classes > 0:
            temb = temb + self.class_emb(class_rows(y, x.shape[0], self.classes))
        st = F.silu(temb)  # every ResBlock projects SiLU(temb)
        h = self.stem(x)
        skips = [h]
        for lvl in self.down:
            for j, block in enumerate(lvl.res):
                h = block(h, st)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
                skips.append(h)
            if lvl.resample is not None:
                h = lvl.resample(h)
                skips.append(h)
        h = self.mid.res2(self.mid.attn(self.mid.res1(h, st)), st)
        for lvl in reversed(self.up):
            for j, block in enumerate(lvl.res):
                h = block(torch.cat([h, skips.pop()], dim=1), st)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
            if lvl.resample is not None:
                h = lvl.resample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out_conv(F.silu(self.out_norm(h)))


# ---- checkpoints --------------------------------------------------------------------------------
def build_model(config):
    """The module for fm's config JSON (a dict; nn/model.cpp), freshly initialised."""
    kind = config.get("model")
    classes = int(config.get("classes", 0))
    if kind == "mlp":
        return MlpField(int(config["dim"]), int(config["width"]), int(config["depth"]), classes)
    if kind == "unet":
        return UNetField(int(config["in_channels"]), int(config["height"]), int(config["width"]),
                         int(config["channels"]), [int(m) for m in config["mult"]], int(config["num_res"]),
                         [int(r) for r in config["attn_res"]], int(config["groups"]),
                         float(config.get("dropout", 0.0)), classes)
    raise ValueError(f"model config: unknown model {kind!r} (known: mlp, unet)")


def load_fm_model(path):
    """The checkpoint's model in eval mode, its weights loaded with strict=True; the file's
    metadata is kept as model.fm_metadata."""
    state, metadata = load_safetensors(path)
    if "config" not in metadata:
        raise ValueError(f"{path}: no model config in the metadata (not an fm.cpp checkpoint?)")
    model = build_model(json.loads(metadata["config"]))
    model.load_state_dict(state, strict=True)
    model.fm_metadata = dict(metadata)
    return model.eval()


def save_fm_checkpoint(path, model, metadata=None):
    """Writes `model` (one of the modules above, or a state_dict with metadata["config"] given)
    as a checkpoint fm reads. Metadata values become strings; config, format and step are filled in
    when missing."""
    meta = dict(metadata or {})
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if "config" not in meta:
        if not hasattr(model, "fm_config"):
            raise ValueError("save_fm_checkpoint: metadata['config'] is needed for a bare state_dict")
        meta["config"] = json.dumps(model.fm_config, separators=(",", ":"))
    elif not isinstance(meta["config"], str):
        meta["config"] = json.dumps(meta["config"], separators=(",", ":"))
    meta.setdefault("step", "0")
    meta["format"] = FORMAT
    save_safetensors(path, state, meta)


# ---- command line -------------------------------------------------------------------------------
def load_times(spec, n):
    if spec.endswith(".npy"):
        t = np.load(spec).astype(np.float32).reshape(-1)
        if t.shape[0] != n:
            raise SystemExit(f"fm_torch.py: {spec} holds {t.shape[0]} times for {n} points")
        return torch.from_numpy(t)
    return torch.full((n,), float(spec), dtype=torch.float32)


def cmd_field(a):
    model = load_fm_model(a.ckpt)  # strict=True: raises on any missing, unexpected or misshapen tensor
    x = torch.from_numpy(np.load(a.x).astype(np.float32))
    if a.cls is not None and getattr(model, "classes", 0) < 1:
        raise SystemExit(f"fm_torch.py: --class: {a.ckpt} is not class-conditional")
    with torch.no_grad():
        v = model(x, load_times(a.t, x.shape[0]), a.cls)
    np.save(a.out, v.numpy().astype(np.float32))
    print(json.dumps({"strict": True, "model": model.fm_config["model"], "tensors": len(model.state_dict()),
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


def cmd_perturb(a):
    model = load_fm_model(a.ckpt)
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(a.scale * torch.randn(p.shape, generator=g))
    save_fm_checkpoint(a.out, model, model.fm_metadata)
    print(json.dumps({"wrote": a.out, "tensors": len(model.state_dict())}))


def main(argv=None):
    ap = argparse.ArgumentParser(description="fm.cpp checkpoints in PyTorch")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("field", help="v(x, t) of a checkpoint, computed in PyTorch")
    f.add_argument("ckpt")
    f.add_argument("x", help=".npy points, N x D or N x C x H x W")
    f.add_argument("t", help="a time for every point, or a .npy of one time per point")
    f.add_argument("out", help="where to write v (.npy float32)")
    f.add_argument("--class", dest="cls", type=int, default=None,
                   help="class-conditional models: v(x, t | class) (default: the unconditional field)")
    p = sub.add_parser("perturb", help="add noise to every weight in PyTorch and write the checkpoint back")
    p.add_argument("ckpt")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=0.05)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    {"field": cmd_field, "perturb": cmd_perturb}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
