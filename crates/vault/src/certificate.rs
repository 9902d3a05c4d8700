//! Destruction certificates: a versioned, canonical `gardien-certificate/v1` text signed
//! as a C2SP signed note with the data dir's Ed25519 key. It carries the dataset's
//! identity and digest, the rule and clause, every copy and how it was destroyed, the bound
//! on how long the shredded key may survive (see ARCHITECTURE.md), and the ledger entry of
//! the destruction with its inclusion proof and signed checkpoint, so that a client checks
//! it offline with the verifier key alone (`gardien certificate verify --key`).

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use chrono::{DateTime, Duration, Utc};
use ledger::merkle;
use ledger::note::Verifier;
use ledger::proof::Checkpoint;
use rand::RngCore as _;

use crate::event::{Action, Event};
use crate::{Error, Vault, rfc3339};

const MAGIC: &str = "gardien-certificate/v1";

/// A certificate, as issued and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// `cert-` and 12 hex digits.
    pub id: String,
    /// The destroyed dataset.
    pub dataset: String,
    /// When it was issued.
    pub issued: String,
    /// The signed note: the certificate itself.
    pub note: String,
}

/// What a verified certificate says, field by field in order (`key`, `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Every field of the certificate text, in order.
    pub fields: Vec<(String, String)>,
    /// The ledger index of the destruction event.
    pub ledger_index: u64,
    /// The size of the checkpointed tree that proves it.
    pub tree_size: u64,
}

impl CertificateInfo {
    /// The certificate's title and its opening text, for a person (French or English).
    pub fn heading(french: bool) -> (&'static str, &'static str) {
        if french {
            (
                "Certificat de destruction",
                "Les données ci-dessous ont été détruites, avec toutes les copies que nous en détenions ou avions \
                 confiées ; celles remises au client lui appartiennent. Ce certificat est signé ; il se vérifie \
                 sans nous avec `gardien certificate verify` et notre clé publique.",
            )
        } else {
            (
                "Destruction certificate",
                "The data below was destroyed, with every copy we held or handed out; copies given back to \
                 the client are the client's own. This certificate is signed; it can be checked without us \
                 with `gardien certificate verify` and our public key.",
            )
        }
    }

