"""Write PyTorch-format checkpoints without torch installed.

Reproduces the on-disk layouts that ``torch.save`` / ``torch.jit.save`` produce, from
a reading of torch's own source (``torch/serialization.py`` ``_save``/``_legacy_save``
and the pre-0.4 tar ``_save``; ``torch/_tensor.py`` ``_reduce_ex_internal``;
``torch/nn/parameter.py`` ``Parameter.__reduce_ex__``;
``caffe2/serialize/inline_container.cc`` ``PyTorchStreamWriter`` and the bundled miniz
writer). Nothing here imports torch, and nothing here ever *loads* a pickle.

Public API::

    Storage(dtype, data_bytes, location="cpu")
    Tensor(storage, size, stride=None, storage_offset=0, requires_grad=False)
    Tensor.from_values(dtype, values, size=None)      # packs values little-endian
    tensor.view_as(size, stride=None, storage_offset=0) # another tensor on the same storage
    Parameter(tensor, requires_grad=True)

    pickle_with_storages(obj, protocol=2) -> (bytes, [Storage, ...])   # torch _save pickling
    write_zip_checkpoint(path, obj, archive_name="archive", style="2.5", ...)
    write_legacy_checkpoint(path, obj)          # torch.save(..., _use_new_zipfile_serialization=False)
    write_legacy_tar_checkpoint(path, obj)      # torch <= 0.3 tar format
    write_torchscript_archive(path, module, archive_name="archive", code=None)
    ScriptModule(qualname, attributes)          # object pickled as GLOBAL __torch__.<Name>

How the ``torch.*`` globals get into the stream: the objects above reduce to small
stand-in callables/classes whose ``__module__``/``__qualname__`` name the real torch
objects (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``...). While pickling,
stand-in modules are placed in ``sys.modules`` (and the previous entries restored
afterwards) so that CPython's own pickler emits exactly the GLOBAL opcodes torch's
pickler would. The pickler is CPython's C ``pickle.Pickler`` with a ``persistent_id``
method, exactly as torch uses it, so opcodes and memo numbering match torch's output
for the same object graph.

ZIP container ("miniz" writer, the default): reproduces what PyTorchStreamWriter +
miniz (``MZ_ZIP_FLAG_WRITE_ZIP64``) emit: stored entries; local headers with
version-needed 0, flags 0x0808 (data descriptor + UTF-8), DOS time/date 0, CRC and
sizes 0; a ``FB`` extra field padding each entry's data to a 64-byte boundary; a
16-byte ``PK\\x07\\x08`` data descriptor after each non-empty entry (an empty record
gets flags 0x0800 and no descriptor); central directory entries with
version-made-by 0 and no extra field; then zip64 end-of-central-directory record and
locator, then the classic end-of-central-directory record. ``zip_writer="zipfile"``
instead writes the same records with Python's ``zipfile`` (sizes in the local headers,
no data descriptors) but the same 64-byte alignment padding.

Known approximations (no torch was available to diff against):
* ``.data/serialization_id``: torch combines std::hash of record names (iterated in
  unordered_set order) with the CRC32s of the data descriptors. The CRC half is
  reproduced exactly; the name-hash half is a deterministic stand-in (FNV-1a over the
  names in write order). Same 40-digit format.
* TorchScript: torch's C++ pickler is emulated with CPython's pickler; opcodes are the
  same kinds (GLOBAL/EMPTY_TUPLE/NEWOBJ/BUILD, BINPERSID storages) but memo (BINPUT)
  numbering may differ from a real ``torch.jit.save``.
"""
from __future__ import annotations

import binascii
import contextlib
import copyreg
import io
import pickle
import struct
import sys
import tarfile
import types
import zipfile
from collections import OrderedDict

__all__ = [
    "DTYPES", "Storage", "Tensor", "Parameter", "ScriptModule",
    "pickle_with_storages", "build_zip_records", "write_zip_checkpoint",
    "write_legacy_checkpoint", "write_legacy_tar_checkpoint",
    "write_torchscript_archive", "miniz_zip_bytes",
]

