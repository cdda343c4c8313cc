//! Policies in TOML (feature `policy-toml`), for users whose configuration is TOML
//! already. Same meaning as the text format ([`super::file`]); every key is optional:
//!
//! ```toml
//! include = ["numpy"]                       # presets, by name
//! features = ["persistent-ids"]             # as the text format's `feature` lines
//! allow = [                                 # exact globals and module prefixes
//!     "collections.OrderedDict",            # module.name (split at the last dot)
//!     "numpy.core.multiarray:_reconstruct", # module:qualname (exact when dotted)
//!     "mypkg.*",
//! ]
//!
//! [[rule]]                                  # a global allowed only with a rule
//! global = "builtins:getattr"
//! rule = "getattr(zoneinfo:ZoneInfo,_unpickle)"
//! reason = "ZoneInfo pickles as getattr(ZoneInfo, '_unpickle')(key, from_cache)"
//! ```
//!
//! `reason` is for people and ignored. An unknown key is an error (a typo must not
//! silently allow less, or more, than its author meant).

use ::toml::de::{DeTable, DeValue};
use ::toml::Spanned;

use super::file::{self, Includes, Mode, PolicyError};
use super::{Feature, Policy};

/// Reads a TOML policy.
pub(crate) fn parse(text: &str) -> Result<Policy, PolicyError> {
    let doc = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(0, |span| line_of(text, span.start));
        PolicyError::new(line, format!("TOML: {}", e.message()))
    })?;
    let mut policy = Policy::deny_all();
    let mut includes = Includes::new(None, None);
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);
    for (key, value) in doc.get_ref().iter() {
        let line = at(key.span());
        let name: &str = key.get_ref();
        match name {
            "include" => {
                for (name, line) in strings(text, value, "include")? {
                    file::parse_into(
                        &mut policy,
                        &format!("include {name}"),
                        Mode::User,
                        &mut includes,
                    )
                    .map_err(|e| PolicyError::new(line, e.message))?;
                }
            }
            "features" => {
                for (name, line) in strings(text, value, "features")? {
                    let feature = Feature::from_name(name).ok_or_else(|| {
                        PolicyError::new(line, format!("unknown feature `{name}`"))
                    })?;
                    policy.set_feature(feature, true);
                }
            }
            "allow" => {
                for (entry, line) in strings(text, value, "allow")? {
                    file::entry(&mut policy, entry, "", Mode::User)
                        .map_err(|m| PolicyError::new(line, m))?;
                }
            }
            "rule" => {
                let DeValue::Array(tables) = value.get_ref() else {
                    return Err(PolicyError::new(
                        line,
                        "`rule` must be an array of tables ([[rule]])",
                    ));
                };
                for table in tables {
                    rule(&mut policy, text, table)?;
                }
            }
            other => {
                return Err(PolicyError::new(
                    line,
                    format!("unknown key `{other}` (known: include, features, allow, rule)"),
                ))
            }
        }
    }
    Ok(policy)
}

/// One `[[rule]]` table: `global`, `rule`, optional `reason`.
fn rule(policy: &mut Policy, text: &str, table: &Spanned<DeValue<'_>>) -> Result<(), PolicyError> {
    let line = line_of(text, table.span().start);
    let DeValue::Table(fields) = table.get_ref() else {
        return Err(PolicyError::new(
            line,
            "`rule` must be an array of tables ([[rule]])",
        ));
    };
    let (mut global, mut rule) = (None, None);
    for (key, value) in fields.iter() {
        let line = line_of(text, key.span().start);
        let name: &str = key.get_ref();
        let slot = match name {
            "global" => &mut global,
            "rule" => &mut rule,
            "reason" => continue,
            other => {
                return Err(PolicyError::new(
                    line,
                    format!("unknown key `{other}` in [[rule]] (known: global, rule, reason)"),
                ))
            }
        };
        let DeValue::String(s) = value.get_ref() else {
            return Err(PolicyError::new(line, format!("`{name}` must be a string")));
        };
        *slot = Some((&**s, line_of(text, value.span().start)));
    }
    let (Some((global, global_line)), Some((rule, rule_line))) = (global, rule) else {
        return Err(PolicyError::new(
            line,
            "[[rule]] needs both `global` and `rule`",
        ));
    };
    // The rule first, so each error points at the line that holds the mistake.
    file::parse_rule(rule, Mode::User).map_err(|m| PolicyError::new(rule_line, m))?;
    file::entry(policy, global, &format!("rule={rule}"), Mode::User)
        .map_err(|m| PolicyError::new(global_line, m))
}

