//! fail2ban on a server (NET-2), as the server reports it: gardien checks servers from the
//! outside and cannot see fail2ban, so `contrib/fail2ban/gardien-fail2ban-report`, run on
//! the server, says whether it answers and which TCP ports each jail's ban actions cover.
//! The report is the server's word, read strictly: a line that is not one of its facts
//! refuses the whole report.

use crate::Error;

/// The report's first line.
pub const HEADER: &str = "gardien-fail2ban-report/v1";

/// The largest report read.
pub const MAX_BYTES: usize = 64 * 1024;

const MAX_JAILS: usize = 256;
const MAX_PORT_ITEMS: usize = 64;

/// What a report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// fail2ban answered.
    pub running: bool,
    /// Its jails, in the report's order.
    pub jails: Vec<Jail>,
}

/// A jail and the ports its ban actions cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jail {
    /// Its name.
    pub name: String,
    /// `None`: every port (an `allports` action); otherwise inclusive ranges (empty: none).
    pub ports: Option<Vec<(u16, u16)>>,
}

impl Jail {
    /// Whether a ban by this jail closes `port`.
    pub fn covers(&self, port: u16) -> bool {
        self.ports.as_ref().is_none_or(|r| r.iter().any(|(a, b)| (*a..=*b).contains(&port)))
    }

    /// Its ports as the report writes them.
    pub fn ports_text(&self) -> String {
        match &self.ports {
            None => "all".into(),
            Some(r) if r.is_empty() => "-".into(),
            Some(r) => r
                .iter()
                .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}:{b}") })
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl Report {
    /// The jails whose bans close `port`.
    pub fn watching(&self, port: u16) -> Vec<&str> {
        if !self.running {
            return Vec::new();
        }
        self.jails.iter().filter(|j| j.covers(port)).map(|j| j.name.as_str()).collect()
    }

    /// The report in its own format, one fact per line (what is kept).
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\nrunning {}\n", if self.running { "yes" } else { "no" });
        for j in &self.jails {
            out.push_str(&format!("jail {} {}\n", j.name, j.ports_text()));
        }
        out
    }
}

fn bad(line: usize, why: &str) -> Error {
    Error::Bad(format!("the fail2ban report, line {line}: {why}"))
}

fn jail_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // 0 is fail2ban's own way to start "every port" (Debian's default `port = 0:65535`).
    s.parse().ok()
}

fn ports(s: &str) -> Option<Option<Vec<(u16, u16)>>> {
    match s {
        "all" => return Some(None),
        "-" => return Some(Some(Vec::new())),
        _ => {}
    }
    let items: Vec<&str> = s.split(',').collect();
    if items.len() > MAX_PORT_ITEMS {
        return None;
    }
    let mut out = Vec::new();
    for item in items {
        let (a, b) = match item.split_once(':') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(item)?, port(item)?),
        };
        if a > b {
            return None;
        }
        out.push((a, b));
    }
    Some(Some(out))
}

/// Reads a report: its header, one `running` line, then `jail NAME PORTS` lines.
pub fn parse(text: &str) -> Result<Report, Error> {
    if text.len() > MAX_BYTES {
        return Err(Error::Bad(format!("the fail2ban report is larger than {MAX_BYTES} bytes")));
    }
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err(bad(1, &format!("not a report (its first line is {HEADER})"))),
    }
    let running = match lines.next() {
        Some((_, "running yes")) => true,
        Some((_, "running no")) => false,
        _ => return Err(bad(2, "`running yes` or `running no` expected")),
    };
    let mut jails: Vec<Jail> = Vec::new();
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        let [kind, name, spec] = words[..] else {
            return Err(bad(n, "`jail NAME PORTS` expected"));
        };
        if kind != "jail" {
            return Err(bad(n, "`jail NAME PORTS` expected"));
        }
        if !running {
            return Err(bad(n, "a jail in a report of a fail2ban that is not running"));
        }
        if !jail_name(name) {
            return Err(bad(n, "a jail's name is 1 to 64 letters, digits, dots, dashes or underscores"));
        }
        if jails.iter().any(|j| j.name == name) {
            return Err(bad(n, &format!("jail {name} twice")));
        }
        let ports =
            ports(spec).ok_or_else(|| bad(n, "ports are 0-65535 and FROM:TO ranges joined by commas, `all` or `-`"))?;
        jails.push(Jail { name: name.to_owned(), ports });
        if jails.len() > MAX_JAILS {
            return Err(bad(n, &format!("more than {MAX_JAILS} jails")));
        }
    }
    Ok(Report { running, jails })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_its_jails_and_what_they_cover() {
        let r = parse("gardien-fail2ban-report/v1\nrunning yes\njail sshd 22\njail web 80,443,8000:8010\njail recidive all\njail mail -\n")
            .unwrap();
        let debian = parse("gardien-fail2ban-report/v1\nrunning yes\njail apache-auth 0:65535\n").unwrap();
        assert_eq!(debian.watching(443), ["apache-auth"]);
        assert!(r.running);
        assert_eq!(r.watching(22), ["sshd", "recidive"]);
        assert_eq!(r.watching(8005), ["web", "recidive"]);
        assert_eq!(r.watching(3306), ["recidive"]);
        assert_eq!(parse(&r.to_text()).unwrap(), r);
        let stopped = parse("gardien-fail2ban-report/v1\nrunning no\n").unwrap();
        assert!(stopped.watching(22).is_empty());
    }

    #[test]
    fn anything_else_refuses_the_whole_report() {
        let h = "gardien-fail2ban-report/v1\nrunning yes\n";
        for bad in [
            String::new(),
            "gardien-fail2ban-report/v2\nrunning yes\n".into(),
            "gardien-fail2ban-report/v1\nrunning maybe\n".into(),
            format!("{h}jail sshd\n"),
            format!("{h}jail ../etc 22\n"),
            format!("{h}jail ssh\u{1b}[31m 22\n"),
            format!("{h}jail sshd 65536\n"),
            format!("{h}jail sshd 30:20\n"),
            format!("{h}jail sshd 22,\n"),
            format!("{h}jail sshd 22\njail sshd 23\n"),
            format!("{h}jail sshd  22\n"),
            format!("{h}ban 1.2.3.4\n"),
            "gardien-fail2ban-report/v1\nrunning no\njail sshd 22\n".into(),
            format!("{h}jail sshd {}\n", vec!["1"; 65].join(",")),
            format!("{h}{}", "jail x 1\n".repeat(9000)),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
