//! The policy text format: presets under `policies/` and users' own files.
//!
//! ```text
//! # comment; blank lines ignored; a trailing "# reason" is allowed on any line
//! include numpy                 # another preset, by name (cycles are an error)
//! feature persistent-ids        # also: extensions, buffer-placeholders, computed-calls
//! collections:OrderedDict       # exact global: module, colon, qualname (may be dotted)
//! numpy.random._pickle:__randomstate_ctor  rule=rng-ctor
//! builtins:getattr  rule=getattr(zoneinfo:ZoneInfo,_unpickle)   # one line per pair
//! mypkg.*                       # every name in module mypkg and its submodules
//! ```
//!
//! A user's file may also write `module.qualname` without the colon: it is split at
//! the last dot, so `os.path.join` means module `os.path`, name `join`. Where a
//! qualname is dotted (`zoneinfo:ZoneInfo._unpickle`) only the colon form says which
//! dot ends the module; presets always use it.
//!
//! Names are checked for the characters the format gives a meaning (whitespace, `#`,
//! `:`, `*`, `(`, `)`, `,`, `=`) and empty dotted parts, so every policy this module
//! reads is one [`Policy::to_text`] can write back.

use std::fmt;

use super::presets;
use super::rules::Rule;
use super::{Feature, Policy};

/// A policy file that could not be read: the line (1-based; 0 when the error is not
/// about one line, such as an unknown preset name) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line of the file the error is in (for an error inside an included
    /// file: the line of the `include`, and `message` names the included line).
    pub line: usize,
    /// What is wrong, for a person.
    pub message: String,
}

impl PolicyError {
    #[cold]
    pub(crate) fn new(line: usize, message: impl Into<String>) -> PolicyError {
        PolicyError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

/// Whose file it is: presets must spell the colon; users' files may split at the last
/// dot instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Preset,
    User,
}

/// How deep `include`s may nest: far more than presets need, and it bounds the
/// recursion when a caller's resolver makes up new names forever.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A caller's source of included files: the text for a name, if it has one.
pub(crate) type Resolver<'r> = &'r dyn Fn(&str) -> Option<String>;

/// Resolves `include` names: the presets first (they cannot be shadowed), then the
/// caller's resolver, if any.
pub(crate) struct Includes<'r> {
    resolver: Option<Resolver<'r>>,
    /// The files being read, outermost first, to find cycles.
    stack: Vec<String>,
}

