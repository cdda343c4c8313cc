//! Policies as data, end to end: hand-written pickles through
//! `Decoder::new().policy(p).decode(..)` for every argument rule both ways (the exact
//! `CallRefused` and its offset when broken, success when kept), refusals of unlisted
//! globals, whole matching of dotted names, Python 2 names (value and raw mode), and
//! the text format's errors (include cycles, bad lines) with their line numbers.

use pickleproof::policy::{emit, Feature, Rule};
use pickleproof::{Decoder, ErrorKind, Policy};

// ----- a few opcodes, by hand ---------------------------------------------------------

/// GLOBAL `module\nname\n`.
fn g(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}

/// BINUNICODE.
fn s(text: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// NONE.
fn none() -> Vec<u8> {
    b"N".to_vec()
}

/// `callable(*args)` by MARK ... TUPLE REDUCE; the REDUCE's offset within the bytes.
fn call(callable: Vec<u8>, args: &[Vec<u8>]) -> (Vec<u8>, u64) {
    let mut out = callable;
    out.push(b'(');
    for arg in args {
        out.extend_from_slice(arg);
    }
    out.push(b't');
    let at = out.len() as u64;
    out.push(b'R');
    (out, at)
}

/// Just the bytes of `call`.
fn c(callable: Vec<u8>, args: &[Vec<u8>]) -> Vec<u8> {
    call(callable, args).0
}

/// PROTO 2, the body, STOP; the offset of the body's start is 2.
fn pickle(body: &[u8]) -> Vec<u8> {
    let mut out = b"\x80\x02".to_vec();
    out.extend_from_slice(body);
    out.push(b'.');
    out
}

const BODY: u64 = 2;

/// Decodes `body` as a protocol 2 pickle; `Ok(())` or the error's kind and offset.
fn run(policy: &Policy, body: &[u8]) -> Result<(), (ErrorKind, u64)> {
    run_with(Decoder::new().policy(policy.clone()), body)
}

fn run_with(decoder: Decoder, body: &[u8]) -> Result<(), (ErrorKind, u64)> {
    decoder
        .decode(&pickle(body))
        .map(|_| ())
        .map_err(|e| (e.kind().clone(), e.offset()))
}

fn refused(
    module: &str,
    name: &str,
    reason: &'static str,
    at: u64,
) -> Result<(), (ErrorKind, u64)> {
    Err((
        ErrorKind::CallRefused {
            module: module.to_owned(),
            name: name.to_owned(),
            reason,
        },
        BODY + at,
    ))
}

/// A refused call, the scan of the same bytes refuses first at the same offset.
fn scan_agrees(policy: &Policy, body: &[u8]) {
    let data = pickle(body);
    let decoder = Decoder::new().policy(policy.clone());
    let report = decoder.scan(&data);
    let first = report.refused().next().map(|site| site.offset);
    let decoded = decoder.decode(&data).map_err(|e| e.offset());
    assert_eq!(first, decoded.err(), "scan and decode disagree");
}

const PASSED_ALONG: &str = "a global allowed only with argument rules is passed as an argument";

// ----- the rules --------------------------------------------------------------------

#[test]
fn getattr_takes_only_listed_pairs() {
    let p = Policy::stdlib_data();
    let zoneinfo = || g("zoneinfo", "ZoneInfo");
    let getattr = || g("builtins", "getattr");
    assert_eq!(
        run(&p, &c(getattr(), &[zoneinfo(), s("_unpickle")])),
        Ok(())
    );

    let (body, at) = call(getattr(), &[zoneinfo(), s("__init__")]);
    let name = "getattr with a name that is not a listed literal";
    assert_eq!(run(&p, &body), refused("builtins", "getattr", name, at));
    scan_agrees(&p, &body);

    let (body, at) = call(
        getattr(),
        &[g("collections", "OrderedDict"), s("_unpickle")],
    );
    let class = "getattr of an object that is not a class listed for it";
    assert_eq!(run(&p, &body), refused("builtins", "getattr", class, at));

    let (body, at) = call(getattr(), &[zoneinfo(), s("_unpickle"), none()]);
    let arity = "getattr needs exactly two arguments: a listed class and a literal name";
    assert_eq!(run(&p, &body), refused("builtins", "getattr", arity, at));

    // The name must be a literal: a computed string is not one.
    let computed = c(g("builtins", "str"), &[s("_unpickle")]);
    let (body, at) = call(getattr(), &[zoneinfo(), computed]);
    assert_eq!(
        run(&p.clone().allow("builtins", "str"), &body),
        refused("builtins", "getattr", name, at)
    );

    // An unlisted class is refused where it is imported, before any call.
    let body = c(getattr(), &[g("os", "system"), s("_unpickle")]);
    let import_at = BODY + getattr().len() as u64 + 1;
    assert_eq!(
        run(&p, &body),
        Err((
            ErrorKind::Forbidden {
                module: "os".into(),
                name: "system".into()
            },
            import_at
        ))
    );
}

#[test]
fn a_listed_pair_may_be_called_as_bound_methods_pickle() {
    // zoneinfo.ZoneInfo("UTC") pickles as getattr(ZoneInfo, '_unpickle')('UTC', 1).
    let p = Policy::stdlib_data();
    let fetch = c(
        g("builtins", "getattr"),
        &[g("zoneinfo", "ZoneInfo"), s("_unpickle")],
    );
    let zone = c(fetch.clone(), &[s("UTC"), b"K\x01".to_vec()]);
    assert_eq!(run(&p, &zone), Ok(()));
    // The fetched method may not be handed a rule-bearing global.
    let (body, at) = call(fetch.clone(), &[g("builtins", "getattr")]);
    assert_eq!(
        run(&p, &body),
        Err((
            ErrorKind::ComputedCallRefused { callee: "object" },
            BODY + at
        ))
    );
    // Any other computed call stays refused: calling an OrderedDict instance.
    let (body, at) = call(c(g("collections", "OrderedDict"), &[]), &[]);
    assert_eq!(
        run(&p, &body),
        Err((
            ErrorKind::ComputedCallRefused { callee: "object" },
            BODY + at
        ))
    );
    // Without the pair nothing of this is allowed.
    let no_pair = Policy::from_text("zoneinfo:ZoneInfo\nbuiltins:getattr\n").unwrap();
    let (_, fetch_at) = call(
        g("builtins", "getattr"),
        &[g("zoneinfo", "ZoneInfo"), s("_unpickle")],
    );
    assert_eq!(
        run(&no_pair, &zone),
        refused(
            "builtins",
            "getattr",
            "getattr of an object that is not a class listed for it",
            fetch_at
        )
    );
}

#[test]
fn reconstructor_wants_an_allowed_class_and_a_value_base() {
    let p = Policy::stdlib_data();
    let recon = || g("copyreg", "_reconstructor");
    let ns = || g("argparse", "Namespace");
    assert_eq!(
        run(&p, &c(recon(), &[ns(), g("builtins", "object"), none()])),
        Ok(())
    );
    assert_eq!(
        run(&p, &c(recon(), &[ns(), g("builtins", "dict"), none()])),
        Ok(())
    );

    let (body, at) = call(recon(), &[ns(), g("collections", "OrderedDict"), none()]);
    let base = "_reconstructor base is not object or a built-in value type";
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "_reconstructor", base, at)
    );
    scan_agrees(&p, &body);

    let (body, at) = call(
        recon(),
        &[s("argparse.Namespace"), g("builtins", "object"), none()],
    );
    let class = "_reconstructor of a class that is not an allowed global";
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "_reconstructor", class, at)
    );

    // An allowed class, but one whose own rule would not follow it into the call.
    let (body, at) = call(
        recon(),
        &[g("builtins", "getattr"), g("builtins", "object"), none()],
    );
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "_reconstructor", PASSED_ALONG, at)
    );

    let (body, at) = call(recon(), &[ns(), g("builtins", "object")]);
    let arity = "_reconstructor needs exactly (class, base, state)";
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "_reconstructor", arity, at)
    );
}

