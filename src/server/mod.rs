//! `codemode serve`: sessions over an HTTP JSON API (axum), for platforms running
//! many agents, and the other end of [`crate::remote::RemoteSession`].
//!
//! Every `/v1` route and `/metrics` need `Authorization: Bearer <token>`; a server
//! without a token must be asked for explicitly ([`Auth::none`]). `/health` and
//! `/ready` are open, for load balancers: `/ready` checks the storage (a Redis
//! round trip) and runs no code.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/sessions` | none, or `{"allow"?: {"tools"?, "skills"?}}` | `201 {"id", "ttl_seconds", "allow"}` (the lists applied) |
//! | `DELETE /v1/sessions/{id}` | | `204` |
//! | `POST /v1/sessions/{id}/run` | `{"code", "timeout"?}` | a [`RunResult`] |
//! | `POST /v1/sessions/{id}/reset` | | `204` |
//! | `POST /v1/sessions/{id}/interrupt` | | `200 {"interrupted"}`: whether a run was stopped |
//! | `POST /v1/sessions/{id}/fork` | | `201 {"id", "ttl_seconds"}`: a new session with this one's state |
//! | `POST /v1/sessions/{id}/skills/{name}` | `{"args"?}` | a [`RunResult`] |
//! | `GET /v1/tools`, `GET /v1/tools/search?query=&limit=` | | tools |
//! | `GET /v1/skills`, `GET /v1/skills/search?query=&limit=`, `GET/PUT/DELETE /v1/skills/{name}` | `PUT`: `{"source", "description"?}` | skills |
//! | `GET /v1/artifacts`, `GET/PUT/DELETE /v1/artifacts/{name}` | `PUT`: `{"data", "kind"?, "description"?, "metadata"?}` | artifacts |
//! | `GET /v1/deps`, `POST /v1/deps` `{"spec"}`, `DELETE /v1/deps/{name}` | | deps |
//! | `GET /v1/describe?what=tools\|skills\|all` | | the stub, `text/plain` |
//! | `POST /v1/call` | a [`Request`] that runs no code | its [`Response`] |
//! | `POST /v1/sessions/{id}/call` | any [`Request`] | its [`Response`] |
//!
//! Every route is a thin adapter: it builds a [`Request`] and answers what
//! [`Operations::call`] gives back; the two `call` routes take the request as it is
//! (the remote executor speaks them). Listings on the named routes are bare arrays.
//!
//! Errors are `{"error": {"kind", "message"}}` with 400, 401, 403, 404, 405, 409 (a
//! session that cannot be forked), 410 (an expired session), 413, 415, 422, 503 or 500, whatever part of the request was
//! wrong. Sessions idle past the TTL are closed. A new session reserves its memory
//! cap and its journal's from a [`MemoryBudget`] and is refused (503 `capacity`)
//! past it.
//!
//! With a storage, sessions are durable: each one's journal is stored under its id
//! (see [`crate::session::SessionBuilder::durable`]), so a session whose server
//! died or restarted is resumed by any server on the same storage at its next
//! request, with its variables and without running any tool again. No sticky
//! routing: a server holds a session's lease only while it serves a request for
//! it, keeps its interpreter as a cache between requests, and resumes from the
//! storage when another server went on with the session since. A request for a
//! session another server is serving right now (a `DELETE` too) waits for it (up
//! to the run timeout plus [`ServeOptions::session_lease`]), then 409 `held`; one that cannot
//! be resumed (no journal: the data profile, or past its cap) gets 409
//! `not_resumable`. A fork is stored under its own id. An interrupt reaches the
//! server running the cell (or resuming the session) through the storage. A
//! deleted session's journal is deleted; an idle one's when no server used it for
//! the TTL.

mod auth;
mod budget;
mod error;
mod listen;
mod metrics;
mod origin;
mod sessions;
mod trim;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::model::ops::{
    AddDep, CreateSkill, Describe, InvokeSkill, Named, Operations, RemoveDep, Request, Response, RunCode, Search,
};

