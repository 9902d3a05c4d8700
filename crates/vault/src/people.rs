//! The people who act through the one door, each with a role; client roles belong to
//! exactly one client. Who may do what is the policy's (issue 5); this module keeps who is
//! who, and the door refuses anyone unknown or disabled (OPS-1).

use chrono::{DateTime, Utc};

use crate::catalog::Person;
use crate::event::Action;
use crate::{Error, Outcome, Vault, check_name, rfc3339};

/// The operator's staff: no client.
pub const STAFF_ROLES: [&str; 3] = ["ops", "technical-operator", "sales"];
/// The client's people, and third parties: each of one client.
pub const CLIENT_ROLES: [&str; 4] = ["client-admin", "client-signer", "client-tech", "third-party"];

impl Vault {
    /// Registers a person with a role (and, for client roles, their client).
    pub fn add_person(
        &self,
        handle: &str,
        role: &str,
        client: Option<&str>,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Person, Error> {
        self.add_person_with(handle, role, client, name, &Contact::default(), now)
    }

    /// `add_person`, with how the person is told of what awaits them.
    pub fn add_person_with(
        &self,
        handle: &str,
        role: &str,
        client: Option<&str>,
        name: Option<&str>,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> Result<Person, Error> {
        let mut resources = vec![format!("person:{handle}")];
        resources.extend(client.map(|c| format!("client:{c}")));
        self.door(Action::PersonAdd, resources, format!("role={role} name={}", name.unwrap_or("")), now, |rec| {
            check_name("handle", handle)?;
            let (email, lang) = contact.checked(&Contact::default())?;
            if let Some(n) = name {
                crate::text::check("name", n, false)?;
            }
            match (STAFF_ROLES.contains(&role), CLIENT_ROLES.contains(&role), client) {
                (true, _, None) | (_, true, Some(_)) => {}
                (true, _, Some(_)) => {
                    return Err(Error::BadRole(format!("role {role} is the operator's staff: it has no --client")));
                }
                (_, true, None) => {
                    return Err(Error::BadRole(format!("role {role} belongs to one client: give --client SLUG")));
                }
                (false, false, _) => {
                    return Err(Error::BadRole(format!(
                        "unknown role '{role}'; the roles are {}, {}",
                        STAFF_ROLES.join(", "),
                        CLIENT_ROLES.join(", ")
                    )));
                }
            }
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let p = Person {
                handle: handle.to_owned(),
                role: role.to_owned(),
                client: client.map(str::to_owned),
                name: name.map(str::to_owned),
                disabled: None,
                created: rfc3339(now),
                email,
                lang,
            };
            self.record(rec, Outcome::Allowed, |c| c.add_person(&p))?;
            Ok(p)
        })
    }

    /// Every person.
    pub fn persons(&self, now: DateTime<Utc>) -> Result<Vec<Person>, Error> {
        self.door(Action::PersonList, vec![], String::new(), now, |_| self.catalog.persons(None))
    }

    /// Sets how a person is told of what awaits them (issue 15): their address
    /// (`Some(None)` removes it) and language. Ops sets anyone's; a person their own.
    pub fn set_contact(&self, handle: &str, contact: &Contact, now: DateTime<Utc>) -> Result<Person, Error> {
        let details = format!(
            "email={} lang={}",
            match &contact.email {
                Some(Some(_)) => "set",
                Some(None) => "removed",
                None => "kept",
            },
            contact.lang.as_deref().unwrap_or("kept")
        );
        self.door(Action::PersonContact, vec![format!("person:{handle}")], details, now, |rec| {
            let p = self.catalog.person(handle)?.ok_or_else(|| Error::UnknownPerson(handle.to_owned()))?;
            let current = Contact { email: Some(p.email.clone()), lang: Some(p.lang.clone()) };
            let (email, lang) = contact.checked(&current)?;
            self.record(rec, Outcome::Allowed, |c| c.set_contact(handle, email.as_deref(), &lang))?;
            Ok(Person { email, lang, ..p })
        })
    }

    /// Disables a person: from now on the door refuses them. They stay, for the record.
    pub fn disable_person(&self, handle: &str, now: DateTime<Utc>) -> Result<(), Error> {
        self.door(Action::PersonDisable, vec![format!("person:{handle}")], String::new(), now, |rec| {
            let p = self.catalog.person(handle)?.ok_or_else(|| Error::UnknownPerson(handle.to_owned()))?;
            if let Some(at) = p.disabled {
                return Err(Error::DisabledPerson { handle: handle.to_owned(), at });
            }
            if handle == crate::OPERATOR_HANDLE {
                return Err(Error::BadRole("the operator created by init cannot be disabled".into()));
            }
            self.record(rec, Outcome::Allowed, |c| c.disable_person(handle, &rfc3339(now)))
        })
    }
}

/// How a person is told of what awaits them: each field `None` keeps what is there.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    /// `Some(Some(address))` sets it, `Some(None)` removes it.
    pub email: Option<Option<String>>,
    /// `fr` or `en`.
    pub lang: Option<String>,
}

/// The languages people are told in.
pub const LANGS: [&str; 2] = ["fr", "en"];

impl Contact {
    /// The address and language that result, checked (bad input changes nothing).
    fn checked(&self, current: &Contact) -> Result<(Option<String>, String), Error> {
        let email = match &self.email {
            Some(e) => e.clone(),
            None => current.email.clone().flatten(),
        };
        if let Some(e) = &email {
            check_email(e)?;
        }
        let lang = self.lang.clone().or_else(|| current.lang.clone()).unwrap_or_else(|| "fr".into());
        if !LANGS.contains(&lang.as_str()) {
            return Err(Error::BadInput(format!("--lang {lang}: people are told in fr or en")));
        }
        Ok((email, lang))
    }
}

/// An address mail can go to: `local@domain.tld`, printable ASCII, no spaces, at most 254
/// bytes (RFC 5321), one `@`, a domain with a dot. Nothing more clever: the relay decides.
pub fn check_email(e: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::BadInput(format!("{}: not an e-mail address ({why})", crate::quote_input(e)));
    if e.len() > 254 || !e.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("printable ASCII, no spaces, at most 254 characters"));
    }
    let Some((local, domain)) = e.split_once('@') else { return Err(bad("no @")) };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad("one @, a name of at most 64 characters before it"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
        || !domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(bad("a domain such as lycee-hugo.fr after the @"));
    }
    // What the mailer takes, checked now rather than found at the first send.
    e.parse::<lettre::Address>().map_err(|_| bad("letters, digits and . _ + - before the @"))?;
    Ok(())
}
