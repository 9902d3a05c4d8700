//! Server access (issue 13): the catalog of maneuvers (ACC-2), the bastion (ACC-4), and the
//! grants an approved `server-access` request gives (ACC-3). Every step is a `server:access`
//! decision of the policy for the person let in, so that ACC-1 (never on a shared server)
//! and ACC-3 (never without the client's approval in force) hold at the grant, at every
//! login through the bastion and at every maneuver the runner starts; each is an event in
//! the client's log (PROOF-1). How SSH is spoken is the `access` crate's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore as _;

use crate::catalog::{BastionRow, GrantRow, ManeuverRow, RunRow, ServerRow};
use crate::event::Action;
use crate::{Error, Outcome, Vault, check_name, keys, rfc3339};

/// What `maneuver add` is given.
#[derive(Debug)]
pub struct NewManeuver<'a> {
    /// Its id.
    pub id: &'a str,
    /// The program's absolute path.
    pub program: &'a str,
    /// Fixed leading arguments.
    pub fixed: &'a [String],
    /// `NAME=REGEX`, in the program's order.
    pub args: &'a [String],
    /// `1h`, `30m`.
    pub max_ttl: &'a str,
    /// What it does, for the signer.
    pub description: &'a str,
}

/// What `bastion set` is given.
#[derive(Debug)]
pub struct NewBastion<'a> {
    /// Where it is (LOC-1).
    pub site: &'a str,
    /// `HOST[:PORT]` people connect to.
    pub address: &'a str,
    /// The address (or CIDR list) it connects to servers from.
    pub egress: &'a str,
    /// Its account.
    pub login: &'a str,
    /// The maneuvers' account on dedicated servers.
    pub target_login: &'a str,
    /// gardien's absolute path on dedicated servers.
    pub runner: &'a str,
}

/// A grant made: its row, its two certificates, and the `ssh_config` lines that use them.
#[derive(Debug)]
pub struct Granted {
    /// The grant.
    pub grant: GrantRow,
    /// The bastion's certificate (OpenSSH line).
    pub bastion_cert: String,
    /// The server's certificate.
    pub target_cert: String,
    /// The server.
    pub server: ServerRow,
    /// The bastion.
    pub bastion: BastionRow,
}

/// The configuration files of an sshd.
#[derive(Debug)]
pub struct SshdFiles {
    /// `sshd_config`.
    pub config: String,
    /// The user CAs it trusts (`TrustedUserCAKeys`), one line each.
    pub user_cas: String,
    /// A server's: the one principal its certificates must name (`AuthorizedPrincipalsFile`).
    pub principals: Option<String>,
}

/// The catalog's maneuver as the `access` crate runs it.
pub fn maneuver_of(m: &ManeuverRow) -> access::Maneuver {
    access::Maneuver {
        id: m.id.clone(),
        program: m.program.clone(),
        fixed: m.fixed.clone(),
        args: m.args.iter().map(|(n, p)| access::Arg { name: n.clone(), pattern: p.clone() }).collect(),
        max_ttl: Duration::from_secs(u64::try_from(m.max_ttl).unwrap_or(0)),
        description: m.description.clone(),
    }
}

/// The line an approval keeps for a maneuver: its id, program, arguments and patterns,
/// and what it does. The signer decides on it; a grant checks the catalog still says it.
pub fn maneuver_line(m: &ManeuverRow) -> String {
    format!("{} — {}", maneuver_of(m), m.description)
}