# dtype name -> (legacy storage class name, element size, struct format or None)
DTYPES = {
    "float32": ("FloatStorage", 4, "f"),
    "float64": ("DoubleStorage", 8, "d"),
    "float16": ("HalfStorage", 2, "e"),
    "bfloat16": ("BFloat16Storage", 2, None),
    "int64": ("LongStorage", 8, "q"),
    "int32": ("IntStorage", 4, "i"),
    "int16": ("ShortStorage", 2, "h"),
    "int8": ("CharStorage", 1, "b"),
    "uint8": ("ByteStorage", 1, "B"),
    "bool": ("BoolStorage", 1, "?"),
    "complex64": ("ComplexFloatStorage", 8, None),
    "complex128": ("ComplexDoubleStorage", 16, None),
}
_TENSOR_TYPE_FOR_STORAGE = {  # legacy tar format pickles type(tensor)
    "FloatStorage": "FloatTensor", "DoubleStorage": "DoubleTensor", "HalfStorage": "HalfTensor",
    "BFloat16Storage": "BFloat16Tensor", "LongStorage": "LongTensor", "IntStorage": "IntTensor",
    "ShortStorage": "ShortTensor", "CharStorage": "CharTensor", "ByteStorage": "ByteTensor",
    "BoolStorage": "BoolTensor", "ComplexFloatStorage": "ComplexFloatTensor",
    "ComplexDoubleStorage": "ComplexDoubleTensor",
}

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_ALIGNMENT = 64
_STORAGE = "storage"   # one object, so the pickler memoizes it like torch's code constant
_CPU = "cpu"


# --------------------------------------------------------------------------- globals
class _GlobalRegistry:
    """Stand-in objects for torch globals, and the fake modules that expose them."""

    def __init__(self):
        self.objects = {}  # (module, qualname) -> object

    def function(self, module, name):
        key = (module, name)
        if key not in self.objects:
            def stub(*args, **kwargs):  # never called: we only pickle
                raise RuntimeError(f"stand-in for {module}.{name}; not callable")
            stub.__module__ = module
            stub.__name__ = name
            stub.__qualname__ = name
            self.objects[key] = stub
        return self.objects[key]

    def cls(self, module, name):
        key = (module, name)
        if key not in self.objects:
            self.objects[key] = type(name, (), {"__module__": module, "__qualname__": name})
        return self.objects[key]

    @contextlib.contextmanager
    def installed(self):
        mods = {}
        for (module, name), obj in self.objects.items():
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                mods.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
            setattr(mods[module], name, obj)
        for modname, mod in mods.items():  # link packages to submodules
            if "." in modname:
                parent, child = modname.rsplit(".", 1)
                setattr(mods[parent], child, mod)
        saved = {m: sys.modules.get(m) for m in mods}
        sys.modules.update(mods)
        try:
            yield
        finally:
            for m, old in saved.items():
                if old is None:
                    sys.modules.pop(m, None)
                else:
                    sys.modules[m] = old


_G = _GlobalRegistry()
_rebuild_tensor_v2 = _G.function("torch._utils", "_rebuild_tensor_v2")
_rebuild_parameter = _G.function("torch._utils", "_rebuild_parameter")


def storage_class(dtype):
    return _G.cls("torch", DTYPES[dtype][0])


def tensor_class(dtype):
    return _G.cls("torch", _TENSOR_TYPE_FOR_STORAGE[DTYPES[dtype][0]])


# --------------------------------------------------------------------------- values
def _bf16_bits(x):
    (bits,) = struct.unpack("<I", struct.pack("<f", float(x)))
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:  # NaN
        return 0x7FC0
    rounding = 0x7FFF + ((bits >> 16) & 1)  # round to nearest even, as c10::BFloat16
    return ((bits + rounding) >> 16) & 0xFFFF


def pack_values(dtype, values):
    fmt = DTYPES[dtype][2]
    out = bytearray()
    for v in values:
        if dtype == "bfloat16":
            out += struct.pack("<H", _bf16_bits(v))
        elif dtype == "complex64":
            out += struct.pack("<ff", complex(v).real, complex(v).imag)
        elif dtype == "complex128":
            out += struct.pack("<dd", complex(v).real, complex(v).imag)
        else:
            out += struct.pack("<" + fmt, v)
    return bytes(out)


def _contiguous_stride(size):
    stride, acc = [], 1
    for dim in reversed(size):
        stride.append(acc)
        acc *= max(dim, 1)
    return tuple(reversed(stride))


class Storage:
    """A typed CPU storage (torch.storage.TypedStorage as torch pickles it)."""

    def __init__(self, dtype, data, location=_CPU):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}")
        itemsize = DTYPES[dtype][1]
        if len(data) % itemsize:
            raise ValueError("storage byte length is not a multiple of the element size")
        self.dtype = dtype
        self.data = bytes(data)
        self.location = location
        self.itemsize = itemsize

    @property
    def numel(self):
        return len(self.data) // self.itemsize

    @property
    def nbytes(self):
        return len(self.data)

    def __reduce_ex__(self, proto):  # only reached if no persistent_id handles it
        raise pickle.PicklingError("Storage must be pickled through pickle_with_storages()")


