"""pytest setup: use the in-tree package (python/, with the module built there) when it has a
built _C, else the installed one; make examples/python importable."""

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_IN_TREE = os.path.join(ROOT, "python")
if glob.glob(os.path.join(_IN_TREE, "magi_attention", "_C*.so")):
    sys.path.insert(0, _IN_TREE)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_IN_TREE, os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
