//! The command-line contract. Names, flags and exit codes are relied on by
//! other tools and tests: change them only with the spec.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cerro Torre: provably what its builders said it is.
#[derive(Debug, Parser)]
#[command(name = "ct", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// State directory (keys, trust store; the bundle store is <home>/store unless $CERRO_STORE).
    /// Default: $CERRO_HOME; else as root /etc/cerro-torre (the shim's and the hook's, with the
    /// store in /var/lib/cerro-torre/store), as a user $XDG_CONFIG_HOME/cerro-torre, else
    /// ~/.config/cerro-torre.
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
        /// Key type: ed25519 (the default) or ecdsa-p256 (ECDSA P-256 with SHA-256, cosign's key type).
        #[arg(long = "type", value_name = "TYPE", default_value = "ed25519", value_parser = ["ed25519", "ecdsa-p256"])]
        key_type: String,
        /// Generate the key pair on this PKCS#11 token instead of in a file, non-extractable:
        /// pkcs11:token=LABEL;object=NAME?module-path=/…/module.so&pin-source=file:PINFILE
        /// (the PIN from pin-source or $CERRO_PKCS11_PIN, never the command line).
        #[arg(long, value_name = "URI", conflicts_with = "encrypt")]
        pkcs11: Option<String>,
    },
    /// Manage keys and trust levels.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Pack an OCI image into a signed .ctp bundle.
    Pack {
        /// The image: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF] or docker://REF.
        image: String,
        /// Bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Signing key (repeat for co-signers): a key id (its key file or the PKCS#11 token it was
        /// generated on or imported from), or a PKCS#11 URI (pkcs11:token=…;object=…?module-path=…).
        #[arg(long = "key", value_name = "KEY", required = true)]
        keys: Vec<String>,
        /// Package manifest (TOML); without it a minimal one is derived from the image name.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// SBOM format of the SBOM attestation read from the layers.
        #[arg(long, value_enum, default_value = "spdx")]
        sbom_format: SbomFormatArg,
        /// Do not attach an SBOM attestation.
        #[arg(long)]
        no_sbom: bool,
        /// Do not attach a SLSA provenance attestation.
        #[arg(long)]
        no_provenance: bool,
        /// The target SELinux policy as a directory of CIL files, to resolve the port and device
        /// types the manifest's [capabilities] need (else $CERRO_SELINUX_POLICY).
        #[arg(long, value_name = "DIR")]
        selinux_policy: Option<PathBuf>,
        /// For docker://REF: how to reach the registry.
        #[command(flatten)]
        registry: RegistryArgs,
        /// Enter the release in this transparency log and embed its proof, as `ct log submit`
        /// does (URL[=VKEY]; repeat for several logs).
        #[arg(long = "log", value_name = "URL[=VKEY]")]
        logs: Vec<String>,
        /// With --log: a witness to ask for a cosignature of each log's checkpoint, as
        /// `ct log submit --witness` does (URL=VKEY; repeat for each witness).
        #[arg(long = "witness", value_name = "URL=VKEY", requires = "logs")]
        witnesses: Vec<String>,
        /// For docker://REF: refuse the image unless a cosign signature of it (a Sigstore bundle
        /// referrer or the legacy sha256-<hex>.sig tag) verifies with this public key (PEM, such
        /// as cosign.pub), and carry that signature in the bundle as evidence ct verify checks
        /// again offline.
        #[arg(long, value_name = "K.pub")]
        cosign_key: Option<PathBuf>,
        /// Of a multi-platform image (an image index, or for docker://REF a Docker manifest
        /// list): pack only this platform's image (`os/arch[/variant]`, e.g. `linux/arm64`), a
        /// single-platform bundle. Default: every platform, the index the reference names. Of a
        /// single image: refused unless the image is for this platform.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Per-container SELinux policy modules generated from [capabilities].
    #[command(subcommand)]
    Selinux(SelinuxCommand),
    /// Verify a bundle, then print its SBOM (SPDX or CycloneDX JSON).
    Sbom {
        /// The bundle.
        file: PathBuf,
        /// Deployment policy (JSON).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// A multi-platform bundle's platform whose SBOM to print (`os/arch[/variant]`, e.g.
        /// `linux/arm64`, chosen as ct pack --platform chooses); default: this host's. None such: 78.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Verify a bundle and file it in the bundle store (where the shim and the hook look);
    /// with --into, also import its image into podman or containerd.
    Load {
        /// The bundle.
        #[arg(required_unless_present = "list")]
        file: Option<PathBuf>,
        /// List the bundle store instead.
        #[arg(long, conflicts_with = "file")]
        list: bool,
        /// With --list: machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also import the image.
        #[arg(long, value_enum)]
        into: Option<crate::cmd::load::Into>,
        /// Deployment policy (JSON) the bundle must satisfy to be loaded.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// podman --root.
        #[arg(long)]
        podman_root: Option<PathBuf>,
        /// podman --runroot.
        #[arg(long)]
        podman_runroot: Option<PathBuf>,
        /// containerd socket (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock).
        #[arg(long)]
        address: Option<String>,
        /// containerd namespace.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// Replace the stored bundle for the same image even if it was built later than this
        /// one (by default an older bundle is refused: rollback).
        #[arg(long)]
        allow_older: bool,
    },
    /// Verify a bundle, file it in the bundle store, import its image and run it through the
    /// enforcing path (podman with the hook and the bundle's SELinux labels; containerd with
    /// the io.cerro.v1 shim); exits with the container's exit code. A bundle that does not
    /// verify runs nothing (exit code from the table, as ct verify).
    Run {
        /// The bundle.
        bundle: PathBuf,
        /// The runtime: podman (its hooks.d must hold cerro-hook) or containerd (its PATH
        /// must hold containerd-shim-cerro-v1).
        #[arg(long, value_enum, default_value = "podman")]
        runtime: crate::cmd::run::Runtime,
        /// Deployment policy (JSON) the bundle must satisfy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The container's name (podman) or id (containerd); default ct-run-<image>-<pid>.
        #[arg(long)]
        name: Option<String>,
        /// podman --root.
        #[arg(long)]
        podman_root: Option<PathBuf>,
        /// podman --runroot.
        #[arg(long)]
        podman_runroot: Option<PathBuf>,
        /// containerd socket (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock).
        #[arg(long)]
        address: Option<String>,
        /// containerd namespace.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// The command and its arguments (after --), instead of the image's.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Push a bundle to an OCI registry: the image under REF, the attestations as an OCI 1.1
    /// artifact referring to it.
    Push {
        /// The bundle.
        bundle: PathBuf,
        /// Where: REGISTRY/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/apps/web:1.0.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Also sign the image as cosign sign does, so that `cosign verify --key` accepts it: an
        /// ECDSA P-256 key as a Sigstore bundle referrer, an Ed25519 key in the legacy
        /// sha256-<hex>.sig tag. Repeat for several keys.
        #[arg(long = "sign", value_name = "KEY")]
        sign: Vec<String>,
    },
    /// Fetch a bundle pushed with `ct push`, rebuild it byte for byte, verify it, then write it.
    Fetch {
        /// REGISTRY/REPOSITORY[:TAG|@DIGEST].
        reference: String,
        /// Bundle to write (nothing is written unless it verifies).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Deployment policy (JSON) the bundle must satisfy.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// What a registry holds for an image (as cosign tree): Cerro Torre bundles, cosign
    /// signatures and attestations (Sigstore bundles, legacy tags), notation signatures, SBOMs,
    /// other referrers. Verifies nothing (ct verify docker://REF does).
    Tree {
        /// REGISTRY/REPOSITORY[:TAG|@DIGEST].
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Add a co-signature to a bundle, in place, atomically.
    Sign {
        /// The bundle.
        file: PathBuf,
        /// Signing key: a key id (its key file or PKCS#11 token) or a PKCS#11 URI.
        #[arg(long)]
        key: String,
    },
    /// Compare an image you rebuilt with a verified bundle's (config and every layer); on a match,
    /// sign a rebuild attestation (a SLSA verification summary bound to this release) and add it
    /// to the bundle; on a mismatch, exit 1 naming the differing layers and files.
    Rebuild {
        /// The bundle (verified against the trust store first; --policy adds a policy).
        bundle: PathBuf,
        /// The image you rebuilt: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE.
        #[arg(long, value_name = "IMAGE", conflicts_with = "sources")]
        compare: Option<String>,
        /// Rebuild with ct build from these source files (what the bundle's manifest names by
        /// digest, e.g. ct import's --download-dir), then compare.
        #[arg(long, value_name = "DIR")]
        sources: Option<PathBuf>,
        /// With --sources: the base image the release was built on (its provenance records it;
        /// the manifest digest must be the recorded one).
        #[arg(long, value_name = "oci:DIR[:REF]", requires = "sources")]
        base: Option<String>,
        /// Signing key id of the rebuilder.
        #[arg(long)]
        key: String,
        /// Write the bundle with the rebuild attestation here instead of replacing BUNDLE.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The attestation's verifier.id: a URI naming the rebuilder (the key is what counts).
        #[arg(long, value_name = "URI", default_value = cerro_core::rebuild::DEFAULT_VERIFIER_ID)]
        verifier_id: String,
        /// Deployment policy (JSON) the bundle must satisfy first (default: none, the baseline).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// A multi-platform bundle's platform to compare (`os/arch[/variant]`, e.g.
        /// `linux/arm64/v8`); default: the one the rebuilt image's config names.
        #[arg(long)]
        platform: Option<String>,
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
    /// Verify a bundle, then export its image as an OCI layout or archive, a .deb, an .rpm or an
    /// OSTree commit (spec/export.md). Nothing is written unless it verifies.
    Export {
        /// The bundle.
        file: PathBuf,
        /// The format: oci (a directory), oci-archive, deb, rpm, ostree.
        #[arg(long, value_name = "FORMAT", value_parser = ["oci", "oci-archive", "deb", "rpm", "ostree"])]
        format: String,
        /// Output: a file (oci-archive, deb, rpm), a new directory (oci), an OSTree repository (ostree).
        #[arg(short, long)]
        output: PathBuf,
        /// Where the image's root file system lands in a package (deb, rpm, ostree). Default: /.
        #[arg(long, value_name = "DIR")]
        prefix: Option<String>,
        /// OSTree branch (default: cerro/NAME/VERSION).
        #[arg(long)]
        branch: Option<String>,
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
    /// Write and check deployment policies (spec/policy.md).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Transparency logs: run one (key, directory, write side), submit a bundle's release to
    /// logs, and the logs the trust store trusts (spec/transparency.md §10, §12).
    #[command(subcommand)]
    Log(LogCommand),
    /// A transparency-log witness (C2SP tlog-witness): cosigns a log's checkpoint only when it
    /// extends the last one it cosigned for that log (spec/transparency.md §13).
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// The signed trust root: logs, witnesses, quorum and revocation signers, signed k of n by
    /// root keys, never fetched by verify (spec/trust-store.md §9).
    #[command(subcommand)]
    Trust(TrustCommand),
    /// The signed revocation list: revoked keys and releases, signed k of n by the trust root's
    /// revocation keys (spec/trust-store.md §10).
    #[command(subcommand)]
    Revocation(RevocationCommand),
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
    /// Draft a package manifest from a distribution's recipe, read as data (never run): a
    /// Debian .dsc with its files, an Alpine APKBUILD, a Nix .drv or an RPM .spec (spec/import.md). Every
    /// digest the recipe gives is checked; a hostile recipe is refused and nothing is written.
    Import {
        /// debian:FILE.dsc, debian:PKG[=VERSION] (from a mirror, through the archive's signed
        /// InRelease and Sources), alpine:APKBUILD, nix:FILE.drv or fedora:FILE.spec (or such a path).
        source: String,
        /// The draft manifest to write (TOML).
        #[arg(short, long)]
        output: PathBuf,
        /// Where to write the evidence (JSON); default: beside the output, FILE.evidence.json.
        #[arg(long, value_name = "FILE")]
        evidence: Option<PathBuf>,
        /// An OpenPGP keyring: a signed .dsc must verify under it (with gpgv); without it a
        /// signature is parsed and recorded as not checked. For debian:PKG, the keyring the
        /// archive's InRelease must verify under (default: Debian's archive keyring).
        #[arg(long, value_name = "FILE")]
        keyring: Option<PathBuf>,
        /// The upstream URL, when the recipe does not give one (or to override it).
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        /// debian:PKG: the suite or codename.
        #[arg(long, default_value = "bookworm")]
        suite: String,
        /// debian:PKG: the mirror (default: the one this machine's apt configuration names,
        /// else http://deb.debian.org/debian).
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// debian:PKG: keep the downloaded files (InRelease, Sources, the .dsc and its files)
        /// in this directory (default: a temporary directory, removed afterwards).
        #[arg(long, value_name = "DIR")]
        download_dir: Option<PathBuf>,
    },
    /// Build an imported source (a draft manifest from `ct import`) in a clean root without network
    /// into a reproducible OCI image layout, with SLSA provenance for `ct pack` (spec/build.md).
    Build {
        /// The draft manifest (TOML) written by `ct import`.
        manifest: PathBuf,
        /// The image to write: oci:DIR:TAG.
        #[arg(short, long, value_name = "oci:DIR:TAG")]
        output: String,
        /// The directory holding the recipe and the files it names (default: the manifest's directory).
        #[arg(long, value_name = "DIR")]
        sources: Option<PathBuf>,
        /// Install the built packages into this image (an OCI layout with a dpkg database); the
        /// new layer is what the install changed (spec/build.md §10). Debian builds only.
        #[arg(long, value_name = "oci:DIR[:REF]")]
        base: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SelinuxCommand {
    /// Generate the CIL module of a manifest (or of a bundle's manifest).
    Generate {
        /// A manifest (TOML) or a .ctp bundle.
        input: PathBuf,
        /// The CIL file to write ("-" for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// The target policy's CIL (a directory), for port and device types.
        #[arg(long, value_name = "DIR")]
        selinux_policy: Option<PathBuf>,
    },
    /// Read AVC denials and propose the [capabilities] lines that would allow them (never raw rules).
    Suggest {
        /// An audit log (e.g. /var/log/audit/audit.log or `ausearch -m avc` output).
        log: PathBuf,
        /// Merge into this manifest's existing [capabilities].
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Verify a bundle, then load its SELinux module with semodule: only the module regenerated
    /// from its signed [capabilities], named after its package (exit 10 otherwise), with the
    /// image store module (cerro_store); then label podman's and containerd's layer stores
    /// (restorecon), making them first where the runtime is installed.
    Install {
        /// The bundle.
        bundle: PathBuf,
        /// An alternate policy root (semodule -p ROOT, with no policy reload): a private
        /// copy of /etc/selinux and /var/lib/selinux, so the host policy is not touched.
        #[arg(long, value_name = "DIR")]
        store_root: Option<PathBuf>,
        /// The policy store name (semodule -s).
        #[arg(long, default_value = "default")]
        store: String,
        /// Deployment policy (JSON) the bundle must satisfy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// This host's policy as CIL (a directory), else $CERRO_SELINUX_POLICY: needed to
        /// regenerate a module whose manifest declares ports or devices.
        #[arg(long, value_name = "DIR")]
        selinux_policy: Option<PathBuf>,
    },
    /// Compile a module with secilc against the target policy's CIL (and the image store
    /// module every package module needs).
    Check {
        /// The module.
        file: PathBuf,
        /// The target policy's CIL (a directory), else $CERRO_SELINUX_POLICY.
        #[arg(long, value_name = "DIR")]
        selinux_policy: Option<PathBuf>,
    },
    /// Write the image store module (cerro_store.cil: the read-only type of the runtimes'
    /// layers, which every container domain may read and execute), for hosts that install
    /// modules by other means than ct selinux install, which installs it with each package.
    ImageStore {
        /// The file to write ("-": standard output).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
    },
}

/// SBOM formats of `ct pack --sbom-format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SbomFormatArg {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle; or docker://REGISTRY/REPOSITORY[:TAG|@DIGEST] to verify an image's bundle in
    /// its registry without downloading its layers (verify only: what was not checked is said).
    pub file: PathBuf,
    /// Deployment policy (JSON, spec/policy.md). Default: $CERRO_POLICY, else <home>/policy.json
    /// if there is one (the shim's and the hook's rule).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Tell what the shim or the hook would decide on this host for the bundle's image: their
    /// configuration (with their ownership checks), the bundle store's entry for the image, the
    /// trust store, the policy and SELinux, by the same decision (unrecorded).
    #[arg(long, conflicts_with = "policy")]
    pub as_runtime: bool,
    /// After the offline verification, fetch each proof's log's latest checkpoint (from the
    /// read URL the trust store gives it: ct log trust --url) and refuse unless it is signed by
    /// the log and consistent with the proof's checkpoint (exit 6, tlog_split_view). Without
    /// it, verify and explain make no network request.
    #[arg(long, conflicts_with = "as_runtime")]
    pub online: bool,
    /// Count the rebuild attestations of this platform (`os/arch[/variant]`, e.g. `linux/arm64`,
    /// chosen as ct pack --platform chooses) instead of this host's: to check a bundle for
    /// another node's architecture. A platform the bundle does not have: 78, naming those it has.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "as_runtime")]
    pub platform: Option<String>,
    /// How to reach the registry of a docker:// reference.
    #[command(flatten)]
    pub registry: RegistryArgs,
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
    /// Import a PEM SubjectPublicKeyInfo public key, Ed25519 or ECDSA P-256 (such as cosign.pub),
    /// or the public key of a PKCS#11 token object (--pkcs11 URI, which ct then signs with for
    /// this id); it starts untrusted.
    Import {
        /// PEM file.
        #[arg(required_unless_present = "pkcs11", conflicts_with = "pkcs11")]
        file: Option<PathBuf>,
        /// Name to give it.
        #[arg(long)]
        id: String,
        /// A key object on a PKCS#11 token: pkcs11:token=…;object=…?module-path=…
        #[arg(long, value_name = "URI")]
        pkcs11: Option<String>,
    },
    /// Set a key's trust level (untrusted, marginal, full or ultimate) and validity window.
    Trust {
        /// Key id.
        id: String,
        /// New level.
        level: String,
        /// Signatures count only from this time: RFC 3339 (2026-01-01T00:00:00Z), unix seconds, or
        /// "none" to clear.
        #[arg(long, value_name = "T")]
        valid_from: Option<String>,
        /// Signatures count only until this time (inclusive): RFC 3339, unix seconds, or "none".
        #[arg(long, value_name = "T")]
        valid_until: Option<String>,
    },
    /// Threshold groups: k of n named keys, for a policy's signers.threshold_from.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Revoke a key: its signatures never count again.
    Revoke {
        /// Key id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create or replace a group: THRESHOLD of the listed keys must sign.
    Set {
        /// Group name.
        name: String,
        /// How many distinct keys of the group must sign (1..=number of keys).
        #[arg(long)]
        threshold: usize,
        /// Key ids of the group.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// List groups.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a group.
    Remove {
        /// Group name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print a starter policy (default: any one fully trusted signer).
    Init {
        /// Threshold group, registries, attestations and age: policy/examples/strict.json.
        #[arg(long, conflicts_with = "permissive")]
        strict: bool,
        /// Any one signer trusted at least marginal: policy/examples/permissive.json.
        #[arg(long)]
        permissive: bool,
    },
    /// Print a policy normalised (defaults explicit) and what it allows, in English.
    Show {
        /// Policy file (JSON).
        file: PathBuf,
    },
    /// Check a policy file: exit 0 if valid, 78 with the reason if not.
    Check {
        /// Policy file (JSON).
        file: PathBuf,
    },
}

/// How to reach a registry (push, fetch, pack docker://).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Plain HTTP (loopback registries without a configured CA use it without this flag).
    #[arg(long)]
    pub insecure: bool,
    /// Trust the CA certificates (*.crt) in DIR for this registry, instead of the certs.d
    /// directories podman and docker use (~/.config/containers/certs.d/HOST,
    /// /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// The signed trust root (spec/trust-store.md §9).
    #[command(subcommand)]
    Root(RootCommand),
}

#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Write an unsigned trust root to FILE (then `ct trust root sign`, then install). Keys are
    /// named by their local ids in the trust store (public keys suffice).
    Init {
        /// The file to write (never replaced).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// The root's version: 1 for the first, higher than the installed root's for an update.
        #[arg(long = "root-version", value_name = "N")]
        version: u64,
        /// When the root expires (RFC 3339, e.g. 2027-12-31T00:00:00Z); after it nothing verifies.
        #[arg(long, value_name = "TIME")]
        expires: String,
        /// A root key (local key id). Repeat for each.
        #[arg(long = "root-key", value_name = "ID", required = true)]
        root_keys: Vec<String>,
        /// How many root keys must sign the root (and its successor).
        #[arg(long, value_name = "K")]
        threshold: usize,
        /// A revocation key (local key id). Repeat for each.
        #[arg(long = "revocation-key", value_name = "ID", required = true)]
        revocation_keys: Vec<String>,
        /// How many revocation keys must sign a revocation list.
        #[arg(long, value_name = "K")]
        revocation_threshold: usize,
        /// A transparency log: its verifier key (the key's name is its origin). Repeat for each.
        #[arg(long = "log", value_name = "VKEY")]
        logs: Vec<String>,
        /// A witness: its cosignature/v1 verifier key. Repeat for each.
        #[arg(long = "witness", value_name = "VKEY")]
        witnesses: Vec<String>,
        /// Distinct logs that must prove every release (0: none).
        #[arg(long, value_name = "N", default_value_t = 0)]
        quorum_logs: usize,
        /// Distinct witnesses that must have cosigned a log's checkpoint for it to count.
        #[arg(long, value_name = "K", default_value_t = 0)]
        quorum_witnesses: usize,
    },
    /// Add signatures to a trust root FILE, in place: root keys of this root and, for an
    /// update, of the root it replaces.
    Sign {
        /// The trust root file.
        file: PathBuf,
        /// The signing key (local key id with a private key). Repeat for each.
        #[arg(long = "key", value_name = "ID", required = true)]
        keys: Vec<String>,
    },
    /// Install a trust root: the first as given (compare its root keys out of band), an update
    /// only when signed by k keys of the installed root and k of its own, with a higher version.
    Install {
        /// The trust root file.
        file: PathBuf,
    },
    /// Show the installed trust root (or FILE's).
    Show {
        /// A trust root file to show instead of the installed one.
        file: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RevocationCommand {
    /// Make and sign a revocation list: the installed list's entries plus those given, the next
    /// version, issued now; optionally enter it in transparency logs.
    Publish {
        /// The file to write (never replaced).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// A revocation key to sign with (local key id with a private key). Repeat for each.
        #[arg(long = "key", value_name = "ID", required = true)]
        keys: Vec<String>,
        /// Revoke a key: its fingerprint (64 hex), or FINGERPRINT@TIME to revoke it from TIME on.
        #[arg(long = "revoke-key", value_name = "FP[@TIME]")]
        revoke_keys: Vec<String>,
        /// Revoke a release: its release envelope's or image manifest's digest (sha256:…).
        #[arg(long = "revoke", value_name = "DIGEST")]
        revoke: Vec<String>,
        /// Hours until the next list is due (its next_update).
        #[arg(long, value_name = "H", default_value_t = 168)]
        valid_hours: u64,
        /// The version (default: one above the highest installed).
        #[arg(long = "list-version", value_name = "N")]
        version: Option<u64>,
        /// Enter the list in a transparency log: URL[=VKEY] (as `ct log submit --log`). Repeat.
        #[arg(long = "log", value_name = "URL[=VKEY]")]
        logs: Vec<String>,
    },
    /// Install a revocation list from FILE or an http(s) URL: signed by k revocation keys of the
    /// installed trust root, not older than the highest version installed.
    Fetch {
        /// A file or an http(s) URL.
        source: String,
    },
    /// Show the installed revocation list (or FILE's).
    Show {
        /// A revocation list file to show instead of the installed one.
        file: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Generate a witness key (cosignature/v1): Go's PRIVATE+KEY form in a new file (mode
    /// 0600); prints the verifier key to give to verifiers and logs.
    Keygen {
        /// The witness's name (e.g. witness.example.org/w1).
        #[arg(long)]
        name: String,
        /// The private key file to create (never replaced).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Make DIR (new or empty) the state directory of the witness with this key. A witness
    /// serves only from a directory made so: one whose state was lost needs a new key.
    Init {
        /// The witness's state directory (the latest checkpoint cosigned for each log).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The witness's private key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Serve POST /add-checkpoint on ADDR for the logs given, and GET /checkpoint/<hex of
    /// SHA-256(origin)>: the latest checkpoint cosigned for a log, for monitors.
    Serve {
        /// The witness's state directory (made by `ct witness init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The witness's private key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// A log to witness: its verifier key (name+hex8+base64; the name is its origin).
        /// Repeat for each log.
        #[arg(long = "log", value_name = "VKEY", required = true)]
        logs: Vec<String>,
        /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port, printed).
        #[arg(long, value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
    /// Trust a witness (trust.toml [witnesses]): its verifier key (name+hex8+base64, type 0x04,
    /// as `ct witness keygen` prints it). The policy's transparency.witnesses counts them.
    Trust {
        /// The witness's verifier key.
        vkey: String,
    },
    /// Stop trusting the witness with this name.
    Untrust {
        /// The witness's name.
        name: String,
    },
    /// List the trusted witnesses.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Generate a log's note key: Go's PRIVATE+KEY form in a new file (mode 0600); prints the
    /// verifier key (name+hex8+base64) to give to verifiers and witnesses.
    Keygen {
        /// The key's name, which is the log's origin (e.g. log.example.org/releases).
        #[arg(long)]
        name: String,
        /// The private key file to create (never replaced).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Start an empty log in DIR (created, or empty): its signed checkpoint of size 0.
    Init {
        /// The log directory: serve it as it is with any static HTTP server (tlog-tiles).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The log's private key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Accept entries on ADDR (POST /add, the release entry as the body; the answer, once the
    /// entry's batch is on disk and the witnesses have been asked, is its tlog-proof) and write
    /// them to the log in DIR.
    Serve {
        /// The log directory (made by `ct log init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The log's private key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// A witness to ask to cosign each new checkpoint (C2SP tlog-witness): its submission
        /// URL http://HOST:PORT[/PATH] and its verifier key. Repeat for each witness.
        #[arg(long = "witness", value_name = "URL=VKEY")]
        witnesses: Vec<String>,
        /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port, printed).
        #[arg(long, value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
    /// Enter a bundle's release in transparency logs and embed each log's proof in the bundle
    /// (rewritten atomically; no signed byte changes; a log's earlier proof is replaced).
    /// With --witness, each proof's checkpoint is also taken to every witness that has not
    /// cosigned it (C2SP tlog-witness, from old size 0, again from the size a 409 names with a
    /// consistency proof from the log's read URL, ct log trust --url), and each cosignature
    /// that verifies under the given key is added. A witness that refuses is reported; the
    /// command fails (exit 6, tlog_witness_quorum, nothing written) only when a log's
    /// checkpoint then has fewer cosignatures by trusted witnesses (ct witness trust) than
    /// the policy's transparency.witnesses ($CERRO_POLICY or <home>/policy.json).
    Submit {
        /// The bundle.
        bundle: PathBuf,
        /// A log's write side, URL[=VKEY]: with the log's verifier key, or without it when the
        /// log is in the trust store (ct log trust). Repeat for several logs.
        #[arg(long = "log", value_name = "URL[=VKEY]", required = true)]
        logs: Vec<String>,
        /// A witness to ask for a cosignature of each log's checkpoint when the log did not
        /// collect one: its tlog-witness URL (POST URL/add-checkpoint) and its cosignature/v1
        /// verifier key. Repeat for each witness.
        #[arg(long = "witness", value_name = "URL=VKEY")]
        witnesses: Vec<String>,
    },
    /// Trust a transparency log (trust.toml [logs]): its verifier key (name+hex8+base64, as
    /// `ct log keygen` prints it); the log's origin is the key's name unless --origin says.
    Trust {
        /// The log's verifier key.
        vkey: String,
        /// The log's origin, if it is not the key's name.
        #[arg(long)]
        origin: Option<String>,
        /// Where the log's read side is served (its tlog-tiles prefix: URL/checkpoint,
        /// URL/tile/...), for ct log monitor and ct verify --online. Kept when not given.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Watch the trusted logs for a split view: fetch each log's checkpoint and tiles (from its
    /// read URL, ct log trust --url), check it is consistent with the last checkpoint this
    /// monitor saw and with each witness's latest cosigned checkpoint, then remember it. Exit 6
    /// (tlog_split_view) naming both checkpoints when two signed by one log cannot be one tree.
    Monitor {
        /// Watch only the log with this origin (repeat for several; default: every trusted log).
        #[arg(long = "log", value_name = "ORIGIN")]
        logs: Vec<String>,
        /// A witness to compare with: the URL of its read side (ct witness serve's
        /// GET /checkpoint/<hex>). Repeat for each witness.
        #[arg(long = "witness", value_name = "URL")]
        witnesses: Vec<String>,
        /// Where the last checkpoint seen of each log is kept (default: <home>/monitor).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Machine-readable report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting the transparency log with this origin.
    Untrust {
        /// The log's origin.
        origin: String,
    },
    /// List the trusted transparency logs: origin and verifier keys.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
