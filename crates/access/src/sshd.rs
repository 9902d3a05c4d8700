//! The configuration of stock OpenSSH servers: the bastion (ACC-4: the one entry point;
//! it authenticates by certificate, asks gardien which grant a certificate stands for, and
//! forwards one connection to that grant's target, nothing else) and a dedicated server
//! (it trusts its client's CA for one account, whose certificates force gardien's runner).

use std::fmt::Write as _;

use crate::Error;

/// Quotes `s` for sshd's configuration and for the login shell that runs a forced command
/// (`sh -c`): single quotes around a string that holds none, nor a control character.
pub fn shell_quote(what: &str, s: &str) -> Result<String, Error> {
    // `%` too: sshd expands `%h`, `%u`... in the paths of its configuration.
    if s.contains('\'') || s.contains('%') || s.chars().any(char::is_control) || s.is_empty() {
        return Err(Error::Bad(format!(
            "{what} {}: it goes into sshd's configuration and a forced command; it may hold no quote or control character",
            crate::maneuver::quote(s)
        )));
    }
    Ok(format!("'{s}'"))
}

/// A login name sshd accepts: `[a-z_][a-z0-9_-]*`, at most 32.
pub fn check_login(login: &str) -> Result<(), Error> {
    let ok = !login.is_empty()
        && login.len() <= 32
        && login.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Bad(format!(
            "{}: a login is a Unix user name (lowercase letters, digits, _ and -)",
            crate::maneuver::quote(login)
        )))
    }
}

/// `ADDRESS:PORT` sshd listens on: an IP address (IPv6 in brackets) and a port of digits.
fn check_listen(listen: &str) -> Result<(String, u16), Error> {
    let bad = || {
        Error::Bad(format!(
            "--listen {}: give ADDRESS:PORT, an IP address (IPv6 in brackets) and a port from 1 to 65535",
            crate::maneuver::quote(listen)
        ))
    };
    let (host, port) = listen.rsplit_once(':').ok_or_else(bad)?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let ip: std::net::IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| bad())?;
    let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
    Ok((host, port))
}

/// What both configurations share: certificates only, nothing a maneuver or a jump does
/// not need, logs verbose enough for fail2ban (NET-2).
fn common(out: &mut String, listen: &str, host_key: &str, user_cas: &str, login: &str) -> Result<(), Error> {
    let (host, port) = check_listen(listen)?;
    let _ = writeln!(out, "Port {port}");
    let _ = writeln!(out, "ListenAddress {host}");
    for (what, p) in [("--host-key", host_key), ("the CA file", user_cas)] {
        if !p.starts_with('/') {
            return Err(Error::Bad(format!("{what} {}: give an absolute path", crate::maneuver::quote(p))));
        }
    }
    let _ = writeln!(out, "HostKey {}", shell_quote("--host-key", host_key)?);
    out.push_str(
        "# Certificates signed by the clients' user CAs, nothing else (ACC-3: no standing access).\n\
         AuthenticationMethods publickey\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         HostbasedAuthentication no\n\
         AuthorizedKeysFile none\n",
    );
    let _ = writeln!(out, "TrustedUserCAKeys {}", shell_quote("the CA file", user_cas)?);
    let _ = writeln!(out, "AllowUsers {login}");
    let _ = writeln!(out, "PermitRootLogin {}", if login == "root" { "prohibit-password" } else { "no" });
    out.push_str(
        "PermitTTY no\n\
         X11Forwarding no\n\
         AllowAgentForwarding no\n\
         AllowStreamLocalForwarding no\n\
         PermitTunnel no\n\
         GatewayPorts no\n\
         PermitUserRC no\n\
         PermitUserEnvironment no\n\
         MaxAuthTries 3\n\
         LoginGraceTime 30\n\
         # Key fingerprints and certificate ids in the log, which fail2ban reads (NET-2).\n\
         LogLevel VERBOSE\n",
    );
    Ok(())
}

