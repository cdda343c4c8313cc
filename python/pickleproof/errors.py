"""The exceptions pickleproof raises.

Every one subclasses :class:`pickle.UnpicklingError`, so code that already catches
pickle's errors keeps working when ``pickle.loads`` becomes ``pickleproof.loads``;
:class:`TruncatedError` is also an :class:`EOFError`, as ``pickle.loads(b"")`` is.
Each carries where the stream failed, so a refusal can be located in the file.
"""

import pickle

__all__ = ["UnpicklingError", "TruncatedError", "LimitError", "ForbiddenError", "CheckpointError"]


class UnpicklingError(pickle.UnpicklingError):
    """A stream pickleproof refuses.

    Attributes:
        kind: a short stable name of what went wrong (``"malformed"``,
            ``"stack_underflow"``, ``"limit"``, ``"forbidden"``, ...).
        offset: byte offset of the failing opcode from the start of the pickle, or
            ``None`` when the error is not tied to one opcode.
        opcode: the failing opcode's byte, or ``None``.
    """

    def __init__(self, message, *, kind, offset=None, opcode=None):
        super().__init__(message)
        self.kind = kind
        self.offset = offset
        self.opcode = opcode


class TruncatedError(UnpicklingError, EOFError):
    """The input ended before the pickle's STOP opcode."""


class LimitError(UnpicklingError):
    """A budget of :class:`pickleproof.Limits` was exceeded: a memo bomb, a nesting
    bomb, a huge length claim, a million-digit integer...

    Attributes:
        resource: which budget (``"memory"``, ``"depth"``, ``"steps"``, ...).
        limit: the configured limit.
        requested: what the stream asked for (at least ``limit + 1``).
    """

    def __init__(self, message, *, resource, limit, requested, **where):
        super().__init__(message, kind="limit", **where)
        self.resource = resource
        self.limit = limit
        self.requested = requested


class ForbiddenError(UnpicklingError):
    """The policy refused something the stream asks the loader to import or call.

    Attributes:
        module, name: the global refused (after Python 2 name mapping), or ``None``
            when what was refused is not a global (a persistent id, an extension
            code, a computed call).
        reason: why, when the global is allowed only with certain arguments and these
            break the rule (``"getattr with a name that is not a listed literal"``);
            ``None`` when the global is simply not allowed.
    """

    def __init__(self, message, *, module=None, name=None, reason=None, **where):
        where.setdefault("kind", "forbidden")
        super().__init__(message, **where)
        self.module = module
        self.name = name
        self.reason = reason


class CheckpointError(UnpicklingError):
    """A PyTorch checkpoint whose pickle decodes but whose tensors do not hold up: a
    view past its storage, an unknown dtype, a rank mismatch, a tensor safetensors
    cannot hold, two tensors sharing bytes in a conversion...

    Attributes:
        kind: which check failed (``"out_of_bounds"``, ``"unknown_dtype"``,
            ``"aliased"``, ``"not_a_checkpoint"``, ...).
        tensor: the tensor's name path, or ``None`` when the error is not about one
            tensor.
        tensors: every tensor the error is about: ``[tensor]``, or for ``"aliased"``
            all the tensors that share bytes (sorted); empty when none.
    """

    def __init__(self, message, *, kind, tensor=None, tensors=(), **where):
        super().__init__(message, kind=kind, **where)
        self.tensor = tensor
        self.tensors = list(tensors)
