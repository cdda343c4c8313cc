//! Argument rules: what an allowed callable may be called with.
//!
//! Some globals are safe only with the right arguments, because they fetch, import,
//! instantiate or store for later whatever they are given: an allowlist entry for
//! `builtins.getattr` with no rule would reach `getattr(os, 'system')`, and one for
//! numpy's `__randomstate_ctor` calls its second argument with its first. A [`Rule`] says what the arguments must be, and
//! [`Policy::judge_call`](super::Policy::judge_call) checks it on the graph at each
//! call, before anything else happens to the call.
//!
//! Some globals carry their rule whether or not an entry names it (the intrinsic rules):
//! allowing `copyreg._reconstructor` (by entry or by module prefix) always means
//! allowing it with the `reconstructor` rule, so a policy cannot open one of these
//! hazards by forgetting a `rule=`.
//!
//! A global inside the arguments is a node whose names are mapped (Python 2 → 3) at
//! value level but kept as written in raw mode, and the policy does not know the
//! protocol. A rule therefore accepts a global when either its names as stored or its
//! names after the mapping match. That is safe because the stream's real name was
//! itself judged when it was imported, and a Python 2 name that maps onto a name a
//! rule expects (`__builtin__.object`) does not exist under Python 3 at a protocol
//! where the mapping is off.

use std::fmt;

use crate::decode::compat;
use crate::graph::{Global, Graph, Node, NodeId};

use super::Policy;

/// An argument rule attached to an allowed global (the `rule=` of the text format).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `getattr(module:qualname,attr)`: exactly two arguments, the global
    /// `module.qualname` and the literal string `attr`. One rule per allowed pair;
    /// the pairs of one callable add up.
    Getattr {
        /// Module of the class whose attribute may be fetched.
        module: String,
        /// Its qualname (may be dotted).
        qualname: String,
        /// The attribute name, as a literal string argument.
        attr: String,
    },
    /// `reconstructor`: `copyreg._reconstructor(cls, base, state)` with `cls` an
    /// allowed global and `base` exactly `builtins.object` or a built-in value type.
    Reconstructor,
    /// `newobj`: `copyreg.__newobj__(cls, ...)` / `__newobj_ex__(cls, args, kwargs)`
    /// with `cls` an allowed global.
    NewObj,
    /// `defaultdict`: no factory, `None`, or one of the built-in types in
    /// [`DEFAULTDICT_FACTORIES`] (and allowed by the policy).
    DefaultDict,
    /// `bit-generator`: numpy's `__bit_generator_ctor` with no argument, a literal
    /// name from [`BIT_GENERATORS`], or one of those classes as an allowed global.
    BitGenerator,
    /// `rng-ctor`: numpy's `__randomstate_ctor` / `__generator_ctor`: the first
    /// argument as for `bit-generator` (or a bit generator built by an allowed call),
    /// the second absent or exactly `numpy.random._pickle.__bit_generator_ctor`.
    RngCtor,
}

impl Rule {
    /// The kind of check, without the getattr pair.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Rule::Getattr { .. } => Kind::Getattr,
            Rule::Reconstructor => Kind::Reconstructor,
            Rule::NewObj => Kind::NewObj,
            Rule::DefaultDict => Kind::DefaultDict,
            Rule::BitGenerator => Kind::BitGenerator,
            Rule::RngCtor => Kind::RngCtor,
        }
    }

    /// The rule for a kind that needs no parameter (`None` for getattr, whose rule
    /// is one pair).
    pub(crate) fn of_kind(kind: Kind) -> Option<Rule> {
        match kind {
            Kind::Getattr => None,
            Kind::Reconstructor => Some(Rule::Reconstructor),
            Kind::NewObj => Some(Rule::NewObj),
            Kind::DefaultDict => Some(Rule::DefaultDict),
            Kind::BitGenerator => Some(Rule::BitGenerator),
            Kind::RngCtor => Some(Rule::RngCtor),
        }
    }
}

