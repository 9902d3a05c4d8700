//! The catalog's side of servers (migration `0014_servers.sql`): the inventory, and the
//! web applications each server hosts.

use super::db::{Optional as _, Row, params};

use super::Catalog;
use crate::Error;

/// A server, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRow {
    /// Its name.
    pub name: String,
    /// Where it is (LOC-1).
    pub site: String,
    /// `shared`, `dedicated` or `managed`.
    pub kind: String,
    /// The client a dedicated or managed server belongs to.
    pub client: Option<String>,
    /// `HOST:PORT` of its SSH service.
    pub address: String,
    /// When it was added.
    pub created: String,
}

/// A web application on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    /// Its domain.
    pub domain: String,
    /// Its server.
    pub server: String,
    /// `moodle` or `other`.
    pub kind: String,
    /// When it was added.
    pub created: String,
    /// `HOST:PORT` its HTTPS answers at, when not its domain's port 443.
    pub https: Option<String>,
}

/// The last certificate obtained for an application (WEB-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCertRow {
    /// The application's domain.
    pub domain: String,
    /// The ACME directory it came from.
    pub directory: String,
    /// The leaf and its chain, PEM.
    pub chain: String,
    /// Its private key, wrapped to the master key.
    pub key: String,
    /// The leaf's serial, hex.
    pub serial: String,
    /// Its end (RFC 3339).
    pub not_after: String,
    /// When it was obtained.
    pub issued: String,
    /// Where the CA's request was answered (`access::acme::Responder::to_text`).
    pub responder: String,
    /// The directory its files were written into, if any.
    pub out: Option<String>,
    /// The PEM root the directory's HTTPS was trusted with (a test or private CA), if any.
    pub root: Option<String>,
}

const SERVER_COLUMNS: &str = "name, site, kind, client, address, created";
const APP_COLUMNS: &str = "domain, server, kind, created, https";

fn server_row(r: &Row<'_>) -> rusqlite::Result<ServerRow> {
    Ok(ServerRow {
        name: r.get(0)?,
        site: r.get(1)?,
        kind: r.get(2)?,
        client: r.get(3)?,
        address: r.get(4)?,
        created: r.get(5)?,
    })
}

fn app_row(r: &Row<'_>) -> rusqlite::Result<AppRow> {
    Ok(AppRow { domain: r.get(0)?, server: r.get(1)?, kind: r.get(2)?, created: r.get(3)?, https: r.get(4)? })
}

impl Catalog {
    /// Adds a server; false when the name is taken.
    pub fn add_server(&self, s: &ServerRow) -> Result<bool, Error> {
        let n = self.db.execute(
            &format!("INSERT INTO servers ({SERVER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"),
            params![s.name, s.site, s.kind, s.client, s.address, s.created],
        )?;
        Ok(n == 1)
    }

    /// A server by its name.
    pub fn server(&self, name: &str) -> Result<Option<ServerRow>, Error> {
        Ok(self
            .db
            .query_row(&format!("SELECT {SERVER_COLUMNS} FROM servers WHERE name = ?1"), [name], server_row)
            .optional()?)
    }