class Tensor:
    """A strided view on a Storage; pickles like a plain CPU torch.Tensor."""

    def __init__(self, storage, size, stride=None, storage_offset=0, requires_grad=False):
        self.storage = storage
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(stride) if stride is not None else _contiguous_stride(self.size)
        self.storage_offset = int(storage_offset)
        self.requires_grad = bool(requires_grad)

    @property
    def dtype(self):
        return self.storage.dtype

    @classmethod
    def from_values(cls, dtype, values, size=None, requires_grad=False, location=_CPU):
        values = list(values)
        size = (len(values),) if size is None else tuple(size)
        n = 1
        for s in size:
            n *= s
        if n != len(values):
            raise ValueError("size does not match number of values")
        return cls(Storage(dtype, pack_values(dtype, values), location), size,
                   requires_grad=requires_grad)

    def view_as(self, size, stride=None, storage_offset=0):
        return Tensor(self.storage, size, stride, storage_offset, self.requires_grad)

    def __reduce_ex__(self, proto):
        # torch/_tensor.py _reduce_ex_internal, plain dense CPU tensor branch
        args = (self.storage, self.storage_offset, tuple(self.size), self.stride,
                self.requires_grad, OrderedDict())
        return (_rebuild_tensor_v2, args)


class Parameter:
    """torch.nn.Parameter: reduces to torch._utils._rebuild_parameter(data, requires_grad, hooks)."""

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.requires_grad = bool(requires_grad)

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.data, self.requires_grad, OrderedDict()))


class ScriptModule:
    """A TorchScript module object: pickled as GLOBAL '__torch__ <Name>', NEWOBJ, BUILD(state).

    ScriptModule("__torch__.TinyNet", {...}) returns an instance of a stand-in subclass
    named __torch__.TinyNet (the pickler requires the object's class to be that global).
    """

    def __new__(cls, qualname, attributes):
        if not qualname.startswith("__torch__."):
            qualname = "__torch__." + qualname
        module, name = qualname.rsplit(".", 1)
        key = (module, name)
        if key not in _G.objects:
            _G.objects[key] = type(name, (ScriptModule,), {"__module__": module, "__qualname__": name})
        obj = object.__new__(_G.objects[key])
        obj.qualname = qualname
        obj.attributes = dict(attributes)
        return obj

    def __reduce_ex__(self, proto):
        return (copyreg.__newobj__, (type(self),), self.attributes)


# --------------------------------------------------------------------------- pickling
def pickle_with_storages(obj, protocol=2, persistent="zip"):
    """Pickle `obj` the way torch's _save does. Returns (bytes, storages in key order).

    persistent="zip": ('storage', <torch.XStorage>, key, location, numel), keys "0","1",...
    persistent="legacy": ('storage', <torch.XStorage>, key, location, numel, None),
    keys are fake _cdata integers rendered as str (torch uses str(storage._cdata)).
    """
    keys = {}
    storages = []

    class _TorchPickler(pickle.Pickler):
        def persistent_id(self, o):
            if not isinstance(o, Storage):
                return None
            if id(o) not in keys:
                if persistent == "zip":
                    keys[id(o)] = str(len(keys))
                else:
                    keys[id(o)] = str(_fake_cdata(len(keys)))
                storages.append(o)
            cls = storage_class(o.dtype)
            if persistent == "zip":
                return (_STORAGE, cls, keys[id(o)], o.location, o.numel)
            return (_STORAGE, cls, keys[id(o)], o.location, o.numel, None)

    _touch_storage_classes(obj)
    buf = io.BytesIO()
    with _G.installed():
        _TorchPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue(), [(keys[id(s)], s) for s in storages]


def _fake_cdata(i):
    # plausible heap addresses, deterministic
    return 94_000_000_000_000 + 0x40 * i + 0x1000 * i * i


def _touch_storage_classes(obj, _seen=None):
    """Register the stand-in storage classes for every dtype reachable from obj."""
    for dtype in DTYPES:
        storage_class(dtype)
        tensor_class(dtype)


# --------------------------------------------------------------------------- zip
def _fb_padding(cursor, name_len, alignment=STORAGE_ALIGNMENT):
    """caffe2::serialize::detail::getPadding for archives < 4 GiB."""
    start = cursor + 30 + name_len + 4
    pad = (-start) % alignment
    return b"FB" + struct.pack("<H", pad) + b"Z" * pad


