//! The gadget knowledge base: globals known to run code, reach the system or the
//! network, import or call by name, or deserialize more data, with the reason a person
//! reads in the report.
//!
//! The knowledge base never *allows* anything: the decision is the policy's
//! (allowlist first). It only explains a refusal. A site the policy refuses is
//! `dangerous` when a pattern here matches it (with this category and reason) and
//! `unknown` otherwise, so a gadget nobody listed is still not clean; it is only
//! explained less well.
//!
//! A pattern names a global as it is imported, after CPython's Python 2 → 3 mapping
//! (`__builtin__.eval` is `builtins.eval`): exactly (`os` / `system`), any name in one
//! module (`subprocess` / `*`), or any name in a module and its submodules (`ctypes` /
//! `**`). C modules that CPython pickles under their own names are looked up as the
//! module users know ([`MODULE_ALIASES`]: `posix.system` is `os.system`).
//!
//! A dotted name walks attributes: protocol 4 resolves `shutil` / `os.system` to
//! `shutil.os.system`, which *is* `os.system`. So a dotted name is also looked up as
//! each of its tails under the attribute before it taken as a module (`os` / `system`)
//! and under the module joined with the path before it (`torch.hub` / `load` for
//! `torch` / `hub.load`).
//!
//! The table is sorted by `(module, name)` (a unit test checks it) and searched by
//! binary search, so a stream with a million imports costs a million short searches.

use crate::graph::{Graph, Node, NodeId};

/// What a dangerous global can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Runs Python or native code it is given (`eval`, `exec`, `ctypes`...).
    CodeExecution,
    /// Runs a program or a shell command (`os.system`, `subprocess`...).
    ShellCommand,
    /// Reads, writes or deletes files (`open`, `shutil.rmtree`...).
    FileSystem,
    /// Opens connections or fetches URLs (`socket`, `urllib`...).
    Network,
    /// Imports a module by name (`__import__`, `importlib.import_module`...): any
    /// module's top-level code then runs, and any of its attributes is reachable.
    ImportByName,
    /// Calls, fetches or wraps what it is given (`getattr`, `functools.partial`,
    /// `operator.methodcaller`...), so the allowlist no longer says what runs.
    Indirection,
    /// Deserializes more data (`pickle.loads`, `torch.load`, `marshal.loads`...),
    /// which can do everything a pickle can, out of the scanner's sight unless the
    /// data is a literal it can scan too.
    NestedDeserialization,
    /// Stops, stalls or exhausts the process (`sys.exit`, `time.sleep`...).
    DenialOfService,
    /// Not a table category: an allowed global whose policy entry carries an
    /// argument rule, called with arguments that break it.
    BrokenRule,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 9] = [
        Category::CodeExecution,
        Category::ShellCommand,
        Category::FileSystem,
        Category::Network,
        Category::ImportByName,
        Category::Indirection,
        Category::NestedDeserialization,
        Category::DenialOfService,
        Category::BrokenRule,
    ];

    /// A short stable name, as in the JSON report (`shell-command`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Category::CodeExecution => "code-execution",
            Category::ShellCommand => "shell-command",
            Category::FileSystem => "file-system",
            Category::Network => "network",
            Category::ImportByName => "import-by-name",
            Category::Indirection => "indirection",
            Category::NestedDeserialization => "nested-deserialization",
            Category::DenialOfService => "denial-of-service",
            Category::BrokenRule => "broken-rule",
        }
    }

    /// One line for people: what globals of this category do.
    pub fn description(self) -> &'static str {
        match self {
            Category::CodeExecution => "runs Python or native code it is given",
            Category::ShellCommand => "runs a program or a shell command",
            Category::FileSystem => "reads, writes or deletes files",
            Category::Network => "opens network connections or fetches URLs",
            Category::ImportByName => "imports a module by name",
            Category::Indirection => "calls, fetches or wraps what it is given",
            Category::NestedDeserialization => "deserializes more data, as a pickle does",
            Category::DenialOfService => "stops, stalls or exhausts the process",
            Category::BrokenRule => "an allowed callable given arguments its rule forbids",
        }
    }
}

/// A name in [`GADGETS`] that matches every name of its module.
pub const ANY_NAME: &str = "*";
/// A name in [`GADGETS`] that matches every name of its module and its submodules.
pub const ANY_SUBMODULE: &str = "**";

