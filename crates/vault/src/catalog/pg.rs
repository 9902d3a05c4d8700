//! Where a PostgreSQL catalog is and how gardien signs in to it: a `postgres://` URL that
//! holds no password (the URL is kept in `gardien.toml` and shown in messages), with the
//! password from `PGPASSWORD` or a `~/.pgpass` file, as `psql` finds them.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// How `gardien init --catalog` spells a PostgreSQL catalog.
pub const URL_FORM: &str =
    "postgres://USER@HOST[:PORT]/DATABASE, or postgres://USER@/DATABASE?host=/run/postgresql for a unix socket";

/// The URL as messages show it: its control characters escaped.
pub fn shown(url: &str) -> String {
    crate::quote_input(url)
}

/// Whether `s` names a PostgreSQL catalog rather than a file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The connection settings for `url`, with the password found beside it.
pub fn config(url: &str) -> Result<tokio_postgres::Config, Error> {
    // Not echoed: a connection string of another form may hold a password.
    if !is_url(url) {
        return Err(Error::CatalogUrl { reason: format!("the catalog is not a PostgreSQL URL: use {URL_FORM}") });
    }
    if url.chars().any(char::is_control) {
        return Err(Error::CatalogUrl { reason: "the catalog URL holds control characters".into() });
    }
    // The parser's own message may quote the URL, password included: it is not shown.
    let mut c: tokio_postgres::Config = url.parse().map_err(|_| Error::CatalogUrl {
        reason: format!("the URL does not parse as a PostgreSQL connection URL: use {URL_FORM}"),
    })?;
    if c.get_password().is_some() {
        return Err(Error::CatalogUrl {
            reason: "the URL holds a password, and gardien.toml is no place for one: \
                     give the URL without it and put the password in PGPASSWORD or ~/.pgpass (mode 0600)"
                .into(),
        });
    }
    if c.get_user().is_none() {
        let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
        c.user(&user);
    }
    let user = c.get_user().unwrap_or_default().to_owned();
    if c.get_dbname().is_none() {
        c.dbname(&user);
    }
    if c.get_hosts().is_empty() {
        c.host_path("/var/run/postgresql");
    }
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.to_string_lossy().into_owned(),
        None => String::new(),
    };
    let unix = matches!(c.get_hosts().first(), Some(tokio_postgres::config::Host::Unix(_)));
    let password = match std::env::var("PGPASSWORD") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => pgpass(&host, unix, port, c.get_dbname().unwrap_or_default(), &user),
    };
    if let Some(p) = password {
        c.password(p);
    }
    if c.get_application_name().is_none() {
        c.application_name("gardien");
    }
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(Duration::from_secs(10));
    }
    Ok(c)
}

/// The password `~/.pgpass` (or `PGPASSFILE`) gives for this connection, as libpq reads it:
/// the first line whose fields match (`*` matches anything; a unix socket also matches
/// `localhost`). A file readable by others is ignored, as libpq ignores it.
fn pgpass(host: &str, unix: bool, port: u16, db: &str, user: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!("{} is readable by others: ignored, as psql ignores it (chmod 600 it)", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let port = port.to_string();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = split(line);
        let [h, p, d, u, pw] = <[String; 5]>::try_from(fields).ok()?;
        let matches = |field: &str, value: &str| field == "*" || field == value;
        let host_ok = matches(&h, host) || (unix && h == "localhost");
        (host_ok && matches(&p, &port) && matches(&d, db) && matches(&u, user)).then_some(pw)
    })
}

/// A `.pgpass` line's fields: `:` separates, `\` escapes `:` and `\`.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_password_or_not_postgres_are_refused_without_echoing_the_secret() {
        for bad in ["postgres://gardien:s3cret@db.example/gardien", "mysql://db/x", "postgres://a@b/c\n"] {
            let e = config(bad).unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("catalog URL refused"), "{e}");
        }
        let c = config("postgres://gardien@/cat?host=/tmp/sock").unwrap();
        assert_eq!(c.get_dbname(), Some("cat"));
        assert_eq!(c.get_user(), Some("gardien"));
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(split(r"db.example:5432:*:gardien:pa\:ss\\w"), ["db.example", "5432", "*", "gardien", r"pa:ss\w"]);
        assert_eq!(split("h:1:d:u:with:colons"), ["h", "1", "d", "u", "with:colons"]);
    }
}
