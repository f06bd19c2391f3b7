//! The C ABI: `extern "C"` functions over [`crate::decide`]. The only unsafe
//! code of the workspace's decision path lives here, and it only does three
//! things: read the caller's NUL-terminated strings, hand a boxed decision
//! to the caller, and take it back to free it. Each block says what the
//! caller promises (the header repeats it).
//!
//! Every entry point is total: a NULL pointer is an absent value (or a
//! refusal where a value is required), and a panic inside the decision is
//! caught here and becomes a refusal, never an unwind into C.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;

use crate::{decide, Ask, CError, CerroDecision};

/// The library's version, NUL-terminated.
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// `p` as a C string, or `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for the duration of the call (the header's promise).
unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-NULL, NUL-terminated and valid for the call, as the
        // caller promised.
        Some(unsafe { CStr::from_ptr(p) })
    }
}

/// `s` as UTF-8, naming the argument when it is not.
fn utf8<'a>(s: &'a CStr, name: &str) -> Result<&'a str, CError> {
    s.to_str().map_err(|_| CError::Argument(format!("{name}: not UTF-8")))
}

/// Decides whether a container may start, as the shim and the podman hook
/// do, on the daemon configuration in the process environment (the same
/// variables and system files; `CERRO_HOME`, `CERRO_STORE`,
/// `CERRO_AUDIT_LOG`, …), recording the decision in the audit log.
///
/// `component` names the calling runtime in the audit log (required);
/// `container_id` may be NULL; `image_digest` is the manifest digest the
/// container runs, `sha256:<64 hex>` (required); `bundle_path` may be NULL
/// (the store's bundle for the image is used) or name a `.ctp` file.
///
/// Never returns NULL. Start the container only if
/// `cerro_decision_allowed` is true; free with `cerro_decision_free`.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string valid for the call.
#[no_mangle]
pub unsafe extern "C" fn cerro_decide(
    component: *const c_char,
    container_id: *const c_char,
    image_digest: *const c_char,
    bundle_path: *const c_char,
) -> *mut CerroDecision {
    // SAFETY: each pointer is NULL or a valid C string, as promised above.
    let (component, container, image, bundle) = unsafe {
        (
            c_str(component),
            c_str(container_id),
            c_str(image_digest),
            c_str(bundle_path),
        )
    };
    let decision = catch_unwind(AssertUnwindSafe(|| {
        let args = (|| {
            let component = utf8(
                component.ok_or_else(|| CError::Argument("component: NULL".into()))?,
                "component",
            )?;
            let container = container.map(|c| utf8(c, "container_id")).transpose()?;
            let image = utf8(
                image.ok_or_else(|| CError::Argument("image_digest: NULL".into()))?,
                "image_digest",
            )?;
            let bundle = bundle.map(|b| Path::new(OsStr::from_bytes(b.to_bytes())));
            Ok::<_, CError>(Ask {
                component,
                container,
                image,
                bundle,
            })
        })();
        match args {
            Ok(ask) => decide(&ask, |k| std::env::var_os(k)),
            Err(e) => CerroDecision::refused(&e),
        }
    }))
    .unwrap_or_else(|_| CerroDecision::internal_error());
    Box::into_raw(Box::new(decision))
}

/// `d` borrowed, or `None` for NULL.
///
/// # Safety
/// `d` is NULL or a pointer `cerro_decide` returned and not yet freed.
unsafe fn borrow<'a>(d: *const CerroDecision) -> Option<&'a CerroDecision> {
    // SAFETY: NULL, or a live Box from cerro_decide, as promised.
    unsafe { d.as_ref() }
}

/// Whether the container may start; false for NULL.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_allowed(d: *const CerroDecision) -> bool {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }.is_some_and(CerroDecision::allowed)
}

/// The documented exit code of the outcome (0 when allowed; 78 for NULL,
/// a configuration error).
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_exit_code(d: *const CerroDecision) -> u8 {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }.map_or(cerro_core::ExitCode::Config.code(), CerroDecision::exit_code)
}

/// The failed check's name (`signer_not_trusted`, `digest_mismatch`, …),
/// or NULL when allowed. Valid until the decision is freed.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_check(d: *const CerroDecision) -> *const c_char {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }
        .and_then(CerroDecision::check)
        .map_or(ptr::null(), |s| s.as_ptr())
}

/// Why, on one printable line (no control characters). Valid until the
/// decision is freed; NULL only for a NULL decision.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_reason(d: *const CerroDecision) -> *const c_char {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }.map_or(ptr::null(), |d| d.reason().as_ptr())
}

/// The SELinux label the container's process must run with (OCI
/// `process.selinuxLabel`), or NULL when the container is not confined by
/// its bundle's domain (or not allowed). Valid until the decision is freed.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_process_label(d: *const CerroDecision) -> *const c_char {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }
        .and_then(CerroDecision::process_label)
        .map_or(ptr::null(), |s| s.as_ptr())
}

/// The SELinux label of the container's mounts (OCI `linux.mountLabel`),
/// with `cerro_decision_process_label`; NULL likewise.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_mount_label(d: *const CerroDecision) -> *const c_char {
    // SAFETY: as promised by the caller.
    unsafe { borrow(d) }
        .and_then(CerroDecision::mount_label)
        .map_or(ptr::null(), |s| s.as_ptr())
}

/// Frees a decision (NULL is ignored). Its strings become invalid.
///
/// # Safety
/// `d` is NULL or a decision from `cerro_decide`, freed at most once.
#[no_mangle]
pub unsafe extern "C" fn cerro_decision_free(d: *mut CerroDecision) {
    if !d.is_null() {
        // SAFETY: a Box from cerro_decide, not freed before, as promised.
        drop(unsafe { Box::from_raw(d) });
    }
}

/// The library's version (`0.1.0`), a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn cerro_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn null_arguments_refuse_and_null_decisions_are_inert() {
        // SAFETY: NULLs and a live decision freed once.
        unsafe {
            let d = cerro_decide(ptr::null(), ptr::null(), ptr::null(), ptr::null());
            assert!(!d.is_null());
            assert!(!cerro_decision_allowed(d));
            assert_eq!(cerro_decision_exit_code(d), 78);
            let reason = CStr::from_ptr(cerro_decision_reason(d)).to_str().unwrap();
            assert!(reason.contains("component: NULL"), "{reason}");
            assert!(cerro_decision_process_label(d).is_null());
            cerro_decision_free(d);
            assert!(!cerro_decision_allowed(ptr::null()));
            assert!(cerro_decision_reason(ptr::null()).is_null());
            cerro_decision_free(ptr::null_mut());
        }
        let v = unsafe { CStr::from_ptr(cerro_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_non_utf8_argument_refuses_naming_it() {
        let bad = b"cr\xffun\0";
        let digest = std::ffi::CString::new("sha256:00").unwrap();
        // SAFETY: NUL-terminated literals; the decision freed once.
        unsafe {
            let d = cerro_decide(bad.as_ptr().cast(), ptr::null(), digest.as_ptr(), ptr::null());
            assert!(!cerro_decision_allowed(d));
            let reason = CStr::from_ptr(cerro_decision_reason(d)).to_str().unwrap();
            assert!(reason.contains("component: not UTF-8"), "{reason}");
            cerro_decision_free(d);
        }
    }
}
