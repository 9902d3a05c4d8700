//! The JSON API under `/api/v1/`: bearer tokens only (never cookies), one vault operation
//! per request, its shapes published in the OpenAPI document (`/api/openapi.json`,
//! generated from these types and handlers).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::Shared;
use crate::errors::{ApiError, JsonBody, Problem};
use crate::identity::{Bearer, FailureKind, auth_failed};
use crate::pool::{Signed, Who};

/// Runs one vault operation for a bearer token's person.
pub(crate) async fn act<T: Send + 'static>(
    state: &Shared,
    bearer: Bearer,
    f: impl FnOnce(&vault::Vault, &Signed) -> Result<T, vault::Error> + Send + 'static,
) -> Result<T, ApiError> {
    match state.pool.run(Who::Token(bearer.token), f).await {
        Err(vault::Error::NotSignedIn) => {
            auth_failed(state, bearer.addr, FailureKind::Token, "");
            Err(ApiError::Unauthenticated)
        }
        r => r.map_err(ApiError::from),
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// A list's client: the one asked for, else a client's person's own.
fn client_of(asked: Option<String>, me: &Signed) -> Option<String> {
    asked.or_else(|| me.person.as_ref().and_then(|p| p.client.clone()))
}

fn text(body: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// The person a token acts as.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    handle: String,
    role: String,
    client: Option<String>,
    name: Option<String>,
}

impl From<vault::Person> for Me {
    fn from(p: vault::Person) -> Me {
        Me { handle: p.handle, role: p.role, client: p.client, name: p.name }
    }
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "people",
    responses((status = 200, body = Me), (status = 401, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn me(State(state): State<Shared>, bearer: Bearer) -> Result<Json<Me>, ApiError> {
    Ok(Json(act(&state, bearer, |v, _| v.me(now())).await?.into()))
}

/// An in-vault copy: where it is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CopyOut {
    store: String,
    /// The site (LOC-1: fr-roubaix or fr-strasbourg).
    site: String,
}

/// A dataset in custody, with its fate under the retention rules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DatasetOut {
    id: String,
    client: String,
    /// presales-sample, loading-data, backup, archive, export, other.
    class: String,
    label: Option<String>,
    contract: Option<String>,
    /// Plaintext bytes.
    size: u64,
    sha256: String,
    created: String,
    /// active, destroying, destroyed.
    state: String,
    copies: Vec<CopyOut>,
    /// The sites holding a copy.
    sites: Vec<String>,
    /// The contract's phase, or destroyed.
    phase: String,
    /// When the rules destroy it (RFC 3339), if they set a date yet.
    destroy_at: Option<String>,
    /// The rule, in words.
    rule: Option<String>,
    /// The clause behind the rule.
    clause: Option<String>,
    /// Whether a legal hold stops its clock.
    held: bool,
    /// A pre-sales sample's technical operator (PRE-3).
    addressed_to: Option<String>,
    /// When it was destroyed.
    destroyed: Option<String>,
}

impl From<vault::Dataset> for DatasetOut {
    fn from(d: vault::Dataset) -> DatasetOut {
        let fate =
            d.fate.unwrap_or(vault::Fate { phase: String::new(), due: None, rule: None, clause: None, held: false });
        let mut sites: Vec<String> = d.copies.iter().map(|c| c.site.clone()).collect();
        sites.sort();
        sites.dedup();
        DatasetOut {
            id: d.id,
            client: d.client,
            class: d.class.as_str().to_owned(),
            label: d.label,
            contract: d.contract,
            size: d.size,
            sha256: d.sha256,
            created: d.created,
            state: d.state,
            copies: d.copies.into_iter().map(|c| CopyOut { store: c.store, site: c.site }).collect(),
            sites,
            phase: fate.phase,
            destroy_at: fate.due,
            rule: fate.rule,
            clause: fate.clause,
            held: fate.held,
            addressed_to: d.addressed_to,
            destroyed: d.destruction.map(|x| x.at),
        }
    }
}

/// Which client's list.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ClientQuery {
    /// A client's slug; a client's people get their own client's by default.
    client: Option<String>,
}

/// A client's datasets (only those the policy lets the person see).
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", params(ClientQuery),
    responses((status = 200, body = [DatasetOut]), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn datasets(
    State(state): State<Shared>,
    bearer: Bearer,
    Query(q): Query<ClientQuery>,
) -> Result<Json<Vec<DatasetOut>>, ApiError> {
    let list = act(&state, bearer, move |v, me| v.datasets(client_of(q.client, me).as_deref(), true, now())).await?;
    Ok(Json(list.into_iter().map(DatasetOut::from).collect()))
}

/// One dataset; another client's answers as an unknown one (404).
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = String, Path, description = "ds-...")),
    responses((status = 200, body = DatasetOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn dataset(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<DatasetOut>, ApiError> {
    Ok(Json(act(&state, bearer, move |v, _| v.dataset(&id, now())).await?.into()))
}

/// A contract and its dates.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContractOut {
    case: String,
    client: String,
    /// pre-sales, operation, admin-window, closed.
    phase: String,
    presales_until: Option<String>,
    /// undecided, concluded, lost.
    deal: String,
    vsr_until: Option<String>,
    ends: Option<String>,
    custody_months: u32,
    admin_window_until: Option<String>,
    created: String,
}

fn contract_out(r: vault::ContractRow) -> ContractOut {
    let t = |d: Option<chrono::DateTime<chrono::Utc>>| d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let c = &r.contract;
    ContractOut {
        case: c.case.clone(),
        client: r.client.clone(),
        phase: c.phase(now()).as_str().to_owned(),
        presales_until: t(c.presales_until),
        deal: match c.deal {
            lifecycle::Deal::Undecided => "undecided",
            lifecycle::Deal::Concluded { .. } => "concluded",
            lifecycle::Deal::Lost { .. } => "lost",
        }
        .to_owned(),
        vsr_until: t(c.vsr_until),
        ends: t(c.ends),
        custody_months: c.custody_months,
        admin_window_until: t(c.admin_window_until),
        created: r.created,
    }
}

/// A client's contracts.
#[utoipa::path(get, path = "/api/v1/contracts", tag = "contracts", params(ClientQuery),
    responses((status = 200, body = [ContractOut]), (status = 401, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn contracts(
    State(state): State<Shared>,
    bearer: Bearer,
    Query(q): Query<ClientQuery>,
) -> Result<Json<Vec<ContractOut>>, ApiError> {
    let rows = act(&state, bearer, move |v, me| v.contracts(client_of(q.client, me).as_deref(), now())).await?;
    Ok(Json(rows.into_iter().map(contract_out).collect()))
}

/// One contract.
#[utoipa::path(get, path = "/api/v1/contracts/{case}", tag = "contracts", params(("case" = String, Path)),
    responses((status = 200, body = ContractOut), (status = 401, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn contract(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(case): Path<String>,
) -> Result<Json<ContractOut>, ApiError> {
    Ok(Json(contract_out(act(&state, bearer, move |v, _| v.contract(&case, now())).await?)))
}

/// One entry of the access log, decoded.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryOut {
    index: u64,
    time: String,
    /// person:HANDLE
    actor: String,
    /// The operation (dataset:get, approval:decide...).
    action: String,
    /// What it was about: kind:id, the most specific first.
    resources: Vec<String>,
    /// Whether the policy allowed it.
    allowed: bool,
    /// The clauses that decided.
    clause: String,
    /// allowed, denied, failed.
    outcome: String,
}

/// Which page of the access log.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct LedgerQuery {
    /// A client's slug; a client's people get their own client's by default.
    client: Option<String>,
    /// The first index to return (default 0); the next page starts after the last one.
    from: Option<u64>,
    /// At most this many entries (default and maximum 1000).
    limit: Option<usize>,
}

/// A client's access log: every entry naming it, a page at a time.
#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger", params(LedgerQuery),
    responses((status = 200, body = [EntryOut]), (status = 401, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn ledger(
    State(state): State<Shared>,
    bearer: Bearer,
    Query(q): Query<LedgerQuery>,
) -> Result<Json<Vec<EntryOut>>, ApiError> {
    let (from, limit) = (q.from.unwrap_or(0), q.limit.unwrap_or(1000).clamp(1, 1000));
    let rows =
        act(&state, bearer, move |v, me| v.ledger_page(client_of(q.client, me).as_deref(), from, limit, now())).await?;
    Ok(Json(rows.into_iter().map(|(index, e)| entry_out(index, e)).collect()))
}

pub(crate) fn entry_out(index: u64, e: vault::Event) -> EntryOut {
    EntryOut {
        index,
        time: e.time,
        actor: e.actor,
        action: e.action.as_str().to_owned(),
        resources: e.resources,
        allowed: e.allowed,
        clause: e.clause,
        outcome: e.outcome.as_str().to_owned(),
    }
}

/// An entry's bytes: what its leaf hashes (`gardien-event/v1`).
#[utoipa::path(get, path = "/api/v1/ledger/entries/{n}", tag = "ledger", params(("n" = u64, Path)),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn entry(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(n): Path<u64>,
) -> Result<Response, ApiError> {
    let bytes = act(&state, bearer, move |v, _| v.ledger_entry(n, now())).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response())
}

/// An entry's inclusion proof (`c2sp.org/tlog-proof@v1`), against a fresh checkpoint;
/// `gardien ledger verify-proof` or the portal's verification page check it offline.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{n}/proof", tag = "ledger", params(("n" = u64, Path)),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn proof(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(n): Path<u64>,
) -> Result<Response, ApiError> {
    Ok(text(act(&state, bearer, move |v, _| v.inclusion_proof(n, None, now())).await?))
}

/// A fresh signed checkpoint (`c2sp.org/tlog-checkpoint`).
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, body = String, content_type = "text/plain")), security(("bearer" = [])))]
pub(crate) async fn checkpoint(State(state): State<Shared>, bearer: Bearer) -> Result<Response, ApiError> {
    Ok(text(act(&state, bearer, |v, _| v.checkpoint(now())).await?))
}

