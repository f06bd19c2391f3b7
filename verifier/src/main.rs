//! `cerro-image-verifier`: containerd 2.x's pull-time gate, an
//! `io.containerd.image-verifier.v1` "bindir" plugin. containerd runs every
//! executable in the plugin's `bin_dir` once per pull, before the pull
//! completes, and blocks the pull unless each exits 0.
//!
//! The contract (containerd's `docs/image-verification.md`, bindir
//! plugin): the arguments are
//!
//! ```text
//! -name REF -digest sha256:… -stdin-media-type application/vnd.oci.descriptor.v1+json
//! ```
//!
//! (Go `flag` style: one dash, a value as the next argument or after `=`;
//! flags this program does not know are ignored, as the contract allows
//! new ones), stdin holds the image's OCI descriptor as one JSON line (for
//! a multi-platform image, the index's), exit 0 allows the pull, any other
//! status blocks it, and the first 32 KiB of stdout are the reason
//! containerd reports. Only pulls through containerd's transfer service
//! call verifiers (`ctr images pull`, CRI PullImage on 2.1): not `ctr
//! images pull --local`, not `ctr images import`, never a container start,
//! which the shim decides.
//!
//! The verifier allows exactly the images a bundle in the store attests
//! and that verifies now: the same configuration (`Config::for_daemon`,
//! from the environment containerd runs it with, with the ownership
//! checks), the same store, trust store, policy, mode and audit log as the
//! shim and the hook, through the same decision (`cerro_enforce::Host::
//! decide`, component `image-verifier`, recorded in the audit log). Any
//! doubt blocks: arguments it cannot read, a second `-digest`, another
//! stdin media type, a descriptor that is not one JSON object, is larger
//! than [`MAX_DESCRIPTOR`], or names another digest. An image index is
//! looked up by its own digest, which no bundle attests until bundles
//! carry indexes: multi-platform pulls are blocked (pull the platform
//! manifest by digest instead).

mod error;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use cerro_core::digest::Digest;
use cerro_enforce::{Config, Decision, Host};
use error::VerifierError;

/// The only stdin media type this verifier reads.
const DESCRIPTOR_MEDIA_TYPE: &str = "application/vnd.oci.descriptor.v1+json";

/// The most bytes read from stdin: a descriptor is a few hundred bytes;
/// annotations may add some. More is refused without reading further.
const MAX_DESCRIPTOR: u64 = 64 * 1024;

/// The most bytes of reason written to stdout: containerd reads 32 KiB
/// (`outputLimitBytes`) and drops the rest; this leaves room to spare.
const MAX_REASON: usize = 16 * 1024;

/// Who the audit records name.
const COMPONENT: &str = "image-verifier";

/// What containerd passed on the command line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    /// `-name`: the reference being pulled, as the client gave it.
    name: Option<String>,
    /// `-digest`: the resolved digest of what is pulled.
    digest: Option<String>,
    /// `-stdin-media-type`: what stdin holds.
    stdin_media_type: Option<String>,
}

