//! Which globals may appear in a stream, and which other escape hatches are open.
//!
//! The machine asks; the policy answers. Nothing is ever imported or called: even an
//! allowed global is only *described* (or, for the built-in reconstructors below,
//! turned into the value Python would build). A refused global is
//! [`ErrorKind::Forbidden`](crate::ErrorKind::Forbidden) at its offset.
//!
//! Names are judged after CPython's Python 2 → 3 mapping (`__builtin__.eval` is judged
//! as `builtins.eval`), and a dotted name (`os.path.join` as module `os`, name
//! `path.join`) must match whole: allowing `(module, "a")` never allows `(module, "a.b")`.

use std::collections::BTreeSet;

use crate::graph::{Graph, NodeId};

/// The policy's answer for one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Allowed.
    Allowed,
    /// Not on the allowlist (or a stream feature the policy does not accept).
    NotListed,
    /// On the allowlist only with certain arguments, and these break the rule; the
    /// text says how ("getattr with a name that is not a listed literal").
    RuleBroken(&'static str),
}

impl Verdict {
    /// True for [`Verdict::Allowed`].
    pub fn is_allowed(self) -> bool {
        self == Verdict::Allowed
    }

    /// `Allowed` when `yes`, `NotListed` otherwise.
    pub fn from_bool(yes: bool) -> Verdict {
        if yes {
            Verdict::Allowed
        } else {
            Verdict::NotListed
        }
    }
}

/// The built-in reconstructors: the calls CPython's pickler itself writes for built-in
/// types at low protocols (sets and frozensets below 4, bytearrays below 5, bytes below
/// 3). When allowed, the decoder turns these calls into the values they build.
pub const RECONSTRUCTORS: &[(&str, &str)] = &[
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
];

/// What the decoder accepts beyond plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    any_global: bool,
    exact: BTreeSet<(String, String)>,
    module_prefixes: Vec<String>,
    persistent_ids: bool,
    extensions: bool,
    buffer_placeholders: bool,
    computed_calls: bool,
}

impl Default for Policy {
    /// [`Policy::strict`].
    fn default() -> Policy {
        Policy::strict()
    }
}

impl Policy {
    /// Only the built-in reconstructors ([`RECONSTRUCTORS`]); no persistent ids, no
    /// extension codes, no out-of-band buffer placeholders, no computed calls. The
    /// default: a stream that passes holds nothing but built-in Python data.
    pub fn strict() -> Policy {
        Policy {
            any_global: false,
            exact: RECONSTRUCTORS
                .iter()
                .map(|(m, n)| ((*m).to_owned(), (*n).to_owned()))
                .collect(),
            module_prefixes: Vec::new(),
            persistent_ids: false,
            extensions: false,
            buffer_placeholders: false,
            computed_calls: false,
        }
    }

    /// Any global, persistent id, extension code, missing buffer and computed call is
    /// *described*, never resolved: for inspection and scanning, where the point is to
    /// see everything a stream would do.
    pub fn inert() -> Policy {
        Policy {
            any_global: true,
            exact: BTreeSet::new(),
            module_prefixes: Vec::new(),
            persistent_ids: true,
            extensions: true,
            buffer_placeholders: true,
            computed_calls: true,
        }
    }

    /// Nothing at all, not even the reconstructors: start of a custom allowlist.
    pub fn deny_all() -> Policy {
        Policy {
            exact: BTreeSet::new(),
            ..Policy::strict()
        }
    }

    /// The strict set plus what PyTorch checkpoints need (tensor rebuilds, storages,
    /// `OrderedDict`, `torch.device`...), and persistent ids (storages are persistent
    /// ids). Narrower than `torch.load(weights_only=True)`: no arbitrary `torch.*`.
    pub fn pytorch() -> Policy {
        let mut p = Policy::strict().allow_persistent_ids(true);
        for (m, n) in [
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_tensor_v3"),
            ("torch._utils", "_rebuild_parameter"),
            ("torch._utils", "_rebuild_parameter_with_state"),
            ("torch._utils", "_rebuild_sparse_tensor"),
            ("torch._utils", "_rebuild_qtensor"),
            ("torch", "device"),
            ("torch", "Size"),
            ("torch", "dtype"),
            ("torch", "float32"),
            ("torch", "float16"),
            ("torch", "bfloat16"),
            ("torch", "float64"),
            ("torch", "int64"),
            ("torch", "int32"),
            ("torch", "int8"),
            ("torch", "uint8"),
            ("torch", "bool"),
        ] {
            p = p.allow(m, n);
        }
        for storage in [
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "UntypedStorage",
        ] {
            p = p.allow("torch", storage);
        }
        p
    }

    /// The strict set plus what NumPy arrays and scalars need.
    pub fn numpy() -> Policy {
        let mut p = Policy::strict();
        for m in ["numpy.core.multiarray", "numpy._core.multiarray"] {
            p = p.allow(m, "_reconstruct").allow(m, "scalar");
        }
        p.allow("numpy", "ndarray").allow("numpy", "dtype")
    }