/// As the text format spells it after `rule=`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Getattr {
                module,
                qualname,
                attr,
            } => write!(f, "getattr({module}:{qualname},{attr})"),
            Rule::Reconstructor => f.write_str("reconstructor"),
            Rule::NewObj => f.write_str("newobj"),
            Rule::DefaultDict => f.write_str("defaultdict"),
            Rule::BitGenerator => f.write_str("bit-generator"),
            Rule::RngCtor => f.write_str("rng-ctor"),
        }
    }
}

/// A rule's check, without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Getattr,
    Reconstructor,
    NewObj,
    DefaultDict,
    BitGenerator,
    RngCtor,
}

/// numpy's `__bit_generator_ctor`, the one constructor `rng-ctor` accepts as its
/// second argument.
const BIT_GENERATOR_CTOR: (&str, &str) = ("numpy.random._pickle", "__bit_generator_ctor");

/// The globals that carry a rule whatever the entry that allows them says (names
/// after the Python 2 mapping): each calls, fetches or instantiates what it is given.
const INTRINSIC: &[(&str, &str, Kind)] = &[
    ("builtins", "getattr", Kind::Getattr),
    ("copyreg", "_reconstructor", Kind::Reconstructor),
    ("copyreg", "__newobj__", Kind::NewObj),
    ("copyreg", "__newobj_ex__", Kind::NewObj),
    ("collections", "defaultdict", Kind::DefaultDict),
    (
        BIT_GENERATOR_CTOR.0,
        BIT_GENERATOR_CTOR.1,
        Kind::BitGenerator,
    ),
    ("numpy.random._pickle", "__randomstate_ctor", Kind::RngCtor),
    ("numpy.random._pickle", "__generator_ctor", Kind::RngCtor),
];

/// The rule `module.name` carries whatever entry allows it, if any.
pub(crate) fn intrinsic(module: &str, name: &str) -> Option<Kind> {
    INTRINSIC
        .iter()
        .find(|(m, n, _)| *m == module && *n == name)
        .map(|(_, _, kind)| *kind)
}

/// The bases `reconstructor` accepts: `object` and the built-in value types, whose
/// `__new__`/`__init__` only store the state they are given.
pub const RECONSTRUCTOR_BASES: &[(&str, &str)] = &[
    ("builtins", "object"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("builtins", "tuple"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bool"),
];

/// The factories `defaultdict` accepts: built-in types whose call with no argument
/// makes an empty value.
pub const DEFAULTDICT_FACTORIES: &[(&str, &str)] = &[
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "str"),
    ("builtins", "tuple"),
    ("builtins", "frozenset"),
    ("builtins", "bytes"),
    ("builtins", "bool"),
    ("collections", "OrderedDict"),
    ("collections", "Counter"),
    ("collections", "deque"),
    ("collections", "defaultdict"),
];

/// numpy's `BitGenerators` names (`numpy/random/_pickle.py`), the literals
/// `bit-generator` accepts.
pub const BIT_GENERATORS: &[&str] = &["MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"];

/// The bit-generator classes as pickles name them (`__module__` of the Cython class)
/// and as numpy re-exports them.
const BIT_GENERATOR_CLASSES: &[(&str, &str)] = &[
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random", "MT19937"),
    ("numpy.random", "PCG64"),
    ("numpy.random", "PCG64DXSM"),
    ("numpy.random", "Philox"),
    ("numpy.random", "SFC64"),
];

// The reasons a scan shows and `ErrorKind::CallRefused` carries: each says what was
// wrong with the arguments, so a user can tell an attack from a missing entry.
const KWARGS: &str = "keyword arguments where the rule allows none";
const NOT_A_TUPLE: &str = "arguments are not a tuple";
const GETATTR_ARITY: &str =
    "getattr needs exactly two arguments: a listed class and a literal name";
const GETATTR_CLASS: &str = "getattr of an object that is not a class listed for it";
const GETATTR_NAME: &str = "getattr with a name that is not a listed literal";
const RECONSTRUCTOR_ARITY: &str = "_reconstructor needs exactly (class, base, state)";
const RECONSTRUCTOR_CLASS: &str = "_reconstructor of a class that is not an allowed global";
const RECONSTRUCTOR_BASE: &str = "_reconstructor base is not object or a built-in value type";
const NEWOBJ_CLASS: &str = "__newobj__ of something that is not an allowed class";
const DEFAULTDICT_FACTORY: &str = "defaultdict factory is not an allowed type";
const BIT_GENERATOR_ARITY: &str = "bit-generator constructor takes at most one argument";
const BIT_GENERATOR_VALUE: &str = "bit-generator constructor given a non-bit-generator";
const RNG_ARITY: &str = "random generator constructor takes at most two arguments";
const RNG_BIT_GENERATOR: &str = "random generator constructor given a non-bit-generator";
const RNG_CTOR: &str =
    "random generator constructor given a constructor other than numpy's __bit_generator_ctor";
/// The reason for a rule-bearing global passed where its rule cannot follow it.
pub(crate) const RULE_BEARING_ARGUMENT: &str =
    "a global allowed only with argument rules is passed as an argument";

/// The arguments of one call, as the rules see them.
pub(crate) struct Args<'g> {
    /// The positional arguments (empty when the node is not a tuple: see `tuple`).
    pub items: &'g [NodeId],
    /// False when the argument node is not a tuple.
    pub tuple: bool,
    /// The keyword arguments (NEWOBJ_EX), if any.
    pub kwargs: &'g [(NodeId, NodeId)],
}

