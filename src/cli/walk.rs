//! Which files a `scan PATH...` covers.
//!
//! Directories are walked recursively, and the files under each root listed sorted by
//! path, so two runs print the same report. Symbolic links are followed, because a Hugging Face cache keeps
//! its files as blobs and links to them from `snapshots/`, but only while their target
//! stays inside the root they were found under: a link to `/etc` or `~` found in a
//! downloaded model directory is reported, not followed. Each directory is entered
//! once (by its canonical path), so a link cycle ends.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A file to scan: the path as the user will recognise it (under the root they gave).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path as reached from the root (links not resolved).
    pub path: PathBuf,
}

/// A path that could not be scanned, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why, for people.
    pub why: String,
}

/// Every regular file under `roots`, and every path that was skipped.
pub fn collect(roots: &[PathBuf]) -> (Vec<Found>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for root in roots {
        let canonical_root = match root.canonicalize() {
            Ok(c) => c,
            Err(e) => {
                skipped.push(Skipped {
                    path: root.clone(),
                    why: format!("cannot open: {e}"),
                });
                continue;
            }
        };
        if canonical_root.is_file() {
            found.push(Found { path: root.clone() });
            continue;
        }
        let mut visited = BTreeSet::new();
        let first = found.len();
        let skipped_first = skipped.len();
        walk_dir(
            root,
            &canonical_root,
            &mut visited,
            &mut found,
            &mut skipped,
        );
        // The walk finds a directory's files before its subdirectories' files; the
        // report lists them by path (component by component, as `Path` orders), so
        // `model/blobs/x` comes before `model/config.pkl`. Roots keep the order given.
        if let Some(tree) = found.get_mut(first..) {
            tree.sort_by(|a, b| a.path.cmp(&b.path));
        }
        if let Some(tree) = skipped.get_mut(skipped_first..) {
            tree.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }
    (found, skipped)
}

/// Walks `dir` without recursion on the directory depth (an explicit stack), so a
/// deep tree cannot overflow the stack either.
fn walk_dir(
    dir: &Path,
    root: &Path,
    visited: &mut BTreeSet<PathBuf>,
    found: &mut Vec<Found>,
    skipped: &mut Vec<Skipped>,
) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let canonical = match dir.canonicalize() {
            Ok(c) => c,
            Err(e) => {
                skipped.push(Skipped {
                    path: dir,
                    why: format!("cannot open: {e}"),
                });
                continue;
            }
        };
        if !visited.insert(canonical) {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                skipped.push(Skipped {
                    path: dir,
                    why: format!("cannot list: {e}"),
                });
                continue;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        let mut subdirs = Vec::new();
        for child in children {
            let Ok(meta) = std::fs::symlink_metadata(&child) else {
                skipped.push(Skipped {
                    path: child,
                    why: "cannot stat".to_owned(),
                });
                continue;
            };
            let kind = if meta.file_type().is_symlink() {
                match child.canonicalize() {
                    Ok(target) if target.starts_with(root) => {
                        std::fs::metadata(&target).map(|m| m.file_type()).ok()
                    }
                    Ok(target) => {
                        skipped.push(Skipped {
                            path: child,
                            why: format!(
                                "symbolic link leaves {} (to {})",
                                root.display(),
                                target.display()
                            ),
                        });
                        continue;
                    }
                    Err(e) => {
                        skipped.push(Skipped {
                            path: child,
                            why: format!("broken symbolic link: {e}"),
                        });
                        continue;
                    }
                }
            } else {
                Some(meta.file_type())
            };
            match kind {
                Some(t) if t.is_dir() => subdirs.push(child),
                Some(t) if t.is_file() => found.push(Found { path: child }),
                _ => {}
            }
        }
        // Reversed, so the stack pops them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(found: &[Found], root: &Path) -> Vec<String> {
        found
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(root)
                    .unwrap_or(&f.path)
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn walks_sorted_follows_links_inside_the_root_only() {
        let base = std::env::temp_dir().join(format!("pp-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("hub");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::create_dir_all(root.join("snapshots/abc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("blobs/1234"), b"x").unwrap();
        std::fs::write(root.join("a.pkl"), b"x").unwrap();
        std::fs::write(root.join("c.pkl"), b"x").unwrap();
        std::fs::write(outside.join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(
            root.join("blobs/1234"),
            root.join("snapshots/abc/model.pkl"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside, root.join("snapshots/escape")).unwrap();
        std::os::unix::fs::symlink(root.join("snapshots"), root.join("snapshots/abc/loop"))
            .unwrap();
        let (found, skipped) = collect(std::slice::from_ref(&root));
        assert_eq!(
            names(&found, &root),
            ["a.pkl", "blobs/1234", "c.pkl", "snapshots/abc/model.pkl"]
        );
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].path, root.join("snapshots/escape"));
        assert!(skipped[0].why.starts_with("symbolic link leaves"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
