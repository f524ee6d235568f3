//! The remote executor: sessions on a `codemode serve` elsewhere. [`Remote`] is a
//! server reached over HTTP, [`Subprocess`] a server this process spawns on
//! loopback with a random token. Both speak the [`Request`]s and [`Response`]s of
//! [`Operations`] (`POST /v1/call`, `POST /v1/sessions/{id}/call`), and hand out
//! [`RemoteSession`]s, whose runs return the same [`RunResult`] an in-process
//! [`Session`](super::Session) does.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use super::{Executor, Interrupt, Services, SessionError};
use crate::model::RunResult;
use crate::model::ops::{Operations, Request, Response, UnexpectedResponse};
use crate::sandbox::Limits;

/// How often an interrupt is repeated while the interrupted request is unanswered.
const REMOTE_INTERRUPT_RETRY: Duration = Duration::from_millis(50);

/// How long a spawned server may take to start listening.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a remote call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The server could not be reached or its answer not read.
    #[error("cannot reach the codemode server: {0}")]
    Transport(String),
    /// The server answered with an error.
    #[error("the codemode server answered {status}: {message} ({kind})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `unauthorized`, `not_found`, `expired`, `invalid_input`, ...
        kind: String,
        /// What the server said.
        message: String,
    },
    /// The server answered an operation with an answer of another kind.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedResponse),
    /// The spawned server exited.
    #[error("the codemode server process exited ({status}){stderr}")]
    Exited {
        /// Its exit status.
        status: String,
        /// The end of its stderr, if any.
        stderr: String,
    },
    /// The server could not be spawned.
    #[error("cannot start the codemode server: {0}")]
    Spawn(String),
    /// The server opened a session without the allowlist it was asked for (it
    /// predates allowlists, or widened them); the session was closed unused.
    #[error(
        "the codemode server did not apply the session's allowlist (is it older than this client?); the session was closed"
    )]
    Unlimited,
}

/// A `codemode serve` reached over HTTP.
#[derive(Debug, Clone)]
pub struct Remote {
    client: reqwest::Client,
    base: Url,
    token: Option<String>,
    child: Option<Arc<Child>>,
}