pub use self::auth::{Auth, MIN_TOKEN_CHARS, TokenError, unauthorized};
pub use self::budget::{MemoryBudget, OverBudget, Reservation};
use self::error::ApiError;
pub use self::error::plain_error;
pub use self::listen::serve;
use self::metrics::Metrics;
pub use self::origin::{AllowedOrigins, InvalidOrigin};
use self::sessions::Sessions;
use crate::names::SessionId;
use crate::session::{DEFAULT_LEASE, Session, SessionError, SessionFactory};

/// How `codemode serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// What requests must carry to be let in.
    pub auth: Auth,
    /// Sessions unused for this long are closed (default 1 h).
    pub session_ttl: Duration,
    /// Most sessions open at once (default 1000).
    pub max_sessions: usize,
    /// Largest request body accepted, in bytes (default 16 MiB).
    pub max_body_bytes: usize,
    /// Most bytes the live sessions' reservations may add up to, each its memory
    /// cap and its journal's ([`crate::SessionBuilder::memory_reservation`];
    /// default [`MemoryBudget::default_bytes`]).
    pub memory_budget: u64,
    /// Browser origins allowed besides loopback (default none): a request whose
    /// `Origin` is anything else is refused (DNS rebinding, cross-site requests).
    pub origins: AllowedOrigins,
    /// How long a session's lease lasts without renewal: how soon another server
    /// may resume the sessions of one that died (default [`DEFAULT_LEASE`]).
    pub session_lease: Duration,
}

impl ServeOptions {
    /// The defaults, with `auth`: there is no default for authentication.
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            session_ttl: Duration::from_secs(3600),
            max_sessions: 1000,
            max_body_bytes: 16 << 20,
            memory_budget: MemoryBudget::default_bytes(),
            origins: AllowedOrigins::default(),
            session_lease: DEFAULT_LEASE,
        }
    }
}

#[derive(Clone)]
struct AppState {
    factory: SessionFactory,
    /// Serves the operations that need no interpreter of their own (tools, skills,
    /// artifacts, deps); built at start-up, which also warms the sandbox.
    facade: Arc<Session>,
    sessions: Arc<Sessions>,
    metrics: Arc<Metrics>,
    auth: Auth,
    budget: Arc<MemoryBudget>,
    /// Whether sessions are durable (the server has a storage), and their lease.
    durable: Option<Duration>,
}