#[test]
fn newobj_wants_an_allowed_class() {
    let p = Policy::stdlib_data();
    let newobj = || g("copyreg", "__newobj__");
    assert_eq!(run(&p, &c(newobj(), &[g("argparse", "Namespace")])), Ok(()));
    let (body, at) = call(newobj(), &[s("argparse.Namespace")]);
    let class = "__newobj__ of something that is not an allowed class";
    assert_eq!(run(&p, &body), refused("copyreg", "__newobj__", class, at));
    let (body, at) = call(g("copyreg", "__newobj_ex__"), &[]);
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "__newobj_ex__", class, at)
    );
}

#[test]
fn defaultdict_factories() {
    let p = Policy::stdlib_data();
    let dd = || g("collections", "defaultdict");
    for factory in [
        vec![],
        vec![none()],
        vec![g("builtins", "list")],
        vec![dd()],
    ] {
        assert_eq!(run(&p, &c(dd(), &factory)), Ok(()), "{factory:?}");
    }
    let reason = "defaultdict factory is not an allowed type";
    // complex is allowed in stdlib-data, but not as a factory.
    let (body, at) = call(dd(), &[g("builtins", "complex")]);
    assert_eq!(
        run(&p, &body),
        refused("collections", "defaultdict", reason, at)
    );
    scan_agrees(&p, &body);
    let (body, at) = call(dd(), &[s("list")]);
    assert_eq!(
        run(&p, &body),
        refused("collections", "defaultdict", reason, at)
    );
    // A factory that carries a rule of its own is refused by the factory check first.
    let (body, at) = call(dd(), &[g("builtins", "getattr")]);
    assert_eq!(
        run(&p, &body),
        refused("collections", "defaultdict", reason, at)
    );
}

