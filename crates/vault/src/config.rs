//! `gardien.toml`: the few settings of a data dir that a person edits. Stores, clients and
//! datasets live in the catalog; keys live in their own files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The newest config and data dir format this build reads and writes.
pub const FORMAT: i64 = 1;
/// LOC-1: the sites of metropolitan France where the operator's infrastructure is.
pub const DEFAULT_SITES: [&str; 2] = ["fr-roubaix", "fr-strasbourg"];
/// The store `init` creates, and where datasets go when no store is named.
pub const DEFAULT_STORE: &str = "local";

/// The parsed `gardien.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format of the data dir; a newer one is refused rather than misread.
    pub format: i64,
    /// The operator's name (a domain is best), used to name the signing key.
    pub operator: String,
    /// LOC-1: the only sites a store may be on. Default: fr-roubaix, fr-strasbourg.
    pub allowed_sites: Vec<String>,
    /// The master key file, relative to the data dir or absolute. Default: keys/master.key.
    pub master_key: PathBuf,
    /// The Ed25519 signing key file. Default: keys/signing.key.
    pub signing_key: PathBuf,
    /// The stores a dataset goes to when `ingest` names none. Default: ["local"].
    pub default_stores: Vec<String>,
    /// Days an export is kept before the sweeper destroys it (OPS-2). Default: 30.
    #[serde(default = "default_export_days")]
    pub export_days: u32,
    /// How long a shredded key may survive outside the live catalog: the longest retention
    /// of any backup or snapshot of the data dir. Certificates state shred time + this.
    /// Default: 30.
    #[serde(default = "default_key_survival_days")]
    pub key_survival_days: u32,
    /// The catalog: absent, SQLite in `catalog.db`; a `postgres://` URL (without password),
    /// PostgreSQL.
    #[serde(default)]
    pub catalog: Option<String>,
}

fn default_key_survival_days() -> u32 {
    30
}

fn default_export_days() -> u32 {
    lifecycle::DEFAULT_EXPORT_DAYS
}

impl Config {
    /// Reads `dir/gardien.toml`.
    pub fn load(dir: &Path) -> Result<Config, Error> {
        let path = dir.join("gardien.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialized { dir: dir.to_owned() });
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        // Read the format first, so that a newer file is refused for what it is rather than
        // for a field this build does not know.
        #[derive(Deserialize)]
        struct Head {
            format: i64,
        }
        let head: Head =
            toml::from_str(&text).map_err(|e| Error::Config { path: path.clone(), reason: e.to_string() })?;
        if head.format > FORMAT {
            return Err(Error::TooNew { dir: dir.to_owned(), found: head.format, supported: FORMAT });
        }
        let config: Config =
            toml::from_str(&text).map_err(|e| Error::Config { path: path.clone(), reason: e.to_string() })?;
        for site in &config.allowed_sites {
            check_name("site", site)?;
        }
        Ok(config)
    }

    /// The text `init` writes: every field with a comment and its default.
    pub fn render(operator: &str, master_key: &Path, catalog: Option<&str>) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        format!(
            r#"# gardien data dir configuration.

# Format of this data dir. A gardien that knows an older format refuses to use it.
format = {FORMAT}

# The operator's name (a domain is best). It names the ledger's signing key.
operator = {operator}

# LOC-1: all infrastructure is in metropolitan France, on the Roubaix and Strasbourg sites.
# A store on any other site is refused, and so is a write to a store whose site is no longer here.
allowed_sites = [{sites}]

# The master key (an age identity). Every dataset key is wrapped to it. It may live on
# another medium: give an absolute path, or override it with GARDIEN_MASTER_KEY.
master_key = {master}

# The Ed25519 key that signs ledger checkpoints and destruction certificates.
signing_key = "keys/signing.key"

# Where a dataset goes when `gardien dataset ingest` names no --store.
default_stores = [{store}]

# OPS-2: days an export prepared for the client is kept before the sweeper destroys it.
export_days = {export_days}

# How long a destroyed dataset's key may survive outside the live catalog: set it to the
# longest retention of any backup or snapshot of this data dir. Destruction certificates
# state the shred time plus this many days as the date after which no copy of the key exists.
key_survival_days = 30
{catalog}"#,
            catalog = match catalog {
                None => String::new(),
                Some(url) => format!(
                    "\n# The catalog and the ledger, on PostgreSQL (without this line: catalog.db, SQLite).\n\
                     # The password is not here: PGPASSWORD or ~/.pgpass.\ncatalog = {}\n",
                    q(url)
                ),
            },
            export_days = lifecycle::DEFAULT_EXPORT_DAYS,
            operator = q(operator),
            sites = DEFAULT_SITES.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "),
            master = q(&master_key.to_string_lossy()),
            store = q(DEFAULT_STORE),
        )
    }

    /// Where this data dir's catalog is.
    pub fn catalog_location(&self, dir: &Path) -> crate::catalog::Location {
        match &self.catalog {
            Some(url) => crate::catalog::Location::Postgres(url.clone()),
            None => crate::catalog::Location::File(dir.join("catalog.db")),
        }
    }

    /// Refuses a site outside the allowed list (LOC-1).
    pub fn check_site(&self, site: &str) -> Result<(), Error> {
        if self.allowed_sites.iter().any(|s| s == site) {
            Ok(())
        } else {
            Err(Error::SiteNotAllowed { site: site.to_owned(), allowed: self.allowed_sites.clone() })
        }
    }
}

/// Names of stores, clients and sites: lowercase letters, digits and inner dashes, so they
/// are safe in paths, URLs and log lines.
pub fn check_name(what: &'static str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what,
            value: crate::quote_input(value),
            rule: "use 1 to 64 lowercase letters, digits and inner dashes",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_parses_back_with_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gardien.toml"),
            Config::render("hebergeur.example", Path::new("keys/master.key"), None),
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.allowed_sites, DEFAULT_SITES);
        assert_eq!(c.default_stores, [DEFAULT_STORE]);
        assert_eq!(c.operator, "hebergeur.example");
        assert!(c.check_site("fr-roubaix").is_ok());
        let e = c.check_site("us-east-1").unwrap_err().to_string();
        assert!(e.contains("LOC-1") && e.contains("fr-roubaix, fr-strasbourg"), "{e}");
    }

    #[test]
    fn names() {
        for ok in ["a", "lycee-hugo", "x1"] {
            assert!(check_name("client", ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a b", "a/b", "é"] {
            assert!(check_name("client", bad).is_err(), "{bad}");
        }
    }
}