/// One entry of the knowledge base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gadget {
    /// Module, as imported (`os`, `torch.hub`).
    pub module: &'static str,
    /// Qualified name, or [`ANY_NAME`] / [`ANY_SUBMODULE`].
    pub name: &'static str,
    /// What it can do.
    pub category: Category,
    /// Why, for people ("runs a shell command").
    pub reason: &'static str,
}

/// C modules CPython pickles under their own names, looked up as the module people
/// know: `pickle.dumps(os.system)` writes `posix.system`; and `__builtin__`, which
/// CPython maps to `builtins` only below protocol 3 (a protocol 3 stream naming
/// `__builtin__.eval` fails to import it, and is still an attempt at `eval`).
pub const MODULE_ALIASES: &[(&str, &str)] = &[
    ("__builtin__", "builtins"),
    ("_functools", "functools"),
    ("_io", "io"),
    ("_operator", "operator"),
    ("_pickle", "pickle"),
    ("cPickle", "pickle"),
    ("nt", "os"),
    ("posix", "os"),
];

use Category::{
    CodeExecution as Code, DenialOfService as Dos, FileSystem as Files, ImportByName as Import,
    Indirection as Indirect, NestedDeserialization as Nested, Network as Net,
    ShellCommand as Shell,
};

const fn g(
    module: &'static str,
    name: &'static str,
    category: Category,
    reason: &'static str,
) -> Gadget {
    Gadget {
        module,
        name,
        category,
        reason,
    }
}

const SHELL: &str = "runs a shell command";
const SPAWN: &str = "runs a program";
const EXEC_CODE: &str = "runs Python code it is given";
const NATIVE: &str = "loads or calls native code";
const IMPORT: &str = "imports a module by name";
const WRITE: &str = "writes, moves or deletes files";
const OPEN: &str = "opens a file";
const NET: &str = "opens a network connection or fetches a URL";
const UNPICKLE: &str = "unpickles more data (a pickle inside the pickle)";
const READS_PATH: &str = "reads a path or URL it is given";
const WRAPS: &str = "wraps a callable with arguments, to be called later";
const CALLS_ARG: &str = "calls what it is given";
const EXITS: &str = "ends the process";