/// The bastion's `sshd_config`.
pub fn bastion_config(
    listen: &str,
    host_key: &str,
    user_cas: &str,
    login: &str,
    principals_command: &str,
    command_user: &str,
) -> Result<String, Error> {
    check_login(login)?;
    check_login(command_user)?;
    let mut out = String::from(
        "# The bastion (ACC-4), written by `gardien bastion sshd-config`. Do not edit: write it again.\n\
         # A certificate logs in only for a grant in force: gardien answers sshd's\n\
         # AuthorizedPrincipalsCommand with the grant's id and the one target it may reach.\n",
    );
    common(&mut out, listen, host_key, user_cas, login)?;
    let _ = writeln!(out, "AuthorizedPrincipalsCommand {principals_command} %u %i %s %F");
    let _ = writeln!(out, "AuthorizedPrincipalsCommandUser {command_user}");
    out.push_str(
        "# Local forwarding only (restrict,port-forwarding in the principals answer would let remote\n\
         # forwarding in too), to the permitopen the answer names; no session, no shell.\n\
         AllowTcpForwarding local\n\
         ForceCommand /bin/false\n\
         # A connection with nothing open (a multiplexing master left behind) ends after a minute:\n\
         # sshd asks gardien again at the next one.\n\
         UnusedConnectionTimeout 60\n",
    );
    Ok(out)
}

/// A dedicated server's `sshd_config` for the maneuvers' account. `principals` is the file
/// naming this server's principal (`server_principal`): a certificate for another server of
/// the same client, signed by the same CA, does not log in here.
pub fn target_config(
    listen: &str,
    host_key: &str,
    user_cas: &str,
    principals: &str,
    login: &str,
) -> Result<String, Error> {
    check_login(login)?;
    let mut out = String::from(
        "# A dedicated server's maneuvers (ACC-2), written by `gardien server sshd-config`. Do not edit: write it again.\n\
         # Each certificate forces gardien's runner for its grant, from the bastion's address only.\n",
    );
    common(&mut out, listen, host_key, user_cas, login)?;
    let _ = writeln!(out, "AuthorizedPrincipalsFile {}", shell_quote("the principals file", principals)?);
    out.push_str("AllowTcpForwarding no\n");
    Ok(out)
}

/// The principal a server's certificates name: this server's, no other's.
pub fn server_principal(server: &str) -> String {
    format!("gardien-server-{server}")
}

/// The bastion's answer for a grant in force: its principal, restricted to forwarding one
/// connection to `target` (`HOST:PORT`).
pub fn principals_line(grant: &str, target: &str) -> String {
    format!("restrict,port-forwarding,permitopen=\"{target}\" {grant}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_say_what_they_must() {
        let b = bastion_config(
            "127.0.0.1:2222",
            "/etc/ssh/k",
            "/etc/ssh/cas.pub",
            "jump",
            "'/usr/bin/gardien' bastion principals",
            "gardien",
        )
        .unwrap();
        for line in [
            "AuthorizedKeysFile none",
            "AllowTcpForwarding local",
            "PermitTTY no",
            "AllowUsers jump",
            "PermitRootLogin no",
            "AuthorizedPrincipalsCommand '/usr/bin/gardien' bastion principals %u %i %s %F",
        ] {
            assert!(b.lines().any(|l| l == line), "{line} in\n{b}");
        }
        assert!(bastion_config("127.0.0.1:22", "/k'", "/c", "jump", "x", "gardien").is_err());
        assert!(bastion_config("127.0.0.1:22", "k", "/c", "jump", "x", "gardien").is_err(), "relative");
        assert!(target_config("127.0.0.1:22", "/k", "/c", "/etc/ssh/%h/p", "gardien").is_err(), "a token");
        for listen in [
            "127.0.0.1\nPermitTTY yes:22",
            "1.2.3.4:notaport",
            "host.example:22",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            ":22",
        ] {
            assert!(bastion_config(listen, "/k", "/c", "jump", "x", "gardien").is_err(), "{listen:?}");
        }
        assert!(target_config("[::1]:22", "/k", "/c", "/p", "gardien").unwrap().contains("ListenAddress [::1]\n"));
        assert!(bastion_config("127.0.0.1:22", "/k", "/c", "Jump", "x", "gardien").is_err());
        assert_eq!(
            principals_line("gr-01", "192.0.2.10:22"),
            "restrict,port-forwarding,permitopen=\"192.0.2.10:22\" gr-01"
        );
    }
}