#[test]
fn bit_generator_constructor() {
    let p = Policy::numpy();
    let ctor = || g("numpy.random._pickle", "__bit_generator_ctor");
    for arg in [
        vec![],
        vec![s("PCG64")],
        vec![g("numpy.random._pcg64", "PCG64")],
    ] {
        assert_eq!(run(&p, &c(ctor(), &arg)), Ok(()), "{arg:?}");
    }
    let reason = "bit-generator constructor given a non-bit-generator";
    for arg in [s("os"), g("numpy.core.multiarray", "_reconstruct"), none()] {
        let (body, at) = call(ctor(), &[arg]);
        assert_eq!(
            run(&p, &body),
            refused("numpy.random._pickle", "__bit_generator_ctor", reason, at)
        );
        scan_agrees(&p, &body);
    }
}

#[test]
fn rng_constructors() {
    let p = Policy::numpy();
    let bg = || g("numpy.random._pickle", "__bit_generator_ctor");
    for name in ["__randomstate_ctor", "__generator_ctor"] {
        let rs = || g("numpy.random._pickle", name);
        // numpy 1: a name and (optionally) the constructor; numpy 2: an instance.
        assert_eq!(run(&p, &c(rs(), &[s("MT19937")])), Ok(()));
        assert_eq!(run(&p, &c(rs(), &[s("MT19937"), bg()])), Ok(()));
        assert_eq!(run(&p, &c(rs(), &[c(bg(), &[s("PCG64")])])), Ok(()));

        let (body, at) = call(
            rs(),
            &[s("MT19937"), g("numpy.core.multiarray", "_reconstruct")],
        );
        let ctor = "random generator constructor given a constructor other than numpy's \
                    __bit_generator_ctor";
        assert_eq!(
            run(&p, &body),
            refused("numpy.random._pickle", name, ctor, at)
        );
        scan_agrees(&p, &body);

        let (body, at) = call(rs(), &[s("eval"), bg()]);
        let value = "random generator constructor given a non-bit-generator";
        assert_eq!(
            run(&p, &body),
            refused("numpy.random._pickle", name, value, at)
        );

        // The constructor passed anywhere else is a rule-bearing global passed along.
        let (body, at) = call(g("numpy", "dtype"), &[bg()]);
        assert_eq!(run(&p, &body), refused("numpy", "dtype", PASSED_ALONG, at));
    }
}

#[test]
fn rule_bearing_globals_as_arguments_and_as_values() {
    let p = Policy::stdlib_data();
    let (body, at) = call(g("collections", "OrderedDict"), &[g("builtins", "getattr")]);
    assert_eq!(
        run(&p, &body),
        refused("collections", "OrderedDict", PASSED_ALONG, at)
    );
    scan_agrees(&p, &body);
    // Stored as a value, it is data: nothing calls it.
    let mut list = b"]".to_vec();
    list.extend(g("builtins", "getattr"));
    list.push(b'a');
    assert_eq!(run(&p, &list), Ok(()));
}

// ----- names ------------------------------------------------------------------------

