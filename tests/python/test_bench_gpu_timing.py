"""bench/gpu_timing.py's time_batches on a simulated GPU (one stream, a host clock): the
figure is the GPU's time per call where the sleep covers the enqueue, and stays so when the
host slows down mid-run (the batch is run again behind a longer sleep); the settle calls run
before any timed batch."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import gpu_timing  # noqa: E402

CYC_PER_MS = 1000.0  # the simulated sleep's clock


class FakeGpu:
    """Host time advances by each call's host cost; GPU work starts when both the host has
    enqueued it and the GPU is free. Times in ms."""

    def __init__(self, host_ms, gpu_ms):
        self.host_ms, self.gpu_ms = host_ms, gpu_ms  # host_ms: per call, a function of the call
        self.host = 0.0
        self.gpu_free = 0.0
        self.calls = 0
        self.timed_batches = 0
        gpu = self

        class Event:
            def __init__(self, enable_timing=True):
                self.t = None

            def record(self):
                self.t = max(gpu.host, gpu.gpu_free)
                gpu.gpu_free = self.t

            def elapsed_time(self, end):
                return end.t - self.t

        class Cuda:
            pass

        self.cuda = Cuda()
        self.cuda.Event = Event
        self.cuda._sleep = lambda cycles: self.enqueue(cycles / CYC_PER_MS)
        self.cuda.synchronize = self.synchronize

    def enqueue(self, ms):
        self.gpu_free = max(self.host, self.gpu_free) + ms

    def synchronize(self):
        self.host = max(self.host, self.gpu_free)

    def fn(self):
        self.calls += 1
        self.host += self.host_ms(self.calls)
        self.enqueue(self.gpu_ms)

    def perf_counter(self):
        return self.host * 1e-3


@pytest.fixture
def fake(monkeypatch):
    def make(host_ms, gpu_ms):
        g = FakeGpu(host_ms, gpu_ms)
        monkeypatch.setattr(gpu_timing.torch, "cuda", g.cuda)
        monkeypatch.setattr(gpu_timing.time, "perf_counter", g.perf_counter)
        return g
    return make


def test_gpu_bound_calls_time_the_gpu(fake):
    g = fake(lambda i: 0.030, 0.050)
    r = gpu_timing.time_batches(g.fn, CYC_PER_MS)
    assert r["ms"] == pytest.approx(0.050)
    assert r["resleeps"] == 0 and r["k"] == 30


def test_a_host_that_slows_down_is_not_timed(fake):
    # Fast for the four estimate calls, then 5x the GPU's time per call: the first sleep
    # (sized by the fast calls) ends before the batch is enqueued; without the re-run that
    # batch would read about the host's 0.25 ms.
    g = fake(lambda i: 0.030 if i <= 4 else 0.250, 0.050)
    r = gpu_timing.time_batches(g.fn, CYC_PER_MS, settle_ms=0.0)
    assert r["resleeps"] >= 1
    assert r["ms"] == pytest.approx(0.050)
    assert r["max_ms"] == pytest.approx(0.050)


def test_settle_calls_run_before_the_batches(fake):
    g = fake(lambda i: 0.010, 0.050)
    gpu_timing.time_batches(g.fn, CYC_PER_MS, n_batches=1, max_k=1, settle_ms=10.0)
    # 1 + 1 + 2 estimate calls; 10 ms / 0.06 ms settle calls (the timed call's estimate is
    # its host and GPU time, as a launch's latency is on a real GPU); one batch of one
    assert g.calls == 4 + 167 + 1
