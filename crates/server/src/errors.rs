//! From what went wrong to what a client is told: one mapping, exhaustive over the vault's
//! errors (a new variant must be placed here). A refusal is
//! `403 {"error":"refused","clauses":[...],"reason":...}`; another client's id answers as an
//! unknown one (`404`), so ids cannot be probed; internal failures are logged, never
//! detailed to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What a request can end with, besides its answer.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The vault refused or failed.
    Vault(vault::Error),
    /// No credential, or one not in force.
    Unauthenticated,
    /// Too many failures from this address.
    Throttled,
    /// The request's body is not what the route takes.
    BadRequest(String),
    /// No such route or thing.
    NotFound,
    /// A cross-site or unprotected form post.
    Forbidden(&'static str),
}

impl From<vault::Error> for ApiError {
    fn from(e: vault::Error) -> Self {
        ApiError::Vault(e)
    }
}

/// The JSON body of every error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    /// `refused`, `not-found`, `bad-request`, `unauthenticated`, `throttled`, `conflict`,
    /// `integrity`, `internal`.
    pub error: &'static str,
    /// The clauses of a refusal (CONF-2, OPS-1...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<String>,
    /// What happened, in words.
    pub reason: String,
    #[serde(skip)]
    pub status: u16,
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        let p = |status: StatusCode, error: &'static str, reason: String| Problem {
            error,
            clauses: Vec::new(),
            reason,
            status: status.as_u16(),
        };
        match self {
            ApiError::Unauthenticated => p(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "give a bearer token in force: Authorization: Bearer gardien_... (`gardien token create`)".into(),
            ),
            ApiError::Throttled => p(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "too many failed attempts from this address; try again in 10 minutes".into(),
            ),
            ApiError::BadRequest(r) => p(StatusCode::BAD_REQUEST, "bad-request", r.clone()),
            ApiError::NotFound => p(StatusCode::NOT_FOUND, "not-found", "no such resource".into()),
            ApiError::Forbidden(r) => p(StatusCode::FORBIDDEN, "forbidden", (*r).to_owned()),
            ApiError::Vault(e) => vault_problem(e),
        }
    }
}

fn vault_problem(e: &vault::Error) -> Problem {
    use vault::Error as E;
    let p = |status: StatusCode, error: &'static str| Problem {
        error,
        clauses: Vec::new(),
        reason: e.to_string(),
        status: status.as_u16(),
    };
    match e {
        // Another client's resource: exactly what an unknown one gets.
        E::Hidden(inner) => vault_problem(inner),
        E::Refused { clauses, reason } => Problem {
            error: "refused",
            clauses: clauses.clone(),
            reason: reason.clone(),
            status: StatusCode::FORBIDDEN.as_u16(),
        },
        E::SiteNotAllowed { .. } | E::DisabledPerson { .. } => Problem {
            clauses: e.clause().map(|c| c.split(',').map(str::to_owned).collect()).unwrap_or_default(),
            ..p(StatusCode::FORBIDDEN, "refused")
        },
        E::SignIn(_) | E::NotSignedIn => p(StatusCode::UNAUTHORIZED, "unauthenticated"),
        E::UnknownClient(_)
        | E::UnknownContract(_)
        | E::UnknownCertificate(_)
        | E::UnknownPerson(_)
        | E::UnknownDataset(_)
        | E::UnknownStore(_)
        | E::UnknownCopy { .. }
        | E::Unknown { .. }
        | E::NoSuchEntry { .. }
        | E::UnknownUpload => p(StatusCode::NOT_FOUND, "not-found"),
        // PRE-1: the one answer for every link and password that open nothing.
        E::DropClosed => p(StatusCode::FORBIDDEN, "refused"),
        E::UploadBusy => p(StatusCode::LOCKED, "locked"),
        E::TooLarge(_) => p(StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        E::RangeNotSatisfiable { .. } => p(StatusCode::RANGE_NOT_SATISFIABLE, "range-not-satisfiable"),
        E::DropFile(_) => p(StatusCode::UNPROCESSABLE_ENTITY, "refused-file"),
        E::InvalidName { .. }
        | E::InvalidText { .. }
        | E::BadInput(_)
        | E::BadApproval(_)
        | E::WeakPassword(_)
        | E::Lifecycle(_)
        | E::BadRecipient { .. }
        | E::BadRole(_)
        | E::ContractNeeded(_)
        | E::LedgerInput(_)
        | E::BadCertificate(_)
        | E::Policy(_) => p(StatusCode::BAD_REQUEST, "bad-request"),
        E::StoreExists(_)
        | E::ClientExists(_)
        | E::ContractExists(_)
        | E::PersonExists(_)
        | E::Exists { .. }
        | E::Held(_)
        | E::NotHeld(_)
        | E::AlreadyAttested { .. }
        | E::Unattested(_)
        | E::Pending(_)
        | E::Destroyed { .. }
        | E::OutputExists(_) => p(StatusCode::CONFLICT, "conflict"),
        E::CopyCorrupt { .. } | E::NoReadableCopy { unreachable: false, .. } | E::LedgerInconsistent(_) => {
            tracing::error!("integrity: {e}");
            Problem {
                reason: "an integrity check failed; the operator was alerted".into(),
                ..p(StatusCode::INTERNAL_SERVER_ERROR, "integrity")
            }
        }
        // A site's database or files: the operator's to see, in the log, not the client's.
        E::Site { .. }
        | E::NotInitialized { .. }
        | E::NotEmpty { .. }
        | E::StorePathTaken { .. }
        | E::TooNew { .. }
        | E::Config { .. }
        | E::CatalogUrl { .. }
        | E::MasterKeyUnreadable { .. }
        | E::WrongMasterKey { .. }
        | E::Io { .. }
        | E::Input(_)
        | E::Output(_)
        | E::Store { .. }
        | E::StoreSetup { .. }
        | E::NoReadableCopy { unreachable: true, .. }
        | E::Catalog(_)
        | E::CatalogUnreachable { .. }
        | E::LedgerWrite(_)
        | E::Acme(_)
        | E::Corrupt(_) => {
            // Details go to the operator's log (secrets redacted by the vault), not to
            // the client.
            tracing::error!("internal: {}", vault::text::redact_secrets(&e.to_string()));
            Problem {
                reason: "the server could not complete this; nothing was changed".into(),
                ..p(StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, Json(problem)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// A JSON body, whose rejection (not JSON, a missing field, too large) is a JSON error too.
pub(crate) struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}
