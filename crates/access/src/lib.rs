//! Server access (issue 13; ACC-1 to ACC-4): what gardien needs of SSH, and nothing of the
//! vault. The catalog's maneuvers and the runner's reading of a requested command
//! (`maneuver`), the clients' user CAs and the certificates of a grant (`cert`), the
//! configuration of stock OpenSSH servers, the bastion's and the dedicated servers', and
//! the bastion's principals answer (`sshd`), the hygiene checks of a server from outside
//! (`hygiene`), and Let's Encrypt certificates for its applications (`acme`). The vault decides and records; this crate
//! says how.

pub mod acme;
pub mod cert;
pub mod fail2ban;
pub mod hygiene;
pub mod maneuver;
pub mod sshd;

pub use cert::Ca;
pub use maneuver::{Arg, Maneuver, Refusal, Request};

/// What goes wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input, said as such.
    #[error("{0}")]
    Bad(String),
    /// A key or certificate could not be made or read.
    #[error("SSH key: {0}")]
    Key(String),
}
