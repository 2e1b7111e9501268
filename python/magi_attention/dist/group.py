"""Resolves the seed's ``cp_group=`` / ``cp_mesh=`` (or the later ``cp_group_or_mesh=``) into
one process group."""

from __future__ import annotations

import torch.distributed as dist

__all__ = ["resolve_group"]


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
        return _mesh_group(cp_mesh)
    if not isinstance(cp_group, dist.ProcessGroup):
        raise TypeError(f"cp_group: expected a torch.distributed.ProcessGroup, got "
                        f"{type(cp_group).__name__}")
    return cp_group