/// The log's verifier key (signed-note form): pin it.
#[utoipa::path(get, path = "/api/v1/ledger/key", tag = "ledger",
    responses((status = 200, body = String, content_type = "text/plain")), security(("bearer" = [])))]
pub(crate) async fn key(State(state): State<Shared>, bearer: Bearer) -> Result<Response, ApiError> {
    Ok(text(act(&state, bearer, |v, _| v.ledger_key(now())).await?))
}

/// A destruction certificate.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateOut {
    id: String,
    dataset: String,
    issued: String,
    /// The signed note (`gardien-certificate/v1`): `gardien certificate verify --key` or
    /// the portal's verification page check it offline.
    note: String,
}

/// A client's destruction certificates.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(ClientQuery),
    responses((status = 200, body = [CertificateOut]), (status = 401, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn certificates(
    State(state): State<Shared>,
    bearer: Bearer,
    Query(q): Query<ClientQuery>,
) -> Result<Json<Vec<CertificateOut>>, ApiError> {
    let rows = act(&state, bearer, move |v, me| v.certificates(client_of(q.client, me).as_deref(), now())).await?;
    Ok(Json(
        rows.into_iter()
            .map(|c| CertificateOut { id: c.id, dataset: c.dataset, issued: c.issued, note: c.note })
            .collect(),
    ))
}

/// One certificate (by its id, or its dataset's).
#[utoipa::path(get, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = String, Path)),
    responses((status = 200, body = CertificateOut), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn certificate(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<CertificateOut>, ApiError> {
    let (c, _) = act(&state, bearer, move |v, _| v.certificate(&id, now())).await?;
    Ok(Json(CertificateOut { id: c.id, dataset: c.dataset, issued: c.issued, note: c.note }))
}

/// An approval: what the client's signer decides (CONF-1/3/4, PRE-4, ACC-2).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApprovalOut {
    id: String,
    /// disclosure, observation, material-reuse, sample-reuse, server-access.
    kind: String,
    client: String,
    /// What is asked, in full.
    scope: String,
    requester: String,
    /// The one person it is for.
    #[serde(rename = "for")]
    for_handle: Option<String>,
    /// The datasets it opens.
    datasets: Vec<String>,
    server: Option<String>,
    maneuvers: Option<String>,
    until: Option<String>,
    /// requested, approved, refused, revoked.
    status: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    comment: Option<String>,
    revoked_at: Option<String>,
    created: String,
}

pub(crate) fn approval_out(a: vault::ApprovalRow) -> ApprovalOut {
    ApprovalOut {
        id: a.id,
        kind: a.kind,
        client: a.client,
        scope: a.scope,
        requester: a.requester,
        for_handle: a.for_handle,
        datasets: a.datasets,
        server: a.server,
        maneuvers: a.maneuvers,
        until: a.until,
        status: a.status,
        decided_by: a.decided_by,
        decided_at: a.decided_at,
        comment: a.comment,
        revoked_at: a.revoked_at,
        created: a.created,
    }
}

/// A client's approvals.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(ClientQuery),
    responses((status = 200, body = [ApprovalOut]), (status = 401, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn approvals(
    State(state): State<Shared>,
    bearer: Bearer,
    Query(q): Query<ClientQuery>,
) -> Result<Json<Vec<ApprovalOut>>, ApiError> {
    let rows = act(&state, bearer, move |v, me| v.approvals(client_of(q.client, me).as_deref(), now())).await?;
    Ok(Json(rows.into_iter().map(approval_out).collect()))
}

/// One approval, its scope in full (for a signer, this is what makes deciding possible, CONF-4).
#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, body = ApprovalOut), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn approval(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<ApprovalOut>, ApiError> {
    Ok(Json(approval_out(act(&state, bearer, move |v, _| v.approval(&id, now())).await?)))
}

/// A signer's decision.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DecisionIn {
    /// true to approve, false to refuse.
    approve: bool,
    /// Why (kept with the approval, shown to the requester).
    comment: Option<String>,
}

/// Approve or refuse (a signer of the client; CONF-4: an observation only once its scope was shown).
#[utoipa::path(post, path = "/api/v1/approvals/{id}/decision", tag = "approvals", params(("id" = String, Path)), request_body = DecisionIn,
    responses((status = 200, body = ApprovalOut), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn decide(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(d): JsonBody<DecisionIn>,
) -> Result<Json<ApprovalOut>, ApiError> {
    let a = act(&state, bearer, move |v, _| v.decide_approval(&id, d.approve, d.comment.as_deref(), now())).await?;
    Ok(Json(approval_out(a)))
}

/// Revoke a request or an approval in force.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/revoke", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, body = ApprovalOut), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<ApprovalOut>, ApiError> {
    Ok(Json(approval_out(act(&state, bearer, move |v, _| v.revoke_approval(&id, now())).await?)))
}

/// A request for the client's approval.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ApprovalIn {
    /// disclosure, observation, material-reuse, sample-reuse, server-access.
    kind: String,
    client: String,
    /// What is asked, in full: the signer decides on exactly this text.
    scope: String,
    /// The one person it is for.
    #[serde(rename = "for")]
    for_handle: Option<String>,
    /// The datasets it covers.
    #[serde(default)]
    datasets: Vec<String>,
    /// Its end (a day: through that day).
    until: Option<String>,
}

/// Ask the client's signer for an approval.
#[utoipa::path(post, path = "/api/v1/approvals", tag = "approvals", request_body = ApprovalIn,
    responses((status = 200, body = ApprovalOut), (status = 400, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn request(
    State(state): State<Shared>,
    bearer: Bearer,
    JsonBody(r): JsonBody<ApprovalIn>,
) -> Result<Json<ApprovalOut>, ApiError> {
    let a = act(&state, bearer, move |v, _| {
        v.request_approval(
            &vault::NewApproval {
                kind: &r.kind,
                client: &r.client,
                scope: &r.scope,
                for_handle: r.for_handle.as_deref(),
                datasets: &r.datasets,
                until: r.until.as_deref(),
                server: None,
                maneuvers: &[],
            },
            now(),
        )
    })
    .await?;
    Ok(Json(approval_out(a)))
}

/// An age key of the client: where its exports may go (OPS-2).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientKeyOut {
    /// age1...
    recipient: String,
    label: Option<String>,
    added: String,
    added_by: String,
    removed: Option<String>,
}

pub(crate) fn key_out(k: vault::ClientKey) -> ClientKeyOut {
    ClientKeyOut { recipient: k.recipient, label: k.label, added: k.added, added_by: k.added_by, removed: k.removed }
}

/// A client's registered age keys.
#[utoipa::path(get, path = "/api/v1/clients/{client}/keys", tag = "keys", params(("client" = String, Path)),
    responses((status = 200, body = [ClientKeyOut]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn keys(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(client): Path<String>,
) -> Result<Json<Vec<ClientKeyOut>>, ApiError> {
    let rows = act(&state, bearer, move |v, _| v.client_keys(&client, now())).await?;
    Ok(Json(rows.into_iter().map(key_out).collect()))
}

/// A key to register.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct KeyIn {
    /// An age X25519 recipient (age1...).
    recipient: String,
    label: Option<String>,
}

/// Register an age key of the client (its admin only, OPS-2).
#[utoipa::path(post, path = "/api/v1/clients/{client}/keys", tag = "keys", params(("client" = String, Path)), request_body = KeyIn,
    responses((status = 200, body = ClientKeyOut), (status = 400, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn add_key(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(client): Path<String>,
    JsonBody(k): JsonBody<KeyIn>,
) -> Result<Json<ClientKeyOut>, ApiError> {
    let row =
        act(&state, bearer, move |v, _| v.add_client_key(&client, &k.recipient, k.label.as_deref(), now())).await?;
    Ok(Json(key_out(row)))
}

/// Remove a registered key: it takes no new export (its admin only).
#[utoipa::path(delete, path = "/api/v1/clients/{client}/keys/{recipient}", tag = "keys",
    params(("client" = String, Path), ("recipient" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn remove_key(
    State(state): State<Shared>,
    bearer: Bearer,
    Path((client, recipient)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    act(&state, bearer, move |v, _| v.remove_client_key(&client, &recipient, now())).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Liveness: no authentication, nothing recorded, nothing about anyone.
#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// A site's restitution or backup still in the vault.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SiteArchiveOut {
    dataset: String,
    /// `restitution` or `backup`.
    kind: String,
    /// A restitution's age recipient.
    recipient: Option<String>,
    /// The archive's top directory (`SITE-YYYYMMDD`).
    top: String,
    files: u64,
    file_bytes: u64,
    db_bytes: u64,
    /// SHA-256 of the archive's SHA256SUMS.
    sums_sha256: String,
    /// What the checks found, one per entry.
    inconsistencies: Vec<String>,
}

/// A restitution asked for since the server started.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobOut {
    id: String,
    site: String,
    recipient: String,
    started_by: String,
    started: String,
    /// `running`, `done` or `failed`.
    state: String,
    /// Bytes read from the site so far, and the estimated total.
    done: u64,
    total: u64,
    files: u64,
    /// Bytes per second so far.
    rate: u64,
    seconds_left: Option<u64>,
    /// The dataset made, once done.
    dataset: Option<String>,
    /// Why it failed.
    error: Option<Problem>,
}

/// A Moodle site: its archives in the vault and the restitutions under way.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SiteOut {
    slug: String,
    client: String,
    contract: String,
    archives: Vec<SiteArchiveOut>,
    jobs: Vec<JobOut>,
}

fn job_out(s: &crate::jobs::JobState) -> JobOut {
    let (done, total, files, rate, left) = s.progress;
    let outcome = s.outcome.clone();
    let j = &s.job;
    JobOut {
        id: j.id.clone(),
        site: j.site.clone(),
        recipient: j.recipient.clone(),
        started_by: j.started_by.clone(),
        started: j.started_at.clone(),
        state: match &outcome {
            None => "running",
            Some(Ok(_)) => "done",
            Some(Err(_)) => "failed",
        }
        .into(),
        done,
        total,
        files,
        rate,
        seconds_left: left,
        dataset: outcome.as_ref().and_then(|o| o.as_ref().ok().cloned()),
        error: outcome.and_then(|o| o.err()),
    }
}

/// A Moodle site of the client's, its restitutions and backups in the vault, and the
/// restitutions under way.
#[utoipa::path(get, path = "/api/v1/sites/{slug}", tag = "sites", params(("slug" = String, Path)),
    responses((status = 200, body = SiteOut), (status = 404, body = Problem)), security(("bearer" = [])))]
pub(crate) async fn site(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(slug): Path<String>,
) -> Result<Json<SiteOut>, ApiError> {
    // The jobs first: one seen done has its archive in the vault's answer that follows.
    let jobs = state.jobs.of_site(&slug);
    let (view, viewer) = act(&state, bearer, move |v, me| {
        Ok((v.site(&slug, now())?, me.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default()))
    })
    .await?;
    // A job's dataset is named only where `dataset show` would show it (its archive is
    // listed).
    let listed: Vec<String> = view.archives.iter().map(|a| a.dataset.clone()).collect();
    let jobs = jobs
        .iter()
        .filter(|j| j.seen_by(&viewer))
        .map(|j| {
            let mut o = job_out(j);
            o.dataset = o.dataset.filter(|d| listed.contains(d));
            o
        })
        .collect();
    Ok(Json(SiteOut {
        slug: view.site.slug,
        client: view.site.client,
        contract: view.site.contract,
        archives: view
            .archives
            .into_iter()
            .map(|a| SiteArchiveOut {
                dataset: a.dataset,
                kind: a.kind,
                recipient: a.recipient,
                top: a.top,
                files: a.files,
                file_bytes: a.file_bytes,
                db_bytes: a.db_bytes,
                sums_sha256: a.sums_sha256,
                inconsistencies: a.inconsistencies.lines().map(str::to_owned).collect(),
            })
            .collect(),
        jobs,
    }))
}

/// The key a restitution goes to.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RestitutionIn {
    /// An age recipient the client's admin registered (OPS-2).
    recipient: String,
}

/// Hand a site back whole to one of the client's keys (OPS-2). The answer comes once the
/// policy decided: 202 with the job to follow (`GET /api/v1/sites/{slug}`), or the refusal.
#[utoipa::path(post, path = "/api/v1/sites/{slug}/restitutions", tag = "sites", params(("slug" = String, Path)),
    request_body = RestitutionIn,
    responses((status = 202, body = JobOut), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn start_restitution(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(slug): Path<String>,
    JsonBody(r): JsonBody<RestitutionIn>,
) -> Response {
    // The token is checked here first (a person to name as the starter), then the job's
    // own vault decides and records.
    let token = bearer.token.clone();
    let me =
        match act(&state, bearer, |_, me| Ok(me.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default())).await {
            Ok(h) => h,
            Err(e) => return e.into_response(),
        };
    let job = crate::jobs::start_restitution(&state, Who::Token(token), slug, r.recipient.trim().to_owned(), &me);
    for _ in 0..600 {
        if job.decided() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    match job.outcome() {
        Some(Err(p)) => {
            let status =
                axum::http::StatusCode::from_u16(p.status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(p)).into_response()
        }
        _ => (axum::http::StatusCode::ACCEPTED, Json(job_out(&crate::jobs::JobState::of(&job)))).into_response(),
    }
}

/// A restitution's file, for the key it was made for: resumable with `Range` (and
/// `If-Range` with its ETag), so `curl -C -` continues a cut download.
#[utoipa::path(get, path = "/api/v1/restitutions/{id}/file", tag = "sites", params(("id" = String, Path)),
    responses((status = 200, description = "the age file", content_type = "application/octet-stream"),
              (status = 206, description = "the bytes asked for"), (status = 416, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn restitution_file(
    State(state): State<Shared>,
    bearer: Bearer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let addr = bearer.addr;
    match crate::download::serve(&state, Who::Token(bearer.token), id, &headers).await {
        Ok(r) => r,
        Err(ApiError::Vault(vault::Error::RangeNotSatisfiable { total })) => crate::download::unsatisfiable(total),
        Err(ApiError::Vault(vault::Error::NotSignedIn)) => {
            auth_failed(&state, addr, FailureKind::Token, "");
            ApiError::Unauthenticated.into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gardien", description = "The client's door to its data in custody: inventory, access log with proofs, destruction certificates, approvals, keys. Every request is decided by the policy (its clauses in every refusal) and recorded in the client's ledger."),
    paths(me, datasets, dataset, contracts, contract, ledger, entry, proof, checkpoint, key, certificates, certificate,
          approvals, approval, decide, revoke, request, keys, add_key, remove_key, site, start_restitution,
          restitution_file, healthz),
    modifiers(&BearerAuth)
)]
pub(crate) struct Doc;

/// The OpenAPI 3.1 document.
pub(crate) async fn openapi() -> Response {
    let doc = Doc::openapi();
    match doc.to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => ApiError::NotFound.into_response(),
    }
}