    /// The certificate's fields for a person, labelled in French or English, in order; the
    /// copies are one value of several lines.
    pub fn rows(&self, french: bool) -> Vec<(&'static str, String)> {
        const KEYS: [(&str, &str, &str); 13] = [
            ("id", "Certificat", "Certificate"),
            ("issued", "Émis le", "Issued"),
            ("client", "Client", "Client"),
            ("contract", "Contrat", "Contract"),
            ("dataset", "Jeu de données", "Dataset"),
            ("class", "Nature", "Class"),
            ("size", "Taille (octets)", "Size (bytes)"),
            ("sha256", "SHA-256 du contenu", "Content SHA-256"),
            ("rule", "Règle", "Rule"),
            ("clause", "Clause", "Clause"),
            ("key-shredded", "Clé détruite le", "Key destroyed"),
            ("key-survival-bound", "Aucune copie de la clé après le", "No copy of the key after"),
            ("notice", "Préavis de destruction", "Destruction notice"),
        ];
        let pick = |fr: &'static str, en: &'static str| if french { fr } else { en };
        let mut out: Vec<(&'static str, String)> =
            KEYS.iter().map(|(k, fr, en)| (pick(fr, en), self.get(k).unwrap_or("-").to_owned())).collect();
        out.push((pick("Copies", "Copies"), self.all("copy").join("\n")));
        out.push((pick("Entrée du journal", "Ledger entry"), format!("{} / {}", self.ledger_index, self.tree_size)));
        out
    }

    /// The first value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

/// One line, one value: what a person typed never breaks the format.
fn one_line(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.trim().is_empty() { "-".to_owned() } else { s.trim().to_owned() }
}

impl Vault {
    /// Issues the certificate of a destroyed dataset (once), after its destruction event:
    /// `checkpoint` (signed after the event) covers it, and the proof goes in the certificate.
    pub(crate) fn issue_certificate(
        &self,
        id: &str,
        checkpoint: &(Checkpoint, String),
        now: DateTime<Utc>,
    ) -> Result<CertificateRecord, Error> {
        if let Some((cid, dataset, issued, note)) = self.catalog.certificates(Some(id))?.into_iter().next() {
            return Ok(CertificateRecord { id: cid, dataset, issued, note });
        }
        let ds = self.catalog.dataset(id)?;
        let destruction = ds
            .destruction
            .clone()
            .ok_or_else(|| Error::Corrupt(format!("dataset {id} is not destroyed; no certificate")))?;
        let index =
            destruction.event.ok_or_else(|| Error::Corrupt(format!("dataset {id} has no destruction event")))?;
        let entry =
            self.catalog.ledger_entry(index)?.ok_or(Error::NoSuchEntry { index, size: self.catalog.ledger_size()? })?;
        let (cp, cp_note) = checkpoint;
        if index >= cp.size {
            return Err(Error::Corrupt(format!("the checkpoint of size {} does not cover entry {index}", cp.size)));
        }
        let path = merkle::inclusion_proof(&self.catalog, index, cp.size)?;

        let mut b = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let cid = format!("cert-{}", hex::encode(b));
        let shredded = lifecycle::parse_instant(&destruction.at)?;
        let bound = shredded + Duration::days(i64::from(self.config.key_survival_days));
        let mut t = String::new();
        let mut line = |k: &str, v: &str| {
            t.push_str(k);
            t.push(' ');
            t.push_str(&one_line(v));
            t.push('\n');
        };
        line("id", &cid);
        line("issued", &rfc3339(now));
        line("client", &ds.client);
        line("contract", ds.contract.as_deref().unwrap_or("-"));
        line("dataset", &ds.id);
        line("class", ds.class.as_str());
        line("size", &ds.size.to_string());
        line("sha256", &ds.sha256);
        line("rule", &destruction.rule);
        line("clause", &destruction.clause);
        line("key-shredded", &destruction.at);
        line("key-survival-bound", &rfc3339(bound));
        // Issue 15: when the client was told before the destruction (21 days before, the
        // period SecNumCloud 19.4.a asks), or that it was not.
        let before = |at: &str| lifecycle::parse_instant(at).map(|t| (shredded - t).num_days()).unwrap_or_default();
        let notice = match self.catalog.first_notice(id, &ds.client)? {
            Some((_, Some(sent))) => format!("{sent} ({} days before the destruction, to the client)", before(&sent)),
            Some((written, None)) => {
                format!("{written} ({} days before the destruction, not delivered to the client)", before(&written))
            }
            None => "none".to_owned(),
        };
        line("notice", &notice);
        for c in &ds.copies {
            line("copy", &format!("store {} site {} deleted {}", c.store, c.site, destruction.at));
        }
        for c in self.catalog.out_copies(Some(id))? {
            match (&c.kind[..], &c.attested) {
                ("client", _) => {
                    line("copy", &format!("client holder {} given {} (the client's own)", c.holder, c.created))
                }
                (_, Some((at, by, how))) => line(
                    "copy",
                    &format!(
                        "environment {} holder {} attested {at} by {}{} method {}",
                        one_line(&c.environment),
                        one_line(&c.holder),
                        one_line(by),
                        // The holder attests; ops may record it on the holder's word, and
                        // the certificate says which.
                        if *by == c.holder { "" } else { " (ops, on the holder's word)" },
                        one_line(how.as_deref().unwrap_or("-"))
                    ),
                ),
                (_, None) => {
                    return Err(Error::Unattested(format!("copy {} on {} held by {}", c.id, c.environment, c.holder)));
                }
            }
        }
        // The entry's bytes, and its C2SP tlog-proof@v1 (index, path, signed checkpoint) as a
        // file's bytes: `gardien ledger verify-proof` or any tlog-proof verifier checks them.
        line("ledger-entry", &BASE64_STANDARD.encode(&entry));
        let proof = ledger::proof::InclusionProof { index, path, checkpoint: cp_note.clone() };
        line("ledger-tlog-proof", &BASE64_STANDARD.encode(proof.to_text().as_bytes()));
        let text = format!("{MAGIC}\n{t}");
        let note = self.signer()?.sign(&text).map_err(|e| Error::Corrupt(e.to_string()))?;
        let rec = CertificateRecord { id: cid, dataset: id.to_owned(), issued: rfc3339(now), note };
        let client = self.catalog.dataset(id)?.client;
        self.catalog.write(|c| {
            c.add_certificate(&rec.id, &rec.dataset, &rec.issued, &rec.note)?;
            // Issue 15: the client's admins and ops are told.
            let facts = format!("dataset={}", rec.dataset);
            let to = c.admins_and_ops(&client)?;
            c.notify("certificate-issued", &to, Some(&client), &rec.id, &facts, &rec.issued)
        })?;
        Ok(rec)
    }

    /// Every certificate issued, or those of one client's datasets.
    pub fn certificates(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<CertificateRecord>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::CertificateList, resources, String::new(), now, |_| {
            let rows = match client {
                Some(c) => self.catalog.certificates_of_client(c)?,
                None => self.catalog.certificates(None)?,
            };
            let all: Vec<CertificateRecord> = rows
                .into_iter()
                .map(|(id, dataset, issued, note)| CertificateRecord { id, dataset, issued, note })
                .collect();
            self.visible(all, Action::CertificateShow, |c| format!("certificate:{}", c.id), now)
        })
    }

    /// One certificate (by its id or its dataset's), checked against this data dir's key.
    pub fn certificate(&self, id: &str, now: DateTime<Utc>) -> Result<(CertificateRecord, CertificateInfo), Error> {
        self.door(Action::CertificateShow, vec![format!("certificate:{id}")], String::new(), now, |rec| {
            let (cid, dataset, issued, note) = self
                .catalog
                .certificates(Some(id))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::UnknownCertificate(id.to_owned()))?;
            rec.resources.push(format!("dataset:{dataset}"));
            let info = verify_certificate(&note, &self.signer()?.verifier())?;
            Ok((CertificateRecord { id: cid, dataset, issued, note }, info))
        })
    }

