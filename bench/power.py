#!/usr/bin/env python3
"""Power, clocks and work per joule of FFA and cuDNN (SDPA) on one full or causal shape.

Each implementation runs back to back for --seconds (after a second of warm-up, so it runs in
its own power state), while a thread samples the SM clock; the board's energy counter (NVML)
gives the joules. Prints, per implementation: TFLOP/s, mean SM clock, mean power, TFLOP per
joule; writes $OUT/power_<case>_<S>_<heads>_<d>[_bwd].json.

Why: at 8k-32k the H200 runs at its 700 W cap and lowers its clocks (1500-1900 MHz against
1980; bench/NOTES.md v38), so there a kernel's rate is its work per joule times the cap rather
than its work per cycle times the full clock; this tells the two apart.

  python3 bench/power.py --case full --S 32768 --heads 16:16 --d 128 [--bwd] [--seconds 3]
"""
import argparse
import json
import os
import sys
import threading
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))

from magi_attention import flex_flash_attn_func  # noqa: E402
from profile_ffa import load_case  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["full", "causal"], default="full")
    ap.add_argument("--S", type=int, default=32768)
    ap.add_argument("--heads", default="16:16")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--bwd", action="store_true", help="forward + backward steps")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    args = ap.parse_args()
    import pynvml  # present wherever torch.cuda.power_draw works

    pynvml.nvmlInit()
    nv = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())

    def nvml(*names, scale=1.0):
        """The first of the NVML queries `names` that this pynvml has (they differ between its
        releases), times `scale`; None when it has none of them."""
        for n in names:
            if hasattr(pynvml, n):
                return getattr(pynvml, n)(nv) * scale
        return None
    from torch.nn.attention import SDPBackend, sdpa_kernel

    H, HKV = (int(x) for x in args.heads.split(":"))
    S, D = args.S, args.d
    _, q, k, v, qr, kr, types = load_case(args.case, S, heads=(H, HKV), head_dim=D)
    dout = torch.randn_like(q)
    causal = args.case == "causal"
    cells = S * (S + 1) // 2 if causal else S * S
    flops = 4 * H * D * cells * (3.5 if args.bwd else 1.0)
    qt, kt, vt = (x.detach().transpose(0, 1).unsqueeze(0).requires_grad_(True) for x in (q, k, v))
    dt = dout.transpose(0, 1).unsqueeze(0)

    def ffa():
        return flex_flash_attn_func(q, k, v, qr, kr, types)[0]

    def cudnn():
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal,
                                                  enable_gqa=H != HKV)

    def step(f, leaves, g):
        def run():
            if not args.bwd:
                with torch.no_grad():
                    return f()
            for t in leaves:
                t.grad = None
            f().backward(g)
        return run

    impls = {"ffa": step(ffa, (q, k, v), dout), "sdpa_cudnn": step(cudnn, (qt, kt, vt), dt)}
    out = {"env": {"device": torch.cuda.get_device_name(0), "commit": os.environ.get("MAGI_COMMIT", ""),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   "power_limit_w": nvml("nvmlDeviceGetEnforcedPowerManagementLimit",
                                         "nvmlDeviceGetPowerManagementLimit", scale=1e-3)},
           "case": args.case, "S": S, "heads": args.heads, "d": D, "bwd": args.bwd, "results": []}

    def run_for(fn, seconds, per_sync):
        """Calls and GPU milliseconds of fn run back to back for `seconds`, synchronising every
        `per_sync` calls (the queue stays short, the GPU busy)."""
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        calls, t0 = 0, time.perf_counter()
        s.record()
        while time.perf_counter() - t0 < seconds:
            for _ in range(per_sync):
                fn()
            calls += per_sync
            torch.cuda.synchronize()
        e.record()
        torch.cuda.synchronize()
        return calls, s.elapsed_time(e)

    os.makedirs(args.out, exist_ok=True)
    tag = f"power_{args.case}_{S}_{H}-{HKV}_{D}{'_bwd' if args.bwd else ''}"
    for name, fn in impls.items():
        try:
            fn()  # first call out of the calibration (cuDNN builds its graph here)
            torch.cuda.synchronize()
        except Exception as e:  # noqa: BLE001 (a peer without a kernel for this shape)
            out["results"].append({"impl": name, "error": str(e)[:300]})
            print(f"{name:10s} failed: {str(e)[:200]}", flush=True)
            continue
        n, ms = run_for(fn, 0.2, 1)
        per_sync = max(1, round(50.0 / (ms / n)))  # about 50 ms of work between synchronisations
        run_for(fn, 1.0, per_sync)  # warm-up: the GPU reaches this implementation's power state
        clocks, stop = [], threading.Event()

        watts = []

        def sample():
            while not stop.is_set():
                clocks.append(pynvml.nvmlDeviceGetClockInfo(nv, pynvml.NVML_CLOCK_SM))
                watts.append(nvml("nvmlDeviceGetPowerUsage", scale=1e-3))
                time.sleep(0.02)

        th = threading.Thread(target=sample)
        # NOTE: the energy counter where this pynvml has it, else the mean sampled power.
        mj0, w0 = nvml("nvmlDeviceGetTotalEnergyConsumption"), time.perf_counter()
        th.start()
        calls, ms = run_for(fn, args.seconds, per_sync)
        mj1 = nvml("nvmlDeviceGetTotalEnergyConsumption")
        wall = time.perf_counter() - w0
        sampled = [w for w in watts if w is not None]
        joules = ((mj1 - mj0) / 1000 if mj0 is not None and mj1 is not None
                  else wall * sum(sampled) / max(1, len(sampled)))
        stop.set()
        th.join()
        r = {"impl": name, "calls": calls, "gpu_ms": ms, "tflops": calls * flops / (ms * 1e-3) / 1e12,
             "sm_clock_mhz": sum(clocks) / max(1, len(clocks)), "joules": joules,
             "power_w": joules / wall,
             "tflop_per_joule": calls * flops / 1e12 / joules if joules > 0 else None,
             "per_sync": per_sync}
        out["results"].append(r)
        tpj = f"{r['tflop_per_joule']:.3f}" if joules > 0 else "-"
        print(f"{name:10s} {r['tflops']:6.1f} TF/s  clock {r['sm_clock_mhz']:6.0f} MHz  "
              f"power {r['power_w']:5.0f} W  {tpj} TFLOP/J", flush=True)
        with open(os.path.join(args.out, tag + ".json"), "w") as f:
            json.dump(out, f, indent=1)  # after every implementation: a later failure keeps it


if __name__ == "__main__":
    main()
