"""The package's layers import each other in one direction (no api <-> dist cycle): the graph of
module-level imports between its parts (api, dist, functional, common, config, ...) has no
cycle. Imports inside functions (deferred on purpose, e.g. in _ops) are not counted."""

import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "python", "magi_attention")


def _modules():
    for base, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(base, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                yield rel.removesuffix(".__init__"), path, f == "__init__.py"


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _exists(module: str) -> bool:
    path = os.path.join(os.path.dirname(ROOT), *module.split("."))
    return os.path.exists(path + ".py") or os.path.isdir(path)


def _edges():
    edges = set()
    for module, path, is_pkg in _modules():
        package = module if is_pkg else module.rsplit(".", 1)[0]
        tree = ast.parse(open(path).read())
        for node in tree.body:  # module level only
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
                names = [f"{base}.{a.name}" for a in node.names]
                targets = [n for n in names if _exists(n)] or [base]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("magi_attention.") and _part(t) != _part(module) and _part(module):
                    edges.add((_part(module), _part(t)))
    return edges


def test_parts_import_each_other_without_cycles():
    edges = _edges()
    assert ("dist", "api") not in edges and ("functional", "api") not in edges, edges
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reach(start, node, seen):
        for nxt in graph.get(node, ()):
            if nxt == start:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reach(start, nxt, seen):
                    return True
        return False

    cyclic = sorted(p for p in graph if reach(p, p, set()))
    assert not cyclic, f"import cycle through {cyclic}: {sorted(edges)}"
