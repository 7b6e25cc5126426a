//! `dtunet import-config`: one of the authors' JSON run configurations as a dtunet TOML
//! configuration for `train --config` and `import-weights --config`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use dtunet::DtunetError;
use dtunet::io::write_atomically;
use dtunet::training::reference_config::import_reference_config;

#[derive(Debug, Args)]
pub struct ImportConfigArgs {
    /// The authors' run configuration (their test_args/argsN.json).
    args_json: PathBuf,
    /// The TOML file to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing --out file.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: ImportConfigArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.args_json).map_err(|source| DtunetError::Io {
        action: "read",
        path: args.args_json.clone(),
        source,
    })?;
    let imported = import_reference_config(&text, &args.args_json)?;
    if args.out.exists() && !args.overwrite {
        return Err(DtunetError::OutputFolder {
            path: args.out.clone(),
            problem: "already exists: choose another --out or pass --overwrite",
        }
        .into());
    }
    let mut header = format!(
        "# Imported by dtunet import-config from {}.\n",
        args.args_json.display()
    );
    for note in &imported.notes {
        header.push_str(&format!(
            "# not carried: {} = {}: {}\n",
            note.key, note.value, note.reason
        ));
    }
    let body = imported.config.to_toml();
    write_atomically(&args.out, |file| {
        file.write_all(header.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(body.as_bytes())
    })?;
    for note in &imported.notes {
        println!(
            "not carried: {} = {}: {}",
            note.key, note.value, note.reason
        );
    }
    println!(
        "wrote {} ({}; use it with dtunet train --config or dtunet import-weights --config)",
        args.out.display(),
        dtunet::models::weights::describe(&imported.config.model)
    );
    Ok(())
}
