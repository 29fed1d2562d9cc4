//! The library's layers depend downward only (issue 11, STYLE.md §1):
//!
//! ```text
//! ids, vocabulary  <-  error  <-  arith  <-  crypto, dp  <-  params  <-  finder  <-  wire
//!     <-  protocol, encoding  <-  protocol::session  <-  harness  <-  sim, fuzzing, net
//! ```
//!
//! This test reads every module under `src/` (the binary and `lib.rs`, which only re-exports,
//! excepted) and fails on any `crate::` path that names a module of the same rank or above,
//! other than the module's own top-level one. Unit tests at the bottom of a file
//! (`#[cfg(test)]`) may use anything. `use crate::{..}` is refused: a module names the layer
//! it depends on.

use std::fs;
use std::path::{Path, PathBuf};

/// `(module path prefix, rank)`; a module's layer is its longest matching prefix.
const LAYERS: &[(&str, u32)] = &[
    ("ids", 0),
    ("vocabulary", 0),
    ("error", 1),
    ("arith", 2),
    ("crypto", 3),
    ("dp", 3),
    ("params", 4),
    ("finder", 5),
    ("wire", 6),
    ("protocol", 7),
    ("encoding", 7),
    ("protocol::session", 8),
    ("harness", 9),
    ("sim", 10),
    ("fuzzing", 10),
    ("net", 10),
];

/// The layer (prefix and rank) of a module path such as `protocol::client`.
fn layer(module: &str) -> Option<(&'static str, u32)> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            module == *prefix
                || module
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .copied()
}

/// The module path of a file under `src/`: `src/protocol/client.rs` is `protocol::client`.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.retain(|p| p != "mod");
    parts.join("::")
}

/// Every upward or sideways `crate::` reference in `source` (the text of `module`), as
/// `(line number, referenced module)`.
fn violations(module: &str, source: &str) -> Vec<(usize, String)> {
    let Some((own, rank)) = layer(module) else {
        return vec![(0, format!("{module} is in no layer: add it to LAYERS"))];
    };
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            let path: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            if path.is_empty() {
                found.push((n + 1, "crate::{..}".to_owned()));
                continue;
            }
            // Only module segments (lower case) name a layer.
            let target: Vec<&str> = path
                .split("::")
                .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .collect();
            let target = target.join("::");
            if target.is_empty() {
                // A crate-root re-export hides the layer it comes from.
                found.push((n + 1, format!("crate::{path} (name the defining module)")));
                continue;
            }
            match layer(&target) {
                Some((prefix, _)) if prefix == own => {}
                Some((_, r)) if r < rank => {}
                _ => found.push((n + 1, target)),
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_depends_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut report = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative.starts_with("bin") || relative == Path::new("lib.rs") {
            continue;
        }
        let module = module_of(relative);
        let source = fs::read_to_string(file).unwrap();
        for (line, target) in violations(&module, &source) {
            report.push(format!(
                "src/{}:{line}: {module} uses {target}",
                relative.display()
            ));
        }
        checked += 1;
    }
    assert!(checked >= 35, "only {checked} modules found");
    assert!(report.is_empty(), "upward imports:\n{}", report.join("\n"));
}

/// The checker itself: upward and sideways imports are found, downward ones pass.
#[test]
fn checker_finds_upward_imports() {
    let upward = "use crate::protocol::messages::AdvertiseKeys;\n";
    assert_eq!(
        violations("crypto::sign", upward),
        vec![(1, "protocol::messages".to_owned())]
    );
    // Beside is not below: encoding may not use the protocol.
    assert_eq!(
        violations(
            "encoding::codec",
            "    x: crate::protocol::client::PlainInput,\n"
        )
        .len(),
        1
    );
    // The round-by-round protocol may not use the byte-level sessions above it.
    assert_eq!(
        violations(
            "protocol::client",
            "use crate::protocol::session::ClientSession;\n"
        )
        .len(),
        1
    );
    assert_eq!(violations("wire::codec", "use crate::{Params};\n").len(), 1);
    assert_eq!(violations("sim", "use crate::PlainInput;\n").len(), 1);
    // Downward, own module, comments and unit tests pass.
    let fine = "use crate::crypto::kx::PublicKey;\nuse crate::wire::types;\n\
                // see crate::sim\n#[cfg(test)]\nuse crate::sim::Simulation;\n";
    assert!(violations("wire::messages", fine).is_empty());
    assert!(violations("nowhere", "").len() == 1);
}
