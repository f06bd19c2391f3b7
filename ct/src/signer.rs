//! The one resolver of signing keys: every command that signs (`ct pack
//! --key`, `ct sign`, `ct push --sign`, `ct trust root sign`, `ct
//! revocation publish`) turns its key arguments into [`Signer`]s here and
//! nowhere else, so a key file and a PKCS#11 token key are accepted in the
//! same places, with the same checks, and can sign one envelope together.
//!
//! A key argument is either
//! - a key id of the trust store: its private key file (`private/ID.key`,
//!   core's `Home::load_signing_key`), or, for a key generated on or
//!   imported from a token, the token object its reference names
//!   (`private/ID.pkcs11`), whose public key must be the one the trust
//!   store holds for ID (else exit 78, `private_key`); or
//! - a PKCS#11 URI (`pkcs11:token=…;object=…?module-path=…&pin-source=file:…`),
//!   used as it is; a note says when its key is not in this trust store.
//!
//! PINs come from the URI's `pin-source` file or `$CERRO_PKCS11_PIN`,
//! passphrases from `--passphrase-file` or `$CERRO_PASSPHRASE`; neither is
//! read unless a key needs it, and neither is ever printed.

use anyhow::Result;
use cerro_core::key::{KeySigner, PublicKey, SecretKey};
use cerro_core::trust::Fingerprint;
use cerro_core::Error;
use cerro_pkcs11::{TokenSigner, TokenUri, Tokens};
use zeroize::Zeroizing;

use crate::ctx::Ctx;

/// A key that signs: a private key file's key, or a key on a token.
#[derive(Debug)]
pub enum Signer {
    /// Read from `private/ID.key`.
    File(SecretKey),
    /// On a PKCS#11 token (the private key never leaves it).
    Token(TokenSigner),
}

impl KeySigner for Signer {
    fn public_key(&self) -> PublicKey {
        match self {
            Signer::File(k) => k.public_key(),
            Signer::Token(k) => k.public_key(),
        }
    }

    fn sign_message(&self, message: &[u8]) -> cerro_core::Result<Vec<u8>> {
        match self {
            Signer::File(k) => k.sign_message(message),
            Signer::Token(k) => k.sign_message(message),
        }
    }
}

/// Opens every key of `specs`, in order (see the module documentation).
/// Keys on one module share it; every token session opened is closed
/// again when the signers are dropped, or at once if a later key fails.
pub fn resolve(ctx: &Ctx, specs: &[String]) -> Result<Vec<Signer>> {
    let mut tokens: Option<Tokens> = None;
    let mut passphrase: Option<Option<Zeroizing<Vec<u8>>>> = None;
    let store = ctx.home.load_trust()?;
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let tokens = tokens.get_or_insert_with(|| Tokens::new(ctx.pkcs11_settings()));
        if spec.starts_with(cerro_pkcs11::uri::SCHEME) {
            let uri = TokenUri::parse(spec)?;
            let signer = tokens.signer(&uri)?;
            let fp = Fingerprint::of(&signer.public_key());
            if !store.keys().any(|k| k.fingerprint == fp) {
                eprintln!(
                    "note: the key {} on token {:?} ({}, fingerprint {fp}) is not in this trust store: \
                     verifiers need its public key (ct key import --pkcs11 URI --id NAME, or ct key export)",
                    uri.object_name(),
                    signer.token(),
                    signer.public_key().algorithm()
                );
            }
            out.push(Signer::Token(signer));
            continue;
        }
        // The id is validated by token_reference before any path is built.
        match ctx.home.token_reference(spec)? {
            Some(reference) if !ctx.home.private_path(spec).exists() => {
                let entry = store.get(spec).ok_or_else(|| Error::UnknownKey { id: spec.clone() })?;
                let uri = TokenUri::parse(&reference)?;
                let signer = tokens.signer(&uri)?;
                let fp = Fingerprint::of(&signer.public_key());
                if fp != entry.fingerprint {
                    return Err(Error::PrivateKey {
                        id: spec.clone(),
                        reason: format!(
                            "the key {} on token {:?} has fingerprint {fp}, not the trust store's {} for {spec:?}",
                            uri.object_name(),
                            signer.token(),
                            entry.fingerprint
                        ),
                    }
                    .into());
                }
                out.push(Signer::Token(signer));
            }
            _ => {
                if passphrase.is_none() {
                    passphrase = Some(ctx.passphrase()?);
                }
                let pass = passphrase.as_ref().and_then(|p| p.as_ref()).map(|p| p.as_slice());
                out.push(Signer::File(ctx.home.load_signing_key(spec, pass)?));
            }
        }
    }
    Ok(out)
}

/// [`resolve`] for one key.
pub fn resolve_one(ctx: &Ctx, spec: &str) -> Result<Signer> {
    let mut v = resolve(ctx, &[spec.to_owned()])?;
    v.pop()
        .ok_or_else(|| Error::invalid_config("key", "no key given").into())
}