/// The knowledge base, sorted by `(module, name)`, one entry per line.
#[rustfmt::skip]
pub const GADGETS: &[Gadget] = &[
    g("_aix_support", "_read_cmd_output", Shell, "runs a shell command and reads its output"),
    g("_interpreters", ANY_NAME, Code, EXEC_CODE),
    g("_osx_support", "_find_build_tool", Shell, "runs a shell command and reads its output"),
    g("_osx_support", "_read_output", Shell, "runs a shell command and reads its output"),
    g("_posixsubprocess", ANY_NAME, Shell, "starts a child process (subprocess's fork_exec)"),
    g("_pyrepl.pager", "pipe_pager", Shell, "pipes text to a shell command"),
    g("_thread", "start_new_thread", Indirect, "runs a callable in a new thread"),
    g("_xxsubinterpreters", ANY_NAME, Code, EXEC_CODE),
    g("aiohttp", ANY_SUBMODULE, Net, NET),
    g("asyncio", "create_subprocess_exec", Shell, SPAWN),
    g("asyncio", "create_subprocess_shell", Shell, SHELL),
    g("asyncio.base_subprocess", ANY_NAME, Shell, SPAWN),
    g("asyncio.subprocess", ANY_SUBMODULE, Shell, SPAWN),
    g("asyncio.unix_events", "_UnixSubprocessTransport._start", Shell, SPAWN),
    g("atexit", "register", Indirect, "registers a callable to run at exit"),
    g("bdb", ANY_SUBMODULE, Code, "the debugger framework runs code it is given"),
    g("builtins", "__build_class__", Code, "builds a class by running its body"),
    g("builtins", "__dict__", Indirect, "the builtins namespace: any builtin by name"),
    g("builtins", "__import__", Import, IMPORT),
    g("builtins", "breakpoint", Code, "starts a debugger"),
    g("builtins", "compile", Code, "compiles source code to run"),
    g("builtins", "delattr", Indirect, "deletes an attribute by name"),
    g("builtins", "eval", Code, "evaluates a Python expression"),
    g("builtins", "exec", Code, EXEC_CODE),
    g("builtins", "execfile", Code, "runs a Python file"),
    g("builtins", "exit", Dos, EXITS),
    g("builtins", "file", Files, OPEN),
    g("builtins", "getattr", Indirect, "fetches an attribute by name (getattr(os, 'system'))"),
    g("builtins", "globals", Indirect, "exposes a module's namespace"),
    g("builtins", "input", Dos, "waits for console input"),
    g("builtins", "locals", Indirect, "exposes a namespace"),
    g("builtins", "open", Files, OPEN),
    g("builtins", "quit", Dos, EXITS),
    g("builtins", "setattr", Indirect, "sets an attribute by name"),
    g("builtins", "vars", Indirect, "exposes an object's namespace"),
    g("cProfile", ANY_NAME, Code, "profiles (and so runs) code it is given"),
    g("cffi", ANY_SUBMODULE, Code, NATIVE),
    g("cloudpickle", ANY_SUBMODULE, Nested, UNPICKLE),
    g("code", ANY_NAME, Code, "an interactive interpreter: runs code it is given"),
    g("codecs", "open", Files, OPEN),
    g("codeop", ANY_NAME, Code, "compiles source code to run"),
    g("collections", "defaultdict.__missing__", Indirect, CALLS_ARG),
    g("ctypes", ANY_SUBMODULE, Code, NATIVE),
    g("dill", ANY_SUBMODULE, Nested, UNPICKLE),
    g("distutils", ANY_SUBMODULE, Shell, "spawns compilers and commands"),
    g("doctest", ANY_SUBMODULE, Code, "runs the examples in docstrings"),
    g("ensurepip", ANY_SUBMODULE, Shell, "runs pip"),
    g("ftplib", ANY_NAME, Net, NET),
    // functools.partial / partialmethod are not listed: a partial only stores a
    // callable and its arguments, and the callable is a site of its own (its import,
    // or the call that computed it), judged there. So partial(os.system, ...) is
    // unsafe by os.system, and partial(int, base=2), which the standard library
    // writes for ordinary data, is only not allowlisted (suspicious), not unsafe.
    g("functools", "reduce", Indirect, "calls a function over a sequence"),
    g("http", ANY_SUBMODULE, Net, NET),
    g("httpx", ANY_SUBMODULE, Net, NET),
    g("idlelib", ANY_SUBMODULE, Code, "IDLE's shell and runners execute code"),
    g("imaplib", ANY_NAME, Net, NET),
    g("imp", ANY_NAME, Import, IMPORT),
    g("importlib", ANY_SUBMODULE, Import, IMPORT),
    g("io", "FileIO", Files, OPEN),
    g("io", "open", Files, OPEN),
    g("io", "open_code", Files, OPEN),
    g("joblib", "load", Nested, "loads a joblib file (a pickle)"),
    g("joblib.numpy_pickle", "load", Nested, "loads a joblib file (a pickle)"),
    g("jsonpickle", ANY_SUBMODULE, Nested, "decodes jsonpickle, which imports and calls by name"),
    g("lib2to3.pgen2.grammar", "Grammar.load", Nested, UNPICKLE),
    g("lib2to3.pgen2.grammar", "Grammar.loads", Nested, UNPICKLE),
    g("lib2to3.pgen2.pgen", "ParserGenerator.make_label", Code, "evaluates a token with eval()"),
    g("linecache", "getline", Files, "reads any file"),
    g("linecache", "getlines", Files, "reads any file"),
    g("linecache", "updatecache", Files, "reads any file"),
    g("logging", "FileHandler", Files, "opens a file for writing"),
    g("logging.config", "fileConfig", Code, "evaluates expressions from a configuration file"),
    g("logging.config", "listen", Net, "listens on a socket for configurations it evaluates"),
    g("marshal", ANY_NAME, Nested, "deserializes code objects"),
    g("multiprocessing", ANY_SUBMODULE, Code, "starts processes that run callables"),
    g("nntplib", ANY_NAME, Net, NET),
    g("ntpath", ANY_NAME, Files, "inspects the host's paths and files"),
    g("numpy", "fromfile", Files, "reads a file it is given"),
    g("numpy", "frompyfunc", Indirect, WRAPS),
    g("numpy", "load", Nested, "loads .npy/.npz data, which may hold pickles"),
    g("numpy", "loadtxt", Files, READS_PATH),
    g("numpy", "memmap", Files, "maps a file into memory"),
    g("numpy", "save", Files, WRITE),
    g("numpy", "vectorize", Indirect, WRAPS),
    g("numpy.ctypeslib", "load_library", Code, NATIVE),
    g("numpy.distutils", ANY_SUBMODULE, Shell, "spawns compilers and commands"),
    g("numpy.f2py", ANY_SUBMODULE, Shell, "compiles and runs Fortran extensions"),
    g("numpy.lib.format", "read_array", Nested, "reads an array, which may hold a pickle"),
    g("numpy.lib.npyio", "load", Nested, "loads .npy/.npz data, which may hold pickles"),
    g("numpy.random._pickle", "__bit_generator_ctor", Indirect, "instantiates any type it is given"),
    g("numpy.random._pickle", "__generator_ctor", Indirect, "calls its second argument with its first"),
    g("numpy.random._pickle", "__randomstate_ctor", Indirect, "calls its second argument with its first"),
    g("numpy.testing._private.utils", "runstring", Code, EXEC_CODE),
    g("operator", "attrgetter", Indirect, "fetches attributes by name"),
    g("operator", "call", Indirect, CALLS_ARG),
    g("operator", "itemgetter", Indirect, "fetches items by key (from a namespace, for one)"),
    g("operator", "methodcaller", Indirect, "calls a method by name"),
    g("os", "_exit", Dos, EXITS),
    g("os", "abort", Dos, EXITS),
    g("os", "chdir", Files, "changes the working directory"),
    g("os", "chmod", Files, "changes file permissions"),
    g("os", "chown", Files, "changes file ownership"),
    g("os", "chroot", Files, "changes the root directory"),
    g("os", "environ", Indirect, "the process environment: changing it changes what later programs load and run"),
    g("os", "execl", Shell, SPAWN),
    g("os", "execle", Shell, SPAWN),
    g("os", "execlp", Shell, SPAWN),
    g("os", "execlpe", Shell, SPAWN),
    g("os", "execv", Shell, SPAWN),
    g("os", "execve", Shell, SPAWN),
    g("os", "execvp", Shell, SPAWN),
    g("os", "execvpe", Shell, SPAWN),
    g("os", "fdopen", Files, OPEN),
    g("os", "fork", Dos, "forks the process"),
    g("os", "forkpty", Dos, "forks the process"),
    g("os", "kill", Dos, "sends a signal to a process"),
    g("os", "killpg", Dos, "sends a signal to a process group"),
    g("os", "link", Files, WRITE),
    g("os", "makedirs", Files, WRITE),
    g("os", "mkdir", Files, WRITE),
    g("os", "open", Files, OPEN),
    g("os", "popen", Shell, SHELL),
    g("os", "posix_spawn", Shell, SPAWN),
    g("os", "posix_spawnp", Shell, SPAWN),
    g("os", "putenv", Files, "changes the environment of later commands"),
    g("os", "remove", Files, WRITE),
    g("os", "removedirs", Files, WRITE),
    g("os", "rename", Files, WRITE),
    g("os", "renames", Files, WRITE),
    g("os", "replace", Files, WRITE),
    g("os", "rmdir", Files, WRITE),
    g("os", "spawnl", Shell, SPAWN),
    g("os", "spawnle", Shell, SPAWN),
    g("os", "spawnlp", Shell, SPAWN),
    g("os", "spawnlpe", Shell, SPAWN),
    g("os", "spawnv", Shell, SPAWN),
    g("os", "spawnve", Shell, SPAWN),
    g("os", "spawnvp", Shell, SPAWN),
    g("os", "spawnvpe", Shell, SPAWN),
    g("os", "startfile", Shell, "opens a file with its associated program"),
    g("os", "symlink", Files, WRITE),
    g("os", "system", Shell, SHELL),
    g("os", "truncate", Files, WRITE),
    g("os", "unlink", Files, WRITE),
    g("os", "unsetenv", Files, "changes the environment of later commands"),
    g("os", "write", Files, "writes to a file descriptor"),
    g("os.path", ANY_NAME, Files, "inspects the host's paths and files"),
    g("pandas", "eval", Code, "evaluates an expression string"),
    g("pandas", "read_clipboard", Shell, "reads the clipboard through a helper program"),
    g("pandas", "read_csv", Files, READS_PATH),
    g("pandas", "read_excel", Files, READS_PATH),
    g("pandas", "read_feather", Files, READS_PATH),
    g("pandas", "read_fwf", Files, READS_PATH),
    g("pandas", "read_hdf", Nested, "reads HDF5, which may hold pickles"),
    g("pandas", "read_html", Net, READS_PATH),
    g("pandas", "read_json", Files, READS_PATH),
    g("pandas", "read_parquet", Files, READS_PATH),
    g("pandas", "read_pickle", Nested, UNPICKLE),
    g("pandas", "read_sql", Net, "queries a database"),
    g("pandas", "read_table", Files, READS_PATH),
    g("pandas", "read_xml", Files, READS_PATH),
    g("pandas.io.pickle", "read_pickle", Nested, UNPICKLE),
    g("paramiko", ANY_SUBMODULE, Net, "opens SSH connections and runs remote commands"),
    g("pdb", ANY_SUBMODULE, Code, "the debugger runs code it is given"),
    g("pickle", ANY_NAME, Nested, UNPICKLE),
    g("pip", ANY_SUBMODULE, Shell, "runs pip: installing a package runs its code"),
    g("pkgutil", ANY_NAME, Import, IMPORT),
    g("platform", "popen", Shell, SHELL),
    g("poplib", ANY_NAME, Net, NET),
    g("posixpath", ANY_NAME, Files, "inspects the host's paths and files"),
    g("profile", ANY_NAME, Code, "profiles (and so runs) code it is given"),
    g("pty", ANY_NAME, Shell, "spawns a program on a pseudo-terminal"),
    g("pydoc", "locate", Import, "imports an object by its dotted name"),
    g("pydoc", "pipepager", Shell, "pipes text to a shell command"),
    g("pydoc", "tempfilepager", Shell, SHELL),
    g("requests", ANY_SUBMODULE, Net, NET),
    g("runpy", ANY_NAME, Code, "runs a module or a script"),
    g("scipy.stats._continuous_distns", ANY_NAME, Code, "a distribution whose __setstate__ runs exec() on a template from the pickled state"),
    g("scipy.stats._discrete_distns", ANY_NAME, Code, "a distribution whose __setstate__ runs exec() on a template from the pickled state"),
    g("scipy.stats._distn_infrastructure", ANY_NAME, Code, "a distribution whose __setstate__ runs exec() on a template from the pickled state"),
    g("setuptools", ANY_SUBMODULE, Shell, "builds and installs packages, running their code"),
    g("shelve", ANY_NAME, Nested, "opens a shelf, whose values are pickles"),
    g("shutil", ANY_NAME, Files, "copies, moves or deletes files and trees"),
    g("signal", "pause", Dos, "waits for a signal forever"),
    g("smtplib", ANY_NAME, Net, "sends mail"),
    g("socket", ANY_NAME, Net, NET),
    g("socketserver", ANY_NAME, Net, "serves on a network socket"),
    g("sqlite3", "connect", Files, "opens or creates a database file"),
    g("ssl", ANY_NAME, Net, NET),
    g("subprocess", ANY_NAME, Shell, "runs a program or a shell command"),
    g("sys", "exit", Dos, EXITS),
    g("sys", "modules", Import, "the table of imported modules: any module by name"),
    g("sys", "setprofile", Code, "installs a hook that runs on every call"),
    g("sys", "setrecursionlimit", Dos, "lifts the recursion limit (a later stack overflow crashes)"),
    g("sys", "settrace", Code, "installs a hook that runs on every line"),
    g("telnetlib", ANY_NAME, Net, NET),
    g("tempfile", ANY_NAME, Files, "creates files and directories"),
    g("test.support", ANY_SUBMODULE, Shell, "CPython's test helpers run code and subprocesses"),
    g("threading", "Thread", Indirect, "runs a callable in a new thread"),
    g("threading", "Timer", Indirect, "runs a callable after a delay"),
    g("time", "sleep", Dos, "sleeps"),
    g("timeit", ANY_NAME, Code, "times (and so runs) code it is given"),
    g("torch", "load", Nested, "loads a PyTorch file (a pickle)"),
    g("torch._C", ANY_SUBMODULE, Code, "reaches PyTorch's C++ bindings (TorchScript compilation and loading)"),
    g("torch._dynamo", ANY_SUBMODULE, Code, "the TorchDynamo compiler evaluates code strings"),
    g("torch._inductor", ANY_SUBMODULE, Shell, "the Inductor compiler runs compilers and loads what they build"),
    g("torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression", Code, "evaluates an expression string"),
    g("torch.hub", ANY_SUBMODULE, Code, "downloads and runs code from a model hub"),
    g("torch.jit", ANY_SUBMODULE, Code, "loads or compiles TorchScript, which runs code"),
    g("torch.package", ANY_SUBMODULE, Code, "imports code packaged in a file"),
    g("torch.serialization", "_load", Nested, "loads a PyTorch file (a pickle)"),
    g("torch.serialization", "load", Nested, "loads a PyTorch file (a pickle)"),
    g("torch.storage", "_load_from_bytes", Nested, "loads PyTorch bytes (a pickle)"),
    g("torch.utils._config_module", "ConfigModule.load_config", Nested, UNPICKLE),
    g("torch.utils.bottleneck", ANY_SUBMODULE, Code, "profiles (and so runs) a script"),
    g("torch.utils.collect_env", ANY_NAME, Shell, "runs shell commands"),
    g("torch.utils.cpp_extension", ANY_NAME, Code, "compiles and loads C++ code"),
    g("torch.utils.data.datapipes.utils.decoder", "basichandlers", Nested, "unpickles data chosen by a file extension"),
    g("trace", ANY_NAME, Code, "traces (and so runs) code it is given"),
    g("types", "CodeType", Code, "builds a code object"),
    g("types", "FunctionType", Code, "builds a function from a code object"),
    g("types", "MethodType", Indirect, "binds a callable to an object"),
    g("urllib", ANY_SUBMODULE, Net, NET),
    g("urllib3", ANY_SUBMODULE, Net, NET),
    g("uuid", "_get_command_stdout", Shell, "runs a program and reads its output"),
    g("venv", ANY_SUBMODULE, Shell, "creates environments and runs pip"),
    g("weakref", "finalize", Indirect, "registers a callable to run when an object dies"),
    g("webbrowser", ANY_NAME, Shell, "starts a browser program"),
    g("xmlrpc", ANY_SUBMODULE, Net, NET),
    g("yaml", "load", Nested, "loads YAML, whose tags import and call by name"),
    g("yaml", "unsafe_load", Nested, "loads YAML, whose tags import and call by name"),
    g("zipimport", ANY_NAME, Import, "imports code from a ZIP file"),
];

