//! `ct policy init | show | check`: write and check a policy file. Needs no
//! state directory and no bundle; the examples are the files shipped in
//! `policy/examples/`, so what `init` prints is what the tests validate.

use std::fs;
use std::path::Path;

use anyhow::Result;
use cerro_core::{Error, ExitCode};
use cerro_policy::DeploymentPolicy;

use crate::cli::PolicyCommand;

const STRICT: &str = include_str!("../../../policy/examples/strict.json");
const PERMISSIVE: &str = include_str!("../../../policy/examples/permissive.json");
/// The baseline, written out: any one fully trusted signer.
const STARTER: &str = r#"{
  "version": "1",
  "default_action": "deny",
  "signers": {
    "allowed": [ { "key_id": "*" } ],
    "threshold": 1,
    "min_trust": "full"
  }
}
"#;

fn load(path: &Path) -> Result<DeploymentPolicy> {
    let bytes = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    Ok(DeploymentPolicy::from_json(&path.display().to_string(), &bytes)?)
}

/// `text` wrapped at 78 columns, on word boundaries.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.chars().count() > 78 {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    out
}

pub fn policy(cmd: &PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Init { strict, permissive } => {
            print!(
                "{}",
                match (strict, permissive) {
                    (true, _) => STRICT,
                    (_, true) => PERMISSIVE,
                    _ => STARTER,
                }
            );
        }
        PolicyCommand::Show { file } => {
            let p = load(file)?;
            println!("{}", p.to_json_pretty());
            println!();
            println!("{}", wrap(&p.summary()));
        }
        PolicyCommand::Check { file } => {
            load(file)?;
            println!("{}: valid policy (version \"1\")", file.display());
        }
    }
    Ok(ExitCode::Valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_are_valid() {
        for (name, text) in [("strict", STRICT), ("permissive", PERMISSIVE), ("starter", STARTER)] {
            DeploymentPolicy::from_json(name, text.as_bytes()).unwrap();
        }
        assert_eq!(wrap("a b  c"), "a b c");
        assert!(wrap(&"word ".repeat(40)).lines().all(|l| l.len() <= 78));
    }
}
