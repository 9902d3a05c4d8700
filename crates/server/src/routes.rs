//! Every route of the server, with the door action it performs. The router is built from
//! this one table, and a test calls every route and finds its event in the ledger: a route
//! is either a door action or one of the public few (`/healthz`, the sign-in pages, static
//! assets, the OpenAPI document), which record nothing and tell nothing about anyone.

use axum::Router;
use axum::routing::{MethodRouter, delete, get, head, options, patch, post};

use crate::{Shared, api, drop, portal};

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// GET, POST, DELETE.
    pub method: &'static str,
    /// The path, axum style (`/api/v1/datasets/{id}`).
    pub path: &'static str,
    /// The door action it performs (`dataset:show`), or None for a public route.
    pub action: Option<&'static str>,
}

macro_rules! table {
    ($( $method:ident $path:literal $action:tt => $handler:path ),* $(,)?) => {
        /// Every route, in the order they are added.
        pub const ROUTES: &[Route] = &[ $( Route { method: stringify!($method), path: $path, action: table!(@a $action) } ),* ];

        fn handlers() -> Vec<(&'static str, MethodRouter<Shared>)> {
            vec![ $( ($path, table!(@m $method)($handler)) ),* ]
        }
    };
    (@a public) => { None };
    (@a $a:literal) => { Some($a) };
    (@m GET) => { get };
    (@m POST) => { post };
    (@m DELETE) => { delete };
    (@m PATCH) => { patch };
    (@m HEAD) => { head };
    (@m OPTIONS) => { options };
}

table! {
    GET "/healthz" public => api::healthz,
    GET "/api/openapi.json" public => api::openapi,
    GET "/static/gardien.css" public => portal::stylesheet,
    GET "/static/verify.js" public => portal::verify_js,
    GET "/static/drop.js" public => drop::drop_js,
    GET "/static/drop-vendor.js" public => drop::vendor_js,
    GET "/d/{token}" public => drop::page,
    POST "/d/{token}/session" "drop:open" => drop::session,
    OPTIONS "/tus/" public => drop::options,
    POST "/tus/" "drop:upload" => drop::create,
    POST "/tus" "drop:upload" => drop::create,
    HEAD "/tus/{id}" "drop:upload" => drop::head,
    PATCH "/tus/{id}" "drop:receive" => drop::patch,
    DELETE "/tus/{id}" "drop:terminate" => drop::terminate,
    GET "/login" public => portal::login_page,
    GET "/login/totp" public => portal::totp_page,
    POST "/login" "session:login" => portal::login,
    POST "/login/totp" "session:login" => portal::totp,
    GET "/totp" "person:totp" => portal::enrol_page,
    POST "/totp" "person:totp" => portal::enrol,
    POST "/logout" "session:logout" => portal::logout,
    POST "/contact" "person:contact" => portal::contact,
    GET "/" "session:show" => portal::home,
    GET "/datasets" "dataset:list" => portal::datasets,
    GET "/log" "ledger:list" => portal::log,
    GET "/log/{n}/proof" "ledger:proof" => portal::log_proof,
    GET "/log/{n}/entry" "ledger:entry" => portal::log_entry,
    GET "/certificates" "certificate:list" => portal::certificates,
    GET "/certificates/{id}" "certificate:show" => portal::certificate,
    GET "/certificates/{id}/file" "certificate:show" => portal::certificate_file,
    GET "/keys" "client:key-list" => portal::keys,
    POST "/keys" "client:key-add" => portal::add_key,
    POST "/keys/remove" "client:key-remove" => portal::remove_key,
    GET "/approvals" "approval:list" => portal::approvals,
    GET "/approvals/{id}" "approval:show" => portal::approval,
    POST "/approvals/{id}/decision" "approval:decide" => portal::decide,
    POST "/approvals/{id}/revoke" "approval:revoke" => portal::revoke,
    GET "/verify" "ledger:key" => portal::verify,
    GET "/clients" "client:list" => portal::clients,
    GET "/sweep" "vault:sweep" => portal::sweep,
    GET "/contracts" "contract:list" => portal::contracts,
    GET "/drops" "drop:list" => portal::drops,
    POST "/drops" "drop:create" => portal::create_drop,
    GET "/drops/{id}" "drop:show" => portal::drop_page,
    POST "/drops/{id}/revoke" "drop:revoke" => portal::revoke_drop,
    GET "/servers" "server:list" => portal::servers,
    GET "/servers/{name}" "server:show" => portal::server,
    GET "/sites" "site:list" => portal::sites,
    GET "/sites/{slug}" "site:show" => portal::site,
    POST "/sites/{slug}/restitution" "site:restitution" => portal::start_restitution,
    GET "/restitutions/{id}/file" "dataset:export" => portal::restitution_file,
    GET "/api/v1/me" "session:show" => api::me,
    GET "/api/v1/datasets" "dataset:list" => api::datasets,
    GET "/api/v1/datasets/{id}" "dataset:show" => api::dataset,
    GET "/api/v1/contracts" "contract:list" => api::contracts,
    GET "/api/v1/contracts/{case}" "contract:show" => api::contract,
    GET "/api/v1/ledger" "ledger:list" => api::ledger,
    GET "/api/v1/ledger/entries/{n}" "ledger:entry" => api::entry,
    GET "/api/v1/ledger/entries/{n}/proof" "ledger:proof" => api::proof,
    GET "/api/v1/ledger/checkpoint" "ledger:checkpoint" => api::checkpoint,
    GET "/api/v1/ledger/key" "ledger:key" => api::key,
    GET "/api/v1/certificates" "certificate:list" => api::certificates,
    GET "/api/v1/certificates/{id}" "certificate:show" => api::certificate,
    GET "/api/v1/approvals" "approval:list" => api::approvals,
    POST "/api/v1/approvals" "approval:request" => api::request,
    GET "/api/v1/approvals/{id}" "approval:show" => api::approval,
    POST "/api/v1/approvals/{id}/decision" "approval:decide" => api::decide,
    POST "/api/v1/approvals/{id}/revoke" "approval:revoke" => api::revoke,
    GET "/api/v1/clients/{client}/keys" "client:key-list" => api::keys,
    POST "/api/v1/clients/{client}/keys" "client:key-add" => api::add_key,
    DELETE "/api/v1/clients/{client}/keys/{recipient}" "client:key-remove" => api::remove_key,
    GET "/api/v1/sites/{slug}" "site:show" => api::site,
    POST "/api/v1/sites/{slug}/restitutions" "site:restitution" => api::start_restitution,
    GET "/api/v1/restitutions/{id}/file" "dataset:export" => api::restitution_file,
}

/// The application: the table's routes, JSON 404 for anything else, the security layer,
/// a 64 KiB limit on request bodies.
pub(crate) fn router(state: Shared) -> Router {
    let mut r: Router<Shared> = Router::new();
    for (path, handler) in handlers() {
        r = r.route(path, handler);
    }
    r.fallback(|| async { crate::errors::ApiError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::security::layer))
        .with_state(state)
}
