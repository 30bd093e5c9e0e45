"""fexsim: a Python client for fexsim's fabricd (docs/API.md).

    import fexsim
    with fexsim.Client.for_lab("/tmp/lab") as c:
        print(c.Fabric.ListHosts().hosts)

The protobuf modules (*_pb2.py) are generated from proto/*.proto by
`make` into BUILD/python, not committed.  They are looked for in
$FEXSIM_PB_DIR, then $FEXSIM_BIN/python (the build the tests run), then
build/python beside this folder's checkout.
"""
import os
import sys


def _pb_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.environ.get("FEXSIM_PB_DIR")]
    if os.environ.get("FEXSIM_BIN"):
        cands.append(os.path.join(os.environ["FEXSIM_BIN"], "python"))
    cands.append(os.path.join(here, "..", "..", "build", "python"))
    for d in cands:
        if d and os.path.exists(os.path.join(d, "rpc_pb2.py")):
            return os.path.abspath(d)
    raise ImportError("fexsim: no generated protobuf modules (rpc_pb2.py) "
                      "in $FEXSIM_PB_DIR, $FEXSIM_BIN/python or build/python:"
                      " run make")


if _pb_dir() not in sys.path:
    sys.path.insert(0, _pb_dir())

from .auth import AuthError, Key                        # noqa: E402
from .client import (Client, RpcError, Resync, Watch,   # noqa: E402
                     error_class, methods)
from . import client as _client                         # noqa: E402

# One exception class a status (fexsim.NotFound, fexsim.FailedPrecondition,
# ...), each an RpcError.
globals().update(_client.ERRORS_BY_NAME)
pb = _client.pb

__all__ = ["AuthError", "Client", "Key", "RpcError", "Resync", "Watch",
           "error_class", "methods", "pb"] + list(_client.ERRORS_BY_NAME)
