//! `pickleproof::serde` (feature `serde`): typed values from CPython's own pickles and
//! back byte for byte (`corpus/serde/cpython.json`, written by
//! `corpus/serde/generate.py`), serde-pickle's own test cases (its data, ported: the
//! README's table says where the results match and where pickleproof is stricter),
//! and the budgets: memo bombs, shared payloads, cycles, depth, with exact error kinds
//! and paths.

use std::collections::BTreeMap;
use std::fmt;

use ::serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use ::serde::{Deserialize, Serialize};
use pickleproof::serde::{
    from_graph, from_graph_with, from_reader, from_slice, from_slice_with, to_vec, Deserializer,
    ErrorKind, ObjectMode, Options,
};
use pickleproof::{
    Decoder, ErrorKind as DecodeKind, Graph, Limits, NodeData, NodeId, Policy, Resource,
    StringEncoding,
};
use serde_bytes::ByteBuf;
use serde_pickle::{HashableValue as H, Value as V};

use crate::support::corpus_dir;

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn serde_file(name: &str) -> Vec<u8> {
    let path = corpus_dir().join("serde").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn limit(resource: Resource, limit: u64) -> ErrorKind {
    ErrorKind::Limit {
        resource,
        limit,
        requested: limit + 1,
    }
}

fn inert() -> Decoder {
    Decoder::new().policy(Policy::inert())
}

fn describe() -> Options {
    Options {
        objects: ObjectMode::Describe,
        ..Options::default()
    }
}

// ----- CPython's bytes, both ways --------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Nested {
    flag: bool,
    note: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: Vec<f64>,
    nested: Nested,
    pair: (i32, String),
    blob: ByteBuf,
    missing: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum Animal {
    Dog,
    AntHive(Vec<String>),
    Frog(String, Vec<isize>),
    Cat { age: usize, name: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Unit;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Newtype(i32);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TupleStruct(i32, bool);

/// Reads CPython's pickle of the case at every protocol as `want`, and writes `want`
/// as exactly those bytes.
fn cpython_case<T>(cases: &BTreeMap<String, BTreeMap<String, Vec<u8>>>, name: &str, want: T)
where
    T: Serialize + DeserializeOwned + PartialEq + fmt::Debug,
{
    let pickles = &cases[name];
    assert_eq!(pickles.len(), 6, "{name}");
    for (protocol, bytes) in pickles {
        let p: u8 = protocol.parse().unwrap();
        let got: T = from_slice(bytes).unwrap_or_else(|e| panic!("{name} p{p}: {e}"));
        assert_eq!(got, want, "{name} read at protocol {p}");
        let written = to_vec(&want, p).unwrap_or_else(|e| panic!("{name} p{p}: {e}"));
        assert_eq!(written, *bytes, "{name} written at protocol {p}");
    }
}

#[test]
fn cpython_pickles_read_as_typed_values_and_written_byte_for_byte() {
    let text = std::fs::read_to_string(corpus_dir().join("serde/cpython.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut cases = BTreeMap::new();
    for case in doc["cases"].as_array().unwrap() {
        let pickles = case["pickles"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(p, hex)| (p.clone(), unhex(hex.as_str().unwrap())))
            .collect::<BTreeMap<_, _>>();
        cases.insert(case["name"].as_str().unwrap().to_owned(), pickles);
    }
    assert_eq!(cases.len(), 11);
    type Scalars = (
        (),
        bool,
        bool,
        i32,
        i8,
        u8,
        i64,
        i64,
        u64,
        f64,
        String,
        ByteBuf,
    );
    let scalars: Scalars = (
        (),
        true,
        false,
        0,
        -1,
        255,
        1 << 31,
        i64::MIN,
        u64::MAX,
        1.5,
        "h\u{e9}llo".into(),
        ByteBuf::from(vec![0, 0xff]),
    );
    cpython_case(&cases, "scalars", scalars);
    let record = Record {
        id: 7,
        name: "rec".into(),
        tags: vec!["t1".into(), "t2".into()],
        scores: vec![0.5, 2.0],
        nested: Nested {
            flag: true,
            note: None,
        },
        pair: (3, "three".into()),
        blob: ByteBuf::from(vec![1, 2]),
        missing: None,
    };
    cpython_case(&cases, "record", record);
    let animals = vec![
        Animal::Dog,
        Animal::AntHive(vec!["ant".into(), "aunt".into()]),
        Animal::Frog("Henry".into(), vec![1, 5]),
        Animal::Cat {
            age: 5,
            name: "Molyneux".into(),
        },
    ];
    cpython_case(&cases, "enums", animals);
    let int_keys: BTreeMap<i64, String> = [
        (-2, "minus two"),
        (1, "one"),
        (3_000_000_000, "three billion"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    cpython_case(&cases, "int_keys", int_keys);
    let tuple_keys: BTreeMap<(i32, i32), String> = [((1, 2), "one two"), ((3, 4), "three four")]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    cpython_case(&cases, "tuple_keys", tuple_keys);
    cpython_case(&cases, "nested_lists", vec![vec![1i64, 2], vec![], vec![3]]);
    let wide: (u128, i128, u128) = (1 << 100, i128::MIN, u128::MAX);
    cpython_case(&cases, "wide_ints", wide);
    cpython_case(
        &cases,
        "unicode",
        "\u{65e5}\u{672c}\u{8a9e} \u{2713} \u{1F600}".to_owned(),
    );
    let floats = vec![0.0, -0.0, 1e308, f64::INFINITY, 5e-324, -2.5];
    cpython_case(&cases, "floats", floats);
    let empties: (Vec<i32>, BTreeMap<String, i32>, String, ByteBuf) =
        (vec![], BTreeMap::new(), String::new(), ByteBuf::new());
    cpython_case(&cases, "empties", empties);
    cpython_case(
        &cases,
        "structs",
        (Unit, Newtype(42), TupleStruct(43, false)),
    );
}

// ----- serde-pickle's own tests, ported (test/mod.rs: struct_tests, value_tests) ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    a: (),
    b: usize,
    c: Vec<String>,
}

fn s(text: &str) -> V {
    V::String(text.into())
}

fn hs(text: &str) -> H {
    H::String(text.into())
}

fn dict(pairs: Vec<(H, V)>) -> V {
    V::Dict(pairs.into_iter().collect())
}

/// serde-pickle's `test_encode_ok`: our output at every protocol, read by
/// serde-pickle, is `target`.
fn encode_ok<T: Serialize>(value: T, target: V) {
    for p in 0..=5u8 {
        let bytes = to_vec(&value, p).unwrap();
        let read = serde_pickle::value_from_slice(&bytes, Default::default())
            .unwrap_or_else(|e| panic!("serde-pickle cannot read protocol {p}: {e}"));
        assert_eq!(read, target, "protocol {p}");
    }
}

/// serde-pickle's `test_decode_ok`: serde-pickle's pickle of `value` reads as `target`
/// here, as it does in serde-pickle.
fn decode_ok<T: DeserializeOwned + PartialEq + fmt::Debug>(value: V, target: T) {
    let bytes = serde_pickle::value_to_vec(&value, Default::default()).unwrap();
    let got: T = from_slice(&bytes).unwrap();
    assert_eq!(got, target);
    let theirs: T = serde_pickle::from_slice(&bytes, Default::default()).unwrap();
    assert_eq!(theirs, target);
}

#[test]
fn serde_pickle_encode_types() {
    encode_ok((), V::None);
    encode_ok(true, V::Bool(true));
    encode_ok(None::<i32>, V::None);
    encode_ok(Some(false), V::Bool(false));
    encode_ok(10000000000_i64, V::I64(10000000000));
    encode_ok(4.5_f64, V::F64(4.5));
    encode_ok('ä', s("ä"));
    encode_ok("string", s("string"));
    // serde gives `&[u8]` as a sequence, so both write a list.
    encode_ok(&b"\x00\x01"[..], V::List(vec![V::I64(0), V::I64(1)]));
    let one_two_three = || vec![V::I64(1), V::I64(2), V::I64(3)];
    encode_ok(vec![1, 2, 3], V::List(one_two_three()));
    encode_ok((1, 2, 3), V::Tuple(one_two_three()));
    encode_ok(&[1, 2, 3][..], V::List(one_two_three()));
    encode_ok([1, 2, 3], V::Tuple(one_two_three()));
    let map: BTreeMap<i32, i32> = [(1, 2), (3, 4)].into_iter().collect();
    encode_ok(
        map,
        dict(vec![(H::I64(1), V::I64(2)), (H::I64(3), V::I64(4))]),
    );
    // Bytes proper (serde_bytes) are Python bytes at every protocol.
    encode_ok(ByteBuf::from(vec![0, 0xff]), V::Bytes(vec![0, 0xff]));
}

#[test]
fn serde_pickle_encode_struct_and_enum() {
    encode_ok(Unit, V::None);
    encode_ok(Newtype(42), V::I64(42));
    encode_ok(
        TupleStruct(42, false),
        V::Tuple(vec![V::I64(42), V::Bool(false)]),
    );
    let inner = Inner {
        a: (),
        b: 32,
        c: vec!["doc".into()],
    };
    encode_ok(
        inner,
        dict(vec![
            (hs("a"), V::None),
            (hs("b"), V::I64(32)),
            (hs("c"), V::List(vec![s("doc")])),
        ]),
    );
    encode_ok(Animal::Dog, s("Dog"));
    encode_ok(
        Animal::AntHive(vec!["ant".into(), "aunt".into()]),
        dict(vec![(hs("AntHive"), V::List(vec![s("ant"), s("aunt")]))]),
    );
    encode_ok(
        Animal::Frog("Henry".into(), vec![1, 5]),
        dict(vec![(
            hs("Frog"),
            V::List(vec![s("Henry"), V::List(vec![V::I64(1), V::I64(5)])]),
        )]),
    );
    encode_ok(
        Animal::Cat {
            age: 5,
            name: "Molyneux".into(),
        },
        dict(vec![(
            hs("Cat"),
            dict(vec![(hs("age"), V::I64(5)), (hs("name"), s("Molyneux"))]),
        )]),
    );
}

#[test]
fn serde_pickle_decode_types_and_structs() {
    decode_ok(V::None, ());
    decode_ok(V::Bool(true), true);
    decode_ok(V::Bool(true), Some(true));
    decode_ok::<Option<bool>>(V::None, None);
    decode_ok(V::I64(10000000000), 10000000000_i64);
    decode_ok(V::F64(4.5), 4.5_f64);
    decode_ok(s("ä"), 'ä');
    decode_ok(s("string"), String::from("string"));
    decode_ok(V::Bytes(b"bytes".to_vec()), String::from("bytes"));
    let one_two_three = || vec![V::I64(1), V::I64(2), V::I64(3)];
    decode_ok(V::List(one_two_three()), vec![1, 2, 3]);
    decode_ok(V::Tuple(one_two_three()), (1, 2, 3));
    decode_ok(V::List(one_two_three()), [1, 2, 3]);
    let map: BTreeMap<i32, i32> = [(1, 2), (3, 4)].into_iter().collect();
    decode_ok(
        dict(vec![(H::I64(1), V::I64(2)), (H::I64(3), V::I64(4))]),
        map,
    );
    decode_ok(V::None, Unit);
    decode_ok(V::I64(42), Newtype(42));
    decode_ok(
        V::Tuple(vec![V::I64(42), V::Bool(false)]),
        TupleStruct(42, false),
    );
    decode_ok(
        dict(vec![
            (hs("a"), V::None),
            (hs("b"), V::I64(32)),
            (hs("c"), V::List(vec![s("doc")])),
        ]),
        Inner {
            a: (),
            b: 32,
            c: vec!["doc".into()],
        },
    );
    // `Vec<u8>` from bytes: serde-pickle refuses (serde asks for a sequence), here a
    // bytes object is also a sequence of u8.
    let bytes = serde_pickle::value_to_vec(&V::Bytes(vec![7, 8]), Default::default()).unwrap();
    assert_eq!(from_slice::<Vec<u8>>(&bytes), Ok(vec![7, 8]));
    assert!(matches!(
        serde_pickle::from_slice::<Vec<u8>>(&bytes, Default::default()),
        Err(serde_pickle::Error::Syntax(_))
    ));
}

#[test]
fn serde_pickle_decode_enum_both_forms() {
    let cat = || Animal::Cat {
        age: 5,
        name: "Molyneux".into(),
    };
    let cat_fields = || dict(vec![(hs("age"), V::I64(5)), (hs("name"), s("Molyneux"))]);
    let ants = || V::List(vec![s("ant"), s("aunt")]);
    let frog = || V::List(vec![s("Henry"), V::List(vec![V::I64(1), V::I64(5)])]);
    // Tuple form (serde-pickle's compat_enum_repr).
    decode_ok(V::Tuple(vec![s("Dog")]), Animal::Dog);
    decode_ok(
        V::Tuple(vec![s("AntHive"), ants()]),
        Animal::AntHive(vec!["ant".into(), "aunt".into()]),
    );
    decode_ok(
        V::Tuple(vec![s("Frog"), frog()]),
        Animal::Frog("Henry".into(), vec![1, 5]),
    );
    decode_ok(V::Tuple(vec![s("Cat"), cat_fields()]), cat());
    // str / one-entry dict form (what both write).
    decode_ok(s("Dog"), Animal::Dog);
    decode_ok(
        dict(vec![(hs("AntHive"), ants())]),
        Animal::AntHive(vec!["ant".into(), "aunt".into()]),
    );
    decode_ok(
        dict(vec![(hs("Frog"), frog())]),
        Animal::Frog("Henry".into(), vec![1, 5]),
    );
    decode_ok(dict(vec![(hs("Cat"), cat_fields())]), cat());
    decode_ok(
        V::List(vec![
            s("Dog"),
            s("Dog"),
            dict(vec![(hs("Cat"), cat_fields())]),
        ]),
        vec![Animal::Dog, Animal::Dog, cat()],
    );
    // An unknown field inside a struct variant: the path names the variant.
    let bad = dict(vec![(
        hs("Cat"),
        dict(vec![(hs("age"), V::I64(5)), (hs("paws"), V::I64(4))]),
    )]);
    let bytes = serde_pickle::value_to_vec(&bad, Default::default()).unwrap();
    let err = from_slice::<Animal>(&bytes).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Message("unknown field `paws`, expected `age` or `name`".into())
    );
    assert_eq!(err.path(), Some("$.Cat.paws"));
}

/// Any Python plain value, through serde's self-describing form (what
/// `deserialize_any` gives: tuples and sets are sequences).
#[derive(Clone, Debug, PartialEq)]
enum Py {
    None,
    Bool(bool),
    Int(i128),
    UInt(u128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<Py>),
    Map(Vec<(Py, Py)>),
}

impl<'de> Deserialize<'de> for Py {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Py, D::Error> {
        struct PyVisitor;
        impl<'de> Visitor<'de> for PyVisitor {
            type Value = Py;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Py, E> {
                Ok(Py::None)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Py, E> {
                Ok(Py::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Py, E> {
                Ok(Py::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Py, E> {
                Ok(Py::UInt(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Py, E> {
                Ok(Py::Int(v))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Py, E> {
                Ok(Py::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Py, E> {
                Ok(Py::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Py, E> {
                Ok(Py::Str(v.into()))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Py, E> {
                Ok(Py::Bytes(v.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Py, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Py::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Py, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = a.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Py::Map(pairs))
            }
        }
        d.deserialize_any(PyVisitor)
    }
}

fn ps(text: &str) -> Py {
    Py::Str(text.into())
}

fn get<'p>(map: &'p Py, key: &Py) -> &'p Py {
    let Py::Map(pairs) = map else {
        panic!("not a map: {map:?}")
    };
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key:?} in {map:?}"))
}

/// serde-pickle's `unpickle_all`: its files written by Python 2 and 3 at every
/// protocol. The plain-data entries read the same (tuples and sets as sequences,
/// serde's model); the five objects (a class instance, a NamedTuple, a dataclass, two
/// enums) are described (serde-pickle replaces each by its state or its arguments).
#[test]
fn serde_pickle_unpickle_all() {
    let longish = 10_000_000_000u128 * 10_000_000_000u128;
    for (major, protocols) in [(2, 0..=2), (3, 0..=5)] {
        for p in protocols {
            let data = serde_file(&format!("serde-pickle/tests_py{major}_proto{p}.pickle"));
            // Strict policy: the first global of the stream is refused.
            let err = from_slice::<Py>(&data).unwrap_err();
            assert!(
                matches!(
                    err.decode_error().map(|e| e.kind()),
                    Some(DecodeKind::Forbidden { .. })
                ),
                "py{major} p{p}: {err:?}"
            );
            // Python 2's `str` read as latin-1 text (CPython's `encoding='latin1'`; its
            // `encoding='bytes'` cannot load these files: their bytearray is
            // `bytearray(u'...', 'latin-1')`, whose encoding would then be bytes).
            let decoder = inert().string_encoding(StringEncoding::Latin1);
            let got: Py = from_slice_with(&decoder, &describe(), &data).unwrap();
            let text = |t: &str| {
                if major == 2 {
                    ps(t)
                } else {
                    Py::Bytes(t.into())
                }
            };
            // Python 2 wrote `bytearray(u'\x00U\xaa\xff', 'latin-1')`, a call the
            // decoder does not fold (it folds the `'latin1'` spelling only), so here it
            // is described.
            let bytearray = if major == 2 {
                let global = Py::Map(vec![(ps("__global__"), ps("builtins.bytearray"))]);
                let args = Py::Seq(vec![ps("\0U\u{aa}\u{ff}"), ps("latin-1")]);
                Py::Map(vec![(ps("__call__"), global), (ps("args"), args)])
            } else {
                Py::Bytes(vec![0x00, 0x55, 0xaa, 0xff])
            };
            let plain = vec![
                (Py::None, Py::None),
                (
                    Py::Bool(false),
                    Py::Seq(vec![Py::Bool(false), Py::Bool(true)]),
                ),
                (Py::Int(1000), Py::Int(100000)),
                (Py::UInt(longish), Py::UInt(longish)),
                (Py::Float(1.0), Py::Float(1.0)),
                (text("bytes"), text("bytes")),
                (ps("string"), ps("string")),
                (
                    Py::Seq(vec![Py::Int(1), Py::Int(2)]),
                    Py::Seq(vec![Py::Int(1), Py::Int(2), Py::Int(3)]),
                ),
                (
                    Py::Seq(vec![Py::Int(0), Py::Int(42)]),
                    Py::Seq(vec![Py::Int(0), Py::Int(42)]),
                ),
                (
                    Py::Seq(vec![]),
                    Py::Seq(vec![
                        Py::Seq(vec![Py::Int(1), Py::Int(2), Py::Int(3)]),
                        Py::Seq(vec![Py::Int(0), Py::Int(42)]),
                        Py::Map(vec![]),
                        bytearray.clone(),
                    ]),
                ),
            ];
            let Py::Map(pairs) = &got else {
                panic!("py{major} p{p}: {got:?}")
            };
            let objects = if major == 2 { 1 } else { 5 };
            assert_eq!(pairs.len(), plain.len() + objects, "py{major} p{p}");
            // Python 2 dicts are in hash order, Python 3 dicts in insertion order.
            if major == 3 {
                assert_eq!(pairs[..plain.len()], plain[..], "py{major} p{p}");
            }
            for pair in &plain {
                assert!(pairs.contains(pair), "py{major} p{p}: {pair:?} in {got:?}");
            }
            // Key 7: Class() with `self.attr = 5`, as its BUILD state.
            let class = get(&got, &Py::Int(7));
            assert_eq!(
                get(class, &ps("state")),
                &Py::Map(vec![(ps("attr"), Py::Int(5))]),
                "py{major} p{p}"
            );
            if major == 3 && p >= 2 {
                let call = |key: i128| get(get(&got, &Py::Int(key)), &ps("__call__")).clone();
                let global = |name: &str| Py::Map(vec![(ps("__global__"), ps(name))]);
                assert_eq!(call(7), global("__main__.Class"));
                assert_eq!(call(8), global("__main__.NamedTuple"));
                assert_eq!(call(9), global("__main__.DataClass"));
                assert_eq!(call(42), global("__main__.NormalEnum"));
                assert_eq!(call(43), global("__main__.ByValueEnum"));
                let args = |key: i128| get(get(&got, &Py::Int(key)), &ps("args")).clone();
                assert_eq!(args(8), Py::Seq(vec![ps("abc"), Py::Int(10)]));
                assert_eq!(args(42), Py::Seq(vec![Py::Int(30)]));
                assert_eq!(args(43), Py::Seq(vec![Py::Int(20)]));
                let dataclass = get(&got, &Py::Int(9));
                let fields = vec![(ps("type"), ps("abcd")), (ps("quantity"), Py::Int(100))];
                assert_eq!(get(dataclass, &ps("state")), &Py::Map(fields));
            }
        }
    }
}

/// serde-pickle's `recursive`: `l = []; l.append(([l],))` at every protocol is an
/// error in both by default (serde-pickle can replace the cycle by None instead).
#[test]
fn serde_pickle_recursive_is_a_cycle_with_its_path() {
    for p in 0..=5 {
        let data = serde_file(&format!("serde-pickle/test_recursive_proto{p}.pickle"));
        let err = from_slice::<Py>(&data).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Cycle, "protocol {p}");
        assert_eq!(err.path(), Some("$[0][0][0]"), "protocol {p}");
        assert_eq!(err.to_string(), "cycle at $[0][0][0]");
        assert!(matches!(
            serde_pickle::value_from_slice(&data, Default::default()),
            Err(serde_pickle::Error::Syntax(
                serde_pickle::ErrorCode::Recursive
            ))
        ));
    }
}

/// serde-pickle's `fuzzing`: random streams that do not end in STOP all fail (here
/// from a fixed xorshift seed, so the test is the same every run), as decode errors.
#[test]
fn serde_pickle_fuzzing_random_streams_fail_to_decode() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut tried = 0;
    for _ in 0..1000 {
        let stream: Vec<u8> = (0..1000).map(|_| next() as u8).collect();
        if stream[999] == b'.' {
            continue;
        }
        tried += 1;
        let err = from_slice::<Py>(&stream).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode(_)), "{err:?}");
        assert_eq!(err.path(), None);
    }
    assert!(tried > 990);
}

/// serde-pickle's `roundtrip_json` (and its `roundtrip` of the test object, through
/// serde-pickle's writer): every protocol.
#[test]
fn serde_pickle_roundtrip_json_and_test_object() {
    let original: serde_json::Value = serde_json::from_str(
        r#"[{"null": null, "false": false, "true": true, "int": -1238571,
             "float": 1.5e10, "list": [false, 5, "true", 3.8]}]"#,
    )
    .unwrap();
    for p in 0..=5 {
        let bytes = to_vec(&original, p).unwrap();
        let back: serde_json::Value = from_slice(&bytes).unwrap();
        assert_eq!(back, original, "protocol {p}");
    }
    let py2 = serde_file("serde-pickle/tests_py2_proto2.pickle");
    let options = serde_pickle::DeOptions::new().keep_restore_state();
    let object = serde_pickle::value_from_slice(&py2, options).unwrap();
    let bytes = serde_pickle::value_to_vec(&object, Default::default()).unwrap();
    let got: Py = from_slice(&bytes).unwrap();
    assert_eq!(
        get(&got, &Py::Int(7)),
        &Py::Map(vec![(Py::Bytes(b"attr".to_vec()), Py::Int(5))])
    );
}

/// serde-pickle's `bytestring_v2_py3_roundtrip`: a Python 2 str of non-ASCII bytes.
#[test]
fn serde_pickle_py2_bytestring() {
    let original = V::Bytes(b"123\xff\xfe".to_vec());
    let options = serde_pickle::SerOptions::new().proto_v2();
    let bytes = serde_pickle::value_to_vec(&original, options).unwrap();
    let decoder = Decoder::new().string_encoding(StringEncoding::Bytes);
    let got: ByteBuf = from_slice_with(&decoder, &Options::default(), &bytes).unwrap();
    assert_eq!(got.as_slice(), b"123\xff\xfe");
    // serde-pickle writes them as `_codecs.encode(text, 'latin1')`, bytes whatever
    // the string encoding.
    let got: ByteBuf = from_slice(&bytes).unwrap();
    assert_eq!(got.as_slice(), b"123\xff\xfe");
}

/// serde-pickle's `unresolvable_global`: `__main__.ReduceClass()`.
#[test]
fn serde_pickle_unresolvable_global() {
    let data = serde_file("serde-pickle/test_unresolvable_global.pickle");
    let err = from_slice::<serde_json::Value>(&data).unwrap_err();
    let refused = DecodeKind::Forbidden {
        module: "__main__".into(),
        name: "ReduceClass".into(),
    };
    assert_eq!(err.decode_error().map(|e| e.kind()), Some(&refused));
    let err =
        from_slice_with::<serde_json::Value>(&inert(), &Options::default(), &data).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Unsupported("object of __main__.ReduceClass".into())
    );
    assert_eq!(err.path(), Some("$"));
    let got: serde_json::Value = from_slice_with(&inert(), &describe(), &data).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"__call__": {"__global__": "__main__.ReduceClass"}, "args": []})
    );
}

// ----- mapping details --------------------------------------------------------------

#[test]
fn integers_are_range_checked_with_the_value_named() {
    // pickle.dumps([300, -1, 2**100, 2**200], protocol=2)
    let data = to_vec(&(300, -1, 1u128 << 100), 2).unwrap();
    let err = from_slice::<(u8, i8, u64)>(&data).unwrap_err();
    let range = |value: &str, target| ErrorKind::IntOutOfRange {
        value: value.into(),
        target,
    };
    assert_eq!(err.kind(), &range("300", "u8"));
    assert_eq!(err.path(), Some("$[0]"));
    let err = from_slice::<(u16, u8, u64)>(&data).unwrap_err();
    assert_eq!((err.kind(), err.path()), (&range("-1", "u8"), Some("$[1]")));
    let err = from_slice::<(u16, i8, u64)>(&data).unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (
            &range("1267650600228229401496703205376", "u64"),
            Some("$[2]")
        )
    );
    assert_eq!(
        from_slice::<(u16, i8, u128)>(&data),
        Ok((300, -1, 1 << 100))
    );
    // Past 128 bits the size is named, for any target (and for deserialize_any).
    // pickle.dumps(2**200, protocol=2)
    let mut big = b"\x80\x02\x8a\x1a".to_vec();
    big.extend([0u8; 25]);
    big.extend([1u8, b'.']);
    let err = from_slice::<i128>(&big).unwrap_err();
    assert_eq!(err.kind(), &range("of 201 bits", "i128"));
    let err = from_slice::<Py>(&big).unwrap_err();
    assert_eq!(err.kind(), &range("of 201 bits", "i128 or u128"));
    assert_eq!(
        from_slice::<i128>(&to_vec(&i128::MIN, 2).unwrap()),
        Ok(i128::MIN)
    );
}

#[test]
fn floats_into_f32_round_and_refuse_overflow() {
    let data = to_vec(&(0.1f64, 1e300f64, f64::NAN), 2).unwrap();
    let (a, _, c): (f32, f64, f32) = from_slice(&data).unwrap();
    assert_eq!(a, 0.1f32);
    assert!(c.is_nan());
    let err = from_slice::<(f32, f32, f32)>(&data).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::FloatOutOfRange(1e300));
    assert_eq!(err.path(), Some("$[1]"));
}

#[test]
fn strs_with_surrogates_are_not_rust_strings() {
    // pickle.dumps("a\ud800", protocol=2): BINUNICODE with surrogatepass.
    let data = b"\x80\x02X\x04\x00\x00\x00a\xed\xa0\x80q\x00.";
    let err = from_slice::<String>(data).unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (&ErrorKind::Surrogates, Some("$"))
    );
}

#[derive(Debug, PartialEq, Deserialize)]
struct Borrowing<'a> {
    name: &'a str,
    #[serde(with = "serde_bytes")]
    blob: &'a [u8],
}

#[test]
fn strs_and_bytes_borrow_from_the_input_or_the_graph() {
    // pickle.dumps({"name": "n", "blob": b"b"}, protocol=3): payloads in the input.
    let data = b"\x80\x03}q\x00(X\x04\x00\x00\x00nameq\x01X\x01\x00\x00\x00nq\x02X\x04\x00\x00\x00blobq\x03C\x01bq\x04u.";
    let got: Borrowing<'_> = from_slice(data).unwrap();
    assert_eq!(
        got,
        Borrowing {
            name: "n",
            blob: b"b"
        }
    );
    // Protocol 0 strs are unescaped into owned buffers: not borrowable from the input.
    let text = b"(dp0\nVname\np1\nVn\np2\nsVblob\np3\nc_codecs\nencode\np4\n(Vb\np5\nVlatin1\np6\ntp7\nRp8\ns.";
    let err = from_slice::<Borrowing<'_>>(text).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Message("invalid type: string \"n\", expected a borrowed string".into())
    );
    assert_eq!(err.path(), Some("$.name"));
    // From a graph, everything borrows from the graph.
    let decoded = pickleproof::decode(text).unwrap();
    let got: Borrowing<'_> = from_graph(&decoded.graph, decoded.root).unwrap();
    assert_eq!(
        got,
        Borrowing {
            name: "n",
            blob: b"b"
        }
    );
    // And from a reader, owned.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Owned {
        name: String,
        blob: ByteBuf,
    }
    let got: Owned = from_reader(&data[..]).unwrap();
    let blob = ByteBuf::from(b"b".to_vec());
    assert_eq!(
        got,
        Owned {
            name: "n".into(),
            blob
        }
    );
}

#[test]
fn from_reader_reads_one_pickle_and_decode_errors_keep_their_offset() {
    let data = to_vec(&vec![1i64, 2, 3], 4).unwrap();
    let mut stream = data.clone();
    stream.extend_from_slice(b"trailing");
    let mut reader = &stream[..];
    let got: Vec<i64> = from_reader(&mut reader).unwrap();
    assert_eq!((got, reader), (vec![1, 2, 3], &b"trailing"[..]));
    let err = from_slice::<Vec<i64>>(&data[..data.len() - 1]).unwrap_err();
    let decode = err.decode_error().unwrap();
    // The FRAME at offset 2 claims more bytes than are left.
    assert_eq!((decode.kind(), decode.offset()), (&DecodeKind::Eof, 2));
    assert_eq!(err.path(), None);
}

#[test]
fn sequences_longer_than_the_type_are_refused() {
    let data = to_vec(&[1, 2, 3], 2).unwrap();
    let err = from_slice::<(i32, i32)>(&data).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Message(
            "invalid length 3, expected 2 items (the visitor stopped there)".into()
        )
    );
    assert_eq!(err.path(), Some("$"));
}