fn bad(e: access::Error) -> Error {
    match e {
        access::Error::Bad(m) => Error::BadInput(m),
        access::Error::Key(m) => Error::Corrupt(format!("SSH key: {m}")),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `IP` or `IP/BITS`, comma-separated: what `source-address` takes.
fn check_egress(e: &str) -> Result<String, Error> {
    let bad = || {
        Error::BadInput(format!(
            "--egress {}: give the address (or CIDR) the bastion connects to servers from, as 192.0.2.1 or 192.0.2.0/28 (commas between several)",
            crate::quote_input(e)
        ))
    };
    let mut out = Vec::new();
    if e.split(',').count() > 4 {
        return Err(bad());
    }
    for part in e.split(',') {
        let (ip, bits) = part.split_once('/').map_or((part, None), |(a, b)| (a, Some(b)));
        let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(bad());
        }
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u8 = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.len() <= 3 && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        // A wide range lets anyone in it skip the bastion.
        if bits > max || bits < max - 8 {
            return Err(bad());
        }
        out.push(format!("{ip}/{bits}"));
    }
    Ok(out.join(","))
}

impl Vault {
    /// `maneuver add`: a maneuver of the catalog. It never changes once added.
    pub fn maneuver_add(&self, m: &NewManeuver<'_>, now: DateTime<Utc>) -> Result<ManeuverRow, Error> {
        let details = format!("program={}", crate::text::escape(m.program));
        self.door(Action::ManeuverAdd, vec![format!("maneuver:{}", m.id)], details, now, |rec| {
            check_name("maneuver", m.id)?;
            access::maneuver::check_program(m.program).map_err(bad)?;
            for f in m.fixed {
                access::maneuver::check_fixed(f).map_err(bad)?;
            }
            let mut args = Vec::new();
            for a in m.args {
                let a = access::maneuver::parse_arg(a).map_err(bad)?;
                if args.iter().any(|(n, _)| *n == a.name) {
                    return Err(Error::BadInput(format!("--arg {} is given twice", a.name)));
                }
                args.push((a.name, a.pattern));
            }
            let ttl = access::maneuver::parse_ttl(m.max_ttl).map_err(bad)?;
            crate::text::check("description", m.description, false)?;
            if m.description.trim().chars().count() < 10 {
                return Err(Error::BadInput(
                    "--description says what the maneuver does, for the client's signer (a sentence)".into(),
                ));
            }
            let row = ManeuverRow {
                id: m.id.to_owned(),
                program: m.program.to_owned(),
                fixed: m.fixed.to_vec(),
                args,
                max_ttl: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
                description: m.description.trim().to_owned(),
                created: rfc3339(now),
                created_by: self.actor.clone(),
            };
            self.record(rec, Outcome::Allowed, |c| {
                if c.add_maneuver(&row)? {
                    Ok(())
                } else {
                    Err(Error::BadInput(format!(
                        "maneuver {} exists already; a maneuver never changes (approvals name it): add one with another id",
                        m.id
                    )))
                }
            })?;
            Ok(row)
        })
    }

    /// `maneuver list`: the catalog.
    pub fn maneuvers(&self, now: DateTime<Utc>) -> Result<Vec<ManeuverRow>, Error> {
        self.door(Action::ManeuverList, vec![], String::new(), now, |_| self.catalog.maneuvers())
    }

    /// `bastion set`: the one bastion (ACC-4), on an allowed site (LOC-1).
    pub fn bastion_set(&self, b: &NewBastion<'_>, now: DateTime<Utc>) -> Result<BastionRow, Error> {
        let details = format!("address={} egress={}", crate::text::escape(b.address), crate::text::escape(b.egress));
        self.door(Action::BastionSet, vec![], details, now, |rec| {
            let address = crate::servers::check_address(b.address)?;
            let egress = check_egress(b.egress)?;
            access::sshd::check_login(b.login).map_err(bad)?;
            access::sshd::check_login(b.target_login).map_err(bad)?;
            access::maneuver::check_program(b.runner).map_err(|_| {
                Error::BadInput(format!(
                    "--runner {}: gardien's absolute path on the servers",
                    crate::quote_input(b.runner)
                ))
            })?;
            self.config.check_site(b.site)?;
            let row = BastionRow {
                site: b.site.to_owned(),
                address,
                egress,
                login: b.login.to_owned(),
                target_login: b.target_login.to_owned(),
                runner: b.runner.to_owned(),
                updated: rfc3339(now),
            };
            rec.details =
                format!("site={} address={} egress={} login={}", row.site, row.address, row.egress, row.login);
            self.record(rec, Outcome::Allowed, |c| c.set_bastion(&row))?;
            Ok(row)
        })
    }

    /// `bastion serve` starting: the operator's, recorded (what answers sshd is decided).
    pub fn bastion_serve_start(&self, socket: &str, now: DateTime<Utc>) -> Result<BastionRow, Error> {
        let details = format!("of=daemon socket={}", crate::text::escape(socket));
        self.door(Action::SshdConfig, vec![], details, now, |_| self.bastion_row())
    }

    fn bastion_row(&self) -> Result<BastionRow, Error> {
        self.catalog.bastion()?.ok_or_else(|| {
            Error::BadInput(
                "no bastion is set (ACC-4: access goes through one): `gardien bastion set --site SITE --address HOST:PORT --egress IP`"
                    .into(),
            )
        })
    }

    /// A client's user CA, made (and wrapped to the master key) on first use.
    fn client_ca(&self, client: &str, now: DateTime<Utc>) -> Result<access::Ca, Error> {
        let master = self.master_key()?;
        if let Some((_, wrapped)) = self.catalog.client_ca(client)? {
            let plain = keys::unwrap_secret(&master, &format!("the user CA of {client}"), &wrapped)?;
            let text = std::str::from_utf8(&plain)
                .map_err(|_| Error::Corrupt(format!("the user CA of {client} is not text")))?;
            return access::Ca::from_openssh(text).map_err(bad);
        }
        let ca = access::Ca::generate(&format!("gardien user CA for {client}"));
        let wrapped = keys::wrap_secret(&master.recipient(), ca.to_openssh().map_err(bad)?.as_bytes())?;
        self.catalog.write(|c| {
            c.add_client_ca(client, &ca.public_line(), &wrapped, &rfc3339(now))?;
            Ok(())
        })?;
        // Two made at once: the one stored is the one.
        match self.catalog.client_ca(client)? {
            Some((public, _)) if public == ca.public_line() => Ok(ca),
            _ => self.client_ca(client, now),
        }
    }

    /// The CA lines of every client that has a dedicated or managed server (their CAs made
    /// when missing).
    fn user_cas(&self, now: DateTime<Utc>) -> Result<String, Error> {
        let mut clients: Vec<String> = self.catalog.servers(None)?.into_iter().filter_map(|s| s.client).collect();
        clients.sort();
        clients.dedup();
        for c in &clients {
            if self.catalog.client_ca(c)?.is_none() {
                self.client_ca(c, now)?;
            }
        }
        Ok(self.catalog.client_cas()?.into_iter().map(|(_, public)| format!("{public}\n")).collect())
    }

    /// `bastion sshd-config`: the bastion's sshd configuration and the CAs it trusts.
    /// sshd runs `gardien` (its absolute path) on this data dir as `command_user`.
    pub fn bastion_sshd_config(
        &self,
        listen: &str,
        host_key: &str,
        user_cas: &str,
        gardien: &str,
        socket: Option<&str>,
        command_user: &str,
        now: DateTime<Utc>,
    ) -> Result<SshdFiles, Error> {
        self.door(Action::SshdConfig, vec![], "of=bastion".into(), now, |_| {
            let b = self.bastion_row()?;
            let dir = self.dir.canonicalize().map_err(|source| Error::Io { path: self.dir.clone(), source })?;
            // sshd takes the command's path unquoted (it must start with /): both paths are
            // plain, as a maneuver's program is.
            let dir = dir.to_string_lossy();
            access::maneuver::check_program(gardien).map_err(|_| {
                Error::BadInput(format!("gardien's path {}: plain characters only", crate::quote_input(gardien)))
            })?;
            access::maneuver::check_program(&dir).map_err(|_| {
                Error::BadInput(format!(
                    "the data dir {}: plain characters only, for sshd's configuration",
                    crate::quote_input(&dir)
                ))
            })?;
            let command = match socket {
                Some(sock) => {
                    access::maneuver::check_program(sock).map_err(|_| {
                        Error::BadInput(format!("--socket {}: plain characters only", crate::quote_input(sock)))
                    })?;
                    // The small binary beside gardien when it is there: sshd starts it at
                    // every login, in about a millisecond.
                    let small = std::path::Path::new(gardien).with_file_name("gardien-principals");
                    if small.is_file() {
                        format!("{} {sock}", small.to_string_lossy())
                    } else {
                        format!("{gardien} --data-dir {dir} bastion principals --socket {sock}")
                    }
                }
                None => format!("{gardien} --data-dir {dir} bastion principals"),
            };
            crate::text::check("--host-key", host_key, false)?;
            crate::text::check("the CA file", user_cas, false)?;
            let config = access::sshd::bastion_config(listen, host_key, user_cas, &b.login, &command, command_user)
                .map_err(bad)?;
            Ok(SshdFiles { config, user_cas: self.user_cas(now)?, principals: None })
        })
    }

    /// `server sshd-config`: a dedicated or managed server's sshd configuration for the
    /// maneuvers' account, and its client's CA.
    pub fn server_sshd_config(
        &self,
        server: &str,
        listen: &str,
        host_key: &str,
        user_cas: &str,
        principals: &str,
        now: DateTime<Utc>,
    ) -> Result<SshdFiles, Error> {
        self.door(Action::SshdConfig, vec![format!("server:{server}")], "of=server".into(), now, |rec| {
            let s = self
                .catalog
                .server(server)?
                .ok_or_else(|| Error::Unknown { what: "server", name: server.to_owned() })?;
            let Some(client) = s.client.clone() else {
                return Err(Error::Refused {
                    clauses: vec!["ACC-1".into()],
                    reason: format!("{server} is a shared server: no client's people are let in there, ever (ACC-1)"),
                });
            };
            rec.resources.push(format!("client:{client}"));
            let b = self.bastion_row()?;
            crate::text::check("--host-key", host_key, false)?;
            crate::text::check("--at", principals, false)?;
            let config =
                access::sshd::target_config(listen, host_key, user_cas, principals, &b.target_login).map_err(bad)?;
            let ca = self.client_ca(&client, now)?;
            Ok(SshdFiles {
                config,
                user_cas: format!("{}\n", ca.public_line()),
                principals: Some(format!("{}\n", access::sshd::server_principal(&s.name))),
            })
        })
    }

    /// `access grant`: the two certificates of an approved server access, for the
    /// approval's person (the actor) and `key` (an OpenSSH public key), valid for the
    /// approval's window and at most the shortest `max-ttl` of its maneuvers.
    pub fn access_grant(&self, approval: &str, key: &str, now: DateTime<Utc>) -> Result<Granted, Error> {
        self.door(Action::ServerAccess, vec![format!("approval:{approval}")], "step=grant".into(), now, |rec| {
            let a = self.catalog.approval(approval)?;
            let server = a.server.clone().unwrap_or_default();
            let s =
                self.catalog.server(&server)?.ok_or_else(|| Error::Unknown { what: "server", name: server.clone() })?;
            rec.resources.push(format!("server:{}", s.name));
            rec.resources.push(format!("client:{}", a.client));
            // ACC-1, for every role, whatever an operator policy adds.
            if s.kind == "shared" {
                return Err(Error::Refused {
                    clauses: vec!["ACC-1".into()],
                    reason: format!("{} is a shared server: no access is given there, ever (ACC-1)", s.name),
                });
            }
            if a.for_handle.as_deref() != Some(self.actor.as_str()) {
                return Err(Error::Refused {
                    clauses: vec!["ACC-3".into()],
                    reason: format!("approval {approval} lets in another person: a grant is for the one it names"),
                });
            }
            let key = access::cert::read_public_key(key).map_err(bad)?;
            let b = self.bastion_row()?;
            // The maneuvers the signer approved, as the catalog still says them.
            let mut ttl = access::maneuver::MAX_TTL;
            for line in a.maneuvers.as_deref().unwrap_or_default().lines() {
                let id = line.split(':').next().unwrap_or_default();
                let m = self.catalog.maneuver(id)?.filter(|m| maneuver_line(m) == line).ok_or_else(|| {
                    Error::Corrupt(format!(
                        "approval {approval} names a maneuver the catalog no longer says as approved: {id}"
                    ))
                })?;
                ttl = ttl.min(Duration::from_secs(u64::try_from(m.max_ttl).unwrap_or(0)));
            }
            let mut until = now + chrono::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(0));
            if let Some(u) = a.until.as_deref().and_then(parse_time) {
                until = until.min(u);
            }
            // A minute's grace for the clocks of the bastion and the servers.
            let after = now - chrono::Duration::seconds(60);
            let mut idb = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut idb);
            let id = format!("gr-{}", hex::encode(idb));
            let ca = self.client_ca(&a.client, now)?;
            let (va, vb) =
                (u64::try_from(after.timestamp()).unwrap_or(0), u64::try_from(until.timestamp()).unwrap_or(0));
            let comment = format!("{}@{} {id}", self.actor, a.client);
            let dir = self.dir.canonicalize().map_err(|source| Error::Io { path: self.dir.clone(), source })?;
            let force = format!(
                "{} --data-dir {} --as {} access run {id}",
                access::sshd::shell_quote("--runner", &b.runner).map_err(bad)?,
                access::sshd::shell_quote("the data dir", &dir.to_string_lossy()).map_err(bad)?,
                self.actor
            );
            // The target's principal is its server's own (`server sshd-config` writes the
            // file naming it): a certificate for another server of this client does not
            // log in there, though the same CA signed it.
            let principal = access::sshd::server_principal(&s.name);
            let sign = |serial: u64| -> Result<(String, String), Error> {
                let bastion_spec = access::cert::Spec {
                    key: &key,
                    key_id: &id,
                    serial,
                    principal: &id,
                    valid_after: va,
                    valid_before: vb,
                    force_command: None,
                    source_address: None,
                    port_forwarding: true,
                    comment: &comment,
                };
                let target_spec = access::cert::Spec {
                    serial: serial + 1,
                    principal: &principal,
                    force_command: Some(&force),
                    source_address: Some(&b.egress),
                    port_forwarding: false,
                    ..bastion_spec
                };
                let bastion = access::cert::sign(&ca, &bastion_spec).map_err(bad)?;
                let target = access::cert::sign(&ca, &target_spec).map_err(bad)?;
                Ok((bastion, target))
            };
            let mut grant = GrantRow {
                id: id.clone(),
                approval: a.id.clone(),
                client: a.client.clone(),
                server: s.name.clone(),
                person: self.actor.clone(),
                key: access::cert::fingerprint(&key),
                serial: 0,
                valid_after: rfc3339(after),
                valid_before: rfc3339(until),
                revoked_at: None,
                revoked_by: None,
                created: rfc3339(now),
            };
            rec.resources.insert(0, format!("grant:{id}"));
            rec.details = format!("step=grant key={} until={}", grant.key, grant.valid_before);
            // The serial is taken in the transaction that records the grant: two grants at
            // once never share one (and the schema says so too).
            let (bastion_cert, target_cert) = self.record(rec, Outcome::Allowed, |c| {
                grant.serial = c.next_serial()?;
                let certs = sign(u64::try_from(grant.serial).unwrap_or(0))?;
                c.add_grant(&grant)?;
                Ok(certs)
            })?;
            Ok(Granted { grant, bastion_cert, target_cert, server: s, bastion: b })
        })
    }

    /// `access revoke`: the grant ends now, at the bastion (its next login) and at the
    /// server (its next maneuver). The person let in, their client's admin and signer, and
    /// the operator's ops may revoke it.
    pub fn access_revoke(&self, grant: &str, now: DateTime<Utc>) -> Result<GrantRow, Error> {
        self.door(Action::AccessRevoke, vec![format!("grant:{grant}")], String::new(), now, |rec| {
            let g =
                self.catalog.grant(grant)?.ok_or_else(|| Error::Unknown { what: "grant", name: grant.to_owned() })?;
            rec.resources.push(format!("server:{}", g.server));
            rec.resources.push(format!("client:{}", g.client));
            let me = self.catalog.person(&self.actor)?;
            if me.is_some_and(|p| p.role == "client-tech") && g.person != self.actor {
                return Err(Error::Refused {
                    clauses: vec!["ACC-2".into()],
                    reason: "a technical contact revokes their own grants; the client's admin or signer revokes any"
                        .into(),
                });
            }
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| {
                if c.revoke_grant(grant, &at, &self.actor)? {
                    Ok(())
                } else {
                    Err(Error::BadInput(format!("grant {grant} was revoked already")))
                }
            })?;
            Ok(GrantRow { revoked_at: Some(at), revoked_by: Some(self.actor.clone()), ..g })
        })
    }

    /// A grant's state at `now`: `in force`, `revoked`, `expired`, or `approval withdrawn`
    /// (its approval no longer in force).
    fn grant_state(&self, g: &GrantRow, now: DateTime<Utc>) -> Result<&'static str, Error> {
        if g.revoked_at.is_some() {
            return Ok("revoked");
        }
        if parse_time(&g.valid_before).is_none_or(|t| now >= t) {
            return Ok("expired");
        }
        let a = self.catalog.approval(&g.approval)?;
        Ok(if crate::approvals::in_force(&a, &rfc3339(now)) { "in force" } else { "approval withdrawn" })
    }

    /// `access list`: the grants the actor may see (a client's people: their client's).
    pub fn access_list(
        &self,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(GrantRow, &'static str)>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::AccessList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let rows = self.catalog.grants(client)?;
            // Only what a revoke would reach: the grants of servers the actor may see.
            let rows = self.visible(rows, Action::ServerShow, |g| format!("server:{}", g.server), now)?;
            rows.into_iter().map(|g| self.grant_state(&g, now).map(|st| (g, st))).collect()
        })
    }

    /// Whether a grant is in force at `now` for a certificate with `serial` signed by `ca`:
    /// not revoked, in its window, the serial its own.
    fn grant_in_force(
        &self,
        g: &GrantRow,
        serial: Option<i64>,
        ca: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let refused = |why: String| Error::Refused { clauses: vec!["ACC-3".into()], reason: why };
        if let Some(at) = &g.revoked_at {
            return Err(refused(format!("grant {} was revoked at {at}", g.id)));
        }
        let (after, before) = (parse_time(&g.valid_after), parse_time(&g.valid_before));
        if after.is_none_or(|t| now < t) || before.is_none_or(|t| now >= t) {
            return Err(refused(format!("grant {} is valid from {} to {}", g.id, g.valid_after, g.valid_before)));
        }
        if let Some(s) = serial
            && s != g.serial
        {
            return Err(refused(format!("the certificate's serial is not grant {}'s", g.id)));
        }
        if let Some(fp) = ca {
            let ours = self.catalog.client_ca(&g.client)?.map(|(public, _)| public);
            let fp_ok = ours.as_deref().and_then(ssh_fingerprint).is_some_and(|f| f == fp);
            if !fp_ok {
                return Err(refused(format!(
                    "the certificate is not signed by the user CA of grant {}'s client",
                    g.id
                )));
            }
        }
        Ok(())
    }

    /// The bastion's `AuthorizedPrincipalsCommand` (`%u %i %s %F`): for a certificate of a
    /// grant in force, the line that lets it forward one connection to the grant's server;
    /// for anything else, nothing (sshd then refuses the key). Decided as the grant's person
    /// (`server:access`), recorded either way.
    pub fn bastion_principals(
        &mut self,
        user: &str,
        key_id: &str,
        serial: &str,
        ca: &str,
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        let serial: Option<i64> = serial.parse().ok();
        let details = format!("step=login user={} serial={}", crate::text::escape(user), serial.unwrap_or(-1));
        let grant = crate::door::valid_id("grant", key_id).then(|| self.catalog.grant(key_id)).transpose()?.flatten();
        let Some(g) = grant else {
            // A certificate no grant made: recorded as such, answered with nothing.
            return self.door_sender(Action::ServerAccess, "grant:(unknown)", vec![], details, "ACC-3", now, |_| {
                Err(Error::Refused { clauses: vec!["ACC-3".into()], reason: "no such grant".into() })
            });
        };
        self.act_as(&g.person);
        self.door(Action::ServerAccess, vec![format!("grant:{}", g.id)], details, now, |rec| {
            rec.resources.push(format!("server:{}", g.server));
            rec.resources.push(format!("client:{}", g.client));
            // A serial that is not a number is no grant's.
            self.grant_in_force(&g, Some(serial.unwrap_or(-1)), Some(ca), now)?;
            let b = self.bastion_row()?;
            if user != b.login {
                return Err(Error::Refused {
                    clauses: vec!["ACC-4".into()],
                    reason: format!("the bastion's account is {}", b.login),
                });
            }
            let s = self
                .catalog
                .server(&g.server)?
                .ok_or_else(|| Error::Unknown { what: "server", name: g.server.clone() })?;
            Ok(access::sshd::principals_line(&g.id, &s.address))
        })
    }

    /// Whether a connection the bastion let in for `grant` may go on: the grant in force and
    /// `server:access` still allowed to its person (the policy asked, nothing recorded: the
    /// daemon asks this every few seconds of each open connection).
    pub fn bastion_connection_live(&self, grant: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let Some(g) = self.catalog.grant(grant)? else { return Ok(false) };
        if self.grant_in_force(&g, None, None, now).is_err() {
            return Ok(false);
        }
        match self.catalog.person(&g.person)? {
            Some(p) if p.disabled.is_none() => {}
            _ => return Ok(false),
        }
        self.allowed_as(&g.person, Action::ServerAccess, &[format!("grant:{grant}")], now)
    }

    /// Records that the bastion cut a connection of `grant` (sshd's process `pid`): its
    /// grant, approval or person no longer let it through.
    pub fn bastion_connection_cut(&self, grant: &str, pid: u32, now: DateTime<Utc>) -> Result<(), Error> {
        let g = self.catalog.grant(grant)?.ok_or_else(|| Error::Unknown { what: "grant", name: grant.to_owned() })?;
        let resources = vec![format!("grant:{}", g.id), format!("server:{}", g.server), format!("client:{}", g.client)];
        let person = format!("person:{}", g.person);
        self.door_sender(Action::ServerAccess, &person, resources, format!("step=cut pid={pid}"), "ACC-3", now, |rec| {
            self.record(rec, Outcome::Denied, |_| Ok(()))
        })
    }

    /// The runner, on the server, for a grant's forced command: reads the requested
    /// maneuver, refuses anything that is not one of the grant's with valid arguments,
    /// records its start, runs the fixed argv without a shell (stdin, stdout and stderr
    /// the session's), records its end and exit status. Returns the status to exit with.
    pub fn access_run(&mut self, grant: &str, requested: Option<&str>, now: DateTime<Utc>) -> Result<i32, Error> {
        let req = access::maneuver::parse_request(requested);
        let details = match &req {
            Ok(r) => format!(
                "step=run maneuver={} args={}",
                crate::text::escape(&r.id),
                crate::text::escape(&r.words.join(" "))
            ),
            Err(_) => format!(
                "step=run command={}",
                crate::text::escape(&requested.unwrap_or_default().chars().take(200).collect::<String>())
            ),
        };
        // The forced command names the grant's person (`--as`): run as anyone else, the
        // grant answers as an unknown one.
        let found = crate::door::valid_id("grant", grant)
            .then(|| self.catalog.grant(grant))
            .transpose()?
            .flatten()
            .filter(|g| g.person == self.actor);
        let Some(g) = found else {
            return self.door_sender(Action::ServerAccess, "grant:(unknown)", vec![], details, "ACC-3", now, |_| {
                Err(Error::Refused {
                    clauses: vec!["ACC-3".into()],
                    reason: format!("no grant {}", access::maneuver::quote(grant)),
                })
            });
        };
        self.act_as(&g.person);
        let mut run_id = String::new();
        let argv = self.door(Action::ServerAccess, vec![format!("grant:{grant}")], details, now, |rec| {
            rec.resources.push(format!("server:{}", g.server));
            rec.resources.push(format!("client:{}", g.client));
            self.grant_in_force(&g, None, None, now)?;
            let refused = |r: access::Refusal| Error::Refused { clauses: vec!["ACC-2".into()], reason: r.0 };
            let req = req.map_err(refused)?;
            let a = self.catalog.approval(&g.approval)?;
            let approved = a
                .maneuvers
                .as_deref()
                .unwrap_or_default()
                .lines()
                .any(|l| l.split(':').next() == Some(req.id.as_str()));
            let m = self.catalog.maneuver(&req.id)?.filter(|m| {
                approved && a.maneuvers.as_deref().unwrap_or_default().lines().any(|l| l == maneuver_line(m))
            });
            let Some(m) = m else {
                let ids: Vec<&str> =
                    a.maneuvers.as_deref().unwrap_or_default().lines().filter_map(|l| l.split(':').next()).collect();
                return Err(refused(access::Refusal(format!(
                    "'{}' is not a maneuver of this grant; it allows {} (ACC-2)",
                    access::maneuver::quote(&req.id).trim_matches('\''),
                    ids.join(", ")
                ))));
            };
            let argv = maneuver_of(&m).argv(&req.words).map_err(refused)?;
            let mut b = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut b);
            run_id = format!("run-{}", hex::encode(b));
            let run = RunRow {
                id: run_id.clone(),
                grant_id: g.id.clone(),
                maneuver: m.id.clone(),
                argv: serde_json::to_string(&argv).unwrap_or_default(),
                started: rfc3339(now),
                ended: None,
                status: None,
            };
            rec.details =
                format!("step=run run={run_id} maneuver={} argv={}", m.id, crate::text::escape(&argv.join(" ")));
            self.record(rec, Outcome::Allowed, |c| c.add_run(&run))?;
            Ok(argv)
        })?;
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .status();
        let end = Utc::now();
        let (code, said) = match &status {
            Ok(s) => (s.code(), s.to_string()),
            Err(e) => (None, format!("could not start: {e}")),
        };
        let details = format!("step=end run={run_id} status={}", crate::text::escape(&said));
        let person = format!("person:{}", g.person);
        let resources = vec![format!("grant:{}", g.id), format!("server:{}", g.server), format!("client:{}", g.client)];
        self.door_sender(Action::ServerAccess, &person, resources, details, "ACC-2", end, |rec| {
            self.record(rec, Outcome::Allowed, |c| c.end_run(&run_id, &rfc3339(end), code.map(i64::from)))
        })?;
        match status {
            Ok(s) => Ok(s.code().unwrap_or(128 + 1)),
            Err(e) => Err(Error::Io { path: argv[0].clone().into(), source: e }),
        }
    }
}

/// `SHA256:...` of an OpenSSH public key line.
fn ssh_fingerprint(public: &str) -> Option<String> {
    ssh_key::PublicKey::from_openssh(public).ok().map(|k| k.fingerprint(ssh_key::HashAlg::Sha256).to_string())
}
