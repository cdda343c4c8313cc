//! Options shared by several subcommands: budgets, policies, sizes.

use std::path::PathBuf;

use clap::ValueEnum;
use pickleproof::{Limits, Policy, StringEncoding};

/// The budgets a command may set; unset ones keep the command's defaults.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LimitArgs {
    /// Memory budget, e.g. 64MiB.
    #[arg(long, value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Input budget, e.g. 1GiB.
    #[arg(long, value_parser = parse_size)]
    pub max_input: Option<u64>,
    /// Fuel budget (about one per opcode).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Nesting budget.
    #[arg(long)]
    pub max_depth: Option<u64>,
}

impl LimitArgs {
    /// `base` with the options given on the command line.
    pub fn apply(&self, base: Limits) -> Limits {
        let mut limits = base;
        if let Some(v) = self.max_memory {
            limits.max_memory_bytes = v;
        }
        if let Some(v) = self.max_input {
            limits.max_input_bytes = v;
        }
        if let Some(v) = self.max_steps {
            limits.max_steps = v;
        }
        if let Some(v) = self.max_depth {
            limits.max_depth = v;
        }
        limits
    }
}

/// Which globals may appear: presets and a file of one's own.
#[derive(clap::Args, Clone, Debug)]
pub struct PolicyArgs {
    /// Policies, comma-separated and combined: `strict` (built-in data only), `inert`
    /// (describe everything: for inspection), or presets: stdlib-data, numpy, pandas,
    /// sklearn, pytorch, ml (all of them).
    #[arg(long, default_value = "strict")]
    pub policy: String,
    /// A policy file of your own (the preset text format, or TOML when the name ends
    /// in .toml), added to --policy.
    #[arg(long)]
    pub policy_file: Option<PathBuf>,
}

impl PolicyArgs {
    /// The combined policy, and a name for reports (`numpy+sklearn+file`).
    pub fn resolve(&self) -> Result<(Policy, String), String> {
        let mut policy = Policy::strict();
        let mut names = Vec::new();
        for name in self
            .policy
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match name {
                "strict" => {}
                "inert" => policy = Policy::inert(),
                preset => {
                    // The library's error names the presets; strict and inert are the
                    // CLI's own names, so the list is written here once, whole.
                    let loaded = Policy::preset(preset).map_err(|_| {
                        format!(
                            "--policy {preset}: unknown policy (known: strict, inert, {})",
                            Policy::preset_names().join(", ")
                        )
                    })?;
                    policy = policy.union(loaded);
                }
            }
            names.push(name.to_owned());
        }
        if let Some(path) = &self.policy_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let is_toml = path.extension().is_some_and(|x| x == "toml");
            let loaded = if is_toml {
                Policy::from_toml(&text)
            } else {
                Policy::from_text(&text)
            }
            .map_err(|e| format!("{}: {e}", path.display()))?;
            policy = policy.union(loaded);
            names.push(path.display().to_string());
        }
        if names.is_empty() {
            names.push("strict".to_owned());
        }
        Ok((policy, names.join("+")))
    }
}

/// How Python 2 strings are decoded.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodingArg {
    /// ASCII, as `pickle.loads` by default.
    Ascii,
    /// Latin-1 (what NumPy needs for Python 2 pickles).
    Latin1,
    /// Keep them as bytes.
    Bytes,
}

impl EncodingArg {
    /// The library's value.
    pub fn encoding(self) -> StringEncoding {
        match self {
            EncodingArg::Ascii => StringEncoding::Ascii,
            EncodingArg::Latin1 => StringEncoding::Latin1,
            EncodingArg::Bytes => StringEncoding::Bytes,
        }
    }
}

/// Parses `64MiB`, `1GiB`, `512KiB`, `100MB`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| format!("not a size: {text:?} (try 64MiB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB, GiB)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("size too large: {text:?}"))
}