#[test]
fn ordered_dicts_as_maps_or_described_or_refused() {
    // pickle.dumps(collections.OrderedDict([("a", 1), ("b", 2)]), protocol=2)
    let data = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aq\x02K\x01X\x01\x00\x00\x00bq\x03K\x02u.";
    let pytorch = Decoder::new().policy(Policy::pytorch());
    let err =
        from_slice_with::<BTreeMap<String, i64>>(&pytorch, &Options::default(), data).unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (
            &ErrorKind::Unsupported("object of collections.OrderedDict".into()),
            Some("$")
        )
    );
    let as_map = Options {
        ordered_dict_as_map: true,
        ..Options::default()
    };
    let got: Vec<(String, i64)> = from_slice_with::<BTreeMap<String, i64>>(&pytorch, &as_map, data)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, vec![("a".into(), 1), ("b".into(), 2)]);
    let got: serde_json::Value = from_slice_with(&pytorch, &describe(), data).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "__call__": {"__global__": "collections.OrderedDict"},
            "args": [],
            "dictitems": {"a": 1, "b": 2},
        })
    );
}

#[test]
fn persistent_ids_extensions_and_buffers_described_or_named() {
    // [persid ("storage", 3), ext 7, buffer 0 readonly], built by hand.
    let mut g = Graph::new();
    let tag = g.add(NodeData::Str("storage".as_bytes().into())).unwrap();
    let pid_tuple = g
        .add(NodeData::Tuple(vec![tag, NodeId::int(3).unwrap()]))
        .unwrap();
    let pid = g.add(NodeData::PersId(pid_tuple)).unwrap();
    let ext = g.add(NodeData::Ext(7)).unwrap();
    let buffer = g
        .add(NodeData::Buffer {
            index: 0,
            readonly: true,
        })
        .unwrap();
    let root = g.add(NodeData::List(vec![pid, ext, buffer])).unwrap();
    let got: serde_json::Value = from_graph_with(&g, root, &describe()).unwrap();
    assert_eq!(
        got,
        serde_json::json!([
            {"__persid__": ["storage", 3]},
            {"__extension__": 7},
            {"__buffer__": 0, "readonly": true},
        ])
    );
    for (at, what) in [
        (0, "persistent id"),
        (1, "extension code 7"),
        (2, "out-of-band buffer 0"),
    ] {
        let only = g.add(NodeData::List(vec![[pid, ext, buffer][at]])).unwrap();
        let err = from_graph::<serde_json::Value>(&g, only).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unsupported(what.into()));
        assert_eq!(err.path(), Some("$[0]"));
    }
}

