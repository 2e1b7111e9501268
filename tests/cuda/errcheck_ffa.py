"""Device diagnostic: does an error message (std::ostringstream in magi::detail::throw_error)
work inside this process? argv[1] = "torch" imports torch first, anything else does not."""
import array
import faulthandler
import glob
import importlib.util
import os
import sys

faulthandler.enable()
if sys.argv[1:] == ["torch"]:
    import torch  # noqa: F401
here = os.path.dirname(os.path.abspath(__file__))
so = glob.glob(os.path.join(here, "..", "..", "python", "magi_attention", "_C*.so"))[0]
spec = importlib.util.spec_from_file_location("magi_attention._C", so)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
q = array.array("i", [5, 1])  # start > end: rejected with a message
k = array.array("i", [0, 1])
try:
    m.FfaSlices(q.buffer_info()[0], k.buffer_info()[0], 0, 1)
    print("no error?!")
except Exception as e:  # noqa: BLE001
    print("error path ok:", type(e).__name__, str(e)[:120], flush=True)
