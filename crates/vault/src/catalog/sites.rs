//! The catalog's side of Moodle sites (migration `0013_sites.sql`): the sites, and what
//! each restitution or backup holds beside its dataset.

use super::db::{Optional as _, Row, params};

use super::Catalog;
use crate::Error;

/// A Moodle site, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    /// Its slug.
    pub slug: String,
    /// The client it belongs to.
    pub client: String,
    /// The contract it is hosted under (its backups' retention, ARC-1).
    pub contract: String,
    /// Its database (a URL without password).
    pub db_url: String,
    /// Its `moodledata`.
    pub moodledata: String,
    /// Its `config.php`, if named.
    pub config_path: Option<String>,
    /// When it was added.
    pub created: String,
}

/// A restitution or a backup of a site: what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// Its dataset.
    pub dataset: String,
    /// Its site.
    pub site: String,
    /// `restitution` or `backup`.
    pub kind: String,
    /// A restitution's client key.
    pub recipient: Option<String>,
    /// The archive's top directory.
    pub top: String,
    /// Files from moodledata.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// The dump's bytes.
    pub db_bytes: u64,
    /// SHA-256 of its SHA256SUMS.
    pub sums_sha256: String,
    /// What the checks found, one per line.
    pub inconsistencies: String,
    /// A restitution's age header for its recipient.
    pub client_header: Option<Vec<u8>>,
}

const SITE_COLUMNS: &str = "slug, client, contract, db_url, moodledata, config_path, created";
const ARCHIVE_COLUMNS: &str =
    "dataset, site, kind, recipient, top, files, file_bytes, db_bytes, sums_sha256, inconsistencies, client_header";

fn site_row(r: &Row<'_>) -> rusqlite::Result<SiteRow> {
    Ok(SiteRow {
        slug: r.get(0)?,
        client: r.get(1)?,
        contract: r.get(2)?,
        db_url: r.get(3)?,
        moodledata: r.get(4)?,
        config_path: r.get(5)?,
        created: r.get(6)?,
    })
}

fn archive_row(r: &Row<'_>) -> rusqlite::Result<ArchiveRow> {
    Ok(ArchiveRow {
        dataset: r.get(0)?,
        site: r.get(1)?,
        kind: r.get(2)?,
        recipient: r.get(3)?,
        top: r.get(4)?,
        files: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
        file_bytes: r.get::<_, i64>(6)?.try_into().unwrap_or(0),
        db_bytes: r.get::<_, i64>(7)?.try_into().unwrap_or(0),
        sums_sha256: r.get(8)?,
        inconsistencies: r.get(9)?,
        client_header: r.get(10)?,
    })
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Catalog {
    /// Adds a site; false when the slug is taken.
    pub fn add_site(&self, s: &SiteRow) -> Result<bool, Error> {
        let n = self.db.execute(
            &format!("INSERT INTO sites ({SITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"),
            params![s.slug, s.client, s.contract, s.db_url, s.moodledata, s.config_path, s.created],
        )?;
        Ok(n == 1)
    }

    /// A site by its slug.
    pub fn site(&self, slug: &str) -> Result<Option<SiteRow>, Error> {
        Ok(self
            .db
            .query_row(&format!("SELECT {SITE_COLUMNS} FROM sites WHERE slug = ?1"), [slug], site_row)
            .optional()?)
    }

    /// Every site, or a client's, by slug.
    pub fn sites(&self, client: Option<&str>) -> Result<Vec<SiteRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE ?1 IS NULL OR client = ?1 ORDER BY slug"
        ))?;
        let rows = st.query_map([client], site_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records what an archive of a site holds (in the transaction that makes its dataset
    /// visible).
    pub fn add_site_archive(&self, a: &ArchiveRow) -> Result<(), Error> {
        self.db.execute(
            &format!(
                "INSERT INTO site_archives ({ARCHIVE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                a.dataset,
                a.site,
                a.kind,
                a.recipient,
                a.top,
                i(a.files),
                i(a.file_bytes),
                i(a.db_bytes),
                a.sums_sha256,
                a.inconsistencies,
                a.client_header
            ],
        )?;
        Ok(())
    }

    /// A site's archives, oldest first.
    pub fn site_archives(&self, site: &str) -> Result<Vec<ArchiveRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {} FROM site_archives a JOIN datasets d ON d.id = a.dataset WHERE a.site = ?1 ORDER BY d.created, a.dataset",
            ARCHIVE_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        let rows = st.query_map([site], archive_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The archive a dataset is, if one.
    pub fn site_archives_of(&self, dataset: &str) -> Result<Option<ArchiveRow>, Error> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {ARCHIVE_COLUMNS} FROM site_archives WHERE dataset = ?1"),
                [dataset],
                archive_row,
            )
            .optional()?)
    }
}
