//! The command-line contract. Names, flags and exit codes are relied on by
//! other tools and tests: change them only with the spec.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cerro Torre: provably what its builders said it is.
#[derive(Debug, Parser)]
#[command(name = "ct", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// State directory (keys, trust store). Default: $CERRO_HOME, else $XDG_CONFIG_HOME/cerro-torre,
    /// else ~/.config/cerro-torre.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// File holding the passphrase of encrypted private keys (else $CERRO_PASSPHRASE).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a signing key pair (trusted ultimately: it is yours).
    Keygen {
        /// Name of the key.
        #[arg(long)]
        id: String,
        /// Encrypt the private key with the passphrase (from --passphrase-file or $CERRO_PASSPHRASE).
        #[arg(long)]
        encrypt: bool,
    },
    /// Manage keys and trust levels.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Pack an OCI image into a signed .ctp bundle.
    Pack {
        /// The image: oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:REF].
        image: String,
        /// Bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Signing key id (repeat for co-signers).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// Package manifest (TOML); without it a minimal one is derived from the image name.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Add a co-signature to a bundle, in place, atomically.
    Sign {
        /// The bundle.
        file: PathBuf,
        /// Signing key id.
        #[arg(long)]
        key: String,
    },
    /// Verify a bundle against the trust store (and a policy).
    Verify(VerifyArgs),
    /// Explain a bundle: image → layers → statement → signers → trust, and the verdict.
    Explain(VerifyArgs),
    /// Verify a bundle, then write its OCI image layout to DIR.
    Unpack {
        /// The bundle.
        file: PathBuf,
        /// Directory to create (must not exist, or be empty).
        #[arg(short, long)]
        output: PathBuf,
        /// Deployment policy (JSON).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Show what differs between two bundles: image, layers, manifest fields, signers.
    Diff {
        /// The older bundle.
        old: PathBuf,
        /// The newer bundle.
        new: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check this installation: state directory, key permissions, trust store, CPU.
    Doctor,
    /// Print version information.
    Version {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a manual page: a command name, or a topic (exit-codes, bundle, trust, policy).
    Man {
        /// Topic or command; without one, ct(1).
        topic: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Run the main job on an embedded sample image: keygen, pack, verify, explain, and a tampered copy refused.
    Demo {
        /// Keep the demo's files in this directory (default: a temporary directory, removed afterwards).
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Deployment policy (JSON, spec/policy.md).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List known keys.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write a public key as PEM SubjectPublicKeyInfo.
    Export {
        /// Key id.
        id: String,
        /// Output file ("-" for stdout).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Import a PEM SubjectPublicKeyInfo public key (starts untrusted).
    Import {
        /// PEM file.
        file: PathBuf,
        /// Name to give it.
        #[arg(long)]
        id: String,
    },
    /// Set a key's trust level: untrusted, marginal, full or ultimate.
    Trust {
        /// Key id.
        id: String,
        /// New level.
        level: String,
    },
    /// Revoke a key: its signatures never count again.
    Revoke {
        /// Key id.
        id: String,
    },
}
