"""pickleproof: ``pickle.loads`` for data nobody should trust.

``pickleproof.loads`` decodes a pickle in Rust, under hard budgets and an allowlist
policy, and only then builds the Python objects it describes. With the default
``"strict"`` policy nothing is imported and nothing is called: only built-in values
(``None``, bools, ints, floats, str, bytes, bytearray, tuples, lists, dicts, sets and
frozensets, with their shared references and cycles) come back. A wider policy
(``"numpy"``, ``"ml"``, your own) lets the globals it lists be imported and called
as ``pickle.loads`` would, after every argument rule of the policy has been checked.

>>> import pickle, pickleproof
>>> pickleproof.loads(pickle.dumps({"a": [1, 2.5, b"x"]}))
{'a': [1, 2.5, b'x']}
>>> pickleproof.loads(b"cos\\nsystem\\n(S'echo pwned'\\ntR.")
Traceback (most recent call last):
  ...
pickleproof.errors.ForbiddenError: global os.system refused by policy at offset 0 (opcode GLOBAL)
"""

from ._pickleproof import (
    Limits,
    Policy,
    load,
    loads,
    scan,
    scan_file,
    __version__,
)
from . import pytorch
from .errors import CheckpointError, ForbiddenError, LimitError, TruncatedError, UnpicklingError

__all__ = [
    "CheckpointError",
    "ForbiddenError",
    "LimitError",
    "Limits",
    "Policy",
    "TruncatedError",
    "UnpicklingError",
    "load",
    "pytorch",
    "loads",
    "scan",
    "scan_file",
    "__version__",
]
