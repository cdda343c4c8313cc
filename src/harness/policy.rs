//! Body of the `policy` fuzz target: the policy-file readers (the text format, and
//! TOML with the `policy-toml` feature) on any text.
//!
//! | invariant | how |
//! |---|---|
//! | never panics | both readers, on any UTF-8 text (an include of `self` reads the same text again, so include cycles and nesting are reached) |
//! | an error points into the file | its line is 0 (not about one line) or at most the number of lines |
//! | what it reads, it writes back | `to_text` of the policy reads back with `from_text` to the same `to_text` |
//! | the text says what the policy allows | every global, feature and module prefix of the written text is allowed by the policy, and a name one character longer is not unless a module prefix covers it |
//! | a union only widens | the policy joined with a preset allows what each allowed |

use crate::policy::{Feature, Policy};

/// The `policy` target on a small stack.
pub fn run_policy(data: &[u8]) {
    super::on_small_stack(|| policy(data));
}

/// Body of the `policy` target; see the module docs.
pub fn policy(data: &[u8]) {
    check_presets();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    let resolve = |name: &str| (name == "self").then(|| text.to_owned());
    match Policy::from_text_with(text, &resolve) {
        Ok(policy) => check_policy(&policy),
        Err(e) => {
            assert!(e.line <= lines, "error line {} of {lines}: {e}", e.line);
            assert!(!e.to_string().is_empty());
        }
    }
    match Policy::from_text(text) {
        Ok(policy) => check_policy(&policy),
        Err(e) => assert!(e.line <= lines, "error line {} of {lines}: {e}", e.line),
    }
    #[cfg(feature = "policy-toml")]
    match Policy::from_toml(text) {
        Ok(policy) => check_policy(&policy),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Every preset, once per process: it reads by name, writes and reads back to itself,
/// and what `emit` writes for its plain globals reads back allowing each of them.
fn check_presets() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for name in Policy::preset_names() {
            let preset = Policy::preset(name).unwrap_or_else(|e| panic!("preset {name}: {e}"));
            check_policy(&preset);
        }
        assert!(Policy::preset("no-such-preset").is_err());
    });
}

/// Writes the policy, reads it back, and checks that the text is what it allows.
fn check_policy(policy: &Policy) {
    let written = policy.to_text();
    let again = match Policy::from_text(&written) {
        Ok(again) => again,
        Err(e) => panic!("to_text does not read back: {e}\n{written}"),
    };
    assert_eq!(again.to_text(), written, "to_text is not stable");
    // What the text lists, once (a preset has thousands of lines).
    let listed: std::collections::HashSet<&str> = written
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let prefixes: Vec<&str> = written
        .lines()
        .filter_map(|l| l.trim().strip_suffix(".*"))
        .collect();
    for line in written.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("feature ") {
            let feature = Feature::ALL
                .iter()
                .copied()
                .find(|f| f.name() == name.trim());
            match feature {
                Some(f) => assert!(policy.allows_feature(f), "{line}"),
                None => panic!("to_text wrote an unknown feature: {line}"),
            }
            continue;
        }
        let global = line.split_whitespace().next().unwrap_or_default();
        if let Some(module) = global.strip_suffix(".*") {
            assert!(policy.allows_global(module, "anything"), "{line}");
            assert!(
                policy.allows_global(&format!("{module}.sub"), "anything"),
                "{line}"
            );
            continue;
        }
        let Some((module, name)) = global.split_once(':') else {
            panic!("to_text wrote neither a global nor a prefix: {line}");
        };
        // A global with rules is allowed only with arguments the rules accept, which
        // `allows_global` does not judge; a bare one is allowed outright.
        if !line.contains("rule=") {
            assert!(policy.allows_global(module, name), "{line}");
        }
        // Names are matched whole: one character more is another name.
        let longer = format!("{name}x");
        let covered = prefixes
            .iter()
            .any(|p| module == *p || module.starts_with(&format!("{p}.")));
        if !listed.contains(format!("{module}:{longer}").as_str()) && !covered {
            assert!(
                !policy.allows_global(module, &longer),
                "{module}:{longer} after {line}"
            );
        }
    }
    // `emit` (what `scan --emit-policy` builds on) of the plain globals and features
    // writes a policy allowing each of them.
    let plain: Vec<(&str, &str)> = written
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("feature ") && !l.contains("rule="))
        .filter_map(|l| l.split_whitespace().next()?.split_once(':'))
        .collect();
    let features: Vec<Feature> = Feature::ALL
        .into_iter()
        .filter(|f| policy.allows_feature(*f))
        .collect();
    let emitted = crate::policy::emit(plain.iter().copied(), features.iter().copied(), []);
    let back = Policy::from_text(&emitted).unwrap_or_else(|e| panic!("emit: {e}\n{emitted}"));
    for (module, name) in &plain {
        assert!(
            back.allows_global(module, name),
            "emit lost {module}:{name}"
        );
    }
    for feature in &features {
        assert!(back.allows_feature(*feature), "emit lost {feature:?}");
        assert!(Policy::strict()
            .with_feature(*feature)
            .allows_feature(*feature));
    }
    let joined = policy.clone().union(Policy::stdlib_data());
    for (module, name) in [("collections", "OrderedDict"), ("datetime", "datetime")] {
        assert!(
            joined.allows_global(module, name),
            "union lost {module}.{name}"
        );
    }
    for feature in Feature::ALL {
        if policy.allows_feature(feature) {
            assert!(joined.allows_feature(feature), "union lost {feature:?}");
        }
    }
}
