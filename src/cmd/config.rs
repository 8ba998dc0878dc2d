//! `phlb config`: show the effective config, or write the example ini.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::ConfigArgs;
use crate::config::{entries, render, Loaded, EXAMPLE_INI};
use crate::Outcome;

/// Prints the effective config, or with `--write` creates `./phlb.ini` from the example.
pub fn run(loaded: &Loaded, args: &ConfigArgs, cwd: &Path) -> Result<Outcome> {
    if args.write {
        let path = cwd.join("phlb.ini");
        // 0600: the file may get a SERVE_TOKEN.
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("{}: already exists; not overwriting it", path.display())
            }
            Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.display())),
        };
        file.write_all(EXAMPLE_INI.as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(Outcome::Clean);
    }
    if args.json {
        let keys: serde_json::Map<String, serde_json::Value> = entries(loaded)
            .into_iter()
            .map(|(key, value, origin)| {
                let v = serde_json::json!({ "value": value, "origin": origin });
                (key.to_string(), v)
            })
            .collect();
        let doc = serde_json::json!({
            "file": loaded.file.as_ref().map(|f| f.display().to_string()),
            "precedence": ["command line", "environment", "ini", "default"],
            "keys": keys,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Outcome::Clean);
    }
    print!("{}", render(loaded));
    Ok(Outcome::Clean)
}