/// Attribute-chain readings tried per dotted name, and module prefixes tried per
/// module: the table's names have at most four dots, and a stream's names can be a
/// megabyte long, so every look-up stays bounded.
const MAX_COMPONENTS: usize = 16;

/// The entry for `module.name` in [`GADGETS`] (names after the Python 2 mapping), if
/// any: the exact name first, then the whole module, then the nearest enclosing
/// module prefix; for a dotted name, then each attribute-chain reading of it (see
/// the module docs), for its first 16 components (`MAX_COMPONENTS`).
pub fn lookup(module: &str, name: &str) -> Option<&'static Gadget> {
    lookup_exact(module, name).or_else(|| {
        // A spelling of a listed name (`OS`, `os\r`, ` os`, `SYSTEM`): CPython's
        // import is case-sensitive and keeps the whitespace, so such a name fails to
        // load today; but it is only ever written to probe scanners that match
        // exactly, and a loader that normalises names (a case-insensitive file system
        // with PYTHONCASEOK, a hand-written unpickler) would run the gadget.
        let module = module.trim().to_ascii_lowercase();
        let name = name.trim().to_ascii_lowercase();
        lookup_exact(&module, &name)
    })
}

fn lookup_exact(module: &str, name: &str) -> Option<&'static Gadget> {
    let module = unalias(module);
    if let Some(found) = lookup_plain(module, name) {
        return Some(found);
    }
    // `a.b.c` in module `m`: (m.a, b.c), (a, b.c), (m.a.b, c), (b, c).
    let mut rest = name;
    let mut walked = String::new();
    for _ in 0..MAX_COMPONENTS {
        let Some((head, tail)) = rest.split_once('.') else {
            break;
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(head);
        let joined = format!("{module}.{walked}");
        if let Some(found) =
            lookup_plain(&joined, tail).or_else(|| lookup_plain(unalias(head), tail))
        {
            return Some(found);
        }
        rest = tail;
    }
    name.split('.').take(MAX_COMPONENTS).find_map(|part| {
        if ESCAPE_ATTRIBUTES.contains(&part) {
            Some(&ESCAPE_ATTRIBUTE)
        } else {
            MODULE_REFERENCES
                .contains(&part)
                .then_some(&MODULE_REFERENCE)
        }
    })
}