impl<'r> Includes<'r> {
    /// `outer` names the file being read (so it cannot include itself), if it has a
    /// name.
    pub(crate) fn new(resolver: Option<Resolver<'r>>, outer: Option<&str>) -> Includes<'r> {
        Includes {
            resolver,
            stack: outer.map(str::to_owned).into_iter().collect(),
        }
    }

    /// Reads `include name` (at `line` of the current file) into `policy`.
    fn include(&mut self, policy: &mut Policy, name: &str, line: usize) -> Result<(), PolicyError> {
        if self.stack.iter().any(|s| s == name) {
            let mut cycle = self.stack.join(" -> ");
            cycle.push_str(" -> ");
            cycle.push_str(name);
            return Err(PolicyError::new(line, format!("include cycle: {cycle}")));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(PolicyError::new(
                line,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files at {name}"),
            ));
        }
        let (text, mode) = match presets::source(name) {
            Some(text) => (std::borrow::Cow::Borrowed(text), Mode::Preset),
            None => match self.resolver.and_then(|resolve| resolve(name)) {
                Some(text) => (std::borrow::Cow::Owned(text), Mode::User),
                None => {
                    return Err(PolicyError::new(
                        line,
                        format!(
                            "unknown preset `{name}` (known: {})",
                            presets::NAMES.join(", ")
                        ),
                    ))
                }
            },
        };
        self.stack.push(name.to_owned());
        let result = parse_into(policy, &text, mode, self);
        self.stack.pop();
        result.map_err(|e| {
            PolicyError::new(line, format!("in {name}, line {}: {}", e.line, e.message))
        })
    }
}

/// Reads `text` into `policy` (adding to what it allows).
pub(crate) fn parse_into(
    policy: &mut Policy,
    text: &str,
    mode: Mode,
    includes: &mut Includes<'_>,
) -> Result<(), PolicyError> {
    for (index, raw) in text.lines().enumerate() {
        let line = index.saturating_add(1);
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if content.is_empty() {
            continue;
        }
        let (head, rest) = content
            .split_once(char::is_whitespace)
            .map_or((content, ""), |(h, r)| (h, r.trim()));
        match head {
            "include" => {
                let name = single_word(rest, "include needs one preset name")
                    .map_err(|m| PolicyError::new(line, m))?;
                includes.include(policy, name, line)?;
            }
            "feature" => {
                let name = single_word(rest, "feature needs one feature name")
                    .map_err(|m| PolicyError::new(line, m))?;
                let feature = Feature::from_name(name).ok_or_else(|| {
                    PolicyError::new(
                        line,
                        format!("unknown feature `{name}` (known: {})", feature_names()),
                    )
                })?;
                policy.set_feature(feature, true);
            }
            _ => entry(policy, head, rest, mode).map_err(|m| PolicyError::new(line, m))?,
        }
    }
    Ok(())
}

/// `rest` as exactly one word.
fn single_word<'t>(rest: &'t str, missing: &str) -> Result<&'t str, String> {
    if rest.is_empty() {
        return Err(missing.to_owned());
    }
    if rest.contains(char::is_whitespace) {
        return Err(format!("{missing}, found `{rest}`"));
    }
    Ok(rest)
}

fn feature_names() -> String {
    Feature::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One allow entry: `module:qualname [rule=RULE]`, `module.*`, or (users)
/// `module.qualname [rule=RULE]`.
pub(crate) fn entry(policy: &mut Policy, name: &str, rest: &str, mode: Mode) -> Result<(), String> {
    let rule = if rest.is_empty() {
        None
    } else if let Some(rule) = rest.strip_prefix("rule=") {
        Some(parse_rule(rule.trim(), mode)?)
    } else {
        return Err(format!(
            "unexpected `{rest}` after `{name}` (only `rule=...` may follow a global)"
        ));
    };
    if let Some(module) = name.strip_suffix(".*") {
        check_dotted(module, "module name")?;
        if rule.is_some() {
            return Err(format!(
                "a rule needs an exact global, not the module prefix `{name}`"
            ));
        }
        std::sync::Arc::make_mut(&mut policy.module_prefixes).insert(module.to_owned());
        return Ok(());
    }
    let (module, qualname) = parse_global(name, mode)?;
    let rules = policy.add_global(module, qualname);
    rules.extend(rule);
    Ok(())
}

/// `module:qualname`, or (users) `module.qualname` split at the last dot.
pub(crate) fn parse_global(text: &str, mode: Mode) -> Result<(&str, &str), String> {
    let (module, qualname) = match (text.split_once(':'), mode) {
        (Some(pair), _) => pair,
        (None, Mode::User) => text.rsplit_once('.').ok_or_else(|| {
            format!("`{text}` is not a global: write module:qualname (or module.name)")
        })?,
        (None, Mode::Preset) => {
            return Err(format!(
                "`{text}` is not a global: a preset writes module:qualname"
            ))
        }
    };
    check_dotted(module, "module name")?;
    check_dotted(qualname, "qualname")?;
    Ok((module, qualname))
}

/// The rule after `rule=`.
pub(crate) fn parse_rule(text: &str, mode: Mode) -> Result<Rule, String> {
    Ok(match text {
        "reconstructor" => Rule::Reconstructor,
        "newobj" => Rule::NewObj,
        "defaultdict" => Rule::DefaultDict,
        "bit-generator" => Rule::BitGenerator,
        "rng-ctor" => Rule::RngCtor,
        _ => {
            let inner = text
                .strip_prefix("getattr(")
                .and_then(|t| t.strip_suffix(')'))
                .ok_or_else(|| {
                    format!(
                        "unknown rule `{text}` (known: getattr(module:qualname,attr), \
                         reconstructor, newobj, defaultdict, bit-generator, rng-ctor)"
                    )
                })?;
            let (class, attr) = inner.split_once(',').ok_or_else(|| {
                format!("`{text}`: getattr's rule is getattr(module:qualname,attr)")
            })?;
            let (module, qualname) = parse_global(class.trim(), mode)?;
            let attr = attr.trim();
            check_word(attr, "attribute name")?;
            Rule::Getattr {
                module: module.to_owned(),
                qualname: qualname.to_owned(),
                attr: attr.to_owned(),
            }
        }
    })
}

/// True when `text` is a non-empty dotted name the format can carry.
pub(crate) fn is_dotted(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(is_word)
}

/// True when `text` is one non-empty part of a dotted name the format can carry.
pub(crate) fn is_word(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '#' | ':' | '*' | '(' | ')' | ',' | '=' | '.')
        })
}