#[test]
fn unlisted_globals_are_forbidden_at_their_import() {
    let p = Policy::ml();
    let body = c(g("os", "system"), &[s("echo")]);
    assert_eq!(
        run(&p, &body),
        Err((
            ErrorKind::Forbidden {
                module: "os".into(),
                name: "system".into()
            },
            BODY
        ))
    );
    // Python 2 spellings are judged by their Python 3 names.
    let body = c(g("__builtin__", "eval"), &[s("1")]);
    assert_eq!(
        run(&p, &body),
        Err((
            ErrorKind::Forbidden {
                module: "builtins".into(),
                name: "eval".into()
            },
            BODY
        ))
    );
}

#[test]
fn dotted_names_match_whole() {
    let forbidden = |m: &str, n: &str| {
        Err((
            ErrorKind::Forbidden {
                module: m.into(),
                name: n.into(),
            },
            BODY,
        ))
    };
    let class_only = Policy::from_text("zoneinfo:ZoneInfo\n").unwrap();
    assert_eq!(
        run(&class_only, &g("zoneinfo", "ZoneInfo._unpickle")),
        forbidden("zoneinfo", "ZoneInfo._unpickle")
    );
    let method = Policy::from_text("zoneinfo:ZoneInfo._unpickle\n").unwrap();
    assert_eq!(run(&method, &g("zoneinfo", "ZoneInfo._unpickle")), Ok(()));
    assert_eq!(
        run(&method, &g("zoneinfo", "ZoneInfo")),
        forbidden("zoneinfo", "ZoneInfo")
    );
    // Without a colon a user's entry splits at the last dot: module os.path.
    let join = Policy::from_text("os.path.join\n").unwrap();
    assert_eq!(run(&join, &g("os.path", "join")), Ok(()));
    assert_eq!(
        run(&join, &g("os", "path.join")),
        forbidden("os", "path.join")
    );
    // A prefix is a module and its submodules, never a longer module name.
    let prefix = Policy::from_text("mypkg.*\n").unwrap();
    assert_eq!(run(&prefix, &g("mypkg.sub", "f")), Ok(()));
    assert_eq!(run(&prefix, &g("mypkgx", "f")), forbidden("mypkgx", "f"));
}

#[test]
fn python2_names_meet_the_rules_in_value_and_raw_mode() {
    let p = Policy::stdlib_data();
    let recon = c(
        g("copy_reg", "_reconstructor"),
        &[
            g("argparse", "Namespace"),
            g("__builtin__", "object"),
            none(),
        ],
    );
    let dd = c(g("collections", "defaultdict"), &[g("__builtin__", "long")]);
    let fetch = c(
        g("__builtin__", "getattr"),
        &[g("zoneinfo", "ZoneInfo"), s("_unpickle")],
    );
    for raw in [false, true] {
        let decoder = || Decoder::new().policy(p.clone()).raw(raw);
        assert_eq!(run_with(decoder(), &recon), Ok(()), "raw {raw}");
        assert_eq!(run_with(decoder(), &dd), Ok(()), "raw {raw}");
        assert_eq!(run_with(decoder(), &fetch), Ok(()), "raw {raw}");
        // Refusals name the mapped callable.
        let (body, at) = call(
            g("__builtin__", "getattr"),
            &[g("zoneinfo", "ZoneInfo"), s("x")],
        );
        assert_eq!(
            run_with(decoder(), &body),
            refused(
                "builtins",
                "getattr",
                "getattr with a name that is not a listed literal",
                at
            )
        );
        // A Python 2 rule-bearing global passed along is still one.
        let (body, at) = call(
            g("collections", "OrderedDict"),
            &[g("__builtin__", "getattr")],
        );
        assert_eq!(
            run_with(decoder(), &body),
            refused("collections", "OrderedDict", PASSED_ALONG, at)
        );
    }
}

// ----- files ------------------------------------------------------------------------

#[test]
fn presets_combine() {
    let numpy = Policy::preset("numpy").unwrap();
    let sklearn = Policy::preset("sklearn").unwrap();
    let both = numpy.clone().union(sklearn.clone());
    assert_eq!(both, sklearn.clone().union(numpy));
    assert_eq!(both, sklearn, "sklearn includes numpy");
    assert!(Policy::preset_names()
        .iter()
        .all(|n| Policy::preset(n).is_ok()));
    let e = Policy::preset("numpyy").unwrap_err();
    assert_eq!(e.line, 0);
    assert!(
        e.message.starts_with("unknown preset `numpyy`"),
        "{}",
        e.message
    );
}