/// An array of strings, each with its line.
fn strings<'v>(
    text: &str,
    value: &'v Spanned<DeValue<'_>>,
    key: &str,
) -> Result<Vec<(&'v str, usize)>, PolicyError> {
    let not_strings = || {
        PolicyError::new(
            line_of(text, value.span().start),
            format!("`{key}` must be an array of strings"),
        )
    };
    let DeValue::Array(items) = value.get_ref() else {
        return Err(not_strings());
    };
    items
        .into_iter()
        .map(|item| match item.get_ref() {
            DeValue::String(s) => Ok((&**s, line_of(text, item.span().start))),
            _ => Err(not_strings()),
        })
        .collect()
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.matches('\n').count().saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rule;

    #[test]
    fn the_documented_shape() {
        let p = Policy::from_toml(
            r#"
include = ["numpy"]
features = ["persistent-ids"]
allow = ["collections.OrderedDict", "mypkg.*", "numpy.core.multiarray:_reconstruct", "a:B.c"]

[[rule]]
global = "builtins:getattr"
rule = "getattr(zoneinfo:ZoneInfo,_unpickle)"
reason = "bound method"
"#,
        )
        .unwrap();
        let want = Policy::preset("numpy")
            .unwrap()
            .allow_persistent_ids(true)
            .allow("collections", "OrderedDict")
            .allow_module_prefix("mypkg")
            .allow("numpy.core.multiarray", "_reconstruct")
            .allow("a", "B.c")
            .allow_rule(
                "builtins",
                "getattr",
                Rule::Getattr {
                    module: "zoneinfo".into(),
                    qualname: "ZoneInfo".into(),
                    attr: "_unpickle".into(),
                },
            );
        assert_eq!(p, want);
        assert_eq!(Policy::from_toml(""), Ok(Policy::deny_all()));
    }

    #[test]
    fn errors_name_their_line() {
        let cases = [
            ("allow = [\"a.b\",\n  \"nodot\"]\n", 2, "`nodot` is not a global: write module:qualname (or module.name)"),
            ("\nallowed = []\n", 2, "unknown key `allowed` (known: include, features, allow, rule)"),
            ("features = [\"persistent-ids\", 3]\n", 1, "`features` must be an array of strings"),
            ("features = [\"nope\"]\n", 1, "unknown feature `nope`"),
            ("include = [\"nope\"]\n", 1, "unknown preset `nope` (known: stdlib-data, numpy, pandas, sklearn, pytorch, ml)"),
            ("[[rule]]\nglobal = \"a:b\"\n\nrule = \"eval\"\n", 4, "unknown rule `eval` (known: getattr(module:qualname,attr), reconstructor, newobj, defaultdict, bit-generator, rng-ctor)"),
            ("[[rule]]\nglobal = \"a:b\"\n", 1, "[[rule]] needs both `global` and `rule`"),
            ("[[rule]]\nglobal = \"a:b\"\nwhy = \"x\"\n", 3, "unknown key `why` in [[rule]] (known: global, rule, reason)"),
            ("[[rule]]\nglobal = 1\n", 2, "`global` must be a string"),
            ("rule = 1\n", 1, "`rule` must be an array of tables ([[rule]])"),
        ];
        for (text, line, message) in cases {
            let e = Policy::from_toml(text).unwrap_err();
            assert_eq!((e.line, e.message.as_str()), (line, message), "{text}");
        }
        let e = Policy::from_toml("a = \n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.starts_with("TOML: "), "{}", e.message);
    }
}
