"""Type stubs of the extension module (see pickleproof/__init__.py for the docs)."""

from os import PathLike
from typing import IO, Any, Callable, Iterable, Optional, Union

_Buffer = Union[bytes, bytearray, memoryview]

__version__: str

class Limits:
    """Hard caps on every resource a decode uses; ``Limits()`` is safe for untrusted input."""

    def __init__(
        self,
        *,
        max_input_bytes: int = ...,
        max_steps: int = ...,
        max_memory_bytes: int = ...,
        max_depth: int = ...,
        max_memo_entries: int = ...,
        max_container_len: int = ...,
        max_int_digits: int = ...,
        max_int_bytes: int = ...,
    ) -> None: ...
    @staticmethod
    def unbounded() -> "Limits": ...
    @property
    def max_input_bytes(self) -> int: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def max_memory_bytes(self) -> int: ...
    @property
    def max_depth(self) -> int: ...
    @property
    def max_memo_entries(self) -> int: ...
    @property
    def max_container_len(self) -> int: ...
    @property
    def max_int_digits(self) -> int: ...
    @property
    def max_int_bytes(self) -> int: ...

class Policy:
    """Which globals a stream may name (and loads may import and call)."""

    @staticmethod
    def strict() -> "Policy": ...
    @staticmethod
    def preset(name: str) -> "Policy": ...
    @staticmethod
    def preset_names() -> list[str]: ...
    @staticmethod
    def from_text(text: str) -> "Policy": ...
    @staticmethod
    def from_toml(text: str) -> "Policy": ...
    def allow(self, module: str, name: str) -> "Policy": ...
    def union(self, other: "Policy") -> "Policy": ...
    def allows(self, module: str, name: str) -> bool: ...
    def to_text(self) -> str: ...

_PolicyArg = Union[str, Policy, None]

def loads(
    data: _Buffer,
    /,
    *,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
    buffers: Optional[Iterable[Any]] = None,
    policy: _PolicyArg = None,
    limits: Optional[Limits] = None,
    persistent_load: Optional[Callable[[Any], Any]] = None,
) -> Any: ...
def load(
    file: IO[bytes],
    /,
    *,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
    buffers: Optional[Iterable[Any]] = None,
    policy: _PolicyArg = None,
    limits: Optional[Limits] = None,
    persistent_load: Optional[Callable[[Any], Any]] = None,
) -> Any: ...
def scan(data: _Buffer, /, *, policy: _PolicyArg = None) -> dict[str, Any]: ...
def scan_file(path: Union[str, "PathLike[str]"], /, *, policy: _PolicyArg = None) -> dict[str, Any]: ...
def torch_tensors(path: Union[str, "PathLike[str]"]) -> list[dict[str, Any]]: ...
def torch_read(path: Union[str, "PathLike[str]"], name: str) -> bytes: ...
def torch_convert(
    src: Union[str, "PathLike[str]"], dst: Union[str, "PathLike[str]"], *, key: Optional[str] = None
) -> None: ...
