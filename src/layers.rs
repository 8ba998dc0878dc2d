//! The import rule, and the test that holds it. phlb has three layers, and imports go
//! one way, down:
//!
//! 1. **Front ends**: `cli/` (arguments), `cmd/` (one module per command: arguments to
//!    engine options, the call, the answer rendered as text or JSON), `render/`
//!    (renderings several commands share), and `lib.rs`'s dispatch. No `cmd` module
//!    imports another `cmd` module; shared front-end code lives in `render/` or `cli/`.
//! 2. **The engine**, `ops/`: each operation takes an options struct of its own and
//!    returns a report; it speaks only through `tell::Tell` and the `Shows`/`Findings`
//!    traits its caller implements. It never names `cli`, `cmd` or `render`.
//! 3. **Below**: `catalog/` (all SQL), `scan/`, `store/`, `root/`, `lock/`,
//!    `retention/`, `stamp/`, `workers/`, `progress/`, `sys/` and the
//!    small modules. Nothing here imports `ops` or a front end.
//!
//! `cli` may use the layers below (it turns arguments into their types), never `ops` or
//! `cmd`. Every `crate::NAME` path counts, inline ones too
//! (`crate::cmd::add::run(…)`), not only `use` lines; comments do not.

#![forbid(unsafe_code)]

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The layer of a source file, from its path under `src/`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Layer {
        /// `lib.rs`, `main.rs`: the dispatch, which may use everything.
        Top,
        Cli,
        Cmd,
        Render,
        Ops,
        Below,
    }

    fn layer_of(top: &str) -> Layer {
        match top {
            "lib.rs" | "main.rs" => Layer::Top,
            "cli" => Layer::Cli,
            "cmd" => Layer::Cmd,
            "render" => Layer::Render,
            "ops" => Layer::Ops,
            _ => Layer::Below,
        }
    }

    /// The top-level module a `crate::` path names, as a layer.
    fn named_layer(module: &str) -> Layer {
        match module {
            "cli" => Layer::Cli,
            "cmd" => Layer::Cmd,
            "render" => Layer::Render,
            "ops" => Layer::Ops,
            "run" | "Outcome" => Layer::Top,
            _ => Layer::Below,
        }
    }

    /// Whether a file in `from` may name `to`.
    fn allowed(from: Layer, to: Layer) -> bool {
        use Layer::*;
        match from {
            Top => true,
            Cmd => true,
            Render => matches!(to, Ops | Below | Top),
            Cli => matches!(to, Cli | Below | Top),
            Ops => matches!(to, Ops | Below | Top),
            Below => matches!(to, Below | Top),
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// `line` without its `//` comment (a `//` inside a string literal is kept).
    fn code_of(line: &str) -> &str {
        let mut in_string = false;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_string => i += 1,
                b'"' => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
                _ => {}
            }
            i += 1;
        }
        line
    }

    /// Every top-level module a line names through `crate::` (`crate::a::b`, and each
    /// of `crate::{a, b::c}`).
    fn crate_paths(code: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            // `phlb_crate::` or `xcrate::` are not paths of this crate.
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        }
        found
    }

    /// For a file under `src/cmd/`, the command module it belongs to (`backup` for
    /// `cmd/backup.rs`, `serve` for `cmd/serve/auth.rs`).
    fn command_of(rel: &Path) -> Option<String> {
        let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
        (parts.next()? == "cmd").then_some(())?;
        let first = parts.next()?;
        Some(first.trim_end_matches(".rs").to_string())
    }

    /// The command module a `crate::cmd::X` path names, when the line names one.
    fn commands_named(code: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = code;
        while let Some(at) = rest.find("crate::cmd::") {
            rest = &rest[at + "crate::cmd::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        found
    }

    #[test]
    fn imports_go_one_way_down() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for file in &files {
            let rel = file.strip_prefix(&src).unwrap();
            if rel == Path::new("layers.rs") {
                continue; // its tests spell wrong-way paths on purpose
            }
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let from = layer_of(&top);
            let own_command = command_of(rel);
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = code_of(line);
                for module in crate_paths(code) {
                    let to = named_layer(&module);
                    if !allowed(from, to) {
                        wrong.push(format!(
                            "src/{}:{}: a {from:?} module names crate::{module} ({to:?})",
                            rel.display(),
                            n + 1
                        ));
                    }
                }
                if let Some(own) = &own_command {
                    for other in commands_named(code) {
                        if &other != own {
                            wrong.push(format!(
                                "src/{}:{}: cmd::{own} imports cmd::{other}; share it through ops/ or render/",
                                rel.display(),
                                n + 1
                            ));
                        }
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "wrong-way imports:\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_checker_sees_inline_grouped_and_commented_paths() {
        assert_eq!(
            crate_paths("let x = crate::cmd::add::run(a); use crate::{ops, cli::X};"),
            ["cmd", "ops", "cli"]
        );
        assert!(crate_paths(code_of("f(); // crate::cmd::x")).is_empty());
        assert_eq!(crate_paths(code_of(r#"g("//", crate::ops::x)"#)), ["ops"]);
        assert!(!allowed(Layer::Ops, Layer::Cli));
        assert!(!allowed(Layer::Below, Layer::Ops));
        assert!(!allowed(Layer::Render, Layer::Cmd));
        assert_eq!(commands_named("crate::cmd::status::x"), ["status"]);
        assert_eq!(
            command_of(Path::new("cmd/serve/auth.rs")).as_deref(),
            Some("serve")
        );
    }
}