def miniz_zip_bytes(records):
    """Serialize [(full_name, data_bytes)] exactly as PyTorchStreamWriter+miniz do."""
    out = bytearray()
    central = bytearray()
    crcs = []
    for name, data in records:
        bname = name.encode("utf-8")
        offset = len(out)
        extra = _fb_padding(offset, len(bname))
        crc = binascii.crc32(data) & 0xFFFFFFFF
        # miniz sets the data-descriptor bit only for non-empty buffers; UTF-8 bit always
        flags = 0x0808 if data else 0x0800
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0,
                           len(bname), len(extra))
        out += bname + extra
        assert len(out) % STORAGE_ALIGNMENT == 0
        out += data
        if data:
            out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
            crcs.append(crc)  # torch's combined CRC only sees data descriptors
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, flags, 0, 0, 0,
                               crc, len(data), len(data), len(bname), 0, 0, 0, 0, 0, offset)
        central += bname
    cd_offset = len(out)
    out += central
    n = len(records)
    zip64_eocd_offset = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x002D, 0, 0, n, n,
                       len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                       len(central), cd_offset, 0)
    return bytes(out), crcs


def _zipfile_bytes(records):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in records:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_STORED
            zi.extra = _fb_padding(buf.tell(), len(name.encode()))
            zf.writestr(zi, data)
    return buf.getvalue()


def _hash_combine(seed, value):
    m = 0xFFFFFFFFFFFFFFFF
    return (seed ^ ((value + 0x9E3779B9 + ((seed << 6) & m) + (seed >> 2)) & m)) & m


def _serialization_id(names, crcs):
    name_hash = 0
    for n in names:
        h = 0xCBF29CE484222325
        for b in n.encode():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        name_hash = _hash_combine(name_hash, h)
    crc_comb = 0
    for c in crcs:
        crc_comb = _hash_combine(crc_comb, c)
    return f"{name_hash:020d}{crc_comb:020d}"


def build_zip_records(data_pkl, storages, style="2.5", byteorder="little", extra_records=()):
    """Record list (names without the archive prefix) in torch's write order.

    style "2.5": data.pkl, .format_version, .storage_alignment, byteorder, data/*, version,
                 .data/serialization_id  (torch >= 2.5)
    style "2.1": data.pkl, byteorder, data/*, version, .data/serialization_id (torch 2.1-2.4)
    style "1.6": data.pkl, data/* (keys sorted as strings), version   (torch 1.6-1.12)
    """
    recs = [("data.pkl", data_pkl)]
    if style == "2.5":
        recs += [(".format_version", b"1"), (".storage_alignment", str(STORAGE_ALIGNMENT).encode())]
    if style in ("2.5", "2.1") and byteorder:
        recs.append(("byteorder", byteorder.encode()))
    items = list(storages)
    if style == "1.6":
        items.sort(key=lambda kv: kv[0])
    for key, st in items:
        recs.append((f"data/{key}", st.data))
    recs.extend(extra_records)
    recs.append(("version", b"3\n"))
    return recs


def _finish_zip(path, archive_name, recs, with_serialization_id, zip_writer):
    full = [(f"{archive_name}/{n}", d) for n, d in recs]
    if zip_writer == "zipfile":
        if with_serialization_id:
            full.append((f"{archive_name}/.data/serialization_id", b"0" * 40))
        blob = _zipfile_bytes(full)
    else:
        blob, crcs = miniz_zip_bytes(full)
        if with_serialization_id:
            sid = _serialization_id([n for n, _ in recs], crcs).encode()
            full.append((f"{archive_name}/.data/serialization_id", sid))
            blob, _ = miniz_zip_bytes(full)
    if path is not None:
        with open(path, "wb") as f:
            f.write(blob)
    return blob


def write_zip_checkpoint(path, obj, archive_name="archive", style="2.5", protocol=2,
                         zip_writer="miniz", byteorder="little"):
    """torch.save(obj, f) (new zipfile serialization). Returns the bytes written.

    archive_name: torch uses "archive" when saving to a buffer and the file's stem
    (basename without extension) when saving to a path.
    """
    data_pkl, storages = pickle_with_storages(obj, protocol=protocol, persistent="zip")
    recs = build_zip_records(data_pkl, storages, style=style, byteorder=byteorder)
    return _finish_zip(path, archive_name, recs, style != "1.6", zip_writer)


