//! A maneuver of the catalog (ACC-2): one fixed program, fixed leading arguments, and typed
//! arguments, each a name and the pattern its value must match whole. Never a shell: the
//! runner turns `ID NAME=VALUE...` into the argv `[program, fixed..., values...]` and runs
//! exactly that.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// The longest value an argument takes, in bytes.
pub const MAX_VALUE: usize = 256;
/// The longest requested command the runner reads, in bytes.
pub const MAX_COMMAND: usize = 4096;
/// The longest a maneuver may be granted for.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A typed argument: its name and the pattern its whole value matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// `[A-Z][A-Z0-9_]*`, at most 32 bytes.
    pub name: String,
    /// A regular expression (Rust `regex` syntax), matched against the whole value.
    pub pattern: String,
}

/// A maneuver: what a granted person may run on a dedicated server, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maneuver {
    /// Its id in the catalog (lowercase letters, digits, inner dashes).
    pub id: String,
    /// The program, an absolute path.
    pub program: String,
    /// Arguments always given first, as they are.
    pub fixed: Vec<String>,
    /// The typed arguments, in the order the program receives them.
    pub args: Vec<Arg>,
    /// The longest a grant that includes it lasts.
    pub max_ttl: Duration,
    /// What it does, for the client's signer.
    pub description: String,
}

impl fmt::Display for Maneuver {
    /// How the signer reads it: `restart-php: /usr/bin/systemctl restart UNIT (UNIT: php8\.[0-9]-fpm), at most 1h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.program)?;
        for a in &self.fixed {
            write!(f, " {a}")?;
        }
        for a in &self.args {
            write!(f, " {}", a.name)?;
        }
        for (i, a) in self.args.iter().enumerate() {
            write!(f, "{}{}: {}", if i == 0 { " (" } else { "; " }, a.name, a.pattern)?;
        }
        if !self.args.is_empty() {
            write!(f, ")")?;
        }
        write!(f, ", at most {}", format_ttl(self.max_ttl))
    }
}

fn bad(msg: String) -> Error {
    Error::Bad(msg)
}

/// Printable ASCII, no space: what the signer reads is exactly what runs (no character
/// that hides, joins or reorders).
fn printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// An absolute path of plain characters: no `..`, no `.` component, no empty component,
/// no whitespace, quote or control character (it is written into sshd's configuration and
/// certificates, and shown to the signer).
pub fn check_program(p: &str) -> Result<(), Error> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._+-@".contains(c);
    if !p.starts_with('/')
        || p.len() > 1024
        || p.ends_with('/')
        || !p.chars().all(plain)
        || p[1..].split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad(format!(
            "--program {}: give the program's absolute path, plain characters only (/usr/bin/systemctl); a maneuver runs one program, never a shell line",
            quote(p)
        )));
    }
    Ok(())
}

/// A fixed argument: one word (the signer reads the argv as words), at most `MAX_VALUE`
/// bytes, no control or invisible character.
pub fn check_fixed(a: &str) -> Result<(), Error> {
    if a.is_empty() || a.len() > MAX_VALUE || !printable_ascii(a) {
        return Err(bad(format!(
            "--fixed {}: a fixed argument is one word of 1 to {MAX_VALUE} printable ASCII characters, without spaces, control or invisible characters (repeat --fixed for several)",
            quote(a)
        )));
    }
    Ok(())
}

/// `NAME=REGEX`.
pub fn parse_arg(spec: &str) -> Result<Arg, Error> {
    let (name, pattern) = spec
        .split_once('=')
        .ok_or_else(|| bad(format!("--arg {}: give NAME=REGEX, as UNIT=php8\\.[0-9]-fpm", quote(spec))))?;
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(bad(format!(
            "--arg {}: an argument's name is capital letters, digits and _, starting with a letter (at most 32)",
            quote(spec)
        )));
    }
    if pattern.is_empty() || pattern.len() > 512 || !printable_ascii(pattern) {
        return Err(bad(format!(
            "--arg {name}=...: the pattern is 1 to 512 printable ASCII characters, without spaces, control or invisible characters"
        )));
    }
    // Alone first: a pattern that only compiles inside our anchors (`a)|(.+`) would
    // escape them and match anything.
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| bad(format!("--arg {name}: the pattern does not compile: {e}")))?;
    compile(pattern).map_err(|e| bad(format!("--arg {name}: the pattern does not compile: {e}")))?;
    Ok(Arg { name: name.to_owned(), pattern: pattern.to_owned() })
}

fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$")).size_limit(1 << 20).build()
}

/// `90s`, `30m`, `1h`, `1h30m`: from one minute to `MAX_TTL`.
pub fn parse_ttl(s: &str) -> Result<Duration, Error> {
    let err = || bad(format!("--max-ttl {}: give a duration as 30m, 1h or 1h30m (s, m, h), from 1m to 24h", quote(s)));
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            if digits.len() > 6 {
                return Err(err());
            }
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(err()),
        };
        let n: u64 = digits.parse().map_err(|_| err())?;
        digits.clear();
        total = total.checked_add(n * unit).ok_or_else(err)?;
    }
    if !digits.is_empty() || total < 60 || total > MAX_TTL.as_secs() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// `1h30m`, as `parse_ttl` reads it.
pub fn format_ttl(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// Why the runner refuses a requested command; said to the person and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A requested command, read: the maneuver's id and its `NAME=VALUE` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The maneuver asked for.
    pub id: String,
    /// Its arguments as given, `NAME=VALUE`.
    pub words: Vec<String>,
}

/// Reads `SSH_ORIGINAL_COMMAND`: `ID [NAME=VALUE]...`, words separated by spaces. No
/// quoting, no shell: a quote, a backslash, a control character or any of the shell's
/// operators is refused as such, so that what was asked is what is recorded.
pub fn parse_request(original: Option<&str>) -> Result<Request, Refusal> {
    let Some(cmd) = original.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(Refusal(
            "no maneuver asked: this access runs only the granted maneuvers (`ssh HOST MANEUVER NAME=VALUE...`); no shell, no terminal (ACC-2)"
                .into(),
        ));
    };
    if cmd.len() > MAX_COMMAND {
        return Err(Refusal(format!("the command is longer than {MAX_COMMAND} bytes")));
    }
    if let Some(c) = cmd.chars().find(|c| (c.is_control() && *c != '\t') || "'\"\\`$;&|<>(){}*?!~#".contains(*c)) {
        return Err(Refusal(format!(
            "the command holds {}: a maneuver's arguments are NAME=VALUE words, never a shell line (ACC-2)",
            if c.is_control() { format!("the control character U+{:04X}", c as u32) } else { format!("'{c}'") }
        )));
    }
    let mut words = cmd.split([' ', '\t']).filter(|w| !w.is_empty());
    let id = words.next().unwrap_or_default().to_owned();
    Ok(Request { id, words: words.map(str::to_owned).collect() })
}

impl Maneuver {
    /// The argv for `words` (`NAME=VALUE`, each of the maneuver's arguments exactly once,
    /// in any order): `[program, fixed..., values in the declared order]`. A value matches
    /// its pattern whole, is at most `MAX_VALUE` bytes, and never starts with `-` (it
    /// cannot become an option of the program).
    pub fn argv(&self, words: &[String]) -> Result<Vec<String>, Refusal> {
        let mut values: Vec<Option<&str>> = vec![None; self.args.len()];
        for w in words {
            let Some((name, value)) = w.split_once('=') else {
                return Err(Refusal(format!("'{}': give each argument as NAME=VALUE ({})", shorten(w), self.usage())));
            };
            let Some(i) = self.args.iter().position(|a| a.name == name) else {
                return Err(Refusal(format!(
                    "{} has no argument {}; it takes {}",
                    self.id,
                    shorten(name),
                    self.usage()
                )));
            };
            if values[i].is_some() {
                return Err(Refusal(format!("{name} is given twice")));
            }
            let a = &self.args[i];
            if value.len() > MAX_VALUE || value.starts_with('-') || (!value.is_empty() && !printable_ascii(value)) {
                return Err(Refusal(format!(
                    "{name}: a value is at most {MAX_VALUE} printable ASCII characters and never starts with '-'"
                )));
            }
            let re =
                compile(&a.pattern).map_err(|e| Refusal(format!("{name}: the catalog's pattern is broken: {e}")))?;
            if !re.is_match(value) {
                return Err(Refusal(format!(
                    "{name}={}: the value does not match {} (the catalog's pattern for {name})",
                    shorten(value),
                    a.pattern
                )));
            }
            values[i] = Some(value);
        }
        let mut argv = vec![self.program.clone()];
        argv.extend(self.fixed.iter().cloned());
        for (a, v) in self.args.iter().zip(values) {
            let v = v.ok_or_else(|| Refusal(format!("{} is missing: {}", a.name, self.usage())))?;
            argv.push(v.to_owned());
        }
        Ok(argv)
    }

