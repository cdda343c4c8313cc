"""CPython's own C unpickler, run symbolically, for pickleproof's `cpython` fuzz target.

`run(data, raw, encoding, buffers)` unpickles `data` with `_pickle.Unpickler` (the C
unpickler), but every global, persistent id and extension code resolves to an inert
*stand-in*, so nothing is imported and no real code runs. The result (or the exception)
is returned as bytes in a flat format that `src/harness/cpython.rs` reads into a
pickleproof `Graph` and compares with pickleproof's own decode.

Stand-ins are classes (so NEWOBJ's `PyType_Check` passes, as it does in pickleproof,
which cannot tell whether a callable is a class):

- `GlobalMeta` classes stand for a global, a persistent id or an extension code. They
  can be called (REDUCE, INST/OBJ with arguments: a "call" record) and instantiated
  (NEWOBJ, NEWOBJ_EX, INST/OBJ without arguments: `cls.__new__(cls, ...)`, a "new"
  record). They have no `__dict__`, refuse attribute assignment and have no `extend`,
  `append`, `add` or `__setitem__`: BUILD, APPEND(S), SETITEM(S) and ADDITEMS on them
  take CPython's own default paths for an object without those, so CPython decides what
  fails (a BUILD state of None or `(None, {})` is a no-op, anything else an error).
- `ObjMeta` classes are the records of calls. Besides calling and instantiating, they
  record what the stream does to the result: `__setstate__` (BUILD), `extend` (APPEND,
  APPENDS), `__setitem__` (SETITEM, SETITEMS) and `add` (ADDITEMS).
- At the value level (not raw), the built-in reconstructors that pickleproof folds
  (`builtins.set`, `frozenset`, `bytearray`, `bytes`, `_codecs.encode`, `codecs.encode`)
  call the real builtin when the arguments have the shape pickleproof folds, so CPython
  computes the value (dedup of set items, latin-1 range errors...); other shapes are
  recorded like any call.
- Out-of-band buffers without `buffers=`: `pickle.PickleBuffer` placeholders over a
  bytearray whose content names its index (a buffer's content is unknown).

Names are mapped from Python 2 exactly as the C `find_class` does (`_compat_pickle`,
only while the stream's current protocol is below 3): the protocol in effect at each
GLOBAL, INST and STACK_GLOBAL comes from a walk over the opcodes (`_walk`), since the C
unpickler does not expose it.
"""

import _codecs
import _compat_pickle
import copyreg
import io
import pickle
import struct

# ----- what the walk over the opcodes needs ------------------------------------------

# Opcodes by argument shape (see pickletools): fixed sizes, counted payloads, lines.
_FIXED = {
    0x80: 1, ord('K'): 1, ord('h'): 1, ord('q'): 1, 0x82: 1,
    ord('M'): 2, 0x83: 2,
    ord('J'): 4, ord('j'): 4, ord('r'): 4, 0x84: 4,
    ord('G'): 8, 0x95: 8,
}
_COUNTED = {
    ord('U'): (1, False), 0x8C: (1, False), ord('C'): (1, False), 0x8A: (1, False),
    ord('T'): (4, False), ord('X'): (4, False), ord('B'): (4, False), 0x8B: (4, True),
    0x8D: (8, False), 0x8E: (8, False), 0x96: (8, False),
}
_LINES = {
    ord('I'): 1, ord('L'): 1, ord('F'): 1, ord('S'): 1, ord('V'): 1, ord('P'): 1,
    ord('g'): 1, ord('p'): 1, ord('c'): 2, ord('i'): 2,
}
_PLAIN = set(b'(.012N)]}tldesuabRQo\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98')
_GLOBAL_OPS = (ord('c'), ord('i'), 0x93)

# CPython sizes its memo as a dense array of twice the highest index: above this one it
# would allocate (and clear) gigabytes, which pickleproof's sparse memo does not.
MAX_MEMO_INDEX = 1 << 20


class Skip(Exception):
    """The input is outside what this oracle can run (the Rust side counts it)."""


