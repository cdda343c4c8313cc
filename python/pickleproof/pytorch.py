"""PyTorch checkpoints without torch: list their tensors, read one, convert to
safetensors.

Every layout torch has written is read: the ZIP format (1.6 and later), the legacy
format, and the 0.1-0.3 tar format. The file is read lazily: first its pickle,
decoded under the ``pytorch`` policy (nothing in it is imported or called), then
only the bytes that are asked for. Every tensor is checked against its storage
(dtype, shape, strides, offset, bounds) before any of its bytes are read. A file
that fails a check raises :class:`pickleproof.CheckpointError` with ``kind`` and
``tensor``. A refused global raises :class:`pickleproof.ForbiddenError`, a broken
pickle raises :class:`pickleproof.UnpicklingError`, and a missing file raises
``FileNotFoundError``.

>>> from pickleproof import pytorch
>>> [(t["name"], t["dtype"], t["shape"]) for t in pytorch.tensors("model.pt")]  # doctest: +SKIP
[('state_dict.fc.weight', 'float32', [10, 784]), ...]
>>> pytorch.convert("model.pt", "model.safetensors", key="state_dict")  # doctest: +SKIP
"""

from ._pickleproof import torch_convert as convert
from ._pickleproof import torch_read as read
from ._pickleproof import torch_tensors as tensors

__all__ = ["convert", "read", "tensors"]