/// The API as an axum router, with the idle-session reaper running on the current
/// tokio runtime. Fails if a first session cannot be built (storage or sandbox broken).
pub async fn router(factory: SessionFactory, options: ServeOptions) -> Result<Router, SessionError> {
    let facade = Arc::new(factory().build().await?);
    // Skills stored without vectors (a py-code-mode directory, another server's
    // writes) are embedded in the background from the start, not at the first search.
    if let Ok(skills) = facade.skills() {
        let skills = skills.clone();
        tokio::spawn(async move {
            match skills.index_in_background().await {
                Ok(0) => {}
                Ok(queued) => tracing::info!(texts = queued, "indexing skills in the background"),
                Err(err) => tracing::warn!(%err, "cannot index skills at start"),
            }
        });
    }
    let sessions = Arc::new(Sessions::new(options.session_ttl, options.max_sessions));
    let metrics = Arc::new(Metrics::default());
    let durable = factory().has_storage().then_some(options.session_lease);
    let storage = facade.services().ok().and_then(|services| services.storage().cloned());
    let state = AppState {
        durable,
        factory,
        facade,
        sessions: sessions.clone(),
        metrics: metrics.clone(),
        auth: options.auth,
        budget: MemoryBudget::new(options.memory_budget),
    };
    spawn_reaper(Arc::downgrade(&sessions), metrics, storage);

    let api = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/v1/sessions", post(create_session))
        .route("/v1/sessions/{id}", axum::routing::delete(close_session))
        .route("/v1/sessions/{id}/run", post(run))
        .route("/v1/sessions/{id}/reset", post(reset))
        .route("/v1/sessions/{id}/interrupt", post(interrupt))
        .route("/v1/sessions/{id}/fork", post(fork_session))
        .route("/v1/sessions/{id}/skills/{name}", post(invoke_skill))
        .route("/v1/sessions/{id}/call", post(session_call))
        .route("/v1/call", post(call))
        .route("/v1/describe", get(describe))
        .route("/v1/tools", get(list_tools))
        .route("/v1/tools/search", get(search_tools))
        .route("/v1/skills", get(list_skills))
        .route("/v1/skills/search", get(search_skills))
        .route("/v1/skills/{name}", get(get_skill).put(put_skill).delete(delete_skill))
        .route("/v1/skills/{name}/test", post(test_skill))
        .route("/v1/artifacts", get(list_artifacts))
        .route("/v1/artifacts/{name}", get(load_artifact).put(put_artifact).delete(delete_artifact))
        .route("/v1/deps", get(list_deps).post(add_dep))
        .route("/v1/deps/{name}", axum::routing::delete(remove_dep))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Ok(Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn(move |request: axum::extract::Request, next: middleware::Next| {
            let allowed = options.origins.allows(request.headers());
            async move {
                if !allowed {
                    let message = "requests from web pages on other origins are refused (DNS rebinding \
                                   protection); allow an origin with --allow-origin";
                    return ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response();
                }
                next.run(request).await
            }
        }))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(middleware::from_fn(error::json_errors))
        .with_state(state))
}

fn spawn_reaper(
    sessions: std::sync::Weak<Sessions>,
    metrics: Arc<Metrics>,
    storage: Option<Arc<dyn crate::storage::Storage>>,
) {
    tokio::spawn(async move {
        loop {
            let Some(sessions) = sessions.upgrade() else { return };
            let period = (sessions.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
            for _ in 0..sessions.reap().await {
                metrics.session_expired();
            }
            // Journals of sessions no server holds any more (their server died),
            // unused past the TTL: Redis expires them itself, a directory is swept.
            if let Some(storage) = &storage
                && let Err(err) = storage.sweep_journals(sessions.ttl).await
            {
                tracing::warn!(%err, "cannot sweep expired session journals");
            }
            drop(sessions);
            tokio::time::sleep(period).await;
        }
    });
}

type ApiResult<T> = Result<T, ApiError>;

/// How long `/ready` waits for the storage before it says not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Ready when the storage answers a read (listing the deps: a Redis round trip, or a
/// file read). Open to anyone, so it runs no code and names no detail; the cause
/// goes to the server's log.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let check = async {
        match state.facade.deps() {
            Ok(deps) => deps.list().await.map(drop).map_err(|e| e.to_string()),
            // A server without storage has nothing to wait for.
            Err(_) => Ok(()),
        }
    };
    let failure = match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(())) => return Json(json!({"status": "ready"})).into_response(),
        Ok(Err(error)) => error,
        Err(_) => format!("no answer within {READY_TIMEOUT:?}"),
    };
    eprintln!("codemode serve: not ready: the storage failed: {failure}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the storage does not answer").into_response()
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(state.sessions.len().await, &state.budget);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The body of `POST /v1/sessions`, all optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    /// Limits the session to these tools and skills, within the server's own list.
    #[serde(default)]
    allow: Option<crate::model::Allow>,
    /// The interpreter (`"default"` or `"data"`); the server's own when absent.
    #[serde(default)]
    profile: Option<crate::sandbox::Profile>,
}