def _walk(data):
    """The protocol in effect at each GLOBAL/INST/STACK_GLOBAL, the extension codes, and
    whether a memo index is large enough to make CPython allocate without bound. Stops
    at STOP, at an unknown opcode or at the end of the input."""
    protos, codes = [], set()
    proto, pos, n = 0, 0, len(data)
    while pos < n:
        op = data[pos]
        pos += 1
        if op in _GLOBAL_OPS:
            protos.append(proto)
        if op == ord('.'):
            break
        if op in _PLAIN:
            continue
        if op in _FIXED:
            size = _FIXED[op]
            arg = data[pos:pos + size]
            if len(arg) < size:
                break
            pos += size
            if op == 0x80:
                proto = arg[0]
            elif op in (0x82, 0x83):
                codes.add(int.from_bytes(arg, 'little'))
            elif op == 0x84:
                codes.add(int.from_bytes(arg, 'little', signed=True))
            elif op == ord('r') and int.from_bytes(arg, 'little') > MAX_MEMO_INDEX:
                raise Skip('LONG_BINPUT index past what CPython allocates densely')
        elif op in _COUNTED:
            size, signed = _COUNTED[op]
            arg = data[pos:pos + size]
            if len(arg) < size:
                break
            length = int.from_bytes(arg, 'little', signed=signed)
            if length < 0:
                break
            pos += size + length
        elif op in _LINES:
            for _ in range(_LINES[op]):
                end = data.find(b'\n', pos)
                if end < 0:
                    return protos, codes
                if op == ord('p'):
                    try:
                        # PyLong_FromString reads a C string: a NUL ends it.
                        index = int(data[pos:end].split(b'\0', 1)[0])
                    except ValueError:
                        index = 0
                    if index > MAX_MEMO_INDEX:
                        raise Skip('PUT index past what CPython allocates densely')
                pos = end + 1
        else:
            break
    return protos, codes


# ----- stand-ins ---------------------------------------------------------------------

class Info:
    """What a stand-in stands for. kind: 'global' (module, name), 'persid' (pid),
    'ext' (code) or 'obj' (op 'call' or 'new', callable, args, kwargs, and what the
    stream did to the result)."""

    __slots__ = ('kind', 'module', 'name', 'pid', 'code', 'fold', 'op', 'callable',
                 'args', 'kwargs', 'state', 'listitems', 'dictitems', 'additems')

    def __init__(self, kind):
        self.kind = kind
        self.fold = None


class GlobalMeta(type):
    """A global, persistent id or extension code: callable and instantiable, nothing else."""

    @property
    def __dict__(cls):
        raise AttributeError('__dict__')

    def __setattr__(cls, name, value):
        raise AttributeError(name)

    def __delattr__(cls, name):
        raise AttributeError(name)

    def __call__(cls, /, *args, **kwargs):
        info = cls._pp_info
        if info.fold is not None and not kwargs:
            folded = _fold(info.fold, args)
            if folded is not _NO_FOLD:
                return folded
        return _record('call', cls, args, kwargs)


class ObjMeta(GlobalMeta):
    """The record of a call: also takes BUILD state and items."""

    def __setstate__(cls, state):
        cls._pp_info.state.append(state)

    def extend(cls, items):
        cls._pp_info.listitems.extend(items)

    def __setitem__(cls, key, value):
        cls._pp_info.dictitems.append((key, value))

    def add(cls, item):
        cls._pp_info.additems.append(item)


class _Base:
    __slots__ = ()

    def __new__(cls, /, *args, **kwargs):
        return _record('new', cls, args, kwargs)


def _stand_in(meta, info):
    return meta('StandIn', (_Base,), {'__slots__': (), '_pp_info': info})


def _record(op, callable, args, kwargs):
    info = Info('obj')
    info.op, info.callable, info.args, info.kwargs = op, callable, args, kwargs
    info.state, info.listitems, info.dictitems, info.additems = [], [], [], []
    return _stand_in(ObjMeta, info)


# ----- the reconstructors pickleproof folds, and the shapes it folds ------------------

_NO_FOLD = object()
_FOLDED = {
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'bytearray'),
    ('builtins', 'bytes'), ('_codecs', 'encode'), ('codecs', 'encode'),
}
_SET_SOURCES = (list, tuple, set, frozenset, dict)
_LATIN1 = {'latin1', 'latin-1', 'iso-8859-1', 'iso8859-1', 'l1'}
_UTF8 = {'utf-8', 'utf8'}


def _ascii_lower(text):
    return ''.join(chr(ord(c) + 32) if 'A' <= c <= 'Z' else c for c in text)


def _is_bytes_node(value):
    """What pickleproof holds as bytes or bytearray: bytes, bytearray (not a buffer
    placeholder's), and a read-only view of a real bytearray."""
    if type(value) in (bytes, bytearray):
        return not _State.current.is_placeholder(value)
    if type(value) is memoryview:
        return not _State.current.is_placeholder(value.obj)
    return False