impl Remote {
    /// The server at `url` (e.g. `http://127.0.0.1:8080`), sending `token` as bearer.
    pub fn new(url: &str, token: Option<&str>) -> Result<Self, RemoteError> {
        let mut base = Url::parse(url).map_err(|e| RemoteError::Transport(format!("invalid URL {url:?}: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder().build().map_err(|e| RemoteError::Transport(e.to_string()))?;
        Ok(Self { client, base, token: token.map(str::to_owned), child: None })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// The process id of a server started by [`Subprocess::spawn`].
    pub fn process_id(&self) -> Option<u32> {
        self.child.as_ref().and_then(|child| child.pid)
    }

    /// Opens a new session on the server.
    pub async fn session(&self) -> Result<RemoteSession, RemoteError> {
        self.session_allowing(&crate::model::Allow::default()).await
    }

    /// Opens a new session on the server limited to `allow` (within what the server
    /// allows; see [`SessionBuilder::allow`](crate::SessionBuilder::allow)).
    pub async fn session_allowing(&self, allow: &crate::model::Allow) -> Result<RemoteSession, RemoteError> {
        // An old server knows no body: send one only when there is something to say.
        let body = (!allow.is_unrestricted()).then(|| serde_json::json!({ "allow": allow }));
        let created: Value = self.call(Method::POST, "v1/sessions", body).await?;
        let id = created["id"].as_str().ok_or_else(|| RemoteError::Transport("no session id in the answer".into()))?;
        let session = RemoteSession { remote: self.clone(), id: id.to_owned() };
        if allow.is_unrestricted() {
            return Ok(session);
        }
        // A server that predates allowlists ignores the body: a session it opens reaches
        // everything, so it is closed rather than used as if it were limited.
        let applied = serde_json::from_value::<crate::model::Allow>(created["allow"].clone());
        match applied {
            Ok(applied) if applied.is_within(allow) => Ok(session),
            _ => {
                let _ = session.close().await;
                Err(RemoteError::Unlimited)
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, RemoteError> {
        let url = self.base.join(path).map_err(|e| RemoteError::Transport(e.to_string()))?;
        self.send(self.client.request(method, url), body).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut request: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> Result<T, RemoteError> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Err(self.transport_error(err.to_string()).await),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(err) => return Err(self.transport_error(err.to_string()).await),
        };
        if status.is_success() {
            let bytes: &[u8] = if status == StatusCode::NO_CONTENT { b"null" } else { &bytes };
            return serde_json::from_slice(bytes)
                .map_err(|e| RemoteError::Transport(format!("unreadable answer: {e}")));
        }
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = || String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>();
        Err(RemoteError::Api {
            status: status.as_u16(),
            kind: answer["error"]["kind"].as_str().unwrap_or("http").to_owned(),
            message: answer["error"]["message"].as_str().map_or_else(text, str::to_owned),
        })
    }

    /// A failed request to a spawned server that has exited says so.
    async fn transport_error(&self, message: String) -> RemoteError {
        match &self.child {
            Some(child) => child.exited().await.unwrap_or(RemoteError::Transport(message)),
            None => RemoteError::Transport(message),
        }
    }
}

/// A session on a `codemode serve`.
#[derive(Debug)]
pub struct RemoteSession {
    remote: Remote,
    id: String,
}

impl RemoteSession {
    /// The server's id of this session.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The server this session lives on (for the tools, skills, artifacts and deps calls).
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Runs `code` in the session.
    pub async fn run(&self, code: &str) -> Result<RunResult, RemoteError> {
        self.remote.call(Method::POST, &format!("v1/sessions/{}/run", self.id), Some(json!({"code": code}))).await
    }

    /// Runs `code` with a shorter timeout than the server's.
    pub async fn run_with_timeout(&self, code: &str, timeout: Duration) -> Result<RunResult, RemoteError> {
        let body = json!({"code": code, "timeout": timeout.as_secs_f64()});
        self.remote.call(Method::POST, &format!("v1/sessions/{}/run", self.id), Some(body)).await
    }

    /// Replaces the session's interpreter with a fresh one.
    pub async fn reset(&self) -> Result<(), RemoteError> {
        match Operations::call(self, Request::Reset).await? {
            Response::Reset { .. } => Ok(()),
            _ => Err(UnexpectedResponse { op: "reset" }.into()),
        }
    }

    /// Stops the session's run in progress on the server (`POST
    /// /v1/sessions/{id}/interrupt`); whether one was running.
    pub async fn interrupt(&self) -> Result<bool, RemoteError> {
        let answer: Value = self.remote.call(Method::POST, &format!("v1/sessions/{}/interrupt", self.id), None).await?;
        answer["interrupted"]
            .as_bool()
            .ok_or_else(|| RemoteError::Transport("no `interrupted` in the server's answer".into()))
    }

    /// Forks the session on the server (`POST /v1/sessions/{id}/fork`): a new session
    /// there with this one's state (see [`Session::fork`](super::Session::fork)).
    pub async fn fork(&self) -> Result<RemoteSession, RemoteError> {
        let forked: Value = self.remote.call(Method::POST, &format!("v1/sessions/{}/fork", self.id), None).await?;
        let id = forked["id"].as_str().ok_or_else(|| RemoteError::Transport("no session id in the answer".into()))?;
        Ok(RemoteSession { remote: self.remote.clone(), id: id.to_owned() })
    }

    /// `work` (a request that may run code on the server), interrupting the server's
    /// run when `interrupt` fires. The server runs a session's requests one at a
    /// time, so until `work` is answered the run there is this one, or one before it
    /// that this one waits for: the interrupt is repeated until this one is answered.
    async fn until_interrupted<T>(
        &self,
        work: impl Future<Output = Result<T, RemoteError>>,
        interrupt: &Interrupt,
    ) -> Result<T, RemoteError> {
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => return done,
            () = interrupt.interrupted() => {}
        }
        loop {
            // A failed interrupt is retried like one that found nothing running yet.
            let _ = self.interrupt().await;
            tokio::select! {
                done = &mut work => return done,
                () = tokio::time::sleep(REMOTE_INTERRUPT_RETRY) => {}
            }
        }
    }

    /// Closes the session on the server.
    pub async fn close(&self) -> Result<(), RemoteError> {
        self.remote.call(Method::DELETE, &format!("v1/sessions/{}", self.id), None).await
    }
}

#[async_trait::async_trait]
impl Operations for Remote {
    type Error = RemoteError;

    /// Operations that need no session (`run`, `invoke_skill` and `reset` are refused).
    async fn call(&self, request: Request) -> Result<Response, RemoteError> {
        let body = serde_json::to_value(&request).map_err(|e| RemoteError::Transport(e.to_string()))?;
        self.call(Method::POST, "v1/call", Some(body)).await
    }
}

#[async_trait::async_trait]
impl Operations for RemoteSession {
    type Error = RemoteError;

    async fn call(&self, request: Request) -> Result<Response, RemoteError> {
        let body = serde_json::to_value(&request).map_err(|e| RemoteError::Transport(e.to_string()))?;
        self.remote.call(Method::POST, &format!("v1/sessions/{}/call", self.id), Some(body)).await
    }
}

#[async_trait::async_trait]
impl Executor for RemoteSession {
    async fn run(&self, code: &str, limits: &Limits, interrupt: &Interrupt) -> Result<RunResult, SessionError> {
        Ok(self.until_interrupted(self.run_with_timeout(code, limits.timeout), interrupt).await?)
    }

    async fn call(&self, request: Request, interrupt: &Interrupt) -> Result<Response, SessionError> {
        if matches!(request, Request::Run(_) | Request::InvokeSkill(_)) {
            return Ok(self.until_interrupted(Operations::call(self, request), interrupt).await?);
        }
        Ok(Operations::call(self, request).await?)
    }

    async fn interrupt(&self) -> Result<bool, SessionError> {
        Ok(RemoteSession::interrupt(self).await?)
    }

    async fn fork(&self, interrupt: &Interrupt) -> Result<Box<dyn Executor>, SessionError> {
        // The server's fork is the session's operation in progress there: its
        // interrupt route stops the replay.
        Ok(Box::new(self.until_interrupted(RemoteSession::fork(self), interrupt).await?))
    }

    async fn close(&self, _forget: bool) {
        // The server forgets it (its stored journal too); it also closes it after its idle TTL, so a failure here loses nothing.
        let _ = RemoteSession::close(self).await;
    }

    fn services(&self) -> Option<&Services> {
        None
    }
}

/// A `codemode serve` child process on loopback, with a random token; it is
/// killed when the last [`Remote`] from it is dropped.
#[derive(Debug)]
pub struct Subprocess;

impl Subprocess {
    /// Spawns `binary serve --listen 127.0.0.1:0 ARGS...` (storage, limit and serve
    /// flags) and waits until it listens. Its crash is reported by the next call as [`RemoteError::Exited`].
    pub async fn spawn(binary: &Path, args: &[&str]) -> Result<Remote, RemoteError> {
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("CODEMODE_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RemoteError::Spawn(format!("{}: {e}", binary.display())))?;
        let stderr = child.stderr.take().ok_or_else(|| RemoteError::Spawn("no stderr".into()))?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let tail = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("codemode serve: listening on ") {
                    return Some(url.to_owned());
                }
                tail.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
            None
        };
        let url = match tokio::time::timeout(SPAWN_TIMEOUT, listening).await {
            Ok(Some(url)) => url,
            _ => {
                let _ = child.start_kill();
                let said = tail.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                return Err(RemoteError::Spawn(format!("it did not start listening: {said}")));
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe; remember the end.
        let kept = tail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                kept.push(line);
                let excess = kept.len().saturating_sub(20);
                kept.drain(..excess);
            }
        });
        let mut remote = Remote::new(&url, Some(&token))?;
        remote.child = Some(Arc::new(Child { pid: child.id(), process: tokio::sync::Mutex::new(child), stderr: tail }));
        Ok(remote)
    }
}

#[derive(Debug)]
struct Child {
    pid: Option<u32>,
    process: tokio::sync::Mutex<tokio::process::Child>,
    stderr: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Child {
    async fn exited(&self) -> Option<RemoteError> {
        let status = self.process.lock().await.try_wait().ok().flatten()?;
        let lines = self.stderr.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
        let stderr = if lines.is_empty() { String::new() } else { format!("; its stderr ended with:\n{lines}") };
        Some(RemoteError::Exited { status: status.to_string(), stderr })
    }
}
