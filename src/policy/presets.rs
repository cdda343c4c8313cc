//! The presets: policy files under `policies/`, embedded at build time.
//!
//! They are generated from what real objects pickle to (`scripts/gen_policies.py`),
//! reviewed entry by entry, and kept as data so a change to what a preset allows is a
//! reviewable diff of a text file. Each is parsed the first time it is asked for and
//! kept; a file that does not parse is an error value, never a panic, and the unit
//! test below parses every one, so a broken file fails the build's tests.

use std::sync::OnceLock;

use super::file::{parse_into, Includes, Mode, PolicyError};
use super::Policy;

/// The presets' names and texts, in the order [`NAMES`] lists them.
const PRESETS: [(&str, &str); 6] = [
    (
        "stdlib-data",
        include_str!("../../policies/stdlib-data.txt"),
    ),
    ("numpy", include_str!("../../policies/numpy.txt")),
    ("pandas", include_str!("../../policies/pandas.txt")),
    ("sklearn", include_str!("../../policies/sklearn.txt")),
    ("pytorch", include_str!("../../policies/pytorch.txt")),
    ("ml", include_str!("../../policies/ml.txt")),
];

/// The presets' names ([`Policy::preset_names`]).
pub(crate) const NAMES: &[&str] = &["stdlib-data", "numpy", "pandas", "sklearn", "pytorch", "ml"];

/// Each preset, parsed once.
static PARSED: [OnceLock<Result<Policy, PolicyError>>; 6] = [const { OnceLock::new() }; 6];

/// The text of preset `name`.
pub(crate) fn source(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Preset `name`, parsed (once) with its includes.
pub(crate) fn load(name: &str) -> Result<Policy, PolicyError> {
    let Some(at) = PRESETS.iter().position(|(n, _)| *n == name) else {
        return Err(PolicyError::new(
            0,
            format!("unknown preset `{name}` (known: {})", NAMES.join(", ")),
        ));
    };
    let (Some(cell), Some((_, text))) = (PARSED.get(at), PRESETS.get(at)) else {
        return Err(PolicyError::new(0, format!("preset `{name}` is missing")));
    };
    // Parsing never goes through this cache (includes are read from the texts), so
    // a cycle between presets is an error, not a re-entrant initialisation.
    cell.get_or_init(|| {
        let mut policy = Policy::deny_all();
        let mut includes = Includes::new(None, Some(name));
        parse_into(&mut policy, text, Mode::Preset, &mut includes)
            .map(|()| policy)
            .map_err(|e| PolicyError::new(e.line, format!("preset {name}: {}", e.message)))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses() {
        assert_eq!(
            PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            NAMES.to_vec()
        );
        for name in NAMES {
            let policy = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Presets are data only: nothing is allowed wholesale.
            assert!(!policy.allows_computed_calls(), "{name}");
            assert!(!policy.allows_global("os", "system"), "{name}");
            assert!(!policy.allows_global("builtins", "eval"), "{name}");
            // A preset written back and read again is the same policy.
            assert_eq!(Policy::from_text(&policy.to_text()), Ok(policy), "{name}");
        }
    }

    #[test]
    fn includes_add_up() {
        let ml = load("ml").unwrap();
        for name in NAMES {
            let part = load(name).unwrap();
            assert_eq!(ml.clone().union(part), ml, "ml does not cover {name}");
        }
        let pandas = load("pandas").unwrap();
        assert_eq!(pandas.clone().union(load("numpy").unwrap()), pandas);
    }

    #[test]
    fn unknown_presets_are_errors() {
        let e = load("torch").unwrap_err();
        assert_eq!(e.line, 0);
        assert_eq!(
            e.message,
            "unknown preset `torch` (known: stdlib-data, numpy, pandas, sklearn, pytorch, ml)"
        );
    }
}
