//! A client's own age keys (OPS-2: data is handed back to the client). An export goes only
//! to a key registered here by the client's admin accounts; anything else leaves the vault
//! as a copy (`copy out`), to an environment, attested destroyed with the dataset.

use chrono::{DateTime, Utc};

use crate::catalog::ClientKey;
use crate::event::Action;
use crate::{Error, Outcome, Vault, quote_input, rfc3339, text};

/// Parses an age X25519 recipient, never quoting a secret key in the error.
pub(crate) fn parse_recipient(value: &str) -> Result<age::x25519::Recipient, Error> {
    value.trim().parse().map_err(|e: &str| Error::BadRecipient { value: quote_input(value), reason: e.to_owned() })
}

impl Vault {
    /// Registers an age key of `client` (`age1...`): its exports may go there.
    pub fn add_client_key(
        &self,
        client: &str,
        recipient: &str,
        label: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ClientKey, Error> {
        // The key's text is checked before it is named in the request: a secret key
        // given by mistake must reach neither the ledger nor an error.
        let key = parse_recipient(recipient)?.to_string();
        let resources = vec![format!("client:{client}"), format!("key:{key}")];
        self.door(Action::ClientKeyAdd, resources, format!("label={}", label.unwrap_or("")), now, |rec| {
            if let Some(l) = label {
                text::check("key label", l, false)?;
            }
            // The vault's own master key is the operator's: an export to it would be read
            // by the operator, not handed back.
            if self.catalog.meta("master_recipient")?.as_deref() == Some(key.as_str()) {
                return Err(Error::Refused {
                    clauses: vec!["OPS-2".into()],
                    reason:
                        "this is the vault's master key, the operator's: a client's key is one only the client holds"
                            .into(),
                });
            }
            let k = ClientKey {
                client: client.to_owned(),
                recipient: key.clone(),
                label: label.map(str::to_owned),
                added: rfc3339(now),
                added_by: self.actor.clone(),
                removed: None,
                removed_by: None,
            };
            self.record(rec, Outcome::Allowed, |c| c.add_client_key(&k))?;
            Ok(k)
        })
    }

    /// Removes a client's key: no export goes there any more (earlier ones stay recorded).
    pub fn remove_client_key(&self, client: &str, recipient: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let key = parse_recipient(recipient)?.to_string();
        let resources = vec![format!("client:{client}"), format!("key:{key}")];
        self.door(Action::ClientKeyRemove, resources, String::new(), now, |rec| {
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| {
                if c.remove_client_key(client, &key, &at, &self.actor)? {
                    Ok(())
                } else {
                    Err(Error::Unknown { what: "client key", name: key.clone() })
                }
            })
        })
    }

    /// A client's keys, in force and removed.
    pub fn client_keys(&self, client: &str, now: DateTime<Utc>) -> Result<Vec<ClientKey>, Error> {
        self.door(Action::ClientKeyList, vec![format!("client:{client}")], String::new(), now, |_| {
            self.catalog.client_keys(client)
        })
    }
}
