"""GPU timing shared by the benchmarks: kernel time with the host's launch cost hidden.

Each measurement is a batch of k back-to-back calls between two CUDA events, queued behind a
GPU sleep long enough for the host to enqueue the whole batch; the figure is the median over
batches of (batch time / k). Functions compared with each other are best timed in interleaved
batches (BatchTimer: one batch of each in turn).
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


class BatchTimer:
    """The batches of one function: calibrated once (a warm-up call, then k calls per batch for
    at least min_batch_ms), then timed one batch per batch() call, so that the batches of several
    functions can be interleaved (bench_ffa.py): a drift of the GPU's clocks over the seconds
    of a measurement then moves all of them alike."""

    def __init__(self, fn, cyc_per_ms, min_batch_ms=25.0, max_k=30):
        self.fn, self.cyc = fn, cyc_per_ms
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
        self.host = (time.perf_counter() - t0) / 2 * 1e3
        torch.cuda.synchronize()
        self.k = int(min(max_k, max(1, math.ceil(min_batch_ms / est))))
        self.ts = []

    def batch(self):
        torch.cuda._sleep(int(min(300.0, 1.5 * self.k * self.host + 0.3) * self.cyc))
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(self.k):
            self.fn()
        e.record()
        torch.cuda.synchronize()
        self.ts.append(s.elapsed_time(e) / self.k)

    def result(self):
        """{"ms": median per call, "min_ms", "max_ms", "k": calls per batch, "host_ms_per_call"}."""
        ts = sorted(self.ts)
        return {"ms": statistics.median(ts), "min_ms": ts[0], "max_ms": ts[-1], "k": self.k,
                "host_ms_per_call": self.host}


def time_batches(fn, cyc_per_ms, min_batch_ms=25.0, n_batches=7, max_k=30):
    """BatchTimer(fn).result() after n_batches batches in a row."""
    t = BatchTimer(fn, cyc_per_ms, min_batch_ms, max_k)
    for _ in range(n_batches):
        t.batch()
    return t.result()
