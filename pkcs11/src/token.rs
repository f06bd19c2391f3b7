//! Keys on a token: finding one, signing with it, generating one.
//!
//! Every session is closed and every module this crate initialised is
//! finalised on every path, success or error: a [`TokenSigner`] owns its
//! session (closed when it is dropped, `C_CloseSession`) and shares its
//! module (`C_Finalize` when the last user is dropped); a failed open or
//! generation drops what it had opened on its way out.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use cerro_core::key::{Algorithm, KeySigner, PublicKey};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::encoding;
use crate::error::{Error, Result};
use crate::uri::TokenUri;

/// The environment variable holding the PIN when the URI has no
/// `pin-source`.
pub const PIN_ENV: &str = "CERRO_PKCS11_PIN";
/// The environment variable naming the module when the URI has no
/// `module-path`.
pub const MODULE_ENV: &str = "CERRO_PKCS11_MODULE";

/// The longest PIN file read.
const MAX_PIN_FILE: u64 = 1024;

/// What comes from the environment rather than the URI: the PIN and the
/// default module. Built by the front end (this crate reads no
/// environment itself, so tests can give their own).
#[derive(Default)]
pub struct Settings {
    /// `$CERRO_PKCS11_PIN`.
    pub pin: Option<Zeroizing<String>>,
    /// `$CERRO_PKCS11_MODULE`.
    pub module: Option<PathBuf>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("pin", &self.pin.as_ref().map(|_| "<set>"))
            .field("module", &self.module)
            .finish()
    }
}

impl Settings {
    /// From `env` (a variable lookup: `|k| std::env::var_os(k)`).
    pub fn from_env(env: impl Fn(&str) -> Option<OsString>) -> Self {
        Settings {
            pin: env(PIN_ENV).map(|v| Zeroizing::new(v.to_string_lossy().into_owned())),
            module: env(MODULE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from),
        }
    }
}

/// A loaded, initialised module. `C_Finalize` when dropped, if this
/// process's `C_Initialize` was ours.
struct Module {
    ctx: Option<Pkcs11>,
    finalize: bool,
    path: PathBuf,
}

impl Drop for Module {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            if self.finalize {
                // Nothing to do about a failing C_Finalize at the end.
                let _ = ctx.finalize();
            }
        }
    }
}

impl Module {
    fn load(path: &Path) -> Result<Self> {
        let module_error = |reason: String| Error::Module {
            path: path.to_owned(),
            reason,
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(module_error("not a regular file".into())),
            Err(e) => return Err(module_error(format!("cannot be read: {e}"))),
        }
        let ctx = Pkcs11::new(path).map_err(|e| module_error(format!("is not a loadable PKCS#11 module: {e}")))?;
        let finalize = match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => true,
            // Initialised by someone else in this process: theirs to finalise.
            Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
            Err(e) => return Err(module_error(format!("C_Initialize failed: {}", rv_name(&e)))),
        };
        Ok(Module {
            ctx: Some(ctx),
            finalize,
            path: path.to_owned(),
        })
    }

    fn ctx(&self) -> Result<&Pkcs11> {
        self.ctx.as_ref().ok_or_else(|| Error::Module {
            path: self.path.clone(),
            reason: "already finalised".into(),
        })
    }
}

/// The short name of a PKCS#11 failure (`PinIncorrect`, `MechanismInvalid`…):
/// the library's own texts run to paragraphs.
fn rv_name(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("CKR {rv:?} from {f}"),
        other => other.to_string(),
    }
}

fn refused(token: &str, op: impl Into<String>, e: &CkError) -> cerro_core::Error {
    cerro_core::Error::TokenRefused {
        token: token.to_owned(),
        op: op.into(),
        reason: rv_name(e),
    }
}

/// Opens keys on tokens. Modules are loaded once per path and shared by
/// the keys opened from them (two keys on one token in one `ct pack`).
#[derive(Default)]
pub struct Tokens {
    settings: Settings,
    modules: Vec<(PathBuf, Rc<Module>)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("settings", &self.settings)
            .field("modules", &self.modules.iter().map(|(p, _)| p).collect::<Vec<_>>())
            .finish()
    }
}

/// A token found for a URI: its slot and label.
struct Found {
    slot: Slot,
    info: TokenInfo,
    label: String,
}

/// What [`Tokens::generate`] made.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The new key's public half, read back from the token.
    pub public: PublicKey,
    /// The token's label.
    pub token: String,
}

