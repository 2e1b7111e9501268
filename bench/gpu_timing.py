"""GPU timing shared by the benchmarks: kernel time with the host's launch cost hidden.

Each measurement is a batch of k back-to-back calls between two CUDA events, queued behind a
GPU sleep long enough for the host to enqueue the whole batch; the figure is the median over
batches of (batch time / k).
"""
import math
import statistics
import time

import torch


def sleep_cycles_per_ms():
    """Clock cycles per millisecond of torch.cuda._sleep on this device."""
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rate = 1.5e6
    for _ in range(2):
        s.record()
        torch.cuda._sleep(20_000_000)
        e.record()
        torch.cuda.synchronize()
        rate = 20_000_000 / max(s.elapsed_time(e), 1e-3)
    return rate


def warm_up(seconds):
    """Back-to-back bf16 matmuls for `seconds`: the first case is then timed at the power and
    temperature the later ones see (a cold GPU holds higher clocks at first, v46)."""
    if seconds <= 0:
        return
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()


def time_batches(fn, cyc_per_ms, min_batch_ms=25.0, n_batches=7, max_k=30, settle_ms=100.0):
    """{"ms": median per call, "min_ms", "max_ms", "k": calls per batch, "host_ms_per_call",
    "resleeps": batches run again behind a longer sleep}.

    First `settle_ms` of untimed back-to-back calls: the batches then see this function's own
    steady clocks, not the ones the previous work left (at 2k the first implementation timed
    after warm_up() read up to 30 % slow in its first batches, v47; these calls alone did not
    cure that, so bench_ffa.py also drops the process's first measurement, v48).

    A batch counts only if the host enqueued all of it before the sleep ended: otherwise the
    GPU waited for the host in between and the batch timed the host (possible where a call's
    host time nears its GPU time, as at 2k; no batch of v47's needed it). Such a batch is run
    again behind a sleep sized by its own enqueue time."""
    fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    fn()
    e.record()
    torch.cuda.synchronize()
    est = max(s.elapsed_time(e), 1e-3)
    t0 = time.perf_counter()
    fn()
    fn()
    host = (time.perf_counter() - t0) / 2 * 1e3
    torch.cuda.synchronize()
    k = int(min(max_k, max(1, math.ceil(min_batch_ms / est))))
    for _ in range(int(min(5000, math.ceil(settle_ms / est)))):
        fn()
    torch.cuda.synchronize()
    sleep_ms = min(300.0, 1.5 * k * host + 0.3)
    ts, resleeps = [], 0
    while len(ts) < n_batches:
        torch.cuda._sleep(int(sleep_ms * cyc_per_ms))
        t0 = time.perf_counter()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(k):
            fn()
        e.record()
        enqueue_ms = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        if enqueue_ms > sleep_ms and sleep_ms < 300.0 and resleeps < 2 * n_batches:
            resleeps += 1
            sleep_ms = min(300.0, 1.5 * enqueue_ms + 0.3)
            continue
        ts.append(s.elapsed_time(e) / k)
    ts.sort()
    return {"ms": statistics.median(ts), "min_ms": ts[0], "max_ms": ts[-1], "k": k,
            "host_ms_per_call": host, "resleeps": resleeps}