def write_legacy_checkpoint(path, obj, protocol=2):
    """torch.save(obj, f, _use_new_zipfile_serialization=False) (torch 0.4 .. today)."""
    f = io.BytesIO()
    sys_info = dict(protocol_version=PROTOCOL_VERSION, little_endian=True,
                    type_sizes=dict(short=2, int=4, long=8))
    pickle.dump(MAGIC_NUMBER, f, protocol=protocol)
    pickle.dump(PROTOCOL_VERSION, f, protocol=protocol)
    pickle.dump(sys_info, f, protocol=protocol)
    main, storages = pickle_with_storages(obj, protocol=protocol, persistent="legacy")
    f.write(main)
    keys = sorted(k for k, _ in storages)
    pickle.dump(keys, f, protocol=protocol)
    by_key = dict(storages)
    for k in keys:
        st = by_key[k]
        f.write(struct.pack("<q", st.numel))
        f.write(st.data)
    blob = f.getvalue()
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(blob)
    return blob


def write_legacy_tar_checkpoint(path, obj, protocol=2, mtime=0):
    """torch <= 0.3 tar format: members sys_info, pickle, tensors, storages."""
    tensors = {}   # cdata -> Tensor
    storages = {}  # cdata -> Storage
    ids = {}

    def cdata(o):
        if id(o) not in ids:
            ids[id(o)] = _fake_cdata(len(ids) + 1)
        return ids[id(o)]

    class _TarPickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Parameter):
                o = o.data  # 0.3 Parameters were Variables; keep the tensor only
            if isinstance(o, Tensor):
                tensors[cdata(o)] = o
                return str(cdata(o))
            if isinstance(o, Storage):
                storages[cdata(o)] = o
                return str(cdata(o))
            return None

    _touch_storage_classes(obj)
    with _G.installed():
        pbuf = io.BytesIO()
        _TarPickler(pbuf, protocol=protocol).dump(obj)

        sbuf = io.BytesIO()
        pickle.dump({"protocol_version": 1000, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 8}}, sbuf, protocol=protocol)
        sys_info = sbuf.getvalue()

        tbuf = io.BytesIO()
        pickle.dump(len(tensors), tbuf, protocol=protocol)
        for key, t in tensors.items():
            sid = cdata(t.storage)
            storages[sid] = t.storage
            pickle.dump((key, sid, tensor_class(t.dtype)), tbuf, protocol=protocol)
            ndim = len(t.size)
            tbuf.write(struct.pack("<q", ndim))
            tbuf.write(struct.pack(f"<{ndim}q", *t.size))
            tbuf.write(struct.pack(f"<{ndim}q", *t.stride))
            tbuf.write(struct.pack("<q", t.storage_offset))

        stbuf = io.BytesIO()
        pickle.dump(len(storages), stbuf, protocol=protocol)
        for key, st in storages.items():
            pickle.dump((key, st.location, storage_class(st.dtype)), stbuf, protocol=protocol)
            stbuf.write(struct.pack("<q", st.numel))
            stbuf.write(st.data)
        pickle.dump([], stbuf, protocol=protocol)  # storage_views

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("sys_info", sys_info), ("pickle", pbuf.getvalue()),
                           ("tensors", tbuf.getvalue()), ("storages", stbuf.getvalue())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = mtime
            ti.mode = 0o600
            tar.addfile(ti, io.BytesIO(data))
    blob = out.getvalue()
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(blob)
    return blob


def write_torchscript_archive(path, module, archive_name="archive", code=None,
                              constants=(), zip_writer="miniz"):
    """torch.jit.save layout: data/*, data.pkl, code/__torch__.py, constants.pkl, version,
    byteorder, .data/serialization_id. `module` is a ScriptModule."""
    data_pkl, storages = pickle_with_storages(module, protocol=2, persistent="zip")
    const_pkl, const_storages = pickle_with_storages(tuple(constants), protocol=2,
                                                     persistent="zip")
    if code is None:
        name = module.qualname.rsplit(".", 1)[1]
        code = (f"class {name}(Module):\n"
                "  __parameters__ = []\n  __buffers__ = []\n  training : bool\n"
                f"  def forward(self: {module.qualname},\n    x: Tensor) -> Tensor:\n"
                "    return x\n")
    code_path = "code/" + "/".join(module.qualname.split(".")[:-1]) + ".py"
    recs = [(f"data/{k}", s.data) for k, s in storages]
    recs.append(("data.pkl", data_pkl))
    recs.append((code_path, code.encode()))
    recs += [(f"constants/{k}", s.data) for k, s in const_storages]
    recs.append(("constants.pkl", const_pkl))
    recs.append(("version", b"3\n"))
    recs.append(("byteorder", b"little"))
    return _finish_zip(path, archive_name, recs, True, zip_writer)
