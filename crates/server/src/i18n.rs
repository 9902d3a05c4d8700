//! The portal's two languages: French by default, English on a switch (a `lang` cookie set
//! by `?lang=en` on any page). Every text a page shows is here, in both.

/// A language of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }

    /// The text `key` in this language (the key itself if missing: a test checks none is).
    pub fn t(self, key: &str) -> &'static str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, fr, en)) => match self {
                Lang::Fr => fr,
                Lang::En => en,
            },
            None => "??",
        }
    }
}

/// (key, French, English).
pub(crate) const TEXTS: &[(&str, &str, &str)] = &[
    ("lang.name", "Français", "English"),
    ("lang.switch", "English", "Français"),
    ("skip", "Aller au contenu", "Skip to content"),
    ("title", "Vos données en garde", "Your data in custody"),
    ("login.title", "Connexion", "Sign in"),
    ("login.handle", "Identifiant", "Handle"),
    ("login.password", "Mot de passe", "Password"),
    ("login.submit", "Se connecter", "Sign in"),
    (
        "login.failed",
        "Connexion refusée : identifiant ou mot de passe incorrect, ou connexion suspendue après plusieurs échecs (réessayez dans 15 minutes).",
        "Sign-in refused: wrong handle or password, or sign-in paused after repeated failures (try again in 15 minutes).",
    ),
    (
        "login.throttled",
        "Trop d'échecs depuis cette adresse : réessayez dans 10 minutes.",
        "Too many failures from this address: try again in 10 minutes.",
    ),
    ("totp.title", "Second facteur", "Second factor"),
    (
        "totp.code",
        "Code à 6 chiffres de votre application d'authentification",
        "6-digit code from your authenticator app",
    ),
    ("totp.submit", "Valider", "Verify"),
    ("totp.failed", "Code incorrect ou déjà utilisé.", "Wrong or already used code."),
    ("totp.enrol.title", "Activer le second facteur", "Set up the second factor"),
    (
        "totp.enrol.intro",
        "Scannez ce code avec une application d'authentification (TOTP), ou saisissez la clé ci-dessous, puis donnez le code qu'elle affiche.",
        "Scan this code with an authenticator app (TOTP), or type the key below, then give the code it shows.",
    ),
    (
        "totp.enrol.required",
        "Votre rôle exige un second facteur : activez-le pour continuer.",
        "Your role requires a second factor: set it up to continue.",
    ),
    ("totp.enrol.key", "Clé", "Key"),
    ("totp.enrol.done", "Second facteur activé.", "Second factor enabled."),
    ("totp.enrolled", "Second facteur : activé", "Second factor: enabled"),
    ("totp.not_enrolled", "Second facteur : non activé", "Second factor: not enabled"),
    ("totp.enrol.link", "Activer le second facteur", "Set up the second factor"),
    ("nav.home", "Accueil", "Home"),
    ("nav.datasets", "Données", "Data"),
    ("nav.log", "Journal d'accès", "Access log"),
    ("nav.certificates", "Certificats de destruction", "Destruction certificates"),
    ("nav.keys", "Clés age", "age keys"),
    ("nav.drops", "Dépôts", "Drops"),
    ("nav.sites", "Sites Moodle", "Moodle sites"),
    ("nav.servers", "Serveurs", "Servers"),
    ("servers.title", "Vos serveurs", "Your servers"),
    (
        "servers.intro",
        "Les serveurs dédiés à votre organisation ou gérés pour elle, et ce que la dernière vérification y a trouvé : certificats HTTPS (WEB-1), ports ouverts (NET-1).",
        "The servers dedicated to your organisation or managed for it, and what the last check found there: HTTPS certificates (WEB-1), open ports (NET-1).",
    ),
    ("servers.none", "Aucun serveur.", "No server."),
    ("servers.server", "Serveur", "Server"),
    ("servers.kind.shared", "mutualisé", "shared"),
    ("servers.kind.dedicated", "dédié", "dedicated"),
    ("servers.kind.managed", "infogéré", "managed"),
    ("servers.apps", "Applications web", "Web applications"),
    ("servers.apps.none", "Aucune application enregistrée.", "No application recorded."),
    ("servers.certificate", "Certificat HTTPS", "HTTPS certificate"),
    ("servers.unchecked", "pas encore vérifié", "not checked yet"),
    ("servers.cert.valid", "valide", "valid"),
    ("servers.cert.invalid", "non valide", "not valid"),
    ("servers.days", "jours restants", "days left"),
    ("servers.check", "Dernière vérification", "Last check"),
    ("servers.never", "Ce serveur n'a pas encore été vérifié.", "This server has not been checked yet."),
    ("servers.checked", "Vérifié le", "Checked on"),
    ("servers.ports.open", "Ports ouverts", "Open ports"),
    ("servers.ports.declared", "Ports déclarés nécessaires", "Ports declared necessary"),
    (
        "finding.web2-app",
        "une autre application que Moodle sur un serveur mutualisé",
        "another application than Moodle on a shared server",
    ),
    (
        "finding.web1-no-roots",
        "aucune autorité de confiance pour vérifier le certificat",
        "no trusted roots to check the certificate against",
    ),
    ("finding.web1-tls", "erreur TLS", "TLS error"),
    ("finding.web1-bad-name", "ce nom ne peut pas porter de certificat", "not a name a certificate is for"),
    ("finding.web1-no-resolve", "le nom ne se résout pas", "the name does not resolve"),
    (
        "finding.web1-not-public",
        "le nom pointe vers une adresse non publique : non vérifié",
        "it resolves to an address that is not public: not checked",
    ),
    ("finding.web1-no-answer", "HTTPS ne répond pas", "HTTPS does not answer"),
    ("finding.web1-slow", "la négociation TLS n'aboutit pas dans le délai", "no TLS handshake in time"),
    ("finding.web1-no-handshake", "la négociation TLS a échoué", "no TLS handshake"),
    ("finding.web1-no-certificate", "aucun certificat présenté", "no certificate presented"),
    ("finding.web1-expired", "le certificat a expiré", "the certificate has expired"),
    ("finding.web1-not-yet-valid", "le certificat n'est pas encore valide", "the certificate is not valid yet"),
    ("finding.web1-wrong-name", "le certificat n'est pas pour ce domaine", "the certificate is not for this domain"),
    (
        "finding.web1-untrusted",
        "le certificat ne vient pas d'une autorité reconnue (auto-signé, ou chaîne incomplète)",
        "the certificate is not from a trusted authority (self-signed, or its chain is incomplete)",
    ),
    ("finding.web1-revoked", "le certificat est révoqué", "the certificate is revoked"),
    ("finding.web1-refused", "le certificat est refusé", "the certificate is refused"),
    ("finding.web1-expires-soon", "le certificat expire dans {arg} jours", "the certificate expires in {arg} days"),
    ("finding.net1-unchecked", "ses ports n'ont pas pu être vérifiés", "its ports could not be checked"),
    ("finding.net1-port", "répond sans être déclaré nécessaire", "answers and is not declared necessary"),
    ("finding.net2-none", "aucun rapport fail2ban du serveur", "no fail2ban report from the server"),
    (
        "finding.net2-old",
        "le dernier rapport fail2ban date de {arg} jours",
        "the last fail2ban report is {arg} days old",
    ),
    ("finding.net2-stopped", "fail2ban ne tourne pas", "fail2ban is not running"),
    ("finding.net2-port", "répond et aucune prison fail2ban ne le bannit", "answers and no fail2ban jail bans on it"),
    ("servers.fail2ban.none", "fail2ban : jamais signalé par le serveur", "fail2ban: never reported by the server"),
    ("servers.fail2ban.running", "fail2ban actif, prisons", "fail2ban running, jails"),
    ("servers.fail2ban.stopped", "fail2ban arrêté", "fail2ban not running"),
    ("servers.fail2ban.reported", "signalé le", "reported"),
    ("servers.findings.none", "Rien à signaler.", "Nothing to report."),
    ("sites.title", "Vos sites Moodle", "Your Moodle sites"),
    (
        "sites.intro",
        "Les sites Moodle hébergés : chacun vous est restitué entier, à tout moment, en un fichier que vous ouvrez avec des outils standard (OPS-2).",
        "The hosted Moodle sites: each is handed back to you whole, at any time, as one file you open with standard tools (OPS-2).",
    ),
    ("sites.none", "Aucun site enregistré.", "No site registered."),
    ("sites.site", "Site", "Site"),
    ("sites.backups", "Sauvegardes dans le coffre", "Backups in the vault"),
    ("sites.restitutions", "Restitutions", "Restitutions"),
    (
        "sites.restitutions.intro",
        "Chaque restitution contient la base de données en SQL, le répertoire moodledata, config.php sans son mot de passe, SHA256SUMS signé et un guide de restauration. Ouvrez-la avec : age -d -i votre.clé FICHIER.age | tar --zstd -xf -",
        "Each restitution holds the database as SQL, the moodledata directory, config.php without its password, a signed SHA256SUMS and a restore guide. Open it with: age -d -i your.key FILE.age | tar --zstd -xf -",
    ),
    ("sites.restitutions.none", "Aucune restitution dans le coffre.", "No restitution in the vault."),
    ("sites.download", "Télécharger", "Download"),
    (
        "sites.download.hint",
        "Un téléchargement interrompu reprend là où il s'était arrêté (curl -C - le fait aussi).",
        "An interrupted download resumes where it stopped (curl -C - does too).",
    ),
    ("sites.files", "fichiers", "files"),
    ("sites.jobs", "Restitutions demandées", "Restitutions asked for"),
    ("sites.progress", "Avancement", "Progress"),
    ("sites.left", "reste environ", "about"),
    ("sites.done", "terminée :", "done:"),
    ("sites.handback", "Restituer ce site", "Hand this site back"),
    ("sites.handback.key", "À la clé age", "To the age key"),
    ("sites.handback.go", "Restituer le site entier", "Hand the whole site back"),
    (
        "sites.handback.nokey",
        "Une restitution va à l'une de vos clés age : enregistrez-en une d'abord.",
        "A restitution goes to one of your age keys: register one first.",
    ),
    ("col.site", "Site", "Site"),
    ("col.server", "Serveur", "Server"),
    ("col.domain", "Domaine", "Domain"),
    ("col.client", "Client", "Client"),
    ("col.contract", "Contrat", "Contract"),
    ("col.archive", "Archive", "Archive"),
    ("col.inconsistencies", "Incohérences", "Inconsistencies"),
    ("col.file", "Fichier", "File"),
    ("contact.title", "Être prévenu", "Being told"),
    (
        "contact.intro",
        "gardien vous écrit quand quelque chose vous attend (une autorisation à décider, un dépôt reçu, une destruction) : des identifiants, des dates et un lien, jamais de données.",
        "gardien writes to you when something awaits you (an approval to decide, a drop received, a destruction): ids, dates and a link, never data.",
    ),
    ("contact.email", "Adresse électronique (vide : rien n'est envoyé)", "E-mail address (empty: nothing is sent)"),
    ("contact.lang", "Langue des messages", "Language of the messages"),
    ("contact.save", "Enregistrer", "Save"),
    ("drops.title", "Dépôts sécurisés", "Secure drops"),
    ("drops.none", "Aucun dépôt.", "No drops."),
    ("drops.to", "Destinataire", "Addressed to"),
    ("drops.new", "Ouvrir un dépôt", "Open a drop"),
    ("drops.contract", "Dossier", "Case"),
    ("drops.expires", "Ouvert pendant (7d, 48h) ou jusqu'au (AAAA-MM-JJ)", "Open for (7d, 48h) or until (YYYY-MM-DD)"),
    ("drops.max", "Taille maximale", "Largest size"),
    ("drops.create", "Ouvrir le dépôt", "Open the drop"),
    ("drops.created", "Dépôt ouvert", "Drop opened"),
    (
        "drops.once",
        "Le lien et le mot de passe ne sont montrés qu'ici, une fois : envoyez-les par deux canaux différents (le lien par courriel, le mot de passe par téléphone, PRE-2).",
        "The link and the password are shown only here, once: send them by two different channels (the link by e-mail, the password by phone, PRE-2).",
    ),
    ("drops.link", "Lien", "Link"),
    ("drops.one", "Dépôt", "Drop"),
    ("drops.by", "Ouvert par", "Opened by"),
    ("drops.failures", "Mots de passe faux d'affilée", "Wrong passwords in a row"),
    ("drops.recipient", "Clé age du dépôt", "The drop's age key"),
    ("drops.dataset", "Jeu de données reçu", "Dataset received"),
    ("drops.uploads", "Envois", "Uploads"),
    ("drops.revoke", "Révoquer le dépôt", "Revoke the drop"),
    ("nav.approvals", "Autorisations", "Approvals"),
    ("nav.verify", "Vérifier une preuve", "Verify a proof"),
    ("nav.clients", "Clients", "Clients"),
    ("nav.sweep", "Prochaine destruction", "Next sweep"),
    ("nav.refusals", "Refus récents", "Recent refusals"),
    ("nav.contracts", "Dossiers et contrats", "Cases and contracts"),
    (
        "sweep.intro",
        "Ce que la destruction quotidienne détruira dans les prochaines 24 heures, selon les règles de conservation, et ce qu'un gel juridique retient.",
        "What the daily sweep will destroy within the next 24 hours under the retention rules, and what a legal hold keeps.",
    ),
    ("sweep.none", "Rien n'est dû.", "Nothing is due."),
    ("sweep.held", "Retenu par un gel juridique", "Kept by a legal hold"),
    ("col.case", "Dossier", "Case"),
    ("col.presales", "Fin d'avant-vente", "Pre-sales end"),
    ("col.deal", "Affaire", "Deal"),
    ("col.ends", "Fin du contrat", "Contract end"),
    ("deal.concluded", "conclue", "concluded"),
    ("deal.lost", "perdue", "lost"),
    ("nav.logout", "Se déconnecter", "Sign out"),
    ("nav.main", "Navigation principale", "Main navigation"),
    ("home.signed_in_as", "Connecté en tant que", "Signed in as"),
    ("home.role", "Rôle", "Role"),
    ("home.client", "Client", "Client"),
    ("datasets.title", "Vos données", "Your data"),
    ("datasets.none", "Aucune donnée.", "No data."),
    ("col.id", "Identifiant", "Id"),
    ("col.label", "Libellé", "Label"),
    ("col.class", "Nature", "Class"),
    ("col.size", "Taille", "Size"),
    ("col.sites", "Sites", "Sites"),
    ("col.phase", "Phase du contrat", "Contract phase"),
    ("col.destroy", "Destruction prévue", "Destruction due"),
    ("col.clause", "Clause", "Clause"),
    ("col.time", "Date", "Time"),
    ("col.actor", "Qui", "Who"),
    ("col.action", "Quoi", "What"),
    ("col.resources", "Sur", "On"),
    ("col.decision", "Décision", "Decision"),
    ("col.proof", "Preuve", "Proof"),
    ("col.kind", "Type", "Kind"),
    ("col.status", "État", "Status"),
    ("col.until", "Jusqu'au", "Until"),
    ("col.for", "Pour", "For"),
    ("col.recipient", "Destinataire age", "age recipient"),
    ("col.added", "Ajoutée", "Added"),
    ("col.issued", "Émis le", "Issued"),
    ("col.dataset", "Données", "Dataset"),
    ("no_date", "pas encore de date", "no date yet"),
    ("held", "suspendue (gel juridique)", "on hold (legal hold)"),
    ("download", "Télécharger", "Download"),
    ("log.title", "Journal d'accès", "Access log"),
    (
        "log.intro",
        "Chaque opération sur vos données, refusée ou permise, est inscrite dans un journal infalsifiable. Chaque entrée a sa preuve d'inclusion, que vous vérifiez vous-même, sans nous faire confiance.",
        "Every operation on your data, refused or allowed, is written to a tamper-evident log. Each entry has its inclusion proof, which you check yourself, without trusting us.",
    ),
    (
        "log.verify",
        "Le vérifier vous-même : téléchargez la preuve, puis ouvrez « Vérifier une preuve » (tout se passe dans votre navigateur), ou utilisez les paquets de référence Go (golang.org/x/mod/sumdb/note et tlog) avec la clé publique du journal.",
        "Verify it yourself: download the proof, then open \"Verify a proof\" (it all runs in your browser), or use Go's reference packages (golang.org/x/mod/sumdb/note and tlog) with the log's public key.",
    ),
    ("allowed", "permis", "allowed"),
    ("denied", "refusé", "refused"),
    ("failed", "échoué", "failed"),
    ("certificates.title", "Certificats de destruction", "Destruction certificates"),
    ("certificates.none", "Aucun certificat.", "No certificates."),
    ("keys.title", "Vos clés age", "Your age keys"),
    (
        "keys.intro",
        "Les restitutions de vos données sont chiffrées pour ces clés seulement (OPS-2).",
        "Your data is handed back encrypted to these keys only (OPS-2).",
    ),
    ("keys.add", "Ajouter une clé", "Add a key"),
    ("keys.remove", "Retirer", "Remove"),
    ("keys.none", "Aucune clé enregistrée.", "No key registered."),
    ("keys.label", "Libellé (facultatif)", "Label (optional)"),
    ("approvals.title", "Autorisations", "Approvals"),
    ("approvals.none", "Aucune autorisation.", "No approvals."),
    ("col.datasets", "Données concernées", "Datasets it opens"),
    ("approval.decided_by", "Décidée par", "Decided by"),
    ("approval.scope", "Portée demandée (en entier)", "Scope asked (in full)"),
    ("approval.requester", "Demandée par", "Requested by"),
    ("approval.approve", "Approuver", "Approve"),
    ("approval.refuse", "Refuser", "Refuse"),
    ("approval.revoke", "Révoquer", "Revoke"),
    ("approval.comment", "Commentaire", "Comment"),
    ("approval.decided", "Décision enregistrée.", "Decision recorded."),
    ("verify.title", "Vérifier une preuve ou un certificat", "Verify a proof or a certificate"),
    (
        "verify.intro",
        "La vérification se fait entièrement dans votre navigateur, sans rien envoyer : elle contrôle la signature, l'inclusion dans le journal et le contenu. Conservez la clé publique ci-dessous : c'est elle qui fait foi.",
        "Verification runs entirely in your browser and sends nothing: it checks the signature, the inclusion in the log and the content. Keep the public key below: it is what you trust.",
    ),
    ("verify.key", "Clé publique du journal", "The log's public key"),
    ("verify.kind", "Nature du fichier", "Kind of file"),
    ("verify.kind.proof", "Preuve d'entrée du journal", "Ledger entry proof"),
    ("verify.kind.certificate", "Certificat de destruction", "Destruction certificate"),
    ("verify.file", "Fichier", "File"),
    ("verify.text", "ou son contenu collé", "or its text, pasted"),
    ("verify.entry", "L'entrée prouvée (pour une preuve)", "The entry proven (for a proof)"),
    ("verify.entry_text", "ou son contenu collé", "or its text, pasted"),
    ("log.entry", "Entrée", "Entry"),
    ("verify.submit", "Vérifier", "Verify"),
    ("error.title", "Erreur", "Error"),
    ("error.back", "Retour", "Back"),
    ("csrf", "Formulaire expiré : rechargez la page.", "This form expired: reload the page."),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text a page asks for exists in both languages, once.
    #[test]
    fn every_key_the_portal_uses_is_translated() {
        let source = include_str!("portal.rs");
        let mut used: Vec<&str> = source.split(".t(\"").skip(1).filter_map(|s| s.split('"').next()).collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() > 50, "{used:?}");
        for key in used {
            assert_ne!(Lang::Fr.t(key), "??", "{key} has no text");
        }
        let mut keys: Vec<&str> = TEXTS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is defined twice");
        for (k, fr, en) in TEXTS {
            assert!(!fr.is_empty() && !en.is_empty(), "{k}");
        }
    }

    #[test]
    fn every_finding_of_a_server_check_is_said_in_both_languages() {
        let web1 = vault::CERT_PROBLEM_CODES.iter().map(|c| format!("web1-{c}"));
        for code in vault::FINDING_CODES.iter().map(|c| c.to_string()).chain(web1) {
            assert_ne!(Lang::Fr.t(&format!("finding.{code}")), "??", "finding {code} has no text");
        }
    }
}