/// Attributes that lead from any object to others (its class, its globals, every
/// subclass of `object`...): a qualified name through one of them is a walk, never a
/// name CPython's pickler writes.
pub const ESCAPE_ATTRIBUTES: &[&str] = &[
    "__base__",
    "__bases__",
    "__builtins__",
    "__class__",
    "__closure__",
    "__code__",
    "__dict__",
    "__func__",
    "__getattribute__",
    "__globals__",
    "__import__",
    "__loader__",
    "__mro__",
    "__self__",
    "__subclasses__",
];

/// What a name through one of [`ESCAPE_ATTRIBUTES`] matches.
pub const ESCAPE_ATTRIBUTE: Gadget = g(
    "",
    "",
    Indirect,
    "walks special attributes (__class__, __globals__...) to reach other objects",
);

/// Modules that other modules import and so expose as attributes (`logging.os`,
/// `zipfile.shutil`): CPython cannot pickle a module object, so a name that is one is
/// always a walk to it.
pub const MODULE_REFERENCES: &[&str] = &[
    "builtins",
    "ctypes",
    "importlib",
    "marshal",
    "nt",
    "os",
    "pickle",
    "posix",
    "shutil",
    "socket",
    "subprocess",
    "sys",
];

/// What a name through one of [`MODULE_REFERENCES`] matches.
pub const MODULE_REFERENCE: Gadget = g(
    "",
    "",
    Indirect,
    "reaches a dangerous module through another module's attribute",
);

