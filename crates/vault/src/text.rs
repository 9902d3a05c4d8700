//! Texts people give and read: a scope a signer decides on, a label, a comment, a reason.
//! No control character may hide or forge part of what a person reads (a `\e[8m` that
//! hides the rest of an observation's scope on a terminal, a `\r` that forges a row of a
//! listing), so they are refused at input, and escaped at output anyway (older data, names
//! that came from elsewhere).

use crate::Error;

/// Whether `c` can change how the text around it is shown, or hide in it: C0 and C1
/// controls (ESC, CR, BEL, DEL...); the bidirectional marks, overrides and isolates that
/// reorder what follows (U+061C, U+200E/F, U+202A-E, U+2066-9); line and paragraph
/// separators (U+2028/9); invisible format characters (soft hyphen, zero-width spaces and
/// joiners, word joiner, BOM, tags, interlinear annotations) and blank fillers.
pub fn is_hiding(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'
                | '\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// Refuses a text holding a control character; `multiline` texts may hold newlines.
pub fn check(what: &'static str, value: &str, multiline: bool) -> Result<(), Error> {
    if let Some(c) = value.chars().find(|&c| is_hiding(c) && !(multiline && c == '\n')) {
        return Err(Error::InvalidText {
            what,
            char: format!("U+{:04X}", u32::from(c)),
            rule: if multiline {
                "control characters (other than a newline) could hide or forge part of what a person reads"
            } else {
                "control characters and newlines could hide or forge part of what a person reads"
            },
        });
    }
    Ok(())
}

/// The text with every control character shown as an escape (`\e`, `\r`, `\u{202e}`):
/// one line, whatever it holds.
pub fn escape(value: &str) -> String {
    escape_with(value, false)
}

/// `escape`, keeping newlines (a scope of several lines).
pub fn escape_lines(value: &str) -> String {
    escape_with(value, true)
}

fn escape_with(value: &str, keep_newlines: bool) -> String {
    if !value.chars().any(is_hiding) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_hiding(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The text with every secret key in it replaced by `[secret key redacted]`: an age
/// identity (`AGE-SECRET-KEY-1...`, any case) or a signing key in Go's note form
/// (`PRIVATE+KEY+...`), given by mistake where a path or a recipient was expected. For
/// whatever is printed or recorded from a person's input (errors, event details).
pub fn redact_secrets(value: &str) -> String {
    const MARKERS: [&str; 2] = ["AGE-SECRET-KEY-", "PRIVATE+KEY+"];
    let upper = value.to_ascii_uppercase();
    let Some((start, marker)) = MARKERS.iter().filter_map(|m| upper.find(m).map(|i| (i, *m))).min() else {
        return value.to_owned();
    };
    // An age identity is bech32 (letters and digits); a note key is
    // `PRIVATE+KEY+<name>+<id>+<base64>`, whose name may hold dots and slashes: it runs to
    // the next space or quote.
    let end = value[start..]
        .find(|c: char| {
            if marker == "AGE-SECRET-KEY-" {
                !(c.is_ascii_alphanumeric() || c == '-')
            } else {
                c.is_whitespace() || matches!(c, '\'' | '"' | '`')
            }
        })
        .map_or(value.len(), |n| start + n);
    format!("{}[secret key redacted]{}", &value[..start], redact_secrets(&value[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_refused_and_escaped() {
        for bad in [
            "a\u{1b}[8mb",
            "a\rb",
            "a\u{202e}b",
            "a\u{7f}",
            "a\u{85}b",
            "a\tb",
            "a\u{61c}b",
            "a\u{2028}b",
            "a\u{200b}b",
            "a\u{feff}b",
            "a\u{e0041}b",
            "a\u{3164}b",
            "a\u{1bca0}b",
            "a\u{13430}b",
            "a\u{600}b",
        ] {
            assert!(check("label", bad, false).is_err(), "{bad:?}");
            assert!(check("scope", bad, true).is_err(), "{bad:?}");
            assert!(!escape(bad).chars().any(is_hiding), "{bad:?} -> {:?}", escape(bad));
        }
        assert!(check("label", "a\nb", false).is_err());
        assert!(check("scope", "line one\nline two", true).is_ok());
        assert!(check("label", "Lycée Victor-Hugo — données 2025", false).is_ok());
        assert_eq!(escape("a\u{1b}[8mb\r\n"), "a\\e[8mb\\r\\n");
        assert_eq!(escape_lines("a\nb\u{1b}"), "a\nb\\e");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn secrets_are_redacted() {
        let k = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS";
        assert_eq!(redact_secrets(&format!("{k}: No such file")), "[secret key redacted]: No such file");
        assert_eq!(
            redact_secrets(&format!("'{}' and 'PRIVATE+KEY+op+1234+AbC=' x", k.to_lowercase())),
            "'[secret key redacted]' and '[secret key redacted]' x"
        );
        assert_eq!(redact_secrets("age1abc"), "age1abc");
        assert_eq!(
            redact_secrets("bad key: 'PRIVATE+KEY+x.example/gardien+26373609+Adi7LWvLoV/65sYBtc=' is not"),
            "bad key: '[secret key redacted]' is not"
        );
    }
}
