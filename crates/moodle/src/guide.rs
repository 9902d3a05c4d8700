//! The restore guides put first in every archive, in French and English: standard tools
//! only, so that the client restores its site without the operator.

use crate::Engine;

/// The guide in `lang` (`fr` or `en`).
pub(crate) fn text(lang: &str, engine: Engine, slug: &str, server: &str, signer: &str) -> String {
    let (create, load) = match engine {
        Engine::Postgres => {
            ("createdb moodle", "cat db/*.sql | psql -X -v ON_ERROR_STOP=1 --single-transaction -d moodle")
        }
        Engine::Mariadb => (
            "mariadb -e 'CREATE DATABASE moodle DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'",
            "cat db/*.sql | mariadb moodle",
        ),
    };
    let server = server.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
    if lang == "fr" {
        format!(
            "# Restituer le site Moodle {slug}

Cette archive contient votre site Moodle, tel que l'hébergeur l'avait à sa création :

- `db/*.sql` : la base de données en SQL, faite par l'outil de la base elle-même, en une
  seule photographie cohérente, à lire dans l'ordre (serveur : {server}) ;
- `moodledata/` : les fichiers du site, sans ce que Moodle recrée seul (cache, localcache,
  sessions, temp, trashdir, lock) ;
- `config.php` : la configuration, le mot de passe de la base retiré ;
- `INCONSISTENCIES.txt`, s'il existe : ce que les contrôles ont trouvé ;
- `SHA256SUMS` et sa signature par la clé du journal de l'hébergeur.

## 1. Vérifier

    sha256sum --strict -c SHA256SUMS

Chaque ligne doit dire « OK » (ou « Réussi »). Puis la signature : mettez dans un fichier
`allowed_signers` la ligne de la clé publique de l'hébergeur, obtenue de lui et non de cette
archive (sur son portail, ou `gardien ledger key --ssh`), qui commence par `{signer}` :

    ssh-keygen -Y verify -f allowed_signers -I {signer} -n gardien-restitution -s SHA256SUMS.sig < SHA256SUMS

## 2. La base de données

    {create}
    {load}

Le client de la base (`psql`, `mariadb`) doit être au moins aussi récent que le serveur
d'origine ({server}) : un vieux client peut refuser les premières lignes du fichier.

## 3. Les fichiers

    cp -a moodledata /CHEMIN/VERS/moodledata

puis donnez-les à l'utilisateur du serveur web (`chown -R www-data: /CHEMIN/VERS/moodledata`).

## 4. Moodle

Installez le code de la même version de Moodle, copiez-y `config.php`, et renseignez
`$CFG->dbpass` (et `dbhost`, `dbname`, `dbuser`, `wwwroot`, `dataroot` s'ils changent). Puis :

    php admin/cli/purge_caches.php

Si l'adresse du site change : `php admin/tool/replace/cli/replace.php --search=ANCIENNE --replace=NOUVELLE`.
"
        )
    } else {
        format!(
            "# Restoring the Moodle site {slug}

This archive holds your Moodle site as the operator had it when the archive was made:

- `db/*.sql`: the database as SQL, made by the database's own tool in one consistent
  snapshot, to be read in order (server: {server});
- `moodledata/`: the site's files, without what Moodle makes again by itself (cache,
  localcache, sessions, temp, trashdir, lock);
- `config.php`: the configuration, with the database password taken out;
- `INCONSISTENCIES.txt`, if present: what the checks found;
- `SHA256SUMS` and its signature by the operator's ledger key.

## 1. Check it

    sha256sum --strict -c SHA256SUMS

Every line must say OK. Then the signature: put in a file `allowed_signers` the line of the
operator's public key, obtained from the operator and not from this archive (on its
portal, or `gardien ledger key --ssh`), which starts with `{signer}`:

    ssh-keygen -Y verify -f allowed_signers -I {signer} -n gardien-restitution -s SHA256SUMS.sig < SHA256SUMS

## 2. The database

    {create}
    {load}

The database's client (`psql`, `mariadb`) must be at least as recent as the original
server ({server}): an older one may refuse the file's first lines.

## 3. The files

    cp -a moodledata /PATH/TO/moodledata

then give them to the web server's user (`chown -R www-data: /PATH/TO/moodledata`).

## 4. Moodle

Install the code of the same Moodle version, copy `config.php` into it, and set
`$CFG->dbpass` (and `dbhost`, `dbname`, `dbuser`, `wwwroot`, `dataroot` if they change).
Then:

    php admin/cli/purge_caches.php

If the site's address changes: `php admin/tool/replace/cli/replace.php --search=OLD --replace=NEW`.
"
        )
    }
}