    /// Also allows exactly `module.name`.
    pub fn allow(mut self, module: &str, name: &str) -> Policy {
        self.exact.insert((module.to_owned(), name.to_owned()));
        self
    }

    /// Also allows every name in `module` and in its submodules (`numpy` allows
    /// `numpy.core.multiarray` too, but not `numpyx`).
    pub fn allow_module_prefix(mut self, module: &str) -> Policy {
        self.module_prefixes.push(module.to_owned());
        self
    }

    /// Accept PERSID/BINPERSID as described `persid` nodes.
    pub fn allow_persistent_ids(mut self, yes: bool) -> Policy {
        self.persistent_ids = yes;
        self
    }

    /// Accept EXT1/EXT2/EXT4 as described `ext` nodes.
    pub fn allow_extensions(mut self, yes: bool) -> Policy {
        self.extensions = yes;
        self
    }

    /// Accept NEXT_BUFFER without supplied buffers, as `buffer` placeholder nodes.
    pub fn allow_buffer_placeholders(mut self, yes: bool) -> Policy {
        self.buffer_placeholders = yes;
        self
    }

    /// Accept calls (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ) whose callable is not a global:
    /// the result of another call, a persistent id or an extension code.
    ///
    /// Off in every policy but [`Policy::inert`], because an allowlist of globals
    /// says nothing about what such a call would run: `OrderedDict()(...)` calls an
    /// instance, `getattr(x, 'system')(...)` the attribute another call fetched, and
    /// a persistent id is whatever the loading application maps it to. CPython's
    /// loader would call each of them; PyTorch's `weights_only` loader refuses every
    /// callable that is not an allowlisted global, and so do these policies.
    pub fn allow_computed_calls(mut self, yes: bool) -> Policy {
        self.computed_calls = yes;
        self
    }

    /// May this global appear? (Names after Python 2 → 3 mapping.)
    pub fn allows_global(&self, module: &str, name: &str) -> bool {
        if self.any_global {
            return true;
        }
        if self
            .exact
            .iter()
            .any(|(m, n)| m.as_str() == module && n.as_str() == name)
        {
            return true;
        }
        self.module_prefixes.iter().any(|prefix| {
            module == prefix
                || (module.starts_with(prefix.as_str())
                    && module.as_bytes().get(prefix.len()) == Some(&b'.'))
        })
    }

    /// The verdict for importing `module.name` (names after the Python 2 mapping).
    /// A global whose entry carries an argument rule is allowed here; its calls are
    /// judged by [`Policy::judge_call`].
    pub fn judge_global(&self, module: &str, name: &str) -> Verdict {
        Verdict::from_bool(self.allows_global(module, name))
    }

    /// The verdict for calling the global `module.name` with `args` (a tuple node of
    /// `graph`) and, for NEWOBJ_EX, `kwargs`: the global must be allowed, and when its
    /// entry carries an argument rule, the arguments must satisfy it.
    pub fn judge_call(
        &self,
        graph: &Graph<'_>,
        module: &str,
        name: &str,
        args: NodeId,
        kwargs: Option<NodeId>,
    ) -> Verdict {
        let _ = (graph, args, kwargs);
        self.judge_global(module, name)
    }

    /// May PERSID/BINPERSID appear?
    pub fn allows_persistent_ids(&self) -> bool {
        self.persistent_ids
    }

    /// May EXT1/EXT2/EXT4 appear?
    pub fn allows_extensions(&self) -> bool {
        self.extensions
    }

    /// May NEXT_BUFFER appear without supplied buffers?
    pub fn allows_buffer_placeholders(&self) -> bool {
        self.buffer_placeholders
    }

    /// May a call target something other than a global? (See
    /// [`Policy::allow_computed_calls`].)
    pub fn allows_computed_calls(&self) -> bool {
        self.computed_calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_allows_only_reconstructors() {
        let p = Policy::strict();
        assert!(p.allows_global("builtins", "set"));
        assert!(p.allows_global("_codecs", "encode"));
        assert!(!p.allows_global("builtins", "eval"));
        assert!(!p.allows_global("os", "system"));
        assert!(!p.allows_persistent_ids());
        assert!(!p.allows_computed_calls());
        assert!(!Policy::pytorch().allows_computed_calls());
        assert!(!Policy::numpy().allows_computed_calls());
        assert!(Policy::strict()
            .allow_computed_calls(true)
            .allows_computed_calls());
    }

    #[test]
    fn dotted_names_and_prefixes_match_whole() {
        let p = Policy::deny_all()
            .allow("m", "a")
            .allow_module_prefix("numpy");
        assert!(p.allows_global("m", "a"));
        assert!(!p.allows_global("m", "a.b"));
        assert!(p.allows_global("numpy", "x"));
        assert!(p.allows_global("numpy.core.multiarray", "x"));
        assert!(!p.allows_global("numpyx", "x"));
        assert!(!p.allows_global("builtins", "set"));
    }

    #[test]
    fn inert_allows_everything() {
        let p = Policy::inert();
        assert!(p.allows_global("os", "system"));
        assert!(p.allows_persistent_ids() && p.allows_extensions());
        assert!(p.allows_buffer_placeholders() && p.allows_computed_calls());
    }
}