async fn create_session(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<impl IntoResponse> {
    // An empty body (the historical request) asks for nothing in particular.
    let new: NewSession = if body.iter().all(u8::is_ascii_whitespace) {
        NewSession::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid session request: {e}")))?
    };
    let mut builder = (state.factory)();
    if let Some(allow) = new.allow {
        // Checked before the budget is touched: a bad list costs nothing.
        allow.validate().map_err(ApiError::bad_request)?;
        builder = builder.allow(allow);
    }
    // Echoed so that a client can tell its list was applied (a server that predates
    // allowlists would ignore the body and answer without one).
    let applied = builder.allowed().map_err(ApiError::bad_request)?;
    if let Some(profile) = new.profile {
        builder = builder.profile(profile);
    }
    let id = SessionId::random();
    if let Some(lease) = state.durable {
        builder = builder.durable(id.clone(), Some(state.sessions.ttl)).lease(lease);
    }
    // Reserved before the interpreter exists, so a refusal costs nothing.
    let reservation = state.budget.reserve(builder.memory_reservation())?;
    let session = builder.build().await?;
    let id = state.sessions.insert(id, session, reservation).await?;
    state.metrics.session_created();
    let created = json!({"id": id, "ttl_seconds": state.sessions.ttl.as_secs_f64(), "allow": applied});
    Ok((StatusCode::CREATED, Json(created)))
}

/// A new session with the state of session `id` (see [`Session::fork`]): counted
/// against the session cap and the memory budget like a create; its allowlists,
/// limits and profile are the original's.
async fn fork_session(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let original = session(&state, &id).await?;
    // Checked before the replay, so a refusal costs nothing.
    state.sessions.check_room().await?;
    let reservation = state.budget.reserve(original.memory_reservation())?;
    // Another server went on with it since: the fork is of the stored session.
    let forked = on_current(&state, &id, original, |session| Box::pin(session.fork())).await??;
    // A durable session's fork is stored under an id of its own already.
    let id = forked.stored_as().cloned().unwrap_or_else(SessionId::random);
    let id = state.sessions.insert(id, forked, reservation).await?;
    state.metrics.session_created();
    Ok((StatusCode::CREATED, Json(json!({"id": id, "ttl_seconds": state.sessions.ttl.as_secs_f64()}))))
}

/// Closes session `id` and deletes its stored journal. One that another server
/// serves now is deleted once that request is done (its cell completes and is
/// stored, then the session goes), waited for as any request waits for it: 409
/// `held` past that wait, nothing deleted.
async fn close_session(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    // This server's copy: a cell of it running here is stopped, and another
    // server's request is waited for the same way, in its close (past the wait the
    // journal is deleted all the same: that server's cell then ends as taken over).
    let missing = match state.sessions.remove(&id).await {
        Ok(()) => return Ok(StatusCode::NO_CONTENT),
        Err(missing) => missing,
    };
    let id = SessionId::new(&id).ok().filter(SessionId::is_random);
    let (Some(lease), Some(id), Some(storage)) = (state.durable, id, stored(&state)) else {
        return Err(missing);
    };
    let wait = (state.factory)().lease_wait(lease);
    if crate::session::delete_stored(storage.as_ref(), &id, lease, wait).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(missing)
    }
}

/// The storage sessions are kept in, if they are durable.
fn stored(state: &AppState) -> Option<Arc<dyn crate::storage::Storage>> {
    state.facade.services().ok().and_then(|services| services.storage().cloned())
}

/// Session `id`: held by this server, or resumed from the storage (a server that
/// died or restarted held it), counted against the cap and the memory budget.
async fn session(state: &AppState, id: &str) -> ApiResult<sessions::InUse> {
    let resume = state.durable.map(|lease| {
        move |id: SessionId| async move {
            let builder = (state.factory)();
            // The stored session's limits and journal cap are never looser than these.
            let reservation = state.budget.reserve(builder.memory_reservation())?;
            let session = builder.resume(id, Some(state.sessions.ttl)).lease(lease).build().await?;
            state.metrics.session_created();
            Ok((session, reservation))
        }
    });
    state.sessions.get_or_resume(id, resume).await
}