/// The module people know for a C module CPython pickles under its own name.
pub(crate) fn unalias(module: &str) -> &str {
    MODULE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == module)
        .map_or(module, |(_, real)| *real)
}

/// [`lookup`] without aliases or attribute chains.
fn lookup_plain(module: &str, name: &str) -> Option<&'static Gadget> {
    let find = |m: &str, n: &str| {
        GADGETS
            .binary_search_by(|e| (e.module, e.name).cmp(&(m, n)))
            .ok()
            .and_then(|i| GADGETS.get(i))
    };
    if let Some(found) = find(module, name).or_else(|| find(module, ANY_NAME)) {
        return Some(found);
    }
    // The module's enclosing packages, outermost first (at most MAX_COMPONENTS),
    // then searched innermost first.
    let mut prefixes: Vec<&str> = module
        .match_indices('.')
        .take(MAX_COMPONENTS)
        .filter_map(|(at, _)| module.get(..at))
        .collect();
    if module.matches('.').nth(MAX_COMPONENTS).is_none() {
        prefixes.push(module);
    }
    prefixes
        .iter()
        .rev()
        .find_map(|prefix| find(prefix, ANY_SUBMODULE))
}

/// Base types `copyreg._reconstructor` may be given without running anything but
/// a built-in constructor: `object` and the built-in value types.
const PLAIN_BASES: &[&str] = &[
    "bool",
    "bytearray",
    "bytes",
    "complex",
    "dict",
    "float",
    "frozenset",
    "int",
    "list",
    "object",
    "set",
    "str",
    "tuple",
];