def _fold(key, args):
    """The real builtin's result when pickleproof folds this call (machine.rs,
    `fold_reconstructor`), else `_NO_FOLD`."""
    module, name = key
    if name in ('set', 'frozenset'):
        real = set if name == 'set' else frozenset
        if not args:
            return real()
        if len(args) == 1 and type(args[0]) in _SET_SOURCES:
            return real(args[0])
        return _NO_FOLD
    if name in ('bytearray', 'bytes'):
        real = bytearray if name == 'bytearray' else bytes
        if not args:
            return real()
        if len(args) == 1 and _is_bytes_node(args[0]):
            return real(args[0])
        return _NO_FOLD
    # _codecs.encode / codecs.encode
    if len(args) == 1 and type(args[0]) is str:
        return _codecs.encode(args[0])
    if len(args) == 2 and type(args[0]) is str and type(args[1]) is str:
        encoded = args[1].encode('utf-8', 'surrogatepass').decode('utf-8', 'replace')
        if _ascii_lower(encoded).replace('_', '-') in _LATIN1 | _UTF8:
            return _codecs.encode(args[0], args[1])
    return _NO_FOLD


# ----- the unpickler -----------------------------------------------------------------

_EXT_MODULE = '\x00pickleproof.ext'


class _Exporter(bytearray):
    """What a buffer placeholder wraps: writable (so READONLY_BUFFER makes a read-only
    memoryview, as pickleproof marks the placeholder read-only) and hashable by
    identity (a memoryview hashes its exporter first), like pickleproof's buffer
    nodes. Its content names the index, so two placeholders never compare equal."""

    __slots__ = ()
    __hash__ = object.__hash__


class _State:
    """Per-load bookkeeping (buffers, the protocol queue)."""

    current = None

    def __init__(self, protos):
        self.protos = protos
        self.next_proto = 0
        self.globals = {}
        self.exts = {}
        self.placeholders = {}   # id(obj) -> (index, obj), obj kept alive

    def placeholder_index(self, obj):
        """The index of the buffer placeholder `obj` is (or wraps), else None."""
        entry = self.placeholders.get(id(obj))
        if entry is not None and entry[1] is obj:
            return entry[0]
        return None

    def is_placeholder(self, obj):
        return self.placeholder_index(obj) is not None

    def placeholders_iter(self):
        """Out-of-band buffers when none were supplied: each a PickleBuffer over a
        bytearray that names its index (pickleproof: `Node::Buffer`)."""
        index = 0
        while True:
            under = _Exporter(b'\x00pickleproof buffer %d' % index)
            buf = pickle.PickleBuffer(under)
            self.placeholders[id(under)] = (index, under)
            self.placeholders[id(buf)] = (index, buf)
            index += 1
            yield buf


class Symbolic(pickle.Unpickler):
    """The C unpickler with inert stand-ins for everything it would resolve."""

    def __init__(self, file, raw, encoding, buffers, state):
        super().__init__(file, fix_imports=False, encoding=encoding, buffers=buffers)
        self._raw = raw
        self._state = state

    def find_class(self, module, name):
        state = self._state
        if module == _EXT_MODULE:
            code = int(name)
            stand_in = state.exts.get(code)
            if stand_in is None:
                info = Info('ext')
                info.code = code
                stand_in = state.exts[code] = _stand_in(GlobalMeta, info)
            return stand_in
        if state.next_proto >= len(state.protos):
            raise Skip('the opcode walk lost track of the globals')
        proto = state.protos[state.next_proto]
        state.next_proto += 1
        # A name with a lone surrogate can never be imported: CPython's import fails
        # encoding it, as pickleproof's UTF-8 names refuse it.
        module.encode('utf-8')
        name.encode('utf-8')
        if not self._raw and proto < 3:
            # The C find_class's mapping, with its fix_imports=True default.
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        key = (module, name)
        stand_in = state.globals.get(key)
        if stand_in is None:
            info = Info('global')
            info.module, info.name = module, name
            if not self._raw and key in _FOLDED:
                info.fold = key
            stand_in = state.globals[key] = _stand_in(GlobalMeta, info)
        return stand_in

    def persistent_load(self, pid):
        info = Info('persid')
        info.pid = pid
        return _stand_in(GlobalMeta, info)


# Out-of-band buffers when the caller supplies them (pickleproof: `Decoder::buffers`).
SUPPLIED_BUFFERS = (b'', b'\x00\x01', b'pickleproof')


