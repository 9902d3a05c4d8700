//! A site's `config.php`: what the restitution needs from it (the table prefix, where the
//! files are) and the copy handed back, with the database password's value replaced.
//!
//! PHP is read with a small tokenizer (strings, comments, nesting), not a regular
//! expression: `$CFG->dbpass = 'a;b' /* ; */ ;` must lose its whole value and nothing else.

use crate::Error;

/// What the restitution reads in `config.php`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `$CFG->prefix` (`mdl_` when not set).
    pub prefix: String,
    /// The file with `$CFG->dbpass`'s value replaced by `REDACTED_VALUE`.
    pub redacted: Vec<u8>,
    /// Whether a `$CFG->dbpass` was found and redacted.
    pub had_password: bool,
}

/// What replaces the password's value.
pub const REDACTED_VALUE: &str = "'**redacted by gardien: set the new database password here**'";

/// Settings that move the site's files out of `moodledata/filedir`: a restitution of such
/// a site would miss them, so it is refused.
const MOVED: [&str; 3] = ["filedir", "alternative_file_system_class", "trashdir"];

/// One assignment `$CFG->NAME = VALUE;` found in code: the name, and the value's span.
struct Assignment {
    name: String,
    value: std::ops::Range<usize>,
}

fn assignments(src: &[u8]) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = src.len();
    // Skips a string or comment starting at `i`, if one does; returns where it ends.
    let skip = |i: usize| -> Option<usize> {
        match src[i] {
            b'\'' | b'"' => {
                let q = src[i];
                let mut j = i + 1;
                while j < n {
                    if src[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if src[j] == q {
                        return Some(j + 1);
                    }
                    j += 1;
                }
                Some(n)
            }
            b'#' => Some(src[i..].iter().position(|&b| b == b'\n').map_or(n, |p| i + p)),
            b'/' if src.get(i + 1) == Some(&b'/') => {
                Some(src[i..].iter().position(|&b| b == b'\n').map_or(n, |p| i + p))
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                Some(src[i + 2..].windows(2).position(|w| w == b"*/").map_or(n, |p| i + 2 + p + 2))
            }
            _ => None,
        }
    };
    while i < n {
        if let Some(j) = skip(i) {
            i = j;
            continue;
        }
        if src[i..].starts_with(b"$CFG->") {
            let start = i + 6;
            let mut j = start;
            while j < n && (src[j].is_ascii_alphanumeric() || src[j] == b'_') {
                j += 1;
            }
            let name = String::from_utf8_lossy(&src[start..j]).into_owned();
            // Whitespace and comments, then `=` (not `==`, `=>`).
            let mut k = j;
            loop {
                while k < n && src[k].is_ascii_whitespace() {
                    k += 1;
                }
                let comment =
                    k < n && (src[k] == b'#' || (src[k] == b'/' && matches!(src.get(k + 1), Some(b'/' | b'*'))));
                match skip(k) {
                    Some(e) if comment => k = e,
                    _ => break,
                }
            }
            if k < n && src[k] == b'=' && src.get(k + 1) != Some(&b'=') && src.get(k + 1) != Some(&b'>') {
                let vstart = k + 1;
                // The value runs to the `;` at its own nesting level.
                let mut m = vstart;
                let mut depth = 0i32;
                while m < n {
                    if let Some(e) = skip(m) {
                        m = e;
                        continue;
                    }
                    match src[m] {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth -= 1,
                        b';' if depth <= 0 => break,
                        _ => {}
                    }
                    m += 1;
                }
                out.push(Assignment { name, value: vstart..m });
                i = m;
                continue;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// A single-quoted or double-quoted PHP literal's text, when the value is only that.
fn literal(v: &[u8]) -> Option<String> {
    let t = std::str::from_utf8(v).ok()?.trim();
    let q = t.chars().next()?;
    if (q == '\'' || q == '"') && t.len() >= 2 && t.ends_with(q) {
        let inner = &t[1..t.len() - 1];
        if !inner.contains(['\\', '$']) {
            return Some(inner.to_owned());
        }
    }
    None
}

/// Reads a `config.php`.
pub fn read(src: &[u8]) -> Result<Config, Error> {
    let found = assignments(src);
    // A file named by mistake (anything else the operator can read) would be handed to the
    // client: only a Moodle configuration is taken.
    if !found.iter().any(|a| a.name == "wwwroot") || !found.iter().any(|a| a.name == "dbtype") {
        return Err(Error::Config(
            "this is not a Moodle config.php (no $CFG->wwwroot and $CFG->dbtype assignments)".into(),
        ));
    }
    let mut prefix = "mdl_".to_owned();
    let mut redacted = Vec::with_capacity(src.len());
    let mut at = 0;
    let mut had_password = false;
    for a in &found {
        match a.name.as_str() {
            "prefix" => {
                let p = literal(&src[a.value.clone()]).ok_or_else(|| {
                    Error::Config("$CFG->prefix is not a plain string: cannot tell the tables' names".into())
                })?;
                if p.is_empty()
                    || p.len() > 20
                    || !p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(Error::Config(format!("$CFG->prefix {p:?} is not a table prefix Moodle accepts")));
                }
                prefix = p;
            }
            "dbpass" => {
                redacted.extend_from_slice(&src[at..a.value.start]);
                redacted.extend_from_slice(b" ");
                redacted.extend_from_slice(REDACTED_VALUE.as_bytes());
                at = a.value.end;
                had_password = true;
            }
            name if MOVED.contains(&name) => {
                return Err(Error::Config(format!(
                    "$CFG->{name} is set: this site's files are not all in moodledata/filedir, and a restitution would miss them"
                )));
            }
            _ => {}
        }
    }
    redacted.extend_from_slice(&src[at..]);
    Ok(Config { prefix, redacted, had_password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_and_nothing_else() {
        let src = br#"<?php // Moodle configuration file
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = 'pgsql';
$CFG->dbhost    = 'localhost';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodle';
// $CFG->dbpass = 'in a comment';
$CFG->dbpass    = 'p;a\'ss' /* ; */ . "w\"o;rd";
$CFG->prefix    = 'mdl2_';
$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '', 'dbsocket' => '');
$CFG->wwwroot   = 'https://moodle.example';
require_once(__DIR__ . '/lib/setup.php');
"#;
        let c = read(src).expect("config");
        let out = String::from_utf8(c.redacted).expect("utf8");
        assert!(c.had_password);
        assert_eq!(c.prefix, "mdl2_");
        assert!(!out.contains("ss'"), "{out}");
        assert!(!out.contains("o;rd"), "{out}");
        assert!(out.contains("// $CFG->dbpass = 'in a comment';"), "{out}");
        assert!(out.contains(&format!("$CFG->dbpass    = {REDACTED_VALUE};\n$CFG->prefix")), "{out}");
        assert!(out.contains("'dbsocket' => ''"), "{out}");
        assert!(out.ends_with("require_once(__DIR__ . '/lib/setup.php');\n"));
    }

    #[test]
    fn getenv_passwords_are_redacted_too_and_moved_files_refused() {
        let head = "<?php $CFG->dbtype = 'pgsql'; $CFG->wwwroot = 'https://m.example';\n";
        let c = read(format!("{head}$CFG->dbpass = getenv('DBPASS');\n").as_bytes()).expect("config");
        assert_eq!(String::from_utf8(c.redacted).expect("utf8"), format!("{head}$CFG->dbpass = {REDACTED_VALUE};\n"));
        assert_eq!(c.prefix, "mdl_");
        let with = |tail: &str| read(format!("{head}{tail}").as_bytes());
        assert!(with("$CFG->alternative_file_system_class = '\\\\tool_objectfs\\\\s3';").is_err());
        assert!(with("$CFG->prefix = $x;").is_err());
        assert!(with("$CFG->prefix = 'a; DROP';").is_err());
        assert!(read(b"root:$y$j9T$abc:19000:0:99999:7:::\n").is_err(), "not a config.php");
    }
}
