"""Resolves the seed's ``cp_group=`` / ``cp_mesh=`` (or the later ``cp_group_or_mesh=``) into
one process group, and a 2-D mesh into the shape of hierarchical communication."""

from __future__ import annotations

import os

import torch.distributed as dist

from .communicator import group_ranks

__all__ = ["resolve_group", "resolve_group_and_mesh", "hierarchical_comm_enabled",
           "hier_mesh_shape"]


def _is_mesh(obj) -> bool:
    return hasattr(obj, "get_group") and hasattr(obj, "mesh")


_mesh_groups: dict = {}


def _mesh_group(mesh):
    """The process group over every rank of a device mesh (1-D or 2-D), made once per mesh."""
    group = _mesh_groups.get(id(mesh), (None, None))
    if group[0] is mesh:
        return group[1]
    group = _new_mesh_group(mesh)
    _mesh_groups[id(mesh)] = (mesh, group)  # NOTE: holds the mesh, so its id stays unique
    return group


def forget_mesh_groups() -> None:
    """Drops the cached groups of every device mesh."""
    _mesh_groups.clear()


def _new_mesh_group(mesh):
    if mesh.mesh.dim() == 1:
        return mesh.get_group()
    if hasattr(mesh, "_flatten"):
        return mesh._flatten().get_group()
    # NOTE: new_group is collective over the world; every rank reaches this with the same mesh.
    return dist.new_group(mesh.mesh.flatten().tolist())


def resolve_group(cp_group=None, cp_mesh=None, cp_group_or_mesh=None):
    """The process group to run on. Exactly one of the three arguments must be given
    (ValueError naming them otherwise; TypeError for an object of the wrong type)."""
    return resolve_group_and_mesh(cp_group, cp_mesh, cp_group_or_mesh)[0]


def resolve_group_and_mesh(cp_group=None, cp_mesh=None, cp_group_or_mesh=None):
    """``(group, mesh)``: the process group to run on (as :func:`resolve_group`) and the
    DeviceMesh it came from, or None when a process group was given."""
    if cp_group_or_mesh is not None:
        if cp_group is not None or cp_mesh is not None:
            raise ValueError("cp_group_or_mesh: give it alone, not with cp_group/cp_mesh")
        if _is_mesh(cp_group_or_mesh):
            cp_mesh = cp_group_or_mesh
        else:
            cp_group = cp_group_or_mesh
    if cp_group is not None and cp_mesh is not None:
        raise ValueError("cp_group, cp_mesh: give exactly one of them, got both")
    if cp_group is None and cp_mesh is None:
        raise ValueError("cp_group, cp_mesh: give exactly one of them, got neither")
    if cp_mesh is not None:
        if not _is_mesh(cp_mesh):
            raise TypeError(f"cp_mesh: expected a DeviceMesh, got {type(cp_mesh).__name__}")
        return _mesh_group(cp_mesh), cp_mesh
    if not isinstance(cp_group, dist.ProcessGroup):
        raise TypeError(f"cp_group: expected a torch.distributed.ProcessGroup, got "
                        f"{type(cp_group).__name__}")
    return cp_group, None


def hierarchical_comm_enabled() -> bool:
    """``MAGI_ATTENTION_HIERARCHICAL_COMM=1``: keys made with a 2-D ``cp_mesh`` communicate
    in two levels over it (inter-node x intra-node)."""
    return os.environ.get("MAGI_ATTENTION_HIERARCHICAL_COMM", "0") == "1"


def hier_mesh_shape(group, mesh):
    """``(inter, intra)`` of the key's hierarchical communication, or None (flat): the mesh's
    shape when :func:`hierarchical_comm_enabled`, else None. As the original, that mode needs a
    2-D mesh (ValueError for a process group or a mesh of other than 2 dims). The core numbers
    the group's ranks node * intra + local, so the group must list the mesh's ranks row by row
    (``init_hierarchical_mesh`` and ``init_device_mesh`` meshes do)."""
    if not hierarchical_comm_enabled():
        return None
    if mesh is None:
        raise ValueError("cp_group: MAGI_ATTENTION_HIERARCHICAL_COMM=1 needs a 2-D cp_mesh "
                         "(init_hierarchical_mesh), not a process group")
    if mesh.mesh.dim() != 2:
        raise ValueError(f"cp_mesh: MAGI_ATTENTION_HIERARCHICAL_COMM=1 needs a 2-D mesh "
                         f"(inter-node x intra-node), got {mesh.mesh.dim()}-D")
    if group_ranks(group) != mesh.mesh.flatten().tolist():
        raise ValueError(f"cp_mesh: its ranks {mesh.mesh.tolist()} are not its group's "
                         f"{group_ranks(group)} row by row")
    return tuple(int(n) for n in mesh.mesh.shape)