/// Patterns that depend on a call's arguments, for callables that are harmless with
/// some arguments and not with others (and so have no entry of their own):
/// - `copyreg._reconstructor(cls, base, state)` runs `base.__new__(cls, state)` and
///   `base.__init__(obj, state)`, so a `base` other than `object` or a built-in value
///   type runs that type's constructor on pickled state;
/// - `collections.defaultdict(factory)` calls `factory` on every missing key, so a
///   factory other than `None` or a built-in type runs later, when the data is used.
pub(crate) fn call_pattern(
    graph: &Graph<'_>,
    module: &str,
    name: &str,
    args: NodeId,
) -> Option<(Category, &'static str)> {
    let items = tuple_items(graph, args);
    let plain = |at: usize, absent_ok: bool| match items.get(at).and_then(|id| graph.get(*id)) {
        None => absent_ok,
        Some(Node::None) => absent_ok,
        Some(Node::Global(g)) => g.module == "builtins" && PLAIN_BASES.contains(&g.name.as_str()),
        Some(_) => false,
    };
    match (module, name) {
        ("copyreg", "_reconstructor") if !plain(1, false) => Some((
            Category::Indirection,
            "reconstructs an object through a base type that is not a plain value type (its constructor runs on pickled state)",
        )),
        ("collections", "defaultdict") if !plain(0, true) => Some((
            Category::Indirection,
            "stores a factory that is not a built-in type; it is called on every missing key",
        )),
        _ => None,
    }
}

