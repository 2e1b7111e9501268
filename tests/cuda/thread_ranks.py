"""CP ranks as threads of one process on one GPU: the core's distributed pipeline (dispatch,
calc_attn forward and backward, undispatch) at cp >= 2 where NCCL cannot go (it refuses two
ranks on one device). Test and bench support (tests/cuda/test_thread_ranks.py on the GPU,
tests/python/test_thread_comm.py on the CPU, bench/bench_threads.py); not part of the package.

ThreadComm is a magi Communicator (the core calls back into it, as into TorchCommunicator). An
exchange on CUDA buffers runs on the rank's own stream: it waits for every rank's producer
stream (an event recorded when the rank posted), copies its pieces out of the senders' buffers,
and records a done event; the consumer stream then waits for every rank's done event, so no
send buffer is reused while another rank may still read it. Host buffers (the key check) are
copied at once. The ranks' threads call the core directly (the package's autograd functions
would run every rank's backward on torch's one autograd thread per device, which deadlocks at
the first exchange).
"""

from __future__ import annotations

import contextlib
import os
import threading
from types import SimpleNamespace

import torch

from magi_attention._ext import core
from magi_attention.config import DistAttnConfig
from magi_attention.dist.communicator import _as_bytes
from magi_attention.functional import dist_attn as fda

# A rank that does not take part in an exchange within this is an error, not a hang.
WAIT_S = float(os.environ.get("MAGI_THREAD_RANKS_WAIT_S", "60"))


class _Exchange:
    def __init__(self, size: int) -> None:
        # per rank: (send, send_counts, recv, recv_counts, row_bytes, producer event or None)
        self.posts = [None] * size
        self.done = [None] * size  # per rank: its copies' event (CUDA) or True
        self.left = size  # ranks that have not finished the exchange