#[test]
fn map_keys_that_are_sequences_become_tuples_and_maps_are_refused() {
    let map: BTreeMap<Vec<i32>, i32> = [(vec![1, 2], 3)].into_iter().collect();
    let bytes = to_vec(&map, 2).unwrap();
    let decoded = pickleproof::decode(&bytes).unwrap();
    assert_eq!(
        pickleproof::views::repr::repr(&decoded.graph, decoded.root),
        "{(1, 2): 3}"
    );
    assert_eq!(from_slice::<BTreeMap<Vec<i32>, i32>>(&bytes), Ok(map));
    let bad: BTreeMap<BTreeMap<i32, i32>, i32> = [(BTreeMap::new(), 1)].into_iter().collect();
    let err = to_vec(&bad, 2).unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (&ErrorKind::UnhashableKey("dict"), None)
    );
    let err = to_vec(&1, 6).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Encode(pickleproof::encode::EncodeError::UnsupportedProtocol(6))
    );
}

// ----- budgets: memo bombs, shared payloads, cycles, depth --------------------------

/// 60 levels of `x = [x, x]`: 62 nodes, 2^61 - 1 values when expanded.
fn memo_bomb(levels: u8) -> Vec<u8> {
    let mut out = b"\x80\x02]q\x00".to_vec();
    for i in 1..=levels {
        out.extend([b']', b'(', b'h', i - 1, b'h', i - 1, b'e', b'q', i, b'0']);
    }
    out.extend([b'h', levels, b'.']);
    out
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Untagged {
    L(Vec<Untagged>),
    I(i64),
}

#[test]
fn memo_bomb_stops_at_the_expansion_budget() {
    let data = memo_bomb(60);
    let decoded = pickleproof::decode(&data).unwrap();
    assert_eq!(decoded.graph.len(), 61);
    let err = from_slice::<serde_json::Value>(&data).unwrap_err();
    assert_eq!(err.kind(), &limit(Resource::Expansion, 1 << 24));
    let err = from_slice::<Untagged>(&data).unwrap_err();
    assert_eq!(err.kind(), &limit(Resource::Expansion, 1 << 24));
    let mut de = Deserializer::new(&decoded.graph, decoded.root, &Options::default());
    let err = Vec::<IgnoredAny>::deserialize(&mut de);
    // Ignored values are counted, not walked: the root and its two items.
    assert_eq!(err.map(|v| v.len()), Ok(2));
    assert_eq!(de.expansion().values, 3);
    // With a small budget the path shows where it stopped. Depth first, each list
    // charges its two items when it opens: 1 + 2 + 2 + 2 + 2 = 9 values for the
    // root and the three lists below it, and the fifth list would make it 11.
    let small = Options {
        max_values: 10,
        ..Options::default()
    };
    let mut de = Deserializer::new(&decoded.graph, decoded.root, &small);
    let err = de.value::<serde_json::Value>().unwrap_err();
    let want = ErrorKind::Limit {
        resource: Resource::Expansion,
        limit: 10,
        requested: 11,
    };
    assert_eq!(err.kind(), &want);
    assert_eq!(err.path(), Some("$[0][0][0][0]"));
    assert_eq!(de.expansion().values, 9);
    assert_eq!(de.expansion().depth, 4);
}

#[test]
fn shared_payloads_are_charged_per_copy() {
    // [b, b, ... 300 times] with b one shared MiB of bytes.
    let mut g = Graph::new();
    let blob = g.add(NodeData::Bytes(vec![7u8; 1 << 20].into())).unwrap();
    let root = g.add(NodeData::List(vec![blob; 300])).unwrap();
    let err = from_graph::<Vec<ByteBuf>>(&g, root).unwrap_err();
    assert_eq!(err.kind(), &limit(Resource::ExpansionBytes, 256 << 20));
    assert_eq!(err.path(), Some("$[256]"));
    // Into a sequence of u8, the same charge.
    let err = from_graph::<Vec<Vec<u8>>>(&g, root).unwrap_err();
    assert_eq!(err.kind(), &limit(Resource::ExpansionBytes, 256 << 20));
    let few = g.add(NodeData::List(vec![blob; 3])).unwrap();
    let got = from_graph::<Vec<Vec<u8>>>(&g, few).unwrap();
    assert_eq!(got, vec![vec![7u8; 1 << 20]; 3]);
}

#[test]
fn shared_strs_are_checked_once_and_charged_per_copy() {
    // 300 distinct strs (more than the deserializer's str cache holds, so slots are
    // reused by other nodes), each listed twice, and one shared str listed 300 times.
    let mut g = Graph::new();
    let texts: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    let ids: Vec<NodeId> = texts
        .iter()
        .map(|t| g.add(NodeData::Str(t.as_bytes().to_vec().into())).unwrap())
        .collect();
    let twice: Vec<NodeId> = ids.iter().chain(ids.iter()).copied().collect();
    let root = g.add(NodeData::List(twice)).unwrap();
    let got = from_graph::<Vec<String>>(&g, root).unwrap();
    let want: Vec<String> = texts.iter().chain(texts.iter()).cloned().collect();
    assert_eq!(got, want);
    // A shared str is charged on every visit, cached or not.
    let big = g.add(NodeData::Str(vec![b'x'; 1 << 20].into())).unwrap();
    let many = g.add(NodeData::List(vec![big; 300])).unwrap();
    let err = from_graph::<Vec<&str>>(&g, many).unwrap_err();
    assert_eq!(err.kind(), &limit(Resource::ExpansionBytes, 256 << 20));
    assert_eq!(err.path(), Some("$[256]"));
    // A str with a lone surrogate fails on every visit, not only the first (one
    // deserializer, so one cache, for both).
    let bad = g
        .add(NodeData::Str(b"\xed\xa0\x80".to_vec().into()))
        .unwrap();
    let mut de = Deserializer::new(&g, bad, &Options::default());
    for _ in 0..2 {
        let err = de.value::<String>().unwrap_err();
        assert_eq!(
            (err.kind(), err.path()),
            (&ErrorKind::Surrogates, Some("$"))
        );
    }
}

#[test]
fn cycles_are_errors_with_their_path() {
    // l = []; l.append(l); pickle.dumps({"a": l}, protocol=2)
    let data = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02h\x02as.";
    let err = from_slice::<serde_json::Value>(data).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Cycle);
    assert_eq!(err.to_string(), "cycle at $.a[0]");
    // A shared node that is not a cycle expands twice.
    let shared = b"\x80\x02]q\x00(]q\x01K\x01ah\x01e.";
    let got: Vec<Vec<i64>> = from_slice(shared).unwrap();
    assert_eq!(got, vec![vec![1], vec![1]]);
}