impl<'g> Args<'g> {
    /// Reads `args` (a tuple node) and `kwargs` (a dict node) from the graph.
    pub fn read(graph: &'g Graph<'_>, args: NodeId, kwargs: Option<NodeId>) -> Args<'g> {
        let (items, tuple) = match graph.get(args) {
            Some(Node::Tuple(items)) => (items, true),
            _ => (&[][..], false),
        };
        let kwargs = match kwargs.and_then(|k| graph.get(k)) {
            Some(Node::Dict(pairs)) => pairs,
            _ => &[][..],
        };
        Args {
            items,
            tuple,
            kwargs,
        }
    }
}

/// The `(module, name)` pairs a global node may stand for: as stored, and after the
/// Python 2 mapping (see the module docs).
fn forms(g: &Global) -> [(&str, &str); 2] {
    let stored = (g.module.as_str(), g.name.as_str());
    [stored, compat::to_python3(stored.0, stored.1)]
}

/// The global at `id`, if it is one.
fn global<'g>(graph: &'g Graph<'_>, id: NodeId) -> Option<&'g Global> {
    match graph.get(id) {
        Some(Node::Global(g)) => Some(g),
        _ => None,
    }
}

/// Is the node at `id` a global named one of `names` (in either form)?
fn is_one_of(graph: &Graph<'_>, id: NodeId, names: &[(&str, &str)]) -> bool {
    global(graph, id).is_some_and(|g| forms(g).iter().any(|f| names.contains(f)))
}

/// Is the node at `id` a global the policy allows (in either form)?
fn is_allowed_global(policy: &Policy, graph: &Graph<'_>, id: NodeId) -> bool {
    global(graph, id).is_some_and(|g| forms(g).iter().any(|(m, n)| policy.allows_global(m, n)))
}

/// Does the global node carry a rule (intrinsic or declared) in either form?
pub(crate) fn is_rule_bearing(policy: &Policy, g: &Global) -> bool {
    forms(g)
        .iter()
        .any(|(m, n)| intrinsic(m, n).is_some() || policy.has_declared_rules(m, n))
}