#[test]
fn a_user_file_with_includes_decodes_like_its_parts() {
    let text =
        "# my model\ninclude stdlib-data\nfeature persistent-ids\nmypkg.models:Net  # ours\n";
    let p = Policy::from_text(text).unwrap();
    assert_eq!(
        p,
        Policy::preset("stdlib-data")
            .unwrap()
            .with_feature(Feature::PersistentIds)
            .allow("mypkg.models", "Net")
    );
    assert_eq!(run(&p, &c(g("mypkg.models", "Net"), &[])), Ok(()));
}

#[test]
fn include_cycles_are_errors_with_the_chain() {
    let files = |name: &str| match name {
        "mine" => Some("collections:OrderedDict\n\ninclude theirs\n".to_owned()),
        "theirs" => Some("include numpy\ninclude mine\n".to_owned()),
        _ => None,
    };
    let e = Policy::from_text_with("include mine\n", &files).unwrap_err();
    assert_eq!(e.line, 1);
    assert_eq!(
        e.message,
        "in mine, line 3: in theirs, line 2: include cycle: mine -> theirs -> mine"
    );
    assert_eq!(
        e.to_string(),
        "line 1: in mine, line 3: in theirs, line 2: include cycle: mine -> theirs -> mine"
    );
}

#[test]
fn bad_lines_name_their_line() {
    let cases = [
        ("collections:OrderedDict\nbuiltins:getattr rule=getattr(zoneinfo:ZoneInfo)\n", 2,
         "`getattr(zoneinfo:ZoneInfo)`: getattr's rule is getattr(module:qualname,attr)"),
        ("\n\n   # only a comment\nfeature everything\n", 4,
         "unknown feature `everything` (known: persistent-ids, extensions, buffer-placeholders, computed-calls)"),
        ("a:b\nc:d rule=exec\n", 2,
         "unknown rule `exec` (known: getattr(module:qualname,attr), reconstructor, newobj, defaultdict, bit-generator, rng-ctor)"),
        ("ok:fine\nbare\n", 2, "`bare` is not a global: write module:qualname (or module.name)"),
        ("include torch\n", 1,
         "unknown preset `torch` (known: stdlib-data, numpy, pandas, sklearn, pytorch, ml)"),
    ];
    for (text, line, message) in cases {
        let e = Policy::from_text(text).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (line, message), "{text:?}");
    }
}

#[test]
fn emitted_policies_decode_what_they_were_emitted_for() {
    let body = c(
        c(
            g("builtins", "getattr"),
            &[g("zoneinfo", "ZoneInfo"), s("_unpickle")],
        ),
        &[s("UTC"), b"K\x01".to_vec()],
    );
    assert_eq!(
        run(&Policy::deny_all(), &body),
        Err((
            ErrorKind::Forbidden {
                module: "builtins".into(),
                name: "getattr".into()
            },
            BODY
        ))
    );
    let text = emit(
        [("builtins", "getattr"), ("zoneinfo", "ZoneInfo")],
        [],
        [("zoneinfo", "ZoneInfo", "_unpickle")],
    );
    assert_eq!(
        text,
        "builtins:getattr  rule=getattr(zoneinfo:ZoneInfo,_unpickle)\nzoneinfo:ZoneInfo\n"
    );
    let p = Policy::from_text(&text).unwrap();
    assert_eq!(run(&p, &body), Ok(()));
    assert_eq!(
        p.rules("builtins", "getattr").collect::<Vec<_>>(),
        [&Rule::Getattr {
            module: "zoneinfo".into(),
            qualname: "ZoneInfo".into(),
            attr: "_unpickle".into()
        }]
    );
}

#[cfg(feature = "policy-toml")]
#[test]
fn toml_policies_read_like_text_ones() {
    let toml = r#"
include = ["stdlib-data"]
features = ["persistent-ids"]
allow = ["mypkg.models.Net", "other.*"]

[[rule]]
global = "builtins:getattr"
rule = "getattr(enum:Flag,__or__)"
"#;
    let text = "include stdlib-data\nfeature persistent-ids\nmypkg.models.Net\nother.*\n\
                builtins:getattr rule=getattr(enum:Flag,__or__)\n";
    assert_eq!(Policy::from_toml(toml), Policy::from_text(text));
    let e = Policy::from_toml("allow = [\"a:b\"]\n\n[[rule]]\nglobal = \"x\"\nrule = \"newobj\"\n")
        .unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            4,
            "`x` is not a global: write module:qualname (or module.name)"
        )
    );
}

