//! Image references (`host[:port]/repo[:tag][@digest]`), parsed by hand to
//! distribution's grammar (`reference/regexp.go`) and normalised as docker
//! does (`normalize.go`: `docker.io`, `library/`, `latest`).
//!
//! Why not `oci_client::Reference::from_str`: it compiles distribution's
//! reference regular expression on first use, which took about 45 ms of the
//! 120 ms `ct verify docker://REF` spent in all (perf, release build): more
//! than every request to a loopback registry together. The result is the
//! same `Reference` (built with its constructors, no regex), and the unit
//! tests check this parser against that one on accepted and refused inputs
//! alike; the one intended difference is that a tag here is ASCII only (the
//! regex's `\w` also accepts Unicode letters, which no registry's tag
//! grammar does).

use oci_client::Reference;

/// `NAME_TOTAL_LENGTH_MAX` of distribution: the longest repository name.
const NAME_MAX: usize = 255;

/// Longest tag (distribution's `[\w][\w.-]{0,127}`).
const TAG_MAX: usize = 128;

/// Parses `s` as distribution's reference grammar, normalised; the reason
/// when it is not one.
pub(crate) fn parse(s: &str) -> Result<Reference, String> {
    if s.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => (rest, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    // A ':' after the last '/' starts the tag (a port comes before a '/').
    let (name, tag) = match rest.rfind(':') {
        Some(i) if rest[i..].find('/').is_none() => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        if b.is_empty() || b.len() > TAG_MAX || !word(&b[0]) || !b.iter().all(|c| word(c) || matches!(c, b'.' | b'-')) {
            return Err(format!("invalid tag {t:?}"));
        }
    }
    let components: Vec<&str> = name.split('/').collect();
    let all_paths = components.iter().all(|c| path_component(c));
    let with_domain =
        components.len() > 1 && domain(components[0]) && components[1..].iter().all(|c| path_component(c));
    if !(all_paths || with_domain) {
        return Err("invalid reference format".into());
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > NAME_MAX {
        return Err(format!("repository name must not be more than {NAME_MAX} characters"));
    }
    let (registry, tag) = (registry.to_owned(), tag.map(str::to_owned));
    Ok(match (tag, digest) {
        (None, None) => Reference::with_tag(registry, repository, "latest".into()),
        (Some(t), None) => Reference::with_tag(registry, repository, t),
        (None, Some(d)) => Reference::with_digest(registry, repository, d.to_owned()),
        (Some(t), Some(d)) => Reference::with_tag_and_digest(registry, repository, t, d.to_owned()),
    })
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`,
/// then the length its algorithm gives (sha256, sha384, sha512 only).
fn check_digest(d: &str) -> Result<(), String> {
    let (alg, hex) = d.split_once(':').ok_or("invalid checksum digest format")?;
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("invalid reference format".into());
    }
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm".into()),
    };
    if hex.len() != want {
        return Err("invalid checksum digest length".into());
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(&b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let ok = match &b[sep..i] {
            b"." | b"_" | b"__" => true,
            s => s.iter().all(|x| *x == b'-'),
        };
        if !ok {
            return false;
        }
    }
}

/// A host name of `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` labels joined by
/// `.`, with an optional `:port` of digits.
fn domain(c: &str) -> bool {
    let (host, port) = match c.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (c, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit())) {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
    })
}

/// docker's normalisation: a first component with a `.` or a `:`, or
/// `localhost`, is the registry; else `docker.io`, with `library/` before
/// a one-component name. `index.docker.io` is `docker.io`.
fn split_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((left, right)) if left.contains(['.', ':']) || left == "localhost" => (left, right.to_owned()),
        _ => ("docker.io", name.to_owned()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io";
    }
    if domain == "docker.io" && !remainder.contains('/') {
        return (domain, format!("library/{remainder}"));
    }
    (domain, remainder)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What a reference comes to: both parsers must agree on it.
    fn parts(r: &Reference) -> (String, String, String, Option<String>, Option<String>) {
        (
            r.whole(),
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(str::to_owned),
        )
    }

    /// This parser against oci-spec's regular-expression parser (the
    /// independent implementation): the same references accepted, the same
    /// refused, and the same normalised parts.
    #[test]
    fn agrees_with_the_regex_parser() {
        let h64 = "a".repeat(64);
        let mut cases: Vec<String> = [
            "busybox",
            "busybox:1.36",
            "docker.io/library/nginx:1.26",
            "index.docker.io/nginx",
            "localhost/app",
            "localhost:5000/app:1",
            "127.0.0.1:5000/cerro/app:1",
            "127.0.0.1:5000/cerro/app",
            "registry.example/apps/hello:1.0",
            "test.com:tag",
            "test.com:5000",
            "foo_bar.com:8080",
            "foo/foo_bar.com:8080",
            "opensuse/leap:15.3",
            "lowercase:Uppercase",
            "Uppercase:tag",
            "Foo/bar",
            "foo/Bar",
            "a__b/c",
            "a___b/c",
            "a--b/c---d",
            "a.-b/c",
            "a..b/c",
            "-a/b",
            "a-/b",
            "host-/repo",
            "h.com:/repo",
            "h.com:5x/repo",
            "h.com:5000",
            "h.com/",
            "/repo",
            "repo/",
            "a//b",
            ":tag",
            "repo:",
            "repo:-tag",
            "repo:.tag",
            "repo:_tag",
            "repo:t@g",
            "repo@",
            "repo@sha256:",
            "repo@sha256:abc",
            "repo@md5:0123456789abcdef0123456789abcdef",
            "repo@sha256+b64:0123456789abcdef0123456789abcdef",
            "repo@1sha:0123456789abcdef0123456789abcdef",
            "repo@@sha256:x",
            "re po",
            "repo\n",
            "ø/repo",
            "[::1]:5000/repo",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        cases.push(format!("repo@sha256:{h64}"));
        cases.push(format!("repo@sha256:{}", h64.to_uppercase()));
        cases.push(format!("repo:1@sha256:{h64}"));
        cases.push(format!("h.com:5000/a/b:t@sha256:{h64}"));
        cases.push(format!("repo@sha512:{}", "b".repeat(128)));
        cases.push(format!("repo@sha384:{}", "c".repeat(96)));
        cases.push(format!("repo@sha512:{h64}"));
        cases.push(format!("repo:{}", "t".repeat(128)));
        cases.push(format!("repo:{}", "t".repeat(129)));
        cases.push(format!("h.com/{}", "a".repeat(255)));
        cases.push(format!("h.com/{}", "a".repeat(256)));
        cases.push(format!("{}/x", "a".repeat(250)));
        let (mut accepted, mut refused) = (0, 0);
        for c in &cases {
            let ours = parse(c);
            let theirs = c.parse::<Reference>();
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(parts(a), parts(b), "{c:?}");
                    accepted += 1;
                }
                (Err(_), Err(_)) => refused += 1,
                _ => panic!("{c:?}: ours {ours:?}, the regex parser's {theirs:?}"),
            }
        }
        // Both sides of the grammar are exercised.
        assert!(
            accepted >= 20 && refused >= 25,
            "{accepted} accepted, {refused} refused"
        );
        // The intended difference: ASCII tags only.
        assert!(parse("repo:tagé").is_err());
        assert!("repo:tagé".parse::<Reference>().is_ok());
    }
}
