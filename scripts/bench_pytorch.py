#!/usr/bin/env python3
"""PyTorch reference timings for the rows of `fm bench` (apps/cmd_bench.cpp).

Every row here does the same work, on the same shapes, as the row of the same name in
`fm bench`, so the two outputs can be joined by name (scripts/bench_compare.sh does that):

  [matmul]        "matmul 1024"                     a @ b, 1024 x 1024 float32, in GFLOP/s
  [mlp-train]     "mlp train_step B=4096", "... B=1024"
                                                    CondOT batch, MSE loss, backward, Adam (lr 1e-4)
  [mlp-field]     "mlp field exact-div B=10000"     forward + exact divergence (D = 2 VJPs)
  [unet-train]    "unet ch32 train_step B=64", "unet ch16 train_step B=64"
                                                    one `fm train` step: forward, backward,
                                                    clip_grad_norm_(1), Adam 2e-4, EMA 0.9999
  [unet-forward]  "unet ch32 forward B=64"          forward under no_grad (first --channels only)
  [unet-field]    "unet ch32 forward+vjp B=64", "unet ch16 forward+vjp B=64"
                                                    forward + one Rademacher VJP w.r.t. x
                                                    (one Hutchinson evaluation)

Each row is the median wall time of --reps runs after --warmup untimed runs. With --json each
row is one JSON object per line: {"name", "ms", ["gflops"], "peak_rss_mib"}; the peak RSS is the
process's peak so far, so run one group (--only GROUP) per process to read a row's own peak.

Run it with the system python, which has PyTorch 1.13:  /usr/bin/python3 scripts/bench_pytorch.py
With --device cuda every row runs on the GPU (TF32 off for matmul and cuDNN, as fm's fp32 cuBLAS
calls), and each timed run ends with torch.cuda.synchronize().
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

GROUPS = ["matmul", "mlp-train", "mlp-field", "unet-train", "unet-forward", "unet-field"]

# The parameter counts our C++ tests check (nn/unet.h); the PyTorch mirror must match them.
UNET_PARAMS = {32: 1_623_169, 16: 408_641}

# CondOT path (flow/path.h): x_t = (1 - (1 - sigma_min) t) x0 + t x1, u_t = x1 - (1 - sigma_min) x0.
SIGMA_MIN = 1e-4


DEV = torch.device("cpu")  # --device


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


# ---- timing and reporting ------------------------------------------------------------------
def median_ms(fn, warmup, reps):
    """Median wall time in milliseconds of `reps` calls of fn after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def report(args, name, ms, gflop=0.0):
    """Prints one row like `fm bench` does; gflop is the work of one run (0: no GFLOP/s)."""
    rss = peak_rss_mib()
    gflops = gflop / (ms * 1e-3) if gflop > 0 else 0.0
    if args.json:
        row = {"name": name, "ms": ms}
        if gflop > 0:
            row["gflops"] = gflops
        row["peak_rss_mib"] = rss
        print(json.dumps(row))
    else:
        line = f"{name:<30s} {ms:9.2f} ms"
        if gflop > 0:
            line += f" {gflops:8.1f} GFLOP/s"
        print(line + f"   (peak RSS {rss:.0f} MiB)")
    sys.stdout.flush()


# ---- the models: fm's own PyTorch mirror (scripts/fm_torch.py), checked against `fm field` --------
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fm_torch import MlpField, UNetField  # noqa: E402  (after the path, on purpose)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ---- the rows ---------------------------------------------------------------------------------
def condot_batch(x1):
    """x0 ~ N(0, I), t ~ U[0, 1) per sample, and the CondOT x_t and target u_t."""
    x0 = torch.randn_like(x1)
    t = torch.rand(x1.shape[0], device=DEV)
    tb = t.reshape(-1, *([1] * (x1.dim() - 1)))
    xt = tb * x1 + (1.0 - (1.0 - SIGMA_MIN) * tb) * x0
    ut = x1 - (1.0 - SIGMA_MIN) * x0
    return xt, t, ut


def bench_matmul(args, n=1024):
    a = torch.empty(n, n, device=DEV).uniform_(-1, 1)
    b = torch.empty(n, n, device=DEV).uniform_(-1, 1)
    c = torch.empty(n, n, device=DEV)
    ms = median_ms(lambda: torch.mm(a, b, out=c), args.warmup, args.reps)
    report(args, f"matmul {n}", ms, 2.0 * n ** 3 * 1e-9)


def mlp_macs(D, W, L):
    """Multiply-adds of one forward pass per sample (as fm bench counts them)."""
    return (D + 1) * W + (L - 2) * W * W + W * D


def bench_mlp(args, groups, D=2, W=512, L=5):
    model = MlpField(D, W, L).to(DEV)
    macs = mlp_macs(D, W, L)
    if "mlp-train" in groups:
        for B in (4096, 1024):
            x1 = torch.randn(B, D, device=DEV)
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)  # fresh moments per batch size, like fm

            def step():
                xt, t, ut = condot_batch(x1)
                loss = F.mse_loss(model(xt, t), ut)
                opt.zero_grad()
                loss.backward()
                opt.step()

            ms = median_ms(step, args.warmup, args.reps)
            # forward 2 flops per MAC; backward twice that (dX and dW) -- fm bench's count
            report(args, f"mlp train_step B={B}", ms, 6.0 * macs * B * 1e-9)
    if "mlp-field" in groups:
        B = 10000
        x1 = torch.randn(B, D, device=DEV)

        def field_exact_div():
            # One evaluation of the likelihood ODE's right-hand side at t = 1 (fm bench runs one
            # Euler step from t = 1 to 0): v and div v = sum_i (e_i^T dv/dx)_i with D VJPs.
            x = x1.clone().requires_grad_(True)
            v = model(x, torch.full((B,), 1.0, device=DEV))
            div = torch.zeros(B, device=DEV)
            for i in range(D):
                e = torch.zeros(B, D, device=DEV)
                e[:, i] = 1.0
                (g,) = torch.autograd.grad(v, x, grad_outputs=e, retain_graph=i + 1 < D)
                div += g[:, i]
            return v.detach(), div

        ms = median_ms(field_exact_div, args.warmup, args.reps)
        # forward (2 flops/MAC) + D input-VJPs (2 flops/MAC each)
        report(args, f"mlp field exact-div B={B}", ms, (2.0 + 2.0 * D) * macs * B * 1e-9)