/// The items of a tuple node (empty for anything else).
pub(crate) fn tuple_items<'g>(graph: &'g Graph<'_>, id: NodeId) -> &'g [NodeId] {
    match graph.get(id) {
        Some(Node::Tuple(items)) => items,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_unique_and_large() {
        for pair in GADGETS.windows(2) {
            assert!(
                (pair[0].module, pair[0].name) < (pair[1].module, pair[1].name),
                "{:?} before {:?}",
                pair[0],
                pair[1]
            );
        }
        assert!(GADGETS.len() >= 80, "{}", GADGETS.len());
        assert!(GADGETS.iter().all(|e| e.category != Category::BrokenRule));
        for (alias, _) in MODULE_ALIASES {
            assert!(GADGETS.iter().all(|e| e.module != *alias), "{alias}");
        }
    }

    fn found(module: &str, name: &str) -> Option<(Category, &'static str)> {
        lookup(module, name).map(|e| (e.category, e.reason))
    }

    #[test]
    fn exact_module_and_prefix_entries_match() {
        assert_eq!(found("os", "system"), Some((Shell, SHELL)));
        assert_eq!(found("posix", "system"), Some((Shell, SHELL)));
        assert_eq!(found("nt", "system"), Some((Shell, SHELL)));
        assert_eq!(found("os", "getcwd"), None);
        assert_eq!(
            found("subprocess", "Popen"),
            Some((Shell, "runs a program or a shell command"))
        );
        // ANY_NAME covers one module, not its submodules.
        assert_eq!(found("pickle.x", "loads"), None);
        assert_eq!(found("_pickle", "loads"), Some((Nested, UNPICKLE)));
        // ANY_SUBMODULE covers the module and every submodule, not look-alikes.
        assert_eq!(found("ctypes", "CDLL"), Some((Code, NATIVE)));
        assert_eq!(found("ctypes.util", "find_library"), Some((Code, NATIVE)));
        assert_eq!(found("ctypesx", "CDLL"), None);
        assert_eq!(found("torch", "tensor"), None);
        assert_eq!(
            found("torch.jit._serialization", "load"),
            Some((Code, "loads or compiles TorchScript, which runs code"))
        );
        assert_eq!(found("builtins", "set"), None);
    }

    #[test]
    fn dotted_names_are_read_as_attribute_chains() {
        // shutil imports os, so shutil.os.system is os.system.
        assert_eq!(
            found("shutil", "os.system"),
            Some((Files, "copies, moves or deletes files and trees"))
        );
        assert_eq!(found("collections", "os.system"), Some((Shell, SHELL)));
        assert_eq!(found("x", "y.posix.system"), Some((Shell, SHELL)));
        // torch.hub reached as an attribute of torch.
        assert_eq!(
            found("torch", "hub.load"),
            Some((Code, "downloads and runs code from a model hub"))
        );
        assert_eq!(found("collections", "OrderedDict.fromkeys"), None);
    }
}