/// Checks one rule kind against the arguments of a call of `callable` (the
/// callable's names, after the mapping, as the machine judged them).
pub(crate) fn check(
    policy: &Policy,
    graph: &Graph<'_>,
    callable: (&str, &str),
    kind: Kind,
    args: &Args<'_>,
) -> Result<(), &'static str> {
    if !args.tuple {
        return Err(NOT_A_TUPLE);
    }
    if kind != Kind::DefaultDict && !args.kwargs.is_empty() {
        return Err(KWARGS);
    }
    match kind {
        Kind::Getattr => check_getattr(policy, graph, callable, args.items),
        Kind::Reconstructor => check_reconstructor(policy, graph, args.items),
        Kind::NewObj => match args.items.first() {
            Some(&cls) if is_allowed_global(policy, graph, cls) => Ok(()),
            _ => Err(NEWOBJ_CLASS),
        },
        Kind::DefaultDict => match args.items.first() {
            None => Ok(()),
            Some(&factory) if matches!(graph.get(factory), Some(Node::None)) => Ok(()),
            Some(&factory)
                if is_one_of(graph, factory, DEFAULTDICT_FACTORIES)
                    && is_allowed_global(policy, graph, factory) =>
            {
                Ok(())
            }
            Some(_) => Err(DEFAULTDICT_FACTORY),
        },
        Kind::BitGenerator => match args.items {
            [] => Ok(()),
            [name] if is_bit_generator_name(policy, graph, *name) => Ok(()),
            [_] => Err(BIT_GENERATOR_VALUE),
            _ => Err(BIT_GENERATOR_ARITY),
        },
        Kind::RngCtor => check_rng_ctor(policy, graph, args.items),
    }
}

/// `getattr(cls, 'name')` with the pair listed for this callable.
fn check_getattr(
    policy: &Policy,
    graph: &Graph<'_>,
    callable: (&str, &str),
    items: &[NodeId],
) -> Result<(), &'static str> {
    let [target, attr] = items else {
        return Err(GETATTR_ARITY);
    };
    let Some(cls) = global(graph, *target) else {
        return Err(GETATTR_CLASS);
    };
    let mut listed_class = false;
    for rule in policy.rules(callable.0, callable.1) {
        let Rule::Getattr {
            module,
            qualname,
            attr: listed_attr,
        } = rule
        else {
            continue;
        };
        if !forms(cls)
            .iter()
            .any(|(m, n)| *m == module.as_str() && *n == qualname.as_str())
        {
            continue;
        }
        listed_class = true;
        if matches!(graph.get(*attr), Some(Node::Str(s)) if s == listed_attr.as_bytes()) {
            return Ok(());
        }
    }
    Err(if listed_class {
        GETATTR_NAME
    } else {
        GETATTR_CLASS
    })
}

/// `copyreg._reconstructor(cls, base, state)`.
fn check_reconstructor(
    policy: &Policy,
    graph: &Graph<'_>,
    items: &[NodeId],
) -> Result<(), &'static str> {
    let [cls, base, state] = items else {
        return Err(RECONSTRUCTOR_ARITY);
    };
    if !is_allowed_global(policy, graph, *cls) {
        return Err(RECONSTRUCTOR_CLASS);
    }
    if !is_one_of(graph, *base, RECONSTRUCTOR_BASES) {
        return Err(RECONSTRUCTOR_BASE);
    }
    // `base.__init__(obj, state)`: a list or dict base iterates the state, so it
    // must be data the stream holds (see `check_materializing`).
    if !is_stream_data(graph, *state) {
        return Err(MATERIALIZED_COMPUTED);
    }
    Ok(())
}

