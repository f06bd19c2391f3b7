//! Debian version comparison, as dpkg orders versions (deb-version(7),
//! dpkg's `verrevcmp`): the epoch numerically, then the upstream version,
//! then the revision, each compared in alternating non-digit and digit
//! runs, where `~` sorts before everything (even the end of the string)
//! and letters before other characters. Used to choose the highest version
//! of a source package in a Sources index, and to find two stanzas that
//! name the same version ("1.0" and "0:1.0" are one version).

use std::cmp::Ordering;

/// Splits `[epoch:]upstream[-revision]`; a missing epoch is 0, a missing
/// revision empty (dpkg's `parseversion`). An epoch that is not a number
/// compares as 0: the caller has validated versions before.
fn parts(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// The sort weight of one non-digit character (dpkg's `order`).
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` of one part.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        while a.get(i).is_some_and(u8::is_ascii_digit) && b.get(j).is_some_and(u8::is_ascii_digit) {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if a.get(i).is_some_and(u8::is_ascii_digit) {
            return Ordering::Greater;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Compares two Debian versions as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = parts(a);
    let (eb, ub, rb) = parts(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_order() {
        // Each pair: a < b, as `dpkg --compare-versions a lt b` answers.
        for (a, b) in [
            ("1.0", "1.1"),
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("2.10-2", "2.10-3"),
            ("9.9", "1:0.1"),
            ("1.2.3", "1.10"),
            ("1.0", "1.0-0.1"),
            ("0.9-1+b1", "0.9-1+b2"),
            ("1.0-1", "1.0-1.1"),
            ("2:1.0", "10:0.1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.0", "0:1.0"), ("1.01", "1.1"), ("1.0-1", "1.0-01"), ("1.0", "1.0-")] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
    }
}
