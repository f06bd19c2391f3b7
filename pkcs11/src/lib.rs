//! Signing keys on PKCS#11 tokens (hardware security modules, smart cards,
//! SoftHSM2), so that a release keyholder's private key never touches a
//! disk: a [`TokenSigner`] is a `cerro_core::key::KeySigner` like a key
//! file, so packing, co-signing, trust-root and revocation signing and
//! `ct push --sign` take either, and a threshold can count keys from both.
//!
//! - [`uri`]: RFC 7512 URIs naming a module, token and key object, read
//!   strictly (no `pin-value`: the PIN comes from a file or the
//!   environment, [`Settings`]).
//! - [`token`]: [`Tokens`] opens keys ([`Tokens::signer`]), reads public
//!   keys ([`Tokens::public_key`]) and generates non-extractable key pairs
//!   on a token ([`Tokens::generate`]). CKM_EDDSA for Ed25519, CKM_ECDSA
//!   over a SHA-256 computed here for P-256, the token's `r ‖ s` turned
//!   into core's DER low-S form (`encoding`), every signature verified
//!   under the key's public half before it is used.
//!
//! Boundaries: this is the only crate that loads a vendor's shared library
//! (`dlopen`, through `cryptoki`); only `ct` links it (ARCHITECTURE.md):
//! the shim, the hook and the libraries verify, they never sign. The
//! formats and rules are core's.

mod encoding;
pub mod error;
pub mod token;
pub mod uri;

pub use error::{Error, Result};
pub use token::{Generated, Settings, TokenSigner, Tokens, MODULE_ENV, PIN_ENV};
pub use uri::TokenUri;
