"""The core's Communicator over torch.distributed: the user's own process group carries the
runtime's all_to_all_v (gloo for CPU tensors, NCCL for CUDA tensors)."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import weakref

import torch
import torch.distributed as dist

from .._ext import core

__all__ = ["TorchCommunicator", "group_ranks", "communicator_for", "forget_communicator"]


def group_ranks(group) -> list[int]:
    """Global ranks of ``group`` in group-rank order."""
    if hasattr(dist, "get_process_group_ranks"):
        return list(dist.get_process_group_ranks(group))
    from torch.distributed import distributed_c10d as c10d  # torch < 2.0

    if group is None or group is c10d.GroupMember.WORLD:
        return list(range(dist.get_world_size()))
    mapping = c10d._pg_group_ranks[group]  # global rank -> group rank
    return [g for g, _ in sorted(mapping.items(), key=lambda item: item[1])]


class _CudaBuffer:
    """A raw device allocation exposed through ``__cuda_array_interface__`` (bytes)."""

    def __init__(self, address: int, nbytes: int) -> None:
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1",
                                         "data": (address, False), "strides": None,
                                         "version": 2}


def _as_bytes(buffer) -> torch.Tensor:
    """A uint8 tensor over the core's buffer ``(address, nbytes, is_cuda, device_index)``,
    without copying."""
    address, nbytes, is_cuda, index = buffer
    device = torch.device("cuda", index) if is_cuda else torch.device("cpu")
    if nbytes == 0:
        return torch.empty(0, dtype=torch.uint8, device=device)
    if is_cuda:
        return torch.as_tensor(_CudaBuffer(address, nbytes), device=device)
    return torch.frombuffer((ctypes.c_uint8 * nbytes).from_address(address), dtype=torch.uint8)


# NOTE: the tensors of finished exchanges stay referenced here for a while. torch's worker
# thread (gloo; NCCL's watchdog likewise) drops its own references to an exchange's tensors a
# moment *after* wait() returns. Were Python's references gone first, that last release would
# free the tensors' Python objects on the worker thread, which then waits for the GIL; once
# the interpreter is shutting down, taking the GIL ends the thread inside a noexcept frame and
# the process aborts ("terminate called without an active exception", issue 15 item 2). The
# tensors are views of the core's buffers: keeping them costs no memory.
_RETIRED: collections.deque = collections.deque(maxlen=64)


def _on_stream(stream: int, device: torch.device):
    """Makes the core's stream (a cudaStream_t as an int; 0: none) torch's current stream, so
    that ProcessGroupNCCL orders its work after it (on issue) or it after the work (on wait)."""
    if not stream or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.stream(torch.cuda.ExternalStream(stream, device=device))


class _Work:
    """The handle returned to the core: one call of ``wait()`` (the host waits) or
    ``wait_on(stream)`` (the stream waits) completes the exchange."""

    def __init__(self, work, keepalive, device=None) -> None:
        self._work, self._keepalive, self._device = work, keepalive, device

    def wait(self) -> None:
        self._finish(None)

    def wait_on(self, stream: int) -> None:
        """``stream``: a cudaStream_t as an int (0: torch's current stream)."""
        self._finish(stream)

    def _finish(self, stream) -> None:
        if self._work is not None:
            cuda = self._device is not None and self._device.type == "cuda"
            with _on_stream(stream or 0, self._device):
                # NOTE: on NCCL, Work.wait() orders torch's current stream after the exchange
                # and returns at once; the host waits only when that stream is synchronised.
                self._work.wait()
                if cuda and stream is None:
                    torch.cuda.current_stream(self._device).synchronize()
            _RETIRED.append((self._work, self._keepalive))
        self._work = self._keepalive = None


class TorchCommunicator(core().Communicator):
    """``magi::Communicator`` implemented with ``dist.all_to_all_single(async_op=True)`` on
    ``group``. Its group id is the group's global ranks, so keys are cached per group.

    The group is held weakly: the caches of this package never keep a process group alive
    (after ``dist.destroy_process_group`` an exchange raises a RuntimeError instead)."""

    def __init__(self, group) -> None:
        # NOTE: rank, size and group id are fixed: the core reads them without calling Python.
        group_id = "torch:" + ",".join(map(str, group_ranks(group)))
        super().__init__(dist.get_rank(group), dist.get_world_size(group), group_id)
        self._group = weakref.ref(group)
        self._nccl = dist.get_backend(group) == "nccl"
        self._group_id = group_id

    @property
    def group(self):
        group = self._group()
        if group is None:
            raise RuntimeError(f"the process group of ranks {self._group_id[6:]} was destroyed; "
                               "make a new key on a live group")
        return group

    def all_to_all_v(self, send, send_counts, recv, recv_counts, row_bytes, stream=0):
        """Called by the core: rows of ``row_bytes`` bytes, counts per rank in rank order;
        ``stream`` is the producer stream (a cudaStream_t as an int; 0: the current one)."""
        send_t, recv_t = _as_bytes(send), _as_bytes(recv)
        if self._nccl and not send_t.is_cuda:
            return self._host_exchange(send_t, send_counts, recv_t, recv_counts, row_bytes)
        with _on_stream(stream, send_t.device):
            work = dist.all_to_all_single(
                recv_t, send_t,
                output_split_sizes=[c * row_bytes for c in recv_counts],
                input_split_sizes=[c * row_bytes for c in send_counts],
                group=self.group, async_op=True)
        return _Work(work, (send_t, recv_t), send_t.device)

    def _host_exchange(self, send_t, send_counts, recv_t, recv_counts, row_bytes):
        """Host buffers on an NCCL group (the key check's few bytes): staged through the
        current CUDA device, completed before returning."""
        device = torch.device("cuda", torch.cuda.current_device())
        send_d = send_t.to(device)
        recv_d = torch.empty(recv_t.shape, dtype=torch.uint8, device=device)
        dist.all_to_all_single(
            recv_d, send_d, output_split_sizes=[c * row_bytes for c in recv_counts],
            input_split_sizes=[c * row_bytes for c in send_counts], group=self.group)
        recv_t.copy_(recv_d.cpu())
        _RETIRED.append((send_d, recv_d))  # see _RETIRED
        return _Work(None, None)


# Communicators by group, held weakly (a communicator holds its group weakly too).
_communicators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def communicator_for(group) -> TorchCommunicator:
    """The (cached) communicator of ``group``."""
    comm = _communicators.get(group)
    if comm is None:
        comm = _communicators[group] = TorchCommunicator(group)
    return comm


def forget_communicator(group=None) -> None:
    """Drops the cached communicator of ``group`` (of every group when None)."""
    if group is None:
        _communicators.clear()
    else:
        _communicators.pop(group, None)
