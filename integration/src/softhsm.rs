//! A private SoftHSM2 (Debian's `softhsm2`): its configuration and token
//! directory in a temporary directory, so tests never touch the system's
//! tokens (`/var/lib/softhsm`) and each test has its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{require, run};

/// SoftHSM2's PKCS#11 module as Debian installs it.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The user PIN of every token these tests make.
pub const PIN: &str = "271828";
/// The security officer's PIN.
pub const SO_PIN: &str = "31415926";

/// One private SoftHSM2 instance.
#[derive(Debug)]
pub struct SoftHsm {
    /// The `SOFTHSM2_CONF` file to give every process using it.
    pub conf: PathBuf,
    /// A file holding [`PIN`] (for `pin-source=file:`), mode 0600.
    pub pin_file: PathBuf,
}

impl SoftHsm {
    /// A configuration and an empty token directory under `dir`. Fails the
    /// test, with the install hint, if SoftHSM2 is missing.
    pub fn new(dir: &Path) -> Self {
        require("softhsm2-util");
        assert!(
            Path::new(MODULE).is_file(),
            "{MODULE} is missing: run scripts/install-deps (Debian package softhsm2)"
        );
        let tokens = dir.join("tokens");
        fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin_file = dir.join("pin");
        fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&pin_file, fs::Permissions::from_mode(0o600)).unwrap();
        SoftHsm { conf, pin_file }
    }

    /// `softhsm2-util` with this instance's configuration.
    pub fn util(&self) -> Command {
        let mut c = Command::new("softhsm2-util");
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// Initialises a new token labelled `label` in the first free slot,
    /// with [`SO_PIN`] and user [`PIN`].
    pub fn init_token(&self, label: &str) {
        run(self.util().args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ]));
    }

    /// The URI of `object` on token `token`, with the module and the PIN
    /// file.
    pub fn uri(&self, token: &str, object: &str) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={MODULE}&pin-source=file:{}",
            self.pin_file.display()
        )
    }
}