    /// Checks a certificate file against this data dir's key.
    pub fn verify_certificate(&self, note: &str, now: DateTime<Utc>) -> Result<CertificateInfo, Error> {
        self.door(Action::CertificateVerify, vec![], String::new(), now, |_| {
            verify_certificate(note, &self.signer()?.verifier())
        })
    }
}

/// Verifies a certificate offline: its signature by `key`, the signed checkpoint inside,
/// the destruction entry's inclusion in it, and that entry's agreement with the text.
pub fn verify_certificate(note: &str, key: &Verifier) -> Result<CertificateInfo, Error> {
    let bad = |why: String| Error::BadCertificate(why);
    let text = key.open(note).map_err(|e| bad(e.to_string()))?;
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(bad(format!("not a {MAGIC} document")));
    }
    let mut fields = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(' ').ok_or_else(|| bad(format!("malformed line '{l}'")))?;
        fields.push((k.to_owned(), v.to_owned()));
    }
    let mut info = CertificateInfo { fields, ledger_index: 0, tree_size: 0 };
    let need = |k: &str| info.get(k).map(str::to_owned).ok_or_else(|| bad(format!("no {k} line")));
    let entry = BASE64_STANDARD.decode(need("ledger-entry")?).map_err(|_| bad("bad ledger-entry".into()))?;
    let proof = BASE64_STANDARD
        .decode(need("ledger-tlog-proof")?)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("bad ledger-tlog-proof".into()))?;
    let proof = ledger::proof::InclusionProof::parse(&proof).map_err(|e| bad(format!("its tlog-proof: {e}")))?;
    let index = proof.index;
    let cp = proof.verify(&entry, key).map_err(|e| bad(format!("its destruction event: {e}")))?;
    let event = Event::decode(&entry).map_err(|e| bad(e.to_string()))?;
    let dataset = need("dataset")?;
    if event.action != Action::DatasetDestroy
        || !event.resources.contains(&format!("dataset:{dataset}"))
        || event.clause != need("clause")?
    {
        return Err(bad("its ledger entry does not record this destruction".into()));
    }
    info.ledger_index = index;
    info.tree_size = cp.size;
    Ok(info)
}