    /// Every server, or a client's, by name.
    pub fn servers(&self, client: Option<&str>) -> Result<Vec<ServerRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE ?1 IS NULL OR client = ?1 ORDER BY name"
        ))?;
        let rows = st.query_map([client], server_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Adds a web application; false when its domain is taken.
    pub fn add_app(&self, a: &AppRow) -> Result<bool, Error> {
        let n = self.db.execute(
            &format!("INSERT INTO server_apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"),
            params![a.domain, a.server, a.kind, a.created, a.https],
        )?;
        Ok(n == 1)
    }

    /// A server's web applications, by domain.
    pub fn apps(&self, server: &str) -> Result<Vec<AppRow>, Error> {
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {APP_COLUMNS} FROM server_apps WHERE server = ?1 ORDER BY domain"))?;
        let rows = st.query_map([server], app_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The ports a server needs open, in order.
    pub fn server_ports(&self, server: &str) -> Result<Vec<u16>, Error> {
        let mut st = self.db.prepare_cached("SELECT port FROM server_ports WHERE server = ?1 ORDER BY port")?;
        let rows = st.query_map([server], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Replaces the ports a server needs open.
    pub fn set_server_ports(&self, server: &str, ports: &[u16]) -> Result<(), Error> {
        self.db.execute("DELETE FROM server_ports WHERE server = ?1", [server])?;
        let mut st = self.db.prepare_cached("INSERT INTO server_ports (server, port) VALUES (?1, ?2)")?;
        for p in ports {
            st.execute(params![server, p])?;
        }
        Ok(())
    }

    /// Keeps a server's last check.
    pub fn save_check(&self, server: &str, at: &str, report: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO server_checks (server, at, report) VALUES (?1, ?2, ?3)
             ON CONFLICT (server) DO UPDATE SET at = ?2, report = ?3",
            params![server, at, report],
        )?;
        Ok(())
    }

    /// A server's last check: when, and its report (JSON).
    pub fn last_check(&self, server: &str) -> Result<Option<(String, String)>, Error> {
        Ok(self
            .db
            .prepare_cached("SELECT at, report FROM server_checks WHERE server = ?1")?
            .query_row([server], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The ACME account kept for a directory (its credentials, wrapped).
    pub fn acme_account(&self, directory: &str) -> Result<Option<String>, Error> {
        Ok(self
            .db
            .prepare_cached("SELECT wrapped FROM acme_accounts WHERE directory = ?1")?
            .query_row([directory], |r| r.get(0))
            .optional()?)
    }

    /// Keeps an ACME account; false when the directory has one already.
    pub fn add_acme_account(&self, directory: &str, wrapped: &str, created: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "INSERT INTO acme_accounts (directory, wrapped, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![directory, wrapped, created],
        )?;
        Ok(n == 1)
    }

    /// Keeps an application's new certificate in place of the one before.
    pub fn save_app_cert(&self, c: &AppCertRow) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO app_certificates (domain, directory, chain, key, serial, not_after, issued, responder, out, root)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (domain) DO UPDATE SET directory = ?2, chain = ?3, key = ?4, serial = ?5,
                 not_after = ?6, issued = ?7, responder = ?8, out = ?9, root = ?10",
            params![c.domain, c.directory, c.chain, c.key, c.serial, c.not_after, c.issued, c.responder, c.out, c.root],
        )?;
        Ok(())
    }

    /// The certificates kept, by domain; one domain's, or every one.
    pub fn app_certs(&self, domain: Option<&str>) -> Result<Vec<AppCertRow>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT domain, directory, chain, key, serial, not_after, issued, responder, out, root FROM app_certificates
             WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain",
        )?;
        let rows = st
            .query_map([domain], |r| {
                Ok(AppCertRow {
                    domain: r.get(0)?,
                    directory: r.get(1)?,
                    chain: r.get(2)?,
                    key: r.get(3)?,
                    serial: r.get(4)?,
                    not_after: r.get(5)?,
                    issued: r.get(6)?,
                    responder: r.get(7)?,
                    out: r.get(8)?,
                    root: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Keeps a server's fail2ban report in place of the one before.
    pub fn save_fail2ban(&self, server: &str, at: &str, by: &str, report: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO server_fail2ban (server, at, by, report) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (server) DO UPDATE SET at = ?2, by = ?3, report = ?4",
            params![server, at, by, report],
        )?;
        Ok(())
    }

    /// A server's last fail2ban report: when, and the report.
    pub fn fail2ban(&self, server: &str) -> Result<Option<(String, String)>, Error> {
        Ok(self
            .db
            .prepare_cached("SELECT at, report FROM server_fail2ban WHERE server = ?1")?
            .query_row([server], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// An application, by its domain.
    pub fn app(&self, domain: &str) -> Result<Option<AppRow>, Error> {
        Ok(self
            .db
            .prepare_cached(&format!("SELECT {APP_COLUMNS} FROM server_apps WHERE domain = ?1"))?
            .query_row([domain], app_row)
            .optional()?)
    }
}