/// Performs `request` in session `id`, counting runs in the metrics. A copy of
/// the session that another server went on with since is dropped, and the request
/// served once more from the stored session (nothing ran: the check comes first).
/// A cell that ran while another server took the session over is not retried (it
/// ran, effects included): its error is the answer, and this copy is dropped.
async fn in_session(state: &AppState, id: &str, request: Request) -> ApiResult<Response> {
    let runs = request.needs_interpreter();
    let started = Instant::now();
    let resumed = match session(state, id).await {
        Ok(session) => on_current(state, id, session, |session| Box::pin(session.call(request.clone()))).await,
        Err(refused) => Err(refused),
    };
    let outcome = match resumed {
        Ok(outcome) => outcome,
        // The resume's replay was interrupted (only a resume is answered so here):
        // a run is answered as one interrupted before it started.
        Err(refused)
            if refused.kind() == "interrupted" && matches!(request, Request::Run(_) | Request::InvokeSkill(_)) =>
        {
            Ok(Response::Run(crate::session::interrupted_before_start(refused.message().to_owned())))
        }
        Err(refused) => return Err(refused),
    };
    if runs {
        let result = match &outcome {
            Ok(Response::Run(result)) => Some(result),
            _ => None,
        };
        state.metrics.record_run(result, started.elapsed());
    }
    Ok(outcome?)
}

/// Performs `op` on `session` (this server's copy of session `id`). A copy that
/// another server went on with since is dropped and `op` performed once more on
/// the stored session, resumed (nothing ran: the check comes first). A copy still
/// out of date then, or overtaken while `op` ran, is dropped too: the next request
/// resumes. The outer error: that resume failed.
async fn on_current<T>(
    state: &AppState,
    id: &str,
    mut session: sessions::InUse,
    op: impl for<'a> Fn(&'a Session) -> SessionFuture<'a, T>,
) -> ApiResult<Result<T, SessionError>> {
    let mut outcome = op(&session).await;
    if let Err(SessionError::Superseded(_)) = &outcome {
        state.sessions.evict(id, &session).await;
        drop(session);
        session = self::session(state, id).await?;
        outcome = op(&session).await;
    }
    if let Err(SessionError::Superseded(_) | SessionError::TakenOver(_)) = &outcome {
        state.sessions.evict(id, &session).await;
    }
    Ok(outcome)
}

/// What [`on_current`] performs on a session.
type SessionFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, SessionError>> + Send + 'a>>;

/// Performs `request`, which runs no code, on the server's shared services.
async fn on_services(state: &AppState, request: Request) -> ApiResult<Response> {
    Ok(state.facade.call(request).await?)
}

async fn session_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Request>, JsonRejection>,
) -> ApiResult<Json<Response>> {
    let Json(request) = body?;
    Ok(Json(in_session(&state, &id, request).await?))
}

async fn call(State(state): State<AppState>, body: Result<Json<Request>, JsonRejection>) -> ApiResult<Json<Response>> {
    let Json(request) = body?;
    if request.needs_interpreter() {
        return Err(ApiError::bad_request(format!(
            "{} needs a session: POST /v1/sessions/{{id}}/call",
            request.name()
        )));
    }
    Ok(Json(on_services(&state, request).await?))
}

/// The body a named route answers: the response, with listings as bare arrays.
fn body(response: Response) -> Json<Value> {
    Json(match response {
        Response::Tools { tools } => json!(tools),
        Response::Skills { skills } => json!(skills),
        Response::Artifacts { artifacts } => json!(artifacts),
        Response::Deps { deps } => json!(deps),
        other => json!(other),
    })
}

async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Result<Json<RunCode>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(request) = request?;
    Ok(body(in_session(&state, &id, Request::Run(request)).await?))
}