/// The rules against what real libraries write: every plain pickle of
/// `corpus/benign/` that its manifest calls clean (stdlib types at protocols 0-5,
/// numpy 1.x and 2.x arrays and RNGs, pandas, fitted scikit-learn estimators) decodes
/// under `Policy::ml()` with every rule enforced, and every one it calls suspicious is
/// refused.
#[test]
fn real_library_pickles_pass_the_rules() {
    let manifest: serde_json::Value = {
        let path = crate::support::corpus_dir().join("benign/manifest.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let decoder = Decoder::new().policy(Policy::ml());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (name, entry) in manifest.as_object().unwrap() {
        if entry["container"] != "pickle" || entry["oob_buffers"].is_array() {
            continue;
        }
        let data = std::fs::read(crate::support::corpus_dir().join("benign").join(name)).unwrap();
        let result = decoder.decode(&data);
        match (entry["expect"].as_str(), &result) {
            (Some("clean"), Ok(_)) => {}
            (Some("suspicious"), Err(e)) if e.is_policy() => {}
            (expect, _) => wrong.push(format!("{name} ({expect:?}): {:?}", result.map(|_| ()))),
        }
        checked += 1;
    }
    assert!(checked > 300, "only {checked} benign pickles");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const COMPUTED: &str = "a container built from a value the stream does not hold (a call's \
    result such as range(10**9), a global, an id): its size is not bounded by the stream";

/// BININT.
fn int(value: i32) -> Vec<u8> {
    let mut out = vec![b'J'];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// `[items]` by EMPTY_LIST MARK ... APPENDS.
fn list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"](".to_vec();
    for item in items {
        out.extend_from_slice(item);
    }
    out.push(b'e');
    out
}

#[test]
fn container_builders_take_only_data_the_stream_holds() {
    let p = Policy::stdlib_data();
    let range = c(g("builtins", "range"), &[int(1_000_000_000)]);
    // list(range(10**9)): 40 bytes asking pickle.loads for tens of gigabytes.
    for (module, name) in [
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("collections", "deque"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
    ] {
        let (body, at) = call(g(module, name), std::slice::from_ref(&range));
        assert_eq!(
            run(&p, &body),
            refused(module, name, COMPUTED, at),
            "{name}"
        );
        scan_agrees(&p, &body);
    }
    // dict and OrderedDict copy each item of a sequence into a pair.
    let (body, at) = call(
        g("collections", "OrderedDict"),
        &[list(std::slice::from_ref(&range))],
    );
    assert_eq!(
        run(&p, &body),
        refused("collections", "OrderedDict", COMPUTED, at)
    );
    // copyreg._reconstructor(cls, list, state) runs list.__init__(obj, state).
    let (body, at) = call(
        g("copyreg", "_reconstructor"),
        &[
            g("collections", "OrderedDict"),
            g("builtins", "list"),
            range.clone(),
        ],
    );
    assert_eq!(
        run(&p, &body),
        refused("copyreg", "_reconstructor", COMPUTED, at)
    );
    // bytearray(n) is n bytes, whatever the policy (it is a reconstructor).
    let (body, at) = call(g("builtins", "bytearray"), &[int(1 << 30)]);
    let sized = "bytes or bytearray of an int: a buffer of that many bytes";
    assert_eq!(
        run(&Policy::strict(), &body),
        refused("builtins", "bytearray", sized, at)
    );

    // What pickles write stays allowed: the data is the stream's own.
    let pair = c(g("builtins", "tuple"), &[list(&[s("k"), int(1)])]);
    for body in [
        c(
            g("collections", "OrderedDict"),
            &[list(&[list(&[s("k"), int(1)])])],
        ),
        c(
            g("collections", "deque"),
            &[list(&[int(1), int(2)]), int(5)],
        ),
        c(
            g("builtins", "list"),
            &[list(&[range.clone(), range.clone()])],
        ),
        c(g("collections", "Counter"), &[]),
        pair,
        range,
    ] {
        assert_eq!(run(&p, &body), Ok(()));
    }
}