def make_unet(args, ch):
    # the fm train / fm bench U-Net: 1 x 28 x 28, mult 1,2,2, 2 blocks, attention at 7, 8 groups
    model = UNetField(1, 28, 28, ch, (1, 2, 2), 2, (7,), 8).to(DEV)
    n = count_params(model)
    if args.verbose:
        print(f"# unet ch{ch}: {n:,} parameters", file=sys.stderr)
    assert n == UNET_PARAMS[ch], f"unet ch{ch}: {n} parameters, expected {UNET_PARAMS[ch]} (nn/unet.h)"
    return model


def bench_unet(args, groups, channels, IB=64, C=1, H=28, W=28):
    for ch in channels:
        model = make_unet(args, ch)
        tag, bs = f"unet ch{ch} ", f" B={IB}"
        if "unet-train" in groups:
            # fm bench trains on 4 * batch fixed random images in [-1, 1] (a Fashion-MNIST stand-in)
            data = torch.empty(4 * IB, C, H, W, device=DEV).uniform_(-1, 1)
            params = list(model.parameters())
            opt = torch.optim.Adam(params, lr=2e-4)
            ema = [p.detach().clone() for p in params]
            ema_updates = [0]

            def train_step():
                x1 = data[torch.randint(0, data.shape[0], (IB,), device=DEV)]
                xt, t, ut = condot_batch(x1)
                loss = F.mse_loss(model(xt, t), ut)
                if not math.isfinite(loss.item()):
                    raise RuntimeError("the loss is not finite")
                opt.zero_grad()
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
                if not math.isfinite(float(norm)):
                    raise RuntimeError("the gradient norm is not finite")
                opt.step()
                # EMA as nn/optim.cpp: decay warmed up as min(0.9999, (1 + k) / (10 + k)),
                # shadow <- d shadow + (1 - d) p, i.e. shadow.lerp_(p, 1 - d).
                k = ema_updates[0]
                d = min(0.9999, (1.0 + k) / (10.0 + k))
                ema_updates[0] += 1
                with torch.no_grad():
                    for s, p in zip(ema, params):
                        s.lerp_(p, 1.0 - d)

            model.train()
            report(args, tag + "train_step" + bs, median_ms(train_step, args.warmup, args.reps))
            model.eval()
        x = torch.empty(IB, C, H, W, device=DEV).uniform_(-1, 1)
        if "unet-forward" in groups and ch == channels[0]:
            t = torch.full((IB,), 0.5, device=DEV)

            def forward():
                with torch.no_grad():
                    return model(x, t)

            report(args, tag + "forward" + bs, median_ms(forward, args.warmup, args.reps))
        if "unet-field" in groups:
            def forward_vjp():
                # One Hutchinson evaluation at t = 1: a fresh Rademacher probe, v, and one VJP.
                eps = torch.randint(0, 2, x.shape, device=DEV).to(torch.float32).mul_(2).sub_(1)
                xg = x.clone().requires_grad_(True)
                v = model(xg, torch.full((IB,), 1.0, device=DEV))
                (g,) = torch.autograd.grad((v * eps).sum(), xg)
                div = (g * eps).flatten(1).sum(1)
                return v.detach(), div

            report(args, tag + "forward+vjp" + bs, median_ms(forward_vjp, args.warmup, args.reps))


def main():
    p = argparse.ArgumentParser(description="PyTorch reference for the rows of `fm bench` (median of --reps runs).")
    p.add_argument("--only", choices=GROUPS, help="one group (default: all)")
    p.add_argument("--channels", type=int, choices=sorted(UNET_PARAMS), help="U-Net base channels (default: 32 and 16)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--reps", type=int, default=10, help="timed runs; the median is reported (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=1024, help="matmul size n (n x n x n), as fm bench --size (default 1024)")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the rows run (default cpu)")
    p.add_argument("--verbose", action="store_true", help="print settings and U-Net parameter counts on stderr")
    args = p.parse_args()
    args.reps, args.warmup = max(1, args.reps), max(0, args.warmup)

    global DEV
    DEV = torch.device(args.device)
    if DEV.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_pytorch.py: --device cuda, but torch.cuda.is_available() is False")
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 products, as fm's cuBLAS calls
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    groups = [args.only] if args.only else GROUPS
    channels = [args.channels] if args.channels else [32, 16]
    if args.verbose:
        print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, groups {groups}", file=sys.stderr)
    if not args.json:
        print(f"PyTorch {torch.__version__} bench: {torch.get_num_threads()} threads")

    if "matmul" in groups:
        bench_matmul(args, args.size)
    if "mlp-train" in groups or "mlp-field" in groups:
        bench_mlp(args, groups)
    if any(g in groups for g in ("unet-train", "unet-forward", "unet-field")):
        bench_unet(args, groups, channels)


if __name__ == "__main__":
    main()
