//! A site's `config.php`: what the restitution needs from it (the table prefix, where the
//! files are) and the copy handed back, without the database password.
//!
//! PHP is read by a small tokenizer (strings, heredocs and nowdocs, comments, nesting), and
//! the password is taken out by statement, not by pattern: every statement that names
//! `dbpass` (`$CFG->dbpass = ...`, `$CFG -> dbpass .= ...`, `$CFG->{'dbpass'}`, a
//! `'dbpass' => ...` inside `$CFG->dboptions`, `$CFG->phpunit_dbpass`) loses every string
//! in it but its keys; a variable it reads (`$CFG->dbpass = $pw;`) is a secret too, and so
//! is every statement assigning that variable; a comment that names `dbpass` or holds a
//! value taken out goes; and a value taken out is taken out wherever else it appears.

use crate::Error;

/// What the restitution reads in `config.php`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `$CFG->prefix` (`mdl_` when not set).
    pub prefix: String,
    /// The file with the database password taken out.
    pub redacted: Vec<u8>,
    /// Whether a password was found and taken out.
    pub had_password: bool,
}

/// What replaces a secret string.
pub const REDACTED_VALUE: &str = "'**redacted by gardien: set the new database password here**'";

/// Settings that move the site's files out of `moodledata/filedir`: a restitution of such
/// a site would miss them, so it is refused.
const MOVED: [&str; 3] = ["filedir", "alternative_file_system_class", "trashdir"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Code,
    Str,
    Comment,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    range: std::ops::Range<usize>,
}

fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Splits PHP source into code, strings and comments.
fn tokenize(src: &[u8]) -> Vec<Tok> {
    let n = src.len();
    let mut out = Vec::new();
    let mut code_start = 0;
    let mut i = 0;
    let push = |out: &mut Vec<Tok>, kind, a: usize, b: usize| {
        if b > a {
            out.push(Tok { kind, range: a..b });
        }
    };
    while i < n {
        let end = match src[i] {
            b'\'' | b'"' => {
                let q = src[i];
                let mut j = i + 1;
                while j < n && src[j] != q {
                    j += if src[j] == b'\\' { 2 } else { 1 };
                }
                Some((Kind::Str, (j + 1).min(n)))
            }
            b'<' if src[i..].starts_with(b"<<<") => {
                // <<<ID, <<<"ID" or <<<'ID', to a line whose first word is ID.
                let mut j = i + 3;
                while j < n && (src[j] == b' ' || src[j] == b'\t') {
                    j += 1;
                }
                let quoted = j < n && (src[j] == b'\'' || src[j] == b'"');
                if quoted {
                    j += 1;
                }
                let id_start = j;
                while j < n && ident(src[j]) {
                    j += 1;
                }
                let id = &src[id_start..j];
                if id.is_empty() {
                    None
                } else {
                    let mut k = src[j..].iter().position(|&b| b == b'\n').map_or(n, |p| j + p + 1);
                    let mut end = n;
                    while k < n {
                        let mut s = k;
                        while s < n && (src[s] == b' ' || src[s] == b'\t') {
                            s += 1;
                        }
                        if src[s..].starts_with(id) && !src.get(s + id.len()).is_some_and(|&b| ident(b)) {
                            end = s + id.len();
                            break;
                        }
                        k = src[k..].iter().position(|&b| b == b'\n').map_or(n, |p| k + p + 1);
                    }
                    Some((Kind::Str, end))
                }
            }
            b'#' if src.get(i + 1) != Some(&b'[') => {
                Some((Kind::Comment, src[i..].iter().position(|&b| b == b'\n').map_or(n, |p| i + p)))
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                Some((Kind::Comment, src[i..].iter().position(|&b| b == b'\n').map_or(n, |p| i + p)))
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                Some((Kind::Comment, src[i + 2..].windows(2).position(|w| w == b"*/").map_or(n, |p| i + 2 + p + 2)))
            }
            _ => None,
        };
        match end {
            Some((kind, e)) => {
                push(&mut out, Kind::Code, code_start, i);
                push(&mut out, kind, i, e);
                i = e;
                code_start = e;
            }
            None => i += 1,
        }
    }
    push(&mut out, Kind::Code, code_start, n);
    out
}

/// The tokens in statements: split after each `;` at nesting depth 0 (a code token is cut
/// there). Each statement is a list of tokens.
fn statements(src: &[u8], toks: Vec<Tok>) -> Vec<Vec<Tok>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0i32;
    for t in toks {
        if t.kind != Kind::Code {
            cur.push(t);
            continue;
        }
        let mut a = t.range.start;
        for j in t.range.clone() {
            match src[j] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b';' if depth <= 0 => {
                    cur.push(Tok { kind: Kind::Code, range: a..j + 1 });
                    out.push(std::mem::take(&mut cur));
                    a = j + 1;
                }
                _ => {}
            }
        }
        if a < t.range.end {
            cur.push(Tok { kind: Kind::Code, range: a..t.range.end });
        }
    }
    out.push(cur);
    out
}