def run(data, raw, encoding, supplied):
    """Unpickle `data` symbolically. Returns b'A' + the flat graph, b'R' + the exception
    (class and message), or b'S' + why the input was skipped."""
    try:
        protos, codes = _walk(data)
    except Skip as e:
        return b'S' + str(e).encode()
    state = _State(protos)
    added = []
    for code in codes:
        if 0 < code and code not in copyreg._inverted_registry:
            copyreg._inverted_registry[code] = (_EXT_MODULE, str(code))
            added.append(code)
    previous, _State.current = _State.current, state
    try:
        buffers = [bytearray(b) for b in SUPPLIED_BUFFERS] if supplied \
            else state.placeholders_iter()
        reader = io.BufferedReader(io.BytesIO(data), buffer_size=len(data) + 1)
        try:
            result = Symbolic(reader, raw, encoding, buffers, state).load()
        except Skip as e:
            return b'S' + str(e).encode()
        except (MemoryError, RecursionError) as e:
            return b'S' + ('CPython ran out: %s' % type(e).__name__).encode()
        except Exception as e:
            text = '%s: %s' % (type(e).__name__, e)
            return b'R' + text.encode('utf-8', 'backslashreplace')
        return b'A' + _flatten(result, state)
    finally:
        _State.current = previous
        for code in added:
            del copyreg._inverted_registry[code]
        copyreg._extension_cache.clear()


# ----- the flat format ---------------------------------------------------------------
#
# root (u32), then one node per index, in index order. u32/u64 little-endian; "idx" is a
# u32 node index; "blob" is a u32 length and the bytes.
#   0 None | 1 False | 2 True | 3 int: blob (signed little-endian) | 4 float: 8 bytes
#   5 str: blob (UTF-8, surrogatepass) | 6 bytes: blob | 7 bytearray: blob
#   8 tuple, 9 list, 11 set, 12 frozenset: u32 n, n idx | 10 dict: u32 n, 2n idx
#   13 global: blob module, blob name | 15 ext: u32 code | 17 persid: idx
#   16 buffer: u64 index, u8 readonly
#   14 obj: u8 op (0 call, 1 new), idx callable, idx args, idx kwargs (a dict),
#      then state, listitems, additems as (u32 n, n idx) and dictitems as (u32 n, 2n idx)

def _blob(out, data):
    out += struct.pack('<I', len(data))
    out += data


def _flatten(root, state):
    index = {}
    order = []

    def ref(obj):
        key = id(obj)
        at = index.get(key)
        if at is None:
            at = index[key] = len(order)
            order.append(obj)
        return at

    def refs(out, items):
        out += struct.pack('<I', len(items))
        for item in items:
            out += struct.pack('<I', ref(item))

    out = bytearray(struct.pack('<I', ref(root)))
    done = 0
    while done < len(order):
        obj = order[done]
        done += 1
        kind = type(obj)
        if obj is None:
            out.append(0)
        elif obj is False:
            out.append(1)
        elif obj is True:
            out.append(2)
        elif kind is int:
            out.append(3)
            _blob(out, obj.to_bytes((obj.bit_length() + 8) // 8, 'little', signed=True))
        elif kind is float:
            out.append(4)
            out += struct.pack('<d', obj)
        elif kind is str:
            out.append(5)
            _blob(out, obj.encode('utf-8', 'surrogatepass'))
        elif kind is bytes:
            out.append(6)
            _blob(out, obj)
        elif kind is bytearray:
            out.append(7)
            _blob(out, bytes(obj))
        elif kind is tuple:
            out.append(8)
            refs(out, obj)
        elif kind is list:
            out.append(9)
            refs(out, obj)
        elif kind is dict:
            out.append(10)
            out += struct.pack('<I', len(obj))
            for key, value in obj.items():
                out += struct.pack('<II', ref(key), ref(value))
        elif kind is set:
            out.append(11)
            refs(out, list(obj))
        elif kind is frozenset:
            out.append(12)
            refs(out, list(obj))
        elif kind is pickle.PickleBuffer:
            out.append(16)
            out += struct.pack('<QB', state.placeholder_index(obj), 0)
        elif kind is memoryview:
            placeholder = state.placeholder_index(obj.obj)
            if placeholder is not None:
                out.append(16)
                out += struct.pack('<QB', placeholder, 1)
            else:
                out.append(6)
                _blob(out, obj.tobytes())
        elif kind is GlobalMeta or kind is ObjMeta:
            info = obj._pp_info
            if info.kind == 'global':
                out.append(13)
                _blob(out, info.module.encode('utf-8', 'surrogatepass'))
                _blob(out, info.name.encode('utf-8', 'surrogatepass'))
            elif info.kind == 'ext':
                out.append(15)
                out += struct.pack('<I', info.code)
            elif info.kind == 'persid':
                out.append(17)
                out += struct.pack('<I', ref(info.pid))
            else:
                out.append(14)
                out.append(0 if info.op == 'call' else 1)
                out += struct.pack('<III', ref(info.callable), ref(info.args),
                                   ref(info.kwargs))
                refs(out, info.state)
                refs(out, info.listitems)
                refs(out, info.additems)
                out += struct.pack('<I', len(info.dictitems))
                for key, value in info.dictitems:
                    out += struct.pack('<II', ref(key), ref(value))
        else:
            raise TypeError('no flat form for %r' % kind)
    return bytes(out)
