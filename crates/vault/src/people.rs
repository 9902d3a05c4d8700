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
        let mut resources = vec![format!("person:{handle}")];
        resources.extend(client.map(|c| format!("client:{c}")));
        self.door(Action::PersonAdd, resources, format!("role={role} name={}", name.unwrap_or("")), now, |rec| {
            check_name("handle", handle)?;
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
            };
            self.record(rec, Outcome::Allowed, |c| c.add_person(&p))?;
            Ok(p)
        })
    }

    /// Every person.
    pub fn persons(&self, now: DateTime<Utc>) -> Result<Vec<Person>, Error> {
        self.door(Action::PersonList, vec![], String::new(), now, |_| self.catalog.persons(None))
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