fn text(src: &[u8], st: &[Tok], kinds: &[Kind]) -> String {
    st.iter().filter(|t| kinds.contains(&t.kind)).map(|t| String::from_utf8_lossy(&src[t.range.clone()])).collect()
}

/// What a statement reads that could carry the password: its `$variables` (but `$CFG`),
/// in code or inside strings, and its CONSTANTS (all capitals, as `define` makes them).
fn names_read(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let dollar = b[i] == b'$';
        let s = if dollar { i + 1 } else { i };
        if dollar || (b[i].is_ascii_uppercase() && (i == 0 || !ident(b[i - 1]))) {
            let mut j = s;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            let word = &text[s..j];
            let constant = !dollar
                && word.len() >= 3
                && word.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
            if (dollar && !word.is_empty() && word != "CFG") || constant {
                out.push(if dollar { format!("${word}") } else { word.to_owned() });
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `text` names `name` (a whole word).
fn mentions(text: &str, name: &str) -> bool {
    let bare = name.trim_start_matches('$');
    text.match_indices(bare).any(|(i, _)| {
        let before = text[..i].bytes().last();
        let after = text.as_bytes().get(i + bare.len());
        let start_ok = if name.starts_with('$') { before == Some(b'$') } else { !before.is_some_and(ident) };
        start_ok && !after.is_some_and(|&c| ident(c))
    })
}

/// `$CFG->NAME = VALUE;`: (name, the value's text), spaces and comments allowed around
/// `->` and `=`.
fn cfg_assignment(src: &[u8], st: &[Tok]) -> Option<(String, Vec<Tok>)> {
    let first =
        st.iter().position(|t| t.kind == Kind::Code && !src[t.range.clone()].iter().all(u8::is_ascii_whitespace))?;
    let code = String::from_utf8_lossy(&src[st[first].range.clone()]).into_owned();
    let head = code.trim_start();
    // Whatever came before the opening tag (`?> html <?php`) is not this statement's.
    let head = head.rsplit_once("<?php").map_or(head, |(_, r)| r).trim_start();
    let rest = head.strip_prefix("$CFG")?.trim_start().strip_prefix("->")?.trim_start();
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let after = rest[name.len()..].trim_start();
    if name.is_empty() || !after.starts_with('=') || after.starts_with("==") || after.starts_with("=>") {
        return None;
    }
    let mut value = Vec::new();
    let eq = st[first].range.start + code.find(after).unwrap_or(0) + 1;
    value.push(Tok { kind: Kind::Code, range: eq..st[first].range.end });
    value.extend(st[first + 1..].iter().cloned());
    Some((name, value))
}

/// A single-quoted or double-quoted PHP literal's text, when the value is only that.
fn literal(src: &[u8], value: &[Tok]) -> Option<String> {
    let t = text(src, value, &[Kind::Code, Kind::Str]);
    let t = t.trim().trim_end_matches(';').trim();
    let q = t.chars().next()?;
    if (q == '\'' || q == '"') && t.len() >= 2 && t.ends_with(q) {
        let inner = &t[1..t.len() - 1];
        if !inner.contains(['\\', '$', q]) {
            return Some(inner.to_owned());
        }
    }
    None
}

/// Whether the string token at `idx` is an array key (`'dbpass' =>`) or names the
/// property itself (`$CFG->{'dbpass'}`).
fn is_key(src: &[u8], st: &[Tok], idx: usize) -> bool {
    let inner = &src[st[idx].range.clone()];
    if inner.len() >= 2 && inner[1..inner.len() - 1].eq_ignore_ascii_case(b"dbpass") {
        return true;
    }
    st[idx + 1..]
        .iter()
        .find(|t| t.kind != Kind::Comment && !src[t.range.clone()].iter().all(u8::is_ascii_whitespace))
        .is_some_and(|t| {
            t.kind == Kind::Code && String::from_utf8_lossy(&src[t.range.clone()]).trim_start().starts_with("=>")
        })
}

/// Reads a `config.php`.
pub fn read(src: &[u8]) -> Result<Config, Error> {
    let sts = statements(src, tokenize(src));
    let mut prefix = "mdl_".to_owned();
    let (mut wwwroot, mut dbtype) = (false, false);
    for st in &sts {
        let Some((name, value)) = cfg_assignment(src, st) else { continue };
        match name.as_str() {
            "prefix" => {
                let p = literal(src, &value).ok_or_else(|| {
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
            "wwwroot" => wwwroot = true,
            "dbtype" => dbtype = true,
            n if MOVED.contains(&n) => {
                return Err(Error::Config(format!(
                    "$CFG->{n} is set: this site's files are not all in moodledata/filedir, and a restitution would miss them"
                )));
            }
            _ => {}
        }
    }
    // A file named by mistake (anything else the operator can read) would be handed to the
    // client: only a Moodle configuration is taken.
    if !wwwroot || !dbtype {
        return Err(Error::Config(
            "this is not a Moodle config.php (no $CFG->wwwroot and $CFG->dbtype assignments)".into(),
        ));
    }
    // The statements that hold the password: those naming dbpass, then those mentioning a
    // variable or a constant one of them reads, until none is added.
    let mut secret: Vec<bool> =
        sts.iter().map(|st| text(src, st, &[Kind::Code, Kind::Str]).to_ascii_lowercase().contains("dbpass")).collect();
    loop {
        let names: Vec<String> = sts
            .iter()
            .zip(&secret)
            .filter(|(_, s)| **s)
            .flat_map(|(st, _)| names_read(&text(src, st, &[Kind::Code, Kind::Str])))
            .collect();
        let mut added = false;
        for (st, s) in sts.iter().zip(secret.iter_mut()) {
            if *s {
                continue;
            }
            let all = text(src, st, &[Kind::Code, Kind::Str]);
            if names.iter().any(|n| mentions(&all, n)) {
                *s = true;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    // Which string tokens go, and the values they held.
    let mut gone = std::collections::HashSet::new();
    let mut values: Vec<Vec<u8>> = Vec::new();
    for (st, s) in sts.iter().zip(&secret) {
        if !*s {
            continue;
        }
        for (i, t) in st.iter().enumerate() {
            if t.kind == Kind::Str && !is_key(src, st, i) {
                gone.insert(t.range.start);
                let raw = &src[t.range.clone()];
                if raw.starts_with(b"<<<") {
                    // A heredoc's lines, each a value.
                    let body = raw.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
                    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
                    lines.pop();
                    values
                        .extend(lines.into_iter().map(<[u8]>::trim_ascii).filter(|l| l.len() >= 4).map(<[u8]>::to_vec));
                } else {
                    let inner = if raw.len() >= 2 && (raw[0] == b'\'' || raw[0] == b'"') {
                        &raw[1..raw.len() - 1]
                    } else {
                        raw
                    };
                    if inner.len() >= 4 {
                        values.push(inner.to_vec());
                    }
                }
            }
        }
    }
    let holds_value = |b: &[u8]| values.iter().any(|v| b.windows(v.len()).any(|w| w == v.as_slice()));
    let mut redacted = Vec::with_capacity(src.len());
    for st in &sts {
        for t in st {
            let raw = &src[t.range.clone()];
            match t.kind {
                Kind::Str if gone.contains(&t.range.start) || holds_value(raw) => {
                    redacted.extend_from_slice(REDACTED_VALUE.as_bytes());
                }
                Kind::Comment if raw.to_ascii_lowercase().windows(6).any(|w| w == b"dbpass") || holds_value(raw) => {
                    redacted.extend_from_slice(if raw.starts_with(b"/*") {
                        b"/* (a comment about the database password, taken out by gardien) */".as_slice()
                    } else {
                        b"// (a comment about the database password, taken out by gardien)".as_slice()
                    });
                }
                // Code (and what lies outside the PHP tags): a value taken out goes here too.
                _ => {
                    let mut out = raw.to_vec();
                    for v in &values {
                        while let Some(i) = out.windows(v.len()).position(|w| w == v.as_slice()) {
                            out.splice(i..i + v.len(), b"**redacted**".iter().copied());
                        }
                    }
                    redacted.extend_from_slice(&out);
                }
            }
        }
    }
    Ok(Config { prefix, redacted, had_password: !gone.is_empty() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?php $CFG->dbtype = 'pgsql'; $CFG->wwwroot = 'https://m.example';\n";

    fn redact(tail: &str) -> String {
        // After the header, and as the file's first statement (right after `<?php`).
        let first = format!("<?php {tail}\n$CFG->dbtype = 'pgsql'; $CFG->wwwroot = 'https://m.example';\n");
        let first = String::from_utf8(read(first.as_bytes()).expect("config").redacted).expect("utf8");
        let after =
            String::from_utf8(read(format!("{HEAD}{tail}").as_bytes()).expect("config").redacted).expect("utf8");
        format!("{first}\n{after}")
    }

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
        for secret in ["ss'", "o;rd", "in a comment"] {
            assert!(!out.contains(secret), "{secret}: {out}");
        }
        assert!(out.contains("$CFG->dbname    = 'moodle';"), "{out}");
        assert!(
            out.contains(&format!("$CFG->dbpass    = {REDACTED_VALUE} /* ; */ . {REDACTED_VALUE};\n$CFG->prefix")),
            "{out}"
        );
        assert!(out.contains("'dbsocket' => ''"), "{out}");
        assert!(out.ends_with("require_once(__DIR__ . '/lib/setup.php');\n"));
    }

    /// Every way the review found to write the password, and more: none survives.
    #[test]
    fn every_way_of_writing_the_password_is_taken_out() {
        for (tail, secret) in [
            ("$CFG -> dbpass = \"S3cr3t\";", "S3cr3t"),
            ("$CFG->{\"dbpass\"} = \"S3cr3t\";", "S3cr3t"),
            ("$pw = \"S3cr3t\";\n$CFG->dbpass = $pw;", "S3cr3t"),
            ("$a = 'S3c'; $b = $a . 'r3t'; $CFG->dbpass = $b;", "r3t"),
            (
                "$CFG->dbpass = 'S3cr3t'; $CFG->dboptions = ['readonly' => ['instance' => ['dbpass' => 'S3cr3t2']]];",
                "S3cr3t2",
            ),
            ("$CFG->phpunit_dbpass = 'S3cr3t';", "S3cr3t"),
            ("// $CFG->dbpass = 'old';\n$CFG->dbpass = 'S3cr3t';", "old"),
            ("# dbpass was 'Hunter22'\n$CFG->dbpass='S3cr3t';", "Hunter22"),
            ("$CFG->dbpass = 'S3cr3t'; // S3cr3t, changed in May", "S3cr3t"),
            ("$CFG->dbpass = 'S3cr3t'; $CFG->dbuser = 'S3cr3t';", "S3cr3t"),
            ("$CFG->dbpass .= 'S3cr3t';", "S3cr3t"),
            ("$CFG->dbpass = <<<EOT\nS3cr3t\nEOT;\n", "S3cr3t"),
            ("$CFG->dbpass = <<<'EOT'\nS3cr3t\nEOT;\n", "S3cr3t"),
            ("$CFG->dbpass = getenv('S3cr3t_VAR');", "S3cr3t_VAR"),
            ("$CFG->dbpass\n  =\n 'S3cr3t';", "S3cr3t"),
            ("$p = 'PwB1x';\n$CFG->dbpass = $p;", "PwB1x"),
            ("define('DBPW','PwB3x'); $CFG->dbpass = DBPW;", "PwB3x"),
            ("$CFG->dbpass = \"PwA7$suffix\"; $suffix = 'tail7';", "tail7"),
            ("$CFG->dbpass = 'PwA6x'; ?>\nPwA6x in html\n<?php", "PwA6x"),
            ("$CFG->dbpass = <<<EOT\nPwA5x\nEOT;\n$y = 'PwA5x';", "PwA5x"),
            ("$a = ['x' => 'Pw22secret']; $CFG->dbpass = $a['x'];", "Pw22secret"),
        ] {
            let out = redact(tail);
            assert!(!out.contains(secret), "{tail:?} kept {secret}: {out}");
            assert!(out.contains("$CFG->wwwroot = 'https://m.example'"), "{out}");
        }
        assert_eq!(
            read(format!("{HEAD}$CFG->dbpass = getenv('DBPASS');\n").as_bytes()).expect("config").prefix,
            "mdl_"
        );
    }

    #[test]
    fn moved_files_and_other_files_are_refused() {
        let err = |tail: &str| read(format!("{HEAD}{tail}").as_bytes()).expect_err(tail).to_string();
        assert!(read(HEAD.as_bytes()).is_ok());
        assert!(
            err("$CFG->alternative_file_system_class = '\\\\tool_objectfs\\\\s3';")
                .contains("alternative_file_system_class")
        );
        assert!(err("$CFG -> filedir = '/mnt/files';").contains("$CFG->filedir is set"));
        assert!(err("$CFG->prefix = $x;").contains("not a plain string"));
        assert!(err("$CFG->prefix = 'a; DROP';").contains("not a table prefix"));
        let e = read(b"root:$y$j9T$abc:19000:0:99999:7:::\n").expect_err("not a config.php").to_string();
        assert!(e.contains("not a Moodle config.php") && !e.contains("root:"), "{e}");
    }
}