class ThreadGroup:
    """The shared state of `size` ThreadComm members; member(r) is rank r's communicator."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.cv = threading.Condition()
        self.exchanges: dict[int, _Exchange] = {}
        self.failed = False
        self.members = [ThreadComm(self, r) for r in range(size)]

    def wait_for(self, pred, what: str) -> None:
        """Waits (the lock held by the caller) until pred(); raises if a rank failed or never
        comes."""
        if not self.cv.wait_for(lambda: self.failed or pred(), timeout=WAIT_S):
            self.failed = True  # the other ranks give up too
            self.cv.notify_all()
            raise RuntimeError(f"ThreadGroup: {what}: some rank did not take part in {WAIT_S} s")
        if self.failed:
            raise RuntimeError(f"ThreadGroup: {what}: abandoned, another rank failed")

    def fail(self) -> None:
        with self.cv:
            self.failed = True
            self.cv.notify_all()


def _stream(stream: int, device: torch.device):
    """The cudaStream_t `stream` (an int; 0: the current stream) as a torch stream."""
    if stream:
        return torch.cuda.ExternalStream(stream, device=device)
    return torch.cuda.current_stream(device)


class ThreadComm(core().Communicator):
    def __init__(self, group: ThreadGroup, rank: int) -> None:
        super().__init__(rank, group.size, f"threads:{id(group)}")
        self.group, self.r, self.seq = group, rank, 0
        self.streams: dict[torch.device, torch.cuda.Stream] = {}  # this rank's exchange streams

    def exchange_stream(self, device: torch.device) -> torch.cuda.Stream:
        s = self.streams.get(device)
        if s is None:
            s = self.streams[device] = torch.cuda.Stream(device=device)
        return s

    def all_to_all_v(self, send, send_counts, recv, recv_counts, row_bytes, stream=0):
        send_t, recv_t = _as_bytes(send), _as_bytes(recv)
        event = None
        if send_t.is_cuda:
            event = torch.cuda.Event()
            event.record(_stream(stream, send_t.device))
        seq, self.seq = self.seq, self.seq + 1
        g = self.group
        with g.cv:
            ex = g.exchanges.setdefault(seq, _Exchange(g.size))
            ex.posts[self.r] = (send_t, list(send_counts), recv_t, list(recv_counts), row_bytes,
                                event)
            g.cv.notify_all()
        return _Handle(self, seq)


class _Handle:
    """Completes one exchange: wait() (the host) or wait_on(stream) (a consumer stream)."""

    def __init__(self, comm: ThreadComm, seq: int) -> None:
        self.comm, self.seq = comm, seq

    def wait(self) -> None:
        self._finish(None)

    def wait_on(self, stream: int) -> None:
        self._finish(stream)

    def _finish(self, stream) -> None:
        comm, g, r = self.comm, self.comm.group, self.comm.r
        with g.cv:
            ex = g.exchanges[self.seq]
            g.wait_for(lambda: all(p is not None for p in ex.posts), f"exchange #{self.seq}")
        _, _, recv_t, recv_counts, row_bytes, _ = ex.posts[r]
        pieces = []  # (dst row, src tensor, src row, rows)
        dst = 0
        for src, (s_t, s_counts, _, _, s_row_bytes, _) in enumerate(ex.posts):
            if s_row_bytes != row_bytes or s_counts[r] != recv_counts[src]:
                g.fail()
                raise RuntimeError(f"exchange #{self.seq}: rank {src} sends {s_counts[r]} rows of "
                                   f"{s_row_bytes} bytes to rank {r}, which expects "
                                   f"{recv_counts[src]} of {row_bytes}")
            pieces.append((dst, s_t, sum(s_counts[:r]), recv_counts[src]))
            dst += recv_counts[src]
        done = True
        if recv_t.is_cuda:
            cs = comm.exchange_stream(recv_t.device)
            with torch.cuda.stream(cs):
                for p in ex.posts:
                    if p[5] is not None:
                        cs.wait_event(p[5])
                for d, s_t, s, n in pieces:
                    if n:
                        recv_t[d * row_bytes:(d + n) * row_bytes].copy_(
                            s_t[s * row_bytes:(s + n) * row_bytes], non_blocking=True)
                done = torch.cuda.Event()
                done.record(cs)
        else:
            for d, s_t, s, n in pieces:
                if n:
                    recv_t[d * row_bytes:(d + n) * row_bytes].copy_(
                        s_t[s * row_bytes:(s + n) * row_bytes])
        with g.cv:
            ex.done[r] = done
            g.cv.notify_all()
            g.wait_for(lambda: all(d is not None for d in ex.done), f"exchange #{self.seq}")
        if recv_t.is_cuda:
            for d in ex.done:
                if stream is None:
                    d.synchronize()
                else:
                    _stream(stream, recv_t.device).wait_event(d)
        with g.cv:
            ex.left -= 1
            if ex.left == 0:
                del g.exchanges[self.seq]


class RanksHung(RuntimeError):
    """Rank threads still running 2 WAIT_S after run_ranks began to wait for them (stuck
    outside the exchanges, e.g. in a kernel); they are daemon threads, so the process can exit."""


def run_ranks(cp: int, fn, cuda: bool = True, group: ThreadGroup | None = None):
    """fn(comm) on `cp` threads, one ThreadComm each (of `group`, or of a new group), each on a
    CUDA stream of its own when `cuda` (torch's current stream is per thread); returns the
    results in rank order. The first failure is raised after every thread ended (the others end
    with an 'abandoned' error); RanksHung if they do not end."""
    group = group or ThreadGroup(cp)
    results, errors = [None] * cp, [None] * cp

    def body(r):
        try:
            with torch.cuda.stream(torch.cuda.Stream()) if cuda else contextlib.nullcontext():
                results[r] = fn(group.members[r])
                if cuda:
                    torch.cuda.current_stream().synchronize()
        except BaseException as e:  # noqa: BLE001 (re-raised below)
            errors[r] = e
            group.fail()

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(cp)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=2 * WAIT_S)
    if any(t.is_alive() for t in threads):
        group.fail()
        raise RanksHung(f"{sum(t.is_alive() for t in threads)} of {cp} rank threads did not end")
    real = [e for e in errors if e is not None and "abandoned" not in str(e)]
    if real or any(errors):
        raise (real or [e for e in errors if e is not None])[0]
    return results


def make_key(comm: ThreadComm, slices, total: int, hq: int, hkv: int, d: int,
             chunk_size: int | None = None, config: DistAttnConfig | None = None):
    """A key-like object for the package's internal steps (functional.dist_attn): the core's
    runtime made collectively over `comm` (the key check is one exchange of host buffers)."""
    cfg = (config or DistAttnConfig())._to_core()
    rt = core().make_flex_key(list(slices), total, total, hq, hkv, d, comm, cfg, chunk_size, True)
    return SimpleNamespace(runtime=rt, comm=comm, shard_seqlen=rt.shard_seqlen,
                           shard_seqlen_kv=rt.shard_seqlen_kv, total_seqlen_q=total,
                           total_seqlen_k=total)


def pipeline(key, q, k, v, dout, scale: float):
    """One rank's dispatch -> forward -> backward -> undispatch on global q, k, v, dout;
    returns the global (out, dq, dk, dv) every rank gathers."""
    ql, kl, vl, dol = (fda._dispatch(key, x, 0.0) for x in (q, k, v, dout))
    ql, kl, vl, out, lse = fda._calc_forward(ql, kl, vl, key, scale, 0.0)
    dq, dk, dv = fda._calc_backward(dol, ql, kl, vl, out, lse, key, scale, 0.0)
    return tuple(fda._undispatch(key, x) for x in (out, dq, dk, dv))