fn padded(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

impl Tokens {
    /// With the environment's PIN and default module.
    pub fn new(settings: Settings) -> Self {
        Tokens {
            settings,
            modules: Vec::new(),
        }
    }

    fn module(&mut self, uri: &TokenUri) -> Result<Rc<Module>> {
        let path = uri
            .module_path
            .clone()
            .or_else(|| self.settings.module.clone())
            .ok_or_else(|| Error::Uri {
                reason: format!("no module: add ?module-path=/…/module.so to the URI or set ${MODULE_ENV}"),
            })?;
        if let Some((_, m)) = self.modules.iter().find(|(p, _)| *p == path) {
            return Ok(Rc::clone(m));
        }
        let m = Rc::new(Module::load(&path)?);
        self.modules.push((path, Rc::clone(&m)));
        Ok(m)
    }

    /// The one token the URI's token and slot attributes select.
    fn token(module: &Module, uri: &TokenUri) -> Result<Found> {
        let ctx = module.ctx()?;
        let lib = module.path.display().to_string();
        if uri.library_manufacturer.is_some() || uri.library_description.is_some() {
            let info = ctx.get_library_info().map_err(|e| refused(&lib, "C_GetInfo", &e))?;
            let differs = |want: &Option<String>, have: &str| want.as_deref().is_some_and(|w| w != padded(have));
            if differs(&uri.library_manufacturer, info.manufacturer_id())
                || differs(&uri.library_description, info.library_description())
            {
                return Err(Error::Object {
                    what: "token".into(),
                    reason: format!(
                        "module {lib} is {:?} by {:?}, not the library the URI names",
                        padded(info.library_description()),
                        padded(info.manufacturer_id())
                    ),
                });
            }
        }
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| refused(&lib, "listing its slots", &e))?;
        let mut seen = Vec::new();
        let mut found = Vec::new();
        for slot in slots {
            if uri.slot_id.is_some_and(|n| n != slot.id()) {
                continue;
            }
            if uri.slot_description.is_some() || uri.slot_manufacturer.is_some() {
                let s = ctx
                    .get_slot_info(slot)
                    .map_err(|e| refused(&lib, "C_GetSlotInfo", &e))?;
                if uri
                    .slot_description
                    .as_deref()
                    .is_some_and(|d| d != padded(s.slot_description()))
                    || uri
                        .slot_manufacturer
                        .as_deref()
                        .is_some_and(|m| m != padded(s.manufacturer_id()))
                {
                    continue;
                }
            }
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| refused(&lib, "C_GetTokenInfo", &e))?;
            if !info.token_initialized() {
                // SoftHSM2 keeps a free slot with a blank token: not a key holder.
                continue;
            }
            let label = padded(info.label()).to_owned();
            seen.push(label.clone());
            let differs = |want: &Option<String>, have: &str| want.as_deref().is_some_and(|w| w != padded(have));
            if differs(&uri.token, info.label())
                || differs(&uri.manufacturer, info.manufacturer_id())
                || differs(&uri.model, info.model())
                || differs(&uri.serial, info.serial_number())
            {
                continue;
            }
            found.push(Found { slot, info, label });
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Object {
                what: format!(
                    "token{}",
                    uri.token.as_ref().map(|t| format!(" {t:?}")).unwrap_or_default()
                ),
                reason: format!(
                    "no such token in module {lib} (tokens there: {})",
                    if seen.is_empty() {
                        "none".to_owned()
                    } else {
                        seen.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ")
                    }
                ),
            }),
            n => Err(Error::Object {
                what: "token".into(),
                reason: format!("{n} tokens in module {lib} match the URI: name one with token= or serial="),
            }),
        }
    }

    /// The PIN: `pin-source`'s file (one trailing newline removed), else
    /// `$CERRO_PKCS11_PIN`.
    fn pin(&self, uri: &TokenUri) -> Result<Option<Zeroizing<String>>> {
        if let Some(path) = &uri.pin_source {
            let bytes = Zeroizing::new(cerro_core::file::read_bounded(path, MAX_PIN_FILE, "PIN file")?);
            let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let text = std::str::from_utf8(line).map_err(|_| Error::Pin {
                token: uri.token.clone().unwrap_or_default(),
                reason: format!("the PIN file {} is not UTF-8", path.display()),
            })?;
            return Ok(Some(Zeroizing::new(text.to_owned())));
        }
        Ok(self.settings.pin.clone())
    }

    /// Logs the session in as the user when the token needs it (`need`
    /// false: only if a PIN was given, to see private objects).
    fn login(&self, session: &Session, found: &Found, uri: &TokenUri, need: bool) -> Result<()> {
        if !found.info.login_required() {
            return Ok(());
        }
        let pin = self.pin(uri)?;
        let pin_error = |reason: &str| Error::Pin {
            token: found.label.clone(),
            reason: reason.to_owned(),
        };
        let result = match &pin {
            Some(p) => session.login(UserType::User, Some(&AuthPin::new(p.as_str().into()))),
            None if found.info.protected_authentication_path() => session.login(UserType::User, None),
            None if !need => return Ok(()),
            None => {
                return Err(pin_error(&format!(
                    "the token needs a PIN: give pin-source=file:PATH in the URI or set ${PIN_ENV}"
                )))
            }
        };
        match result {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Err(pin_error("the token refused the PIN (CKR_PIN_INCORRECT)"))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(pin_error(
                "the PIN is locked (CKR_PIN_LOCKED): too many wrong tries; the token's security officer can reset it",
            )),
            Err(CkError::Pkcs11(RvError::PinExpired, _)) => Err(pin_error("the PIN has expired (CKR_PIN_EXPIRED)")),
            Err(CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _)) => Err(pin_error(
                "the token refused the PIN's length or characters (CKR_PIN_LEN_RANGE / CKR_PIN_INVALID)",
            )),
            Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => Err(pin_error(
                "the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED)",
            )),
            Err(e) => Err(refused(&found.label, "logging in", &e).into()),
        }
    }

    /// The one object of `class` the URI names on the token.
    fn object(session: &Session, found: &Found, uri: &TokenUri, class: ObjectClass) -> Result<ObjectHandle> {
        let kind = if class == ObjectClass::PRIVATE_KEY {
            "private key"
        } else {
            "public key"
        };
        let mut template = vec![Attribute::Class(class)];
        if let Some(o) = &uri.object {
            template.push(Attribute::Label(o.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        let handles = session
            .find_objects(&template)
            .map_err(|e| refused(&found.label, "searching for key objects", &e))?;
        let what = format!("{} on token {:?}", uri.object_name(), found.label);
        match handles.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::Object {
                what,
                reason: format!("no {kind} object matches (check object= and id=, and the PIN: private objects are invisible before login)"),
            }),
            more => Err(Error::Object {
                what,
                reason: format!("{} {kind} objects match: name one with id=", more.len()),
            }),
        }
    }

    /// The public key of the token object `key`.
    fn public_of(session: &Session, found: &Found, uri: &TokenUri, key: ObjectHandle) -> Result<PublicKey> {
        let attrs = session
            .get_attributes(
                key,
                &[AttributeType::KeyType, AttributeType::EcParams, AttributeType::EcPoint],
            )
            .map_err(|e| refused(&found.label, "reading the public key's attributes", &e))?;
        let (mut key_type, mut params, mut point) = (None, None, None);
        for a in attrs {
            match a {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let what = || format!("{} on token {:?}", uri.object_name(), found.label);
        let algorithm = match (key_type, params.as_deref().and_then(encoding::algorithm_of)) {
            (Some(KeyType::EC), Some(a @ Algorithm::EcdsaP256))
            | (Some(KeyType::EC_EDWARDS), Some(a @ Algorithm::Ed25519)) => a,
            _ => {
                return Err(Error::Object {
                    what: what(),
                    reason: "not an Ed25519 or ECDSA P-256 key: ct signs with those only".into(),
                })
            }
        };
        point
            .as_deref()
            .and_then(|p| encoding::public_key(algorithm, p))
            .ok_or_else(|| Error::Object {
                what: what(),
                reason: format!(
                    "its CKA_EC_POINT is not a valid {} public key",
                    algorithm.display_name()
                ),
            })
    }

    fn needs_mechanisms(module: &Module, found: &Found, wanted: &[(MechanismType, &str)]) -> Result<()> {
        let have = module
            .ctx()?
            .get_mechanism_list(found.slot)
            .map_err(|e| refused(&found.label, "listing its mechanisms", &e))?;
        for (m, name) in wanted {
            if !have.contains(m) {
                return Err(cerro_core::Error::TokenRefused {
                    token: found.label.clone(),
                    op: format!("the key's mechanism {name}"),
                    reason: "the token does not offer it".into(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Opens the key the URI names for signing: its token, a session
    /// logged in with the PIN, the private key object, and its public half
    /// from the public key object of the same label and id.
    pub fn signer(&mut self, uri: &TokenUri) -> Result<TokenSigner> {
        if !uri.names_object() {
            return Err(Error::Uri {
                reason: "name the key with object=LABEL (or id=…)".into(),
            });
        }
        let module = self.module(uri)?;
        let found = Self::token(&module, uri)?;
        let session = module
            .ctx()?
            .open_ro_session(found.slot)
            .map_err(|e| refused(&found.label, "opening a session", &e))?;
        self.login(&session, &found, uri, true)?;
        let key = Self::object(&session, &found, uri, ObjectClass::PRIVATE_KEY)?;
        let public_handle = Self::object(&session, &found, uri, ObjectClass::PUBLIC_KEY)?;
        let public = Self::public_of(&session, &found, uri, public_handle)?;
        Self::needs_mechanisms(&module, &found, &[sign_mechanism(public.algorithm())])?;
        Ok(TokenSigner {
            session,
            key,
            public,
            token: found.label,
            object: uri.object_name(),
            _module: module,
        })
    }

    /// The public key of the key object the URI names (for `ct key import
    /// --pkcs11`): no PIN needed when the token shows public objects
    /// without login, which is the rule.
    pub fn public_key(&mut self, uri: &TokenUri) -> Result<PublicKey> {
        if !uri.names_object() {
            return Err(Error::Uri {
                reason: "name the key with object=LABEL (or id=…)".into(),
            });
        }
        let module = self.module(uri)?;
        let found = Self::token(&module, uri)?;
        let session = module
            .ctx()?
            .open_ro_session(found.slot)
            .map_err(|e| refused(&found.label, "opening a session", &e))?;
        self.login(&session, &found, uri, false)?;
        let handle = Self::object(&session, &found, uri, ObjectClass::PUBLIC_KEY)?;
        Self::public_of(&session, &found, uri, handle)
    }

    /// Generates a key pair of `algorithm` on the token, labelled with the
    /// URI's `object` (and its `id`, if given): the private key sensitive
    /// and not extractable (CKA_SENSITIVE, ¬CKA_EXTRACTABLE: the token
    /// never lets it out), both halves token objects. Refused if an object
    /// of that label (or id) is already there. Checked before it returns:
    /// the public half read back, the private half's attributes, and one
    /// signature verified; a key failing them is destroyed.
    pub fn generate(&mut self, uri: &TokenUri, algorithm: Algorithm) -> Result<Generated> {
        let Some(label) = uri.object.clone() else {
            return Err(Error::Uri {
                reason: "name the new key with object=LABEL".into(),
            });
        };
        let module = self.module(uri)?;
        let found = Self::token(&module, uri)?;
        let (gen_type, gen_mech) = match algorithm {
            Algorithm::Ed25519 => (
                (MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN"),
                Mechanism::EccEdwardsKeyPairGen,
            ),
            Algorithm::EcdsaP256 => (
                (MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"),
                Mechanism::EccKeyPairGen,
            ),
        };
        Self::needs_mechanisms(&module, &found, &[gen_type, sign_mechanism(algorithm)])?;
        let session = module
            .ctx()?
            .open_rw_session(found.slot)
            .map_err(|e| refused(&found.label, "opening a read-write session", &e))?;
        self.login(&session, &found, uri, true)?;
        let mut same = vec![Attribute::Label(label.as_bytes().to_vec())];
        if let Some(id) = &uri.id {
            same = vec![Attribute::Id(id.clone())];
            let by_label = session
                .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
                .map_err(|e| refused(&found.label, "searching for objects", &e))?;
            if !by_label.is_empty() {
                return Err(exists(uri, &found));
            }
        }
        let existing = session
            .find_objects(&same)
            .map_err(|e| refused(&found.label, "searching for objects", &e))?;
        if !existing.is_empty() {
            return Err(exists(uri, &found));
        }
        let mut common = vec![Attribute::Token(true), Attribute::Label(label.as_bytes().to_vec())];
        if let Some(id) = &uri.id {
            common.push(Attribute::Id(id.clone()));
        }
        let mut public_t = common.clone();
        public_t.extend([
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(encoding::params_of(algorithm).to_vec()),
        ]);
        let mut private_t = common;
        private_t.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        let (public_h, private_h) = session
            .generate_key_pair(&gen_mech, &public_t, &private_t)
            .map_err(|e| {
                refused(
                    &found.label,
                    format!("generating an {} key pair", algorithm.display_name()),
                    &e,
                )
            })?;
        let checked = (|| {
            let public = Self::public_of(&session, &found, uri, public_h)?;
            if public.algorithm() != algorithm {
                return Err(cerro_core::Error::TokenRefused {
                    token: found.label.clone(),
                    op: "generating a key pair".into(),
                    reason: format!("it made an {} key", public.algorithm().display_name()),
                }
                .into());
            }
            let attrs = session
                .get_attributes(private_h, &[AttributeType::Sensitive, AttributeType::Extractable])
                .map_err(|e| refused(&found.label, "reading the private key's attributes", &e))?;
            let protected = attrs.iter().any(|a| matches!(a, Attribute::Sensitive(true)))
                && attrs.iter().any(|a| matches!(a, Attribute::Extractable(false)));
            if !protected {
                return Err(cerro_core::Error::TokenRefused {
                    token: found.label.clone(),
                    op: "generating a key pair".into(),
                    reason: "its private key is not sensitive and non-extractable as asked".into(),
                }
                .into());
            }
            sign_with(
                &session,
                private_h,
                &public,
                &found.label,
                &uri.object_name(),
                b"cerro-torre keygen check",
            )?;
            Ok(public)
        })();
        match checked {
            Ok(public) => Ok(Generated {
                public,
                token: found.label,
            }),
            Err(e) => {
                // Leave no half-made key behind.
                let _ = session.destroy_object(private_h);
                let _ = session.destroy_object(public_h);
                Err(e)
            }
        }
    }
}

fn exists(uri: &TokenUri, found: &Found) -> Error {
    Error::Object {
        what: format!("{} on token {:?}", uri.object_name(), found.label),
        reason: "an object with this label or id is already there: choose another object= (ct does not replace keys)"
            .into(),
    }
}

fn sign_mechanism(algorithm: Algorithm) -> (MechanismType, &'static str) {
    match algorithm {
        Algorithm::Ed25519 => (MechanismType::EDDSA, "CKM_EDDSA"),
        Algorithm::EcdsaP256 => (MechanismType::ECDSA, "CKM_ECDSA"),
    }
}

/// One signature by the token key `key`, in the DSSE encoding of its
/// algorithm, verified under `public` before it is returned (a token that
/// signs with another key, or returns garbage, is caught here, not by a
/// verifier later). Ed25519: CKM_EDDSA over the message (pure Ed25519,
/// deterministic). P-256: CKM_ECDSA over SHA-256(message) computed here,
/// the token's `r ‖ s` re-encoded as DER with low S.
fn sign_with(
    session: &Session,
    key: ObjectHandle,
    public: &PublicKey,
    token: &str,
    object: &str,
    message: &[u8],
) -> cerro_core::Result<Vec<u8>> {
    let op = || format!("signing with {object}");
    let fail = |reason: String| cerro_core::Error::TokenRefused {
        token: token.to_owned(),
        op: op(),
        reason,
    };
    let sig = match public.algorithm() {
        Algorithm::Ed25519 => {
            let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
            let sig = session
                .sign(&mech, key, message)
                .map_err(|e| refused(token, op(), &e))?;
            if sig.len() != 64 {
                return Err(fail(format!(
                    "it returned {} bytes, not a 64-byte Ed25519 signature",
                    sig.len()
                )));
            }
            sig
        }
        Algorithm::EcdsaP256 => {
            let digest = Sha256::digest(message);
            let raw = session
                .sign(&Mechanism::Ecdsa, key, digest.as_slice())
                .map_err(|e| refused(token, op(), &e))?;
            encoding::p256_der_low_s(&raw)
                .ok_or_else(|| fail(format!("it returned {} bytes, not a raw P-256 r||s", raw.len())))?
        }
    };
    public.verify(message, &sig).map_err(|r| {
        fail(format!(
            "its signature does not verify under the key's public half ({r})"
        ))
    })?;
    Ok(sig)
}

/// A key on a token, opened for signing: a [`KeySigner`] like a key file,
/// so every signing command takes either. Its session is closed when it
/// is dropped, and the module finalised when no other key uses it.
pub struct TokenSigner {
    // Fields drop in order: the session closes before the module may be
    // finalised.
    session: Session,
    key: ObjectHandle,
    public: PublicKey,
    token: String,
    object: String,
    _module: Rc<Module>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("token", &self.token)
            .field("object", &self.object)
            .field("public", &self.public)
            .finish()
    }
}

impl TokenSigner {
    /// The token's label.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl KeySigner for TokenSigner {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// Ed25519 signatures are deterministic, as from a key file. ECDSA
    /// signatures are not: tokens draw a random nonce (not RFC 6979), so
    /// each run's signature differs, while what it signs stays the same.
    fn sign_message(&self, message: &[u8]) -> cerro_core::Result<Vec<u8>> {
        sign_with(
            &self.session,
            self.key,
            &self.public,
            &self.token,
            &self.object,
            message,
        )
    }
}
