//! `gardien store add|list`.

use std::path::PathBuf;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a store on a site: a local directory (--path) or an S3-compatible bucket (--s3);
    /// sites outside the allowed list are refused (LOC-1).
    #[command(
        after_help = "Examples:\n  gardien store add strasbourg-1 --site fr-strasbourg --path /mnt/sbg/gardien\n  \
AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\\n    \
gardien store add roubaix-s3 --site fr-roubaix --s3 s3://gardien-backups/vault --endpoint https://s3.rbx.io.cloud.ovh.net --region rbx\n\n\
An S3 store's keys are never kept in the catalog. They come from --credentials FILE (TOML:\n\
access_key_id = \"...\" and secret_access_key = \"...\"; the file must be the owner's alone,\n\
chmod 600), read each time the store is used, or else from AWS_ACCESS_KEY_ID and\n\
AWS_SECRET_ACCESS_KEY in the environment of every gardien command that uses the store.\n\
The bucket is listed once before the store is recorded: a wrong endpoint, bucket or key is\n\
refused then, not at the first ingest."
    )]
    #[command(group(clap::ArgGroup::new("where").required(true).args(["path", "s3"])))]
    Add {
        /// The store's name (lowercase letters, digits, dashes).
        name: String,
        /// The site it is on; must be one of the config's allowed_sites.
        #[arg(long)]
        site: String,
        /// The directory the blobs go to (created if missing).
        #[arg(long, conflicts_with = "s3")]
        path: Option<PathBuf>,
        /// The bucket and prefix the blobs go under: s3://BUCKET or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "s3://BUCKET/PREFIX", requires = "endpoint")]
        s3: Option<String>,
        /// The S3 service's address: https://HOST[:PORT] (http:// only on a trusted network).
        #[arg(long, requires = "s3")]
        endpoint: Option<String>,
        /// The region, as the provider names it.
        #[arg(long, requires = "s3", default_value = "us-east-1")]
        region: String,
        /// A file holding the keys (see below); without it, the AWS_* environment variables.
        #[arg(long, requires = "s3")]
        credentials: Option<PathBuf>,
        /// A PEM file of the certificate authorities an https endpoint is checked against,
        /// besides the system's (a private S3 service).
        #[arg(long, requires = "s3")]
        ca: Option<PathBuf>,
    },
    /// List the stores.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    match cmd {
        Cmd::Add { name, site, path, s3, endpoint, region, credentials, ca } => {
            let at = match (path, s3, endpoint) {
                (Some(path), ..) => vault::NewStore::Dir(path),
                (None, Some(url), Some(endpoint)) => vault::NewStore::S3 {
                    url,
                    endpoint,
                    region,
                    credentials: credentials.as_deref(),
                    ca: ca.as_deref(),
                },
                // clap requires --path or --s3 with --endpoint.
                _ => anyhow::bail!("name the store's --path, or its --s3 address with --endpoint"),
            };
            let s = v.add_store(name, site, &at, super::now())?;
            eprintln!("added store {} on {} at {}", s.name, s.site, s.location());
            Ok(())
        }
        Cmd::List { json } => {
            let stores = v.stores(super::now())?;
            if *json {
                output::json(&stores.iter().map(output::store_json).collect::<Vec<_>>())
            } else {
                output::table(
                    &["NAME", "SITE", "KIND", "LOCATION"],
                    stores.iter().map(|s| vec![s.name.clone(), s.site.clone(), s.kind_name().to_owned(), s.location()]),
                )
            }
        }
    }
}