fn check_dotted(text: &str, what: &str) -> Result<(), String> {
    if is_dotted(text) {
        Ok(())
    } else {
        Err(format!("`{text}` is not a valid {what}"))
    }
}

fn check_word(text: &str, what: &str) -> Result<(), String> {
    if is_word(text) {
        Ok(())
    } else {
        Err(format!("`{text}` is not a valid {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_text(text)
    }

    fn err(text: &str) -> (usize, String) {
        let e = user(text).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn entries_features_prefixes_and_comments() {
        let p = user(
            "# header\n\
             \n\
             feature persistent-ids   # torch\n\
             collections:OrderedDict\n\
             os.path.join             # users may split at the last dot\n\
             zoneinfo:ZoneInfo._unpickle\n\
             mypkg.*\n\
             builtins:getattr  rule=getattr(zoneinfo:ZoneInfo, _unpickle)  # spaces ok\n",
        )
        .unwrap();
        let want = Policy::deny_all()
            .allow_persistent_ids(true)
            .allow("collections", "OrderedDict")
            .allow("os.path", "join")
            .allow("zoneinfo", "ZoneInfo._unpickle")
            .allow_module_prefix("mypkg")
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
        assert!(p.allows_global("zoneinfo", "ZoneInfo._unpickle"));
        assert!(!p.allows_global("zoneinfo", "ZoneInfo"));
        assert!(p.allows_global("mypkg.sub", "x"));
    }

    #[test]
    fn every_rule_parses() {
        for (text, want) in [
            ("reconstructor", Rule::Reconstructor),
            ("newobj", Rule::NewObj),
            ("defaultdict", Rule::DefaultDict),
            ("bit-generator", Rule::BitGenerator),
            ("rng-ctor", Rule::RngCtor),
            (
                "getattr(a.b:C.D,e)",
                Rule::Getattr {
                    module: "a.b".into(),
                    qualname: "C.D".into(),
                    attr: "e".into(),
                },
            ),
        ] {
            assert_eq!(parse_rule(text, Mode::Preset), Ok(want.clone()));
            assert_eq!(want.to_string(), text);
        }
        // Users may split the class at the last dot; presets may not.
        assert_eq!(
            parse_rule("getattr(a.C,e)", Mode::User),
            Ok(Rule::Getattr {
                module: "a".into(),
                qualname: "C".into(),
                attr: "e".into()
            })
        );
        assert_eq!(
            parse_rule("getattr(a.C,e)", Mode::Preset),
            Err("`a.C` is not a global: a preset writes module:qualname".to_owned())
        );
    }

    #[test]
    fn bad_lines_name_their_line() {
        assert_eq!(
            err("collections:OrderedDict\n\nfeature nope\n"),
            (
                3,
                "unknown feature `nope` (known: persistent-ids, extensions, \
                 buffer-placeholders, computed-calls)"
                    .to_owned()
            )
        );
        assert_eq!(
            err("a:b rule=eval\n"),
            (
                1,
                "unknown rule `eval` (known: getattr(module:qualname,attr), reconstructor, \
                 newobj, defaultdict, bit-generator, rng-ctor)"
                    .to_owned()
            )
        );
        assert_eq!(
            err("x\n"),
            (
                1,
                "`x` is not a global: write module:qualname (or module.name)".to_owned()
            )
        );
        assert_eq!(err("a::b\n").1, "`:b` is not a valid qualname".to_owned());
        assert_eq!(err("a..b:c\n").1, "`a..b` is not a valid module name");
        assert_eq!(
            err("mypkg.* rule=newobj\n").1,
            "a rule needs an exact global, not the module prefix `mypkg.*`"
        );
        assert_eq!(
            err("a:b c\n").1,
            "unexpected `c` after `a:b` (only `rule=...` may follow a global)"
        );
        assert_eq!(
            err("include\n"),
            (1, "include needs one preset name".to_owned())
        );
        assert_eq!(
            err("include a b\n"),
            (1, "include needs one preset name, found `a b`".to_owned())
        );
        assert_eq!(
            err("a:b rule=getattr(c:D)\n").1,
            "`getattr(c:D)`: getattr's rule is getattr(module:qualname,attr)"
        );
        assert_eq!(
            err("a:b rule=getattr(c:D,e.f)\n").1,
            "`e.f` is not a valid attribute name"
        );
        assert_eq!(
            err("\n\ninclude nope\n"),
            (
                3,
                "unknown preset `nope` (known: stdlib-data, numpy, pandas, sklearn, pytorch, ml)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn includes_resolve_presets_then_the_caller_and_find_cycles() {
        let files = |name: &str| -> Option<String> {
            match name {
                "a" => Some("x:y\ninclude b\n".to_owned()),
                "b" => Some("\ninclude c\n".to_owned()),
                "c" => Some("include a\n".to_owned()),
                "good" => Some("include numpy\nmy.mod:Thing\n".to_owned()),
                "self" => Some("include self\n".to_owned()),
                "broken" => Some("ok:fine\n\nnot a line\n".to_owned()),
                _ => None,
            }
        };
        let e = Policy::from_text_with("include a\n", &files).unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(
            e.message,
            "in a, line 2: in b, line 2: in c, line 1: include cycle: a -> b -> c -> a"
        );
        let e = Policy::from_text_with("\ninclude self", &files).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "in self, line 1: include cycle: self -> self")
        );
        let e = Policy::from_text_with("include broken", &files).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (
                1,
                "in broken, line 3: unexpected `a line` after `not` (only `rule=...` may follow a global)"
            )
        );
        let p = Policy::from_text_with("include good\n", &files).unwrap();
        assert!(p.allows_global("my.mod", "Thing"));
        assert!(p.allows_global("numpy.core.multiarray", "_reconstruct"));
        // Without a resolver, only presets can be included.
        assert_eq!(err("include a\n").0, 1);
    }

    #[test]
    fn endless_includes_stop() {
        let counter = |name: &str| -> Option<String> {
            let n: u32 = name.strip_prefix('f')?.parse().ok()?;
            Some(format!("include f{}\n", n + 1))
        };
        let e = Policy::from_text_with("include f0", &counter).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(
            e.message
                .ends_with("includes nest deeper than 16 files at f16"),
            "{}",
            e.message
        );
    }

    #[test]
    fn display() {
        assert_eq!(PolicyError::new(4, "bad").to_string(), "line 4: bad");
        assert_eq!(PolicyError::new(0, "bad").to_string(), "bad");
    }
}