    /// `ID NAME=... NAME=...`.
    pub fn usage(&self) -> String {
        let mut u = self.id.clone();
        for a in &self.args {
            u.push_str(&format!(" {}=...", a.name));
        }
        u
    }
}

fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() { format!("{cut}...") } else { cut }
}

/// A value for an error message: at most 64 characters, control characters escaped.
pub fn quote(s: &str) -> String {
    let cut: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 { format!("'{cut}...'") } else { format!("'{cut}'") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restart() -> Maneuver {
        Maneuver {
            id: "restart-php".into(),
            program: "/usr/bin/systemctl".into(),
            fixed: vec!["restart".into()],
            args: vec![parse_arg(r"UNIT=php8\.[0-9]-fpm").unwrap()],
            max_ttl: Duration::from_secs(3600),
            description: "restart PHP".into(),
        }
    }

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn a_request_becomes_the_fixed_argv_or_is_refused() {
        let m = restart();
        assert_eq!(m.argv(&words(&["UNIT=php8.2-fpm"])).unwrap(), ["/usr/bin/systemctl", "restart", "php8.2-fpm"]);
        for bad in [
            &["UNIT=php8.2-fpm.service"][..],
            &["UNIT=php8.2-fpm", "UNIT=php8.3-fpm"],
            &["OTHER=x"],
            &["php8.2-fpm"],
            &[],
            &["UNIT=-php8.2-fpm"],
            &["UNIT=php8x2-fpm"],
        ] {
            assert!(m.argv(&words(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_are_words_never_a_shell_line() {
        assert_eq!(
            parse_request(Some("restart-php  UNIT=php8.2-fpm ")).unwrap(),
            Request { id: "restart-php".into(), words: words(&["UNIT=php8.2-fpm"]) }
        );
        for bad in [
            None,
            Some(""),
            Some("  "),
            Some("ls; id"),
            Some("a $(id)"),
            Some("a 'b'"),
            Some("a\nb"),
            Some("a\u{1b}[31m"),
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        assert!(parse_request(Some(&"a".repeat(MAX_COMMAND + 1))).is_err());
    }

    #[test]
    fn specs_are_checked() {
        for p in ["/usr/bin/systemctl", "/opt/moodle-tools/purge_caches.sh"] {
            check_program(p).unwrap();
        }
        for p in ["systemctl", "/usr/bin/../bin/sh", "/usr//bin/x", "/bin/sh -c", "/usr/bin/", "/a/./b", "/a/b'"] {
            assert!(check_program(p).is_err(), "{p}");
        }
        for a in
            ["unit=x", "UNIT", "UNIT=", "UNIT=(", "1A=x", "A-B=x", "F=/var/log/[a-z]+)|(.+", "U=php\u{202e}.*", "U=a b"]
        {
            assert!(parse_arg(a).is_err(), "{a}");
        }
        for f in ["restart\u{202e}", "a b", "", "x\u{200b}", "a\u{ad}b", "a\u{3164}b", "a\u{e0041}", "e\u{301}"] {
            assert!(check_fixed(f).is_err(), "{f:?}");
        }
        assert_eq!(parse_ttl("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_ttl("90s").unwrap().as_secs(), 90);
        for t in ["", "1", "30s", "25h", "1d", "h", "-1h", "1h-"] {
            assert!(parse_ttl(t).is_err(), "{t}");
        }
        assert_eq!(format_ttl(Duration::from_secs(5400)), "1h30m");
        assert_eq!(
            restart().to_string(),
            r"restart-php: /usr/bin/systemctl restart UNIT (UNIT: php8\.[0-9]-fpm), at most 1h"
        );
    }
}
