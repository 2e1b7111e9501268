"""Worker of test_hierarchical.py: the same mask through a flat key and a hierarchical key (a 2-D
cp_mesh under MAGI_ATTENTION_HIERARCHICAL_COMM=1), dispatch -> calc_attn -> undispatch with
gradients, on one rank."""

import os

import torch
import torch.distributed as dist

from dist_attn_workers import HQ, HKV, D, qkv_of
from magi_attention.api import (
    DistAttnConfig,
    OverlapConfig,
    calc_attn,
    dispatch,
    init_hierarchical_mesh,
    magi_attn_flex_key,
    undispatch,
)

ENV = "MAGI_ATTENTION_HIERARCHICAL_COMM"


class RowMajorMesh:
    """The parts of torch's DeviceMesh the package reads (``mesh``, ``get_group``), for a torch
    without DeviceMesh (1.13): ranks ``arange`` laid out in ``shape``, row by row. A 2-D one's
    group is made by the package (new_group of its ranks); a 1-D one's is ``group``."""

    def __init__(self, shape, group=None) -> None:
        self.mesh = torch.arange(int(torch.tensor(shape).prod())).reshape(shape)
        self._group = group

    def get_group(self, mesh_dim=None):
        return self._group


def make_mesh(world_size: int, inter: int, intra: int):
    """init_hierarchical_mesh's mesh where this torch has DeviceMesh, else a RowMajorMesh."""
    os.environ[ENV] = "1"
    try:
        mesh = init_hierarchical_mesh(world_size, inter, intra)
    except NotImplementedError:
        return RowMajorMesh((inter, intra))
    assert tuple(mesh.mesh.shape) == (inter, intra)
    return mesh


def key_of(mask, total, mesh, hierarchical: bool, degree: int):
    """A key over the mesh's ranks: flat (the variable unset) or hierarchical."""
    os.environ[ENV] = "1" if hierarchical else "0"
    q, k, types = mask
    config = DistAttnConfig(overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))
    key = magi_attn_flex_key(q, k, types, total, total, num_heads_q=HQ, num_heads_kv=HKV,
                             head_dim=D, chunk_size=4, cp_mesh=mesh, dist_attn_config=config)
    os.environ.pop(ENV)
    return key


def attend(key, x):
    """(global out, x.grad) of dispatch -> calc_attn -> undispatch with a fixed output grad."""
    x = x.detach().clone().requires_grad_()
    out, _ = calc_attn(*qkv_of(dispatch(x, key)), key)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out.double() * g).sum().backward()
    return total_out.detach(), x.grad


def run(rank, world_size, inter, intra, mask, total, degree):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    mesh = make_mesh(world_size, inter, intra)
    flat = key_of(mask, total, mesh, False, degree)
    hier = key_of(mask, total, mesh, True, degree)
    assert flat.runtime.hier_mesh is None and flat.hier_mesh is None
    assert (hier.runtime.hier_mesh.inter, hier.runtime.hier_mesh.intra) == (inter, intra)
    assert hier.hier_mesh == (inter, intra) and hier != flat
    x = torch.randn(total, HQ * D, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    flat_out, flat_grad = attend(flat, x)
    hier_out, hier_grad = attend(hier, x)
    return dict(x=x, flat_out=flat_out, flat_grad=flat_grad, hier_out=hier_out,
                hier_grad=hier_grad, flat_rows=flat.runtime.comm_rows(),
                hier_rows=hier.runtime.comm_rows(), slices=list(hier.slices))


def run_errors(rank, world_size):
    """What the hierarchical mode refuses, and init_hierarchical_mesh without the variable."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    os.environ.pop(ENV, None)
    assert init_hierarchical_mesh(world_size, 2, world_size // 2) is None
    mask = ([[0, 32]], [[0, 32]], ["causal"])
    errors = []
    os.environ[ENV] = "1"
    for where in (dict(cp_group=group), dict(cp_mesh=RowMajorMesh((world_size,), group))):
        try:
            magi_attn_flex_key(*mask, 32, 32, head_dim=D, chunk_size=4, **where)
            errors.append(None)
        except ValueError as e:
            errors.append(str(e))
    os.environ.pop(ENV)
    return errors