/// The callables that build a value by iterating (or, for `bytes` and `bytearray`,
/// by sizing) their arguments: the value is as large as what they are given, not as
/// the stream. Names after the Python 2 mapping.
pub const MATERIALIZERS: &[(&str, &str)] = &[
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("collections", "deque"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
];

const MATERIALIZED_COMPUTED: &str = "a container built from a value the stream does not \
    hold (a call's result such as range(10**9), a global, an id): its size is not bounded \
    by the stream";
const MATERIALIZED_SIZE: &str = "bytes or bytearray of an int: a buffer of that many bytes";

/// Is the node a value the stream itself holds (its size counted by the decoder's
/// budgets), rather than something only the loader makes: a call's result, a global,
/// a persistent id, an extension code or an out-of-band buffer?
fn is_stream_data(graph: &Graph<'_>, id: NodeId) -> bool {
    graph
        .get(id)
        .is_some_and(|node| !node.is_callable_kind() && !matches!(node, Node::Buffer { .. }))
}

/// A call of a [`MATERIALIZERS`] callable: every argument is stream data, and for
/// `dict` and `OrderedDict` (which turn each item of a sequence into a pair,
/// materializing it) so is every item of a list or tuple argument; `bytes` and `bytearray` take no int. Otherwise a 40-byte
/// stream `list(range(10**9))` asks `pickle.loads` for tens of gigabytes, through
/// globals every data preset allows. Checked for every allowed materializer, however
/// it is allowed.
pub(crate) fn check_materializing(
    graph: &Graph<'_>,
    callable: (&str, &str),
    args: &Args<'_>,
) -> Result<(), &'static str> {
    if !MATERIALIZERS.contains(&callable) {
        return Ok(());
    }
    let sized = matches!(callable, ("builtins", "bytes" | "bytearray"));
    // dict and OrderedDict read each item of a sequence as a (key, value) pair,
    // copying it into a sequence first; the others keep items as they are.
    let pairs = matches!(
        callable,
        ("builtins", "dict") | ("collections", "OrderedDict")
    );
    let values = args.items.iter().chain(args.kwargs.iter().map(|(_, v)| v));
    for &arg in values {
        if !is_stream_data(graph, arg) {
            return Err(MATERIALIZED_COMPUTED);
        }
        match graph.get(arg) {
            Some(Node::Int(_) | Node::BigInt(_)) if sized => return Err(MATERIALIZED_SIZE),
            Some(Node::List(items) | Node::Tuple(items))
                if pairs && !items.iter().all(|&item| is_stream_data(graph, item)) =>
            {
                return Err(MATERIALIZED_COMPUTED)
            }
            _ => {}
        }
    }
    Ok(())
}

/// numpy's `__randomstate_ctor(bit_generator, ctor)` / `__generator_ctor(...)`.
fn check_rng_ctor(
    policy: &Policy,
    graph: &Graph<'_>,
    items: &[NodeId],
) -> Result<(), &'static str> {
    let (first, second) = match items {
        [] => (None, None),
        [a] => (Some(*a), None),
        [a, b] => (Some(*a), Some(*b)),
        _ => return Err(RNG_ARITY),
    };
    if let Some(first) = first {
        if !is_bit_generator_name(policy, graph, first)
            && !is_built_bit_generator(policy, graph, first)
        {
            return Err(RNG_BIT_GENERATOR);
        }
    }
    match second {
        Some(ctor) if !is_one_of(graph, ctor, &[BIT_GENERATOR_CTOR]) => Err(RNG_CTOR),
        _ => Ok(()),
    }
}

/// A literal bit-generator name, or an allowed bit-generator class.
fn is_bit_generator_name(policy: &Policy, graph: &Graph<'_>, id: NodeId) -> bool {
    match graph.get(id) {
        Some(Node::Str(s)) => BIT_GENERATORS.iter().any(|name| name.as_bytes() == s),
        Some(Node::Global(_)) => {
            is_one_of(graph, id, BIT_GENERATOR_CLASSES) && is_allowed_global(policy, graph, id)
        }
        _ => false,
    }
}

/// A bit generator instance (numpy ≥ 2 passes one): the result of an allowed call
/// of `__bit_generator_ctor` (whose own rule was checked when it was called) or of an
/// allowed bit-generator class.
fn is_built_bit_generator(policy: &Policy, graph: &Graph<'_>, id: NodeId) -> bool {
    let Some(Node::Object(obj)) = graph.get(id) else {
        return false;
    };
    let maker = obj.callable;
    (is_one_of(graph, maker, &[BIT_GENERATOR_CTOR])
        || is_one_of(graph, maker, BIT_GENERATOR_CLASSES))
        && is_allowed_global(policy, graph, maker)
}