/// Runs `f` on a thread with a 1 MiB stack (serde's derived code recurses on it).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[derive(Debug, PartialEq, Deserialize)]
enum Tagged {
    L(Vec<Tagged>),
    I(i64),
}

#[test]
fn deep_values_stop_at_the_depth_limit_not_the_stack() {
    let result = on_small_stack(|| {
        // A 100,000-deep list (beyond the decoder's own depth limit: built by hand).
        let mut g = Graph::new();
        let mut prev = NodeId::int(1).unwrap();
        for _ in 0..100_000 {
            prev = g.add(NodeData::List(vec![prev])).unwrap();
        }
        let deep = |e: pickleproof::serde::Error| (e.kind().clone(), e.path().map(str::len));
        let a = from_graph::<serde_json::Value>(&g, prev).map_err(deep);
        let b = from_graph::<Untagged>(&g, prev).map_err(deep);
        // {"L": [{"L": [... {"I": 1}]}]}, 50,000 levels of two containers each.
        let mut g = Graph::new();
        let (l, i) = (
            g.add(NodeData::Str("L".as_bytes().into())).unwrap(),
            g.add(NodeData::Str("I".as_bytes().into())).unwrap(),
        );
        let mut prev = g
            .add(NodeData::Dict(vec![(i, NodeId::int(1).unwrap())]))
            .unwrap();
        for _ in 0..50_000 {
            let list = g.add(NodeData::List(vec![prev])).unwrap();
            prev = g.add(NodeData::Dict(vec![(l, list)])).unwrap();
        }
        let c = from_graph::<Tagged>(&g, prev)
            .map_err(|e| (e.kind().clone(), e.path().map(str::to_owned)));
        (a.map(drop), b.map(drop), c.map(drop))
    });
    let depth = limit(Resource::Depth, 128);
    // The 129th list fails, at the 128th list's item 0.
    assert_eq!(result.0, Err((depth.clone(), Some(1 + 3 * 128))));
    assert_eq!(result.1, Err((depth.clone(), Some(1 + 3 * 128))));
    assert_eq!(
        result.2,
        Err((depth, Some(format!("${}", ".L[0]".repeat(64)))))
    );
    // Within the limit, a deep value deserializes.
    let mut g = Graph::new();
    let mut prev = NodeId::int(1).unwrap();
    for _ in 0..128 {
        prev = g.add(NodeData::List(vec![prev])).unwrap();
    }
    let mut want = Untagged::I(1);
    for _ in 0..128 {
        want = Untagged::L(vec![want]);
    }
    assert_eq!(from_graph::<Untagged>(&g, prev), Ok(want));
}

#[test]
fn decoder_limits_still_apply_before_serde_sees_anything() {
    let data = to_vec(&vec![0u8; 100], 4).unwrap();
    let decoder = Decoder::new().limits(Limits {
        max_container_len: 10,
        ..Limits::default()
    });
    let err = from_slice_with::<Vec<u8>>(&decoder, &Options::default(), &data).unwrap_err();
    assert_eq!(err.resource(), Some(Resource::ContainerLen));
    assert!(matches!(err.kind(), ErrorKind::Decode(_)));
}