/// Parses Go `flag`-style arguments by hand: `-flag value`, `-flag=value`,
/// and the same with two dashes. Unknown flags are skipped with the value
/// that follows them, if it does not look like a flag (`-x=v` carries its
/// own); `--` ends the flags, as in Go. A known flag given twice is
/// refused: which one containerd meant is a doubt. Arguments that are not
/// UTF-8 are refused.
fn parse_args(argv: impl IntoIterator<Item = OsString>) -> Result<Args, VerifierError> {
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| VerifierError::Usage(format!("argument {a:?} is not UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    let mut args = Args::default();
    let mut i = 0;
    while let Some(arg) = argv.get(i) {
        i += 1;
        if arg == "--" {
            // Go's flag package stops here; what follows is positional.
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // A positional argument: the contract has none; ignored.
            continue;
        };
        let (key, inline) = match flag.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (flag, None),
        };
        let slot = match key {
            "name" => &mut args.name,
            "digest" => &mut args.digest,
            "stdin-media-type" => &mut args.stdin_media_type,
            _ => {
                // Unknown: skip its value too, when it has one of its own.
                if inline.is_none() && argv.get(i).is_some_and(|v| !v.starts_with('-')) {
                    i += 1;
                }
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => {
                let v = argv
                    .get(i)
                    .ok_or_else(|| VerifierError::Usage(format!("-{key} needs a value")))?;
                i += 1;
                v.clone()
            }
        };
        if slot.replace(value).is_some() {
            return Err(VerifierError::Usage(format!("-{key} is given more than once")));
        }
    }
    Ok(args)
}

/// An OCI descriptor (image-spec `descriptor.md`), the fields this
/// verifier reads; the others (`annotations`, `urls`, `platform`,
/// `artifactType`…) are allowed and ignored. A repeated field is refused
/// (serde's derive), as is a key that differs from one of these only in
/// case (Go's `encoding/json` would read it as that field).
#[derive(Debug, serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    #[allow(dead_code)] // required by the spec; read to refuse a descriptor without it
    size: u64,
}

/// Reads the descriptor containerd wrote and checks it names `digest`.
fn read_descriptor(bytes: &[u8], digest: &Digest) -> Result<Descriptor, VerifierError> {
    let text = std::str::from_utf8(bytes).map_err(|_| VerifierError::Descriptor("not UTF-8".into()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.contains('\n') {
        return Err(VerifierError::Descriptor("more than one line".into()));
    }
    let keys: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| VerifierError::Descriptor(format!("not a JSON object: {e}")))?;
    for k in keys.keys() {
        if ["mediaType", "digest", "size"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(k) && f != k)
        {
            return Err(VerifierError::Descriptor(format!(
                "key {k:?} differs from a descriptor field only in case"
            )));
        }
    }
    let d: Descriptor =
        serde_json::from_str(text).map_err(|e| VerifierError::Descriptor(format!("not an OCI descriptor: {e}")))?;
    let named = Digest::parse(&d.digest).map_err(|e| VerifierError::Descriptor(e.to_string()))?;
    if named != *digest {
        return Err(VerifierError::Descriptor(format!(
            "it names {named}, the command line {digest}"
        )));
    }
    Ok(d)
}

/// Whether `media_type` is an image index (OCI) or a manifest list (Docker).
fn is_index(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json" | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

/// The reason as containerd shows it: control characters escaped (it comes
/// partly from bundle data), at most [`MAX_REASON`] bytes.
fn printable(reason: &str) -> String {
    cerro_core::text::printable_within(reason, MAX_REASON)
}

/// Blocks the pull: the reason on stdout (containerd's), a copy on stderr
/// (containerd logs it), a non-zero status from the one table.
fn block(code: u8, reason: &str) -> ExitCode {
    let reason = printable(reason);
    let mut stdout = std::io::stdout().lock();
    // Blocked whether or not the reason can be written.
    let _ = writeln!(stdout, "{reason}");
    let _ = stdout.flush();
    eprintln!("cerro-image-verifier: {reason}");
    ExitCode::from(code.max(1))
}

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1), std::io::stdin().lock()) {
        Ok(d) if d.allowed => {
            println!("{}", printable(&d.reason));
            ExitCode::SUCCESS
        }
        Ok(d) => block(d.exit_code, &refusal(&d)),
        Err(e) => block(
            e.exit_code().code(),
            &format!(
                "cerro-torre refused the pull ({}, exit {}): {e}",
                e.kind().row().2,
                e.exit_code().code()
            ),
        ),
    }
}

/// The reason of a refused decision, naming the image and the check.
fn refusal(d: &Decision) -> String {
    let image = d.images.first().map(Digest::to_string).unwrap_or_default();
    format!(
        "cerro-torre refused image {image} ({}, exit {}): {}",
        d.check.unwrap_or("refused"),
        d.exit_code,
        d.reason
    )
}