/// May a rule-bearing global sit at position `index` of the arguments of a call
/// checked by `kinds`? Only where the rule itself expects one: `rng-ctor`'s second
/// argument (`__bit_generator_ctor`), `defaultdict`'s factory (`defaultdict`), and
/// getattr's class (a listed pair, checked by the rule).
pub(crate) fn expects_rule_bearing(
    graph: &Graph<'_>,
    kinds: &[Kind],
    index: usize,
    id: NodeId,
) -> bool {
    kinds.iter().any(|kind| match (kind, index) {
        (Kind::RngCtor, 1) => is_one_of(graph, id, &[BIT_GENERATOR_CTOR]),
        (Kind::DefaultDict, 0) => is_one_of(graph, id, &[("collections", "defaultdict")]),
        (Kind::Getattr, 0) => true,
        _ => false,
    })
}

/// For a call whose callable is the result of another call: is that call a getattr
/// whose rule listed the `(class, attr)` pair? Then the callable is the attribute
/// the pair names, which listing the pair allows to be fetched and called (how
/// bound methods pickle: `getattr(ZoneInfo, '_unpickle')(key, from_cache)`).
pub(crate) fn is_listed_fetch(policy: &Policy, graph: &Graph<'_>, callable: NodeId) -> bool {
    let Some(Node::Object(obj)) = graph.get(callable) else {
        return false;
    };
    let Some(fetcher) = global(graph, obj.callable) else {
        return false;
    };
    let args = Args::read(graph, obj.args, obj.kwargs);
    forms(fetcher).iter().any(|&(m, n)| {
        policy.allows_global(m, n)
            && policy.kinds(m, n).contains(&Kind::Getattr)
            && check(policy, graph, (m, n), Kind::Getattr, &args).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeData;
    use std::borrow::Cow;

    fn global_node(graph: &mut Graph<'_>, module: &str, name: &str) -> NodeId {
        graph
            .add(NodeData::Global(Box::new(Global {
                module: module.to_owned(),
                name: name.to_owned(),
            })))
            .unwrap()
    }

    fn str_node(graph: &mut Graph<'_>, s: &str) -> NodeId {
        graph
            .add(NodeData::Str(Cow::Owned(s.as_bytes().to_vec())))
            .unwrap()
    }

    fn tuple(graph: &mut Graph<'_>, items: Vec<NodeId>) -> NodeId {
        graph.add(NodeData::Tuple(items)).unwrap()
    }

    fn judge(
        policy: &Policy,
        graph: &Graph<'_>,
        callable: (&str, &str),
        kind: Kind,
        args: NodeId,
    ) -> Result<(), &'static str> {
        check(
            policy,
            graph,
            callable,
            kind,
            &Args::read(graph, args, None),
        )
    }

    fn zoneinfo_policy() -> Policy {
        Policy::deny_all()
            .allow("zoneinfo", "ZoneInfo")
            .allow("os", "path")
            .allow_rule(
                "builtins",
                "getattr",
                Rule::Getattr {
                    module: "zoneinfo".into(),
                    qualname: "ZoneInfo".into(),
                    attr: "_unpickle".into(),
                },
            )
    }

    #[test]
    fn getattr_takes_only_listed_pairs() {
        let p = zoneinfo_policy();
        let mut g = Graph::new();
        let zi = global_node(&mut g, "zoneinfo", "ZoneInfo");
        let os = global_node(&mut g, "os", "path");
        let good = str_node(&mut g, "_unpickle");
        let bad = str_node(&mut g, "system");
        let cases = [
            (vec![zi, good], Ok(())),
            (vec![zi, bad], Err(GETATTR_NAME)),
            (vec![os, good], Err(GETATTR_CLASS)),
            (vec![good, good], Err(GETATTR_CLASS)),
            (vec![zi, zi], Err(GETATTR_NAME)),
            (vec![zi], Err(GETATTR_ARITY)),
            (vec![zi, good, good], Err(GETATTR_ARITY)),
        ];
        for (items, want) in cases {
            let args = tuple(&mut g, items.clone());
            assert_eq!(
                judge(&p, &g, ("builtins", "getattr"), Kind::Getattr, args),
                want,
                "{items:?}"
            );
        }
        // The pairs belong to the callable that lists them.
        let args = tuple(&mut g, vec![zi, good]);
        assert_eq!(
            judge(
                &p.clone().allow("m", "f"),
                &g,
                ("m", "f"),
                Kind::Getattr,
                args
            ),
            Err(GETATTR_CLASS)
        );
    }

    #[test]
    fn reconstructor_wants_an_allowed_class_and_a_value_base() {
        let p = Policy::deny_all().allow("argparse", "Namespace");
        let mut g = Graph::new();
        let cls = global_node(&mut g, "argparse", "Namespace");
        let other = global_node(&mut g, "os", "system");
        let object = global_node(&mut g, "builtins", "object");
        let py2_object = global_node(&mut g, "__builtin__", "object");
        let dict = global_node(&mut g, "builtins", "dict");
        let none = g.add(NodeData::None).unwrap();
        let cases = [
            (vec![cls, object, none], Ok(())),
            (vec![cls, py2_object, none], Ok(())),
            (vec![cls, dict, none], Ok(())),
            (vec![other, object, none], Err(RECONSTRUCTOR_CLASS)),
            (vec![cls, other, none], Err(RECONSTRUCTOR_BASE)),
            (vec![cls, none, none], Err(RECONSTRUCTOR_BASE)),
            (vec![cls, object], Err(RECONSTRUCTOR_ARITY)),
        ];
        for (items, want) in cases {
            let args = tuple(&mut g, items.clone());
            let got = judge(
                &p,
                &g,
                ("copyreg", "_reconstructor"),
                Kind::Reconstructor,
                args,
            );
            assert_eq!(got, want, "{items:?}");
        }
    }

    #[test]
    fn defaultdict_factories() {
        let p = Policy::deny_all()
            .allow("builtins", "list")
            .allow("builtins", "int");
        let mut g = Graph::new();
        let list = global_node(&mut g, "builtins", "list");
        let py2_long = global_node(&mut g, "__builtin__", "long");
        let eval = global_node(&mut g, "builtins", "eval");
        let dict = global_node(&mut g, "builtins", "dict"); // listed type, not allowed here
        let none = g.add(NodeData::None).unwrap();
        let s = str_node(&mut g, "list");
        let cases = [
            (vec![], Ok(())),
            (vec![none], Ok(())),
            (vec![list], Ok(())),
            (vec![py2_long], Ok(())),
            (vec![list, s], Ok(())),
            (vec![eval], Err(DEFAULTDICT_FACTORY)),
            (vec![dict], Err(DEFAULTDICT_FACTORY)),
            (vec![s], Err(DEFAULTDICT_FACTORY)),
        ];
        for (items, want) in cases {
            let args = tuple(&mut g, items.clone());
            let got = judge(
                &p,
                &g,
                ("collections", "defaultdict"),
                Kind::DefaultDict,
                args,
            );
            assert_eq!(got, want, "{items:?}");
        }
    }

    #[test]
    fn bit_generators_and_rng_constructors() {
        let p = Policy::deny_all()
            .allow("numpy.random._pcg64", "PCG64")
            .allow("numpy.random._pickle", "__bit_generator_ctor");
        let mut g = Graph::new();
        let name = str_node(&mut g, "PCG64");
        let bad_name = str_node(&mut g, "os");
        let cls = global_node(&mut g, "numpy.random._pcg64", "PCG64");
        let unlisted_cls = global_node(&mut g, "numpy.random._philox", "Philox");
        let evil = global_node(&mut g, "os", "system");
        let ctor = global_node(&mut g, "numpy.random._pickle", "__bit_generator_ctor");
        let empty = tuple(&mut g, vec![]);
        let call_args = tuple(&mut g, vec![cls]);
        let built = g
            .add(NodeData::Object(Box::new(crate::graph::Object::new(
                crate::graph::CallOp::Reduce,
                ctor,
                call_args,
                None,
            ))))
            .unwrap();
        let bg = ("numpy.random._pickle", "__bit_generator_ctor");
        for (items, want) in [
            (vec![], Ok(())),
            (vec![name], Ok(())),
            (vec![cls], Ok(())),
            (vec![bad_name], Err(BIT_GENERATOR_VALUE)),
            (vec![unlisted_cls], Err(BIT_GENERATOR_VALUE)),
            (vec![evil], Err(BIT_GENERATOR_VALUE)),
            (vec![built], Err(BIT_GENERATOR_VALUE)),
            (vec![name, name], Err(BIT_GENERATOR_ARITY)),
        ] {
            let args = tuple(&mut g, items.clone());
            assert_eq!(
                judge(&p, &g, bg, Kind::BitGenerator, args),
                want,
                "{items:?}"
            );
        }
        let rs = ("numpy.random._pickle", "__randomstate_ctor");
        for (items, want) in [
            (vec![], Ok(())),
            (vec![name], Ok(())),
            (vec![built], Ok(())),
            (vec![name, ctor], Ok(())),
            (vec![cls, ctor], Ok(())),
            (vec![name, evil], Err(RNG_CTOR)),
            (vec![evil, ctor], Err(RNG_BIT_GENERATOR)),
            (vec![empty, ctor], Err(RNG_BIT_GENERATOR)),
            (vec![name, ctor, ctor], Err(RNG_ARITY)),
        ] {
            let args = tuple(&mut g, items.clone());
            assert_eq!(judge(&p, &g, rs, Kind::RngCtor, args), want, "{items:?}");
        }
    }

    #[test]
    fn kwargs_and_non_tuples_break_rules() {
        let p = Policy::deny_all().allow("argparse", "Namespace");
        let mut g = Graph::new();
        let cls = global_node(&mut g, "argparse", "Namespace");
        let args = tuple(&mut g, vec![cls]);
        let k = str_node(&mut g, "k");
        let kwargs = g.add(NodeData::Dict(vec![(k, k)])).unwrap();
        let newobj = ("copyreg", "__newobj__");
        let with_kwargs = Args::read(&g, args, Some(kwargs));
        assert_eq!(
            check(&p, &g, newobj, Kind::NewObj, &with_kwargs),
            Err(KWARGS)
        );
        let not_tuple = Args::read(&g, cls, None);
        assert_eq!(
            check(&p, &g, newobj, Kind::NewObj, &not_tuple),
            Err(NOT_A_TUPLE)
        );
        assert_eq!(judge(&p, &g, newobj, Kind::NewObj, args), Ok(()));
        let none = tuple(&mut g, vec![]);
        assert_eq!(judge(&p, &g, newobj, Kind::NewObj, none), Err(NEWOBJ_CLASS));
    }

    #[test]
    fn intrinsic_rules_and_display() {
        assert_eq!(intrinsic("builtins", "getattr"), Some(Kind::Getattr));
        assert_eq!(intrinsic("copyreg", "__newobj_ex__"), Some(Kind::NewObj));
        assert_eq!(intrinsic("builtins", "getattr.x"), None);
        assert_eq!(intrinsic("copy_reg", "_reconstructor"), None); // names come mapped
        let pair = Rule::Getattr {
            module: "a.b".into(),
            qualname: "C.D".into(),
            attr: "e".into(),
        };
        assert_eq!(pair.to_string(), "getattr(a.b:C.D,e)");
        assert_eq!(Rule::RngCtor.to_string(), "rng-ctor");
        assert_eq!(Rule::of_kind(Kind::BitGenerator), Some(Rule::BitGenerator));
        assert_eq!(Rule::of_kind(Kind::Getattr), None);
    }
}