async fn reset(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    in_session(&state, &id, Request::Reset).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops the session's run in progress; the run's own request answers with the
/// interrupted result. Never waits behind that run. A durable session that this
/// server is not running now may be running on another: the storage passes the
/// interrupt on to the server holding its lease, and the answer says whether one
/// held it.
async fn interrupt(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let here = match state.sessions.get(&id).await {
        Ok(session) => Ok(session.interrupt().await?),
        Err(missing) => Err(missing),
    };
    if let Ok(true) = here {
        return Ok(Json(json!({"interrupted": true})));
    }
    let elsewhere = SessionId::new(&id).ok().filter(SessionId::is_random).zip(stored(&state));
    if let (Some(_), Some((id, storage))) = (state.durable, elsewhere) {
        if storage.request_interrupt(&id).await.map_err(SessionError::from)? {
            return Ok(Json(json!({"interrupted": true})));
        }
        // Stored but run by nobody now: a session, with nothing to stop.
        if here.is_err() && storage.journal_version(&id).await.map_err(SessionError::from)? != 0 {
            return Ok(Json(json!({"interrupted": false})));
        }
    }
    Ok(Json(json!({"interrupted": here?})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeRequest {
    #[serde(default)]
    args: Map<String, Value>,
}

async fn invoke_skill(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    request: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    // The body is optional: no arguments.
    let args = if request.is_empty() {
        Map::new()
    } else {
        serde_json::from_slice::<InvokeRequest>(&request).map_err(ApiError::bad_request)?.args
    };
    Ok(body(in_session(&state, &id, Request::InvokeSkill(InvokeSkill { name, args })).await?))
}

/// The stub as plain text, to paste into a prompt as it is.
async fn describe(State(state): State<AppState>, Query(describe): Query<Describe>) -> ApiResult<impl IntoResponse> {
    let stub = state.facade.describe(describe.what).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], stub))
}

async fn list_tools(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::ListTools).await?))
}

async fn search_tools(State(state): State<AppState>, Query(search): Query<Search>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::SearchTools(search)).await?))
}

async fn list_skills(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::ListSkills).await?))
}

async fn search_skills(State(state): State<AppState>, Query(search): Query<Search>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::SearchSkills(search)).await?))
}

async fn get_skill(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::GetSkill(Named { name })).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkillRequest {
    source: String,
    description: Option<String>,
    /// Examples that must pass before it is saved.
    #[serde(default)]
    examples: Vec<crate::model::SkillExample>,
}

async fn put_skill(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Result<Json<SkillRequest>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(SkillRequest { source, description, examples }) = request?;
    Ok(body(on_services(&state, Request::CreateSkill(CreateSkill { name, source, description, examples })).await?))
}

/// Runs one skill's examples again (every skill's: `/v1/call` with `test_skills`).
async fn test_skill(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let test = crate::model::ops::TestSkills { name: Some(name) };
    Ok(body(on_services(&state, Request::TestSkills(test)).await?))
}

async fn delete_skill(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::DeleteSkill(Named { name })).await?))
}

async fn list_artifacts(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::ListArtifacts).await?))
}

async fn load_artifact(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::LoadArtifact(Named { name })).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactRequest {
    data: Value,
    #[serde(default)]
    kind: Option<crate::model::DataKind>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    metadata: Map<String, Value>,
}

async fn put_artifact(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Result<Json<ArtifactRequest>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(ArtifactRequest { data, kind, description, metadata }) = request?;
    let save = crate::model::ops::SaveArtifact { name, data, kind, description, metadata };
    Ok(body(on_services(&state, Request::SaveArtifact(save)).await?))
}

async fn delete_artifact(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::DeleteArtifact(Named { name })).await?))
}

async fn list_deps(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::ListDeps).await?))
}

async fn add_dep(
    State(state): State<AppState>,
    request: Result<Json<AddDep>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(add) = request?;
    Ok(body(on_services(&state, Request::AddDep(add)).await?))
}

async fn remove_dep(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(body(on_services(&state, Request::RemoveDep(RemoveDep { name })).await?))
}