/// Reads what containerd passed and decides.
fn run(argv: impl IntoIterator<Item = OsString>, stdin: impl std::io::Read) -> Result<Decision, VerifierError> {
    let args = parse_args(argv)?;
    let digest = args
        .digest
        .as_deref()
        .ok_or_else(|| VerifierError::Usage("no -digest".into()))?;
    let digest = Digest::parse(digest).map_err(|e| VerifierError::Usage(format!("-digest: {e}")))?;
    match args.stdin_media_type.as_deref() {
        Some(DESCRIPTOR_MEDIA_TYPE) => {}
        Some(other) => {
            return Err(VerifierError::Usage(format!(
                "-stdin-media-type {other:?}: only {DESCRIPTOR_MEDIA_TYPE} is read"
            )))
        }
        None => return Err(VerifierError::Usage("no -stdin-media-type".into())),
    }
    let bytes = cerro_core::file::read_bounded_from(stdin, MAX_DESCRIPTOR, "the descriptor on stdin")?;
    let descriptor = read_descriptor(&bytes, &digest)?;
    let cfg = Config::for_daemon(|k| std::env::var_os(k))?;
    let host = Host::with_system_clock(cfg);
    let mut d = host.decide_pull(COMPONENT, &digest);
    if !d.allowed && is_index(&descriptor.media_type) {
        d.reason = format!(
            "{} (an image index: attest it with a multi-platform bundle, `ct pack` of the index, \
             or pull one platform's attested manifest by digest)",
            d.reason
        );
    }
    if let Some(name) = args.name.as_deref() {
        d.reason = format!("{}: {}", name, d.reason);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    const D: &str = "sha256:0dd2bd6ca51a8ff74944986229b1d3f9ba929a5846dcd643e77d59bbcd32df6a";

    #[test]
    fn containerds_arguments() {
        let a = parse_args(argv(&[
            "-name",
            "127.0.0.1:5000/x:1",
            "-digest",
            D,
            "-stdin-media-type",
            DESCRIPTOR_MEDIA_TYPE,
        ]))
        .unwrap();
        assert_eq!(a.name.as_deref(), Some("127.0.0.1:5000/x:1"));
        assert_eq!(a.digest.as_deref(), Some(D));
        assert_eq!(a.stdin_media_type.as_deref(), Some(DESCRIPTOR_MEDIA_TYPE));
        // `=`, two dashes, unknown flags with and without values.
        let b = parse_args(argv(&[
            "-future",
            "x",
            "--digest=".to_owned().as_str(),
            "-flag-only",
            "-name=r",
            "-z=1",
        ]))
        .unwrap();
        assert_eq!(b.digest.as_deref(), Some(""));
        assert_eq!(b.name.as_deref(), Some("r"));
        let c = parse_args(argv(&["-k", "v", "--digest", D])).unwrap();
        assert_eq!(c.digest.as_deref(), Some(D));
        // After `--`, nothing is a flag.
        let after = parse_args(argv(&["-name", "n", "--", "-digest", D])).unwrap();
        assert_eq!(after.digest, None);
        assert_eq!(after.name.as_deref(), Some("n"));
    }

    #[test]
    fn doubtful_arguments_are_refused() {
        let twice = parse_args(argv(&["-digest", D, "-digest", D])).unwrap_err();
        assert!(twice.to_string().contains("-digest is given more than once"), "{twice}");
        let dangling = parse_args(argv(&["-digest"])).unwrap_err();
        assert!(dangling.to_string().contains("-digest needs a value"), "{dangling}");
        for (a, want) in [
            (vec!["-name", "x"], "no -digest"),
            (
                vec!["-digest", "sha256:zz", "-stdin-media-type", DESCRIPTOR_MEDIA_TYPE],
                "-digest:",
            ),
            (vec!["-digest", D], "no -stdin-media-type"),
            (
                vec!["-digest", D, "-stdin-media-type", "application/json"],
                "only application/vnd.oci",
            ),
        ] {
            let e = run(argv(&a), &b""[..]).unwrap_err();
            assert!(e.to_string().contains(want), "{a:?}: {e}");
            assert_eq!(e.exit_code(), cerro_core::Kind::InvalidConfig.exit_code());
        }
    }

    #[test]
    fn the_descriptor_must_be_one_object_of_the_digest() {
        let digest = Digest::parse(D).unwrap();
        let good = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":5,"annotations":{{"a":"b"}}}}"#
        );
        assert!(read_descriptor(format!("{good}\n").as_bytes(), &digest).is_ok());
        let other = good.replace("0dd2", "1dd2");
        for (bytes, want) in [
            (other.clone(), "it names sha256:1dd2"),
            (format!("{good}\n{good}\n"), "more than one line"),
            ("[1]".to_owned(), "not a JSON object"),
            (good.replace("\"size\":5,", ""), "missing field `size`"),
            (
                good.replace("\"size\":5", &format!("\"size\":5,\"digest\":\"{D}\"")),
                "duplicate field",
            ),
            (
                good.replace(
                    "\"size\":5",
                    &other[other.find("\"digest\"").unwrap()..other.find(",\"size\"").unwrap()]
                        .replace("\"digest\"", "\"Digest\""),
                ),
                "only in case",
            ),
        ] {
            let e = read_descriptor(bytes.as_bytes(), &digest).unwrap_err();
            assert!(e.to_string().contains(want), "{bytes}: {e}");
            assert_eq!(e.exit_code(), cerro_core::Kind::Malformed.exit_code());
        }
        // Larger than the bound: refused without reading it all.
        let huge = vec![b' '; MAX_DESCRIPTOR as usize + 1];
        let e = run(
            argv(&["-digest", D, "-stdin-media-type", DESCRIPTOR_MEDIA_TYPE]),
            &huge[..],
        )
        .unwrap_err();
        assert!(e.to_string().contains("65536-byte limit"), "{e}");
    }

    #[test]
    fn the_reason_is_printable_and_bounded() {
        assert_eq!(printable("a\u{1b}[31mb\n\u{202e}"), "a\\u{1b}[31mb\\u{a}\\u{202e}");
        let long = "x".repeat(100_000);
        let p = printable(&long);
        assert!(p.len() <= MAX_REASON && p.ends_with("..."));
    }
}
