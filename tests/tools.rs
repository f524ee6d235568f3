//! CLI tools in py-code-mode's YAML format, against real `curl`, `jq`, `ls` and
//! `sleep`, with a real HTTP server on 127.0.0.1; and skills that call them.

mod common;

use std::path::Path;

use codemode::Session;
use codemode::tools::{Endpoint, HttpParam, HttpTool, JsonType, ToolRegistry};
use common::{error, run, value};
use serde_json::{Value, json};

const TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools");
const BAD_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad-tools");

fn registry() -> ToolRegistry {
    let (registry, skipped) = ToolRegistry::load_dir(Path::new(TOOLS));
    assert!(skipped.is_empty(), "{skipped:?}");
    registry
}

async fn session(base: &Path) -> Session {
    Session::builder().base_dir(base).tools(registry()).embeddings(false).build().await.expect("session starts")
}

/// A one-route HTTP server on a free loopback port that answers every request with
/// a GitHub-shaped JSON body echoing the method, path and body. Serves `n` requests.
fn http_server(n: usize) -> String {
    common::http_server(n, |request| {
        let status = if request.path.contains("missing") { 404 } else { 200 };
        let reply = json!({"method": request.method, "path": request.path, "body": String::from_utf8_lossy(&request.body),
                           "headers": request.headers, "full_name": "octo/repo", "stargazers_count": 42});
        (status, reply.to_string())
    })
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn argv_is_built_as_py_code_mode_builds_it() {
    let r = registry();
    let cases: [(&str, Option<&str>, Value, &[&str]); 6] = [
        ("curl", Some("get"), json!({"url": "U"}), &["curl", "-s", "-L", "U"]),
        // Schema order, not preset order.
        ("curl", Some("post"), json!({"url": "U", "data": "{}"}), &["curl", "-s", "-L", "-d", "{}", "-X", "POST", "U"]),
        // The escape hatch: arrays repeat their flag; false emits nothing.
        (
            "curl",
            None,
            json!({"url": "U", "header": ["A: 1", "B: 2"], "silent": true, "location": false}),
            &["curl", "-s", "-H", "A: 1", "-H", "B: 2", "U"],
        ),
        // Caller's values override the preset.
        ("curl", Some("get"), json!({"url": "U", "silent": false}), &["curl", "-L", "U"]),
        // A recipe named like the tool is used by the direct call.
        ("echo", None, json!({"text": "hello"}), &["echo", "hello"]),
        (
            "jq",
            Some("raw"),
            json!({"filter": ".a", "arg": ["x", "1"]}),
            &["jq", "-r", "--arg", "x", "--arg", "1", ".a"],
        ),
    ];
    for (tool, callable, given, expected) in cases {
        assert_eq!(r.cli_argv(tool, callable, &args(given.clone())).unwrap(), expected, "{tool}.{callable:?}({given})");
    }
    for (tool, callable, given, needle) in [
        ("curl", Some("get"), json!({}), "required parameter \"url\" is missing"),
        ("curl", Some("get"), json!({"url": "U", "verbose": true}), "unknown argument(s) verbose"),
        ("curl", Some("get"), json!({"url": "U", "silent": "yes"}), "silent is a boolean flag"),
        ("curl", Some("nope"), json!({"url": "U"}), "no recipe \"nope\"; available: get, post"),
        ("wget", None, json!({}), "no tool named \"wget\"; available: curl, echo, jq, lister, sleepy"),
    ] {
        let err = r.cli_argv(tool, callable, &args(given)).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

#[tokio::test]
async fn bad_files_are_reported_and_skipped() {
    let (registry, skipped) = ToolRegistry::load_dir(Path::new(BAD_TOOLS));
    let names: Vec<_> = registry.list().await.into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["echo"], "the good file still loads");
    let reasons: Vec<(String, String)> = skipped
        .iter()
        .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.reason.clone()))
        .collect();
    let expect = |file: &str, needle: &str| {
        let (_, reason) =
            reasons.iter().find(|(f, _)| f == file).unwrap_or_else(|| panic!("{file} not skipped: {reasons:?}"));
        assert!(reason.contains(needle), "{file}: {reason}");
    };
    expect("typo.yaml", "unknown field `descripton`");
    expect("broken.yaml", "invalid YAML");
    expect("norecipes.yaml", "no recipes");
    expect("unknown.yaml", "unknown tool type \"carrier-pigeon\"");
    expect("nameless.yaml", "missing field `name`");
    expect("echo2.yaml", "duplicate tool name");
    expect("sse.yaml", "legacy SSE transport");
    expect("mcp-nocommand.yaml", "`command` is required");
    expect("mcp-unset-env.yaml", "env MY_API_KEY references ${CODEMODE_SURELY_UNSET_VAR}, which is not set");
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_call_tools_like_py_code_mode_agents() {
    let server = http_server(3);
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    // tools.curl.get returns stdout as a string, as upstream.
    let r = run(
        &s,
        &format!("import json\njson.loads(tools.curl.get(url='{server}/repos/octo/repo'))['stargazers_count']"),
    )
    .await;
    assert_eq!(value(&r), json!(42));
    let r = run(&s, &format!("json.loads(tools.curl.post(url='{server}/echo', data='x=1'))")).await;
    let reply = value(&r);
    assert_eq!((reply["method"].as_str(), reply["body"].as_str()), (Some("POST"), Some("x=1")));
    // The escape hatch, with stdin for jq.
    let r = run(&s, &format!("tools.curl(url='{server}/x', silent=True, header=['X-A: 1'])")).await;
    assert!(value(&r).as_str().unwrap().contains("\"path\":\"/x\""), "{r:?}");
    let r = run(&s, "tools.jq.raw(filter='.name', stdin='{\"name\": \"codemode\"}')").await;
    assert_eq!(value(&r), json!("codemode\n"));
    let r = run(&s, "tools.echo(text='hello')").await;
    assert_eq!(value(&r), json!("hello\n"));
    // Every call is in the run's trace.
    let r = run(
        &s,
        "tools.echo(text='a')\ntry:\n    tools.lister.show(path='/definitely/missing')\nexcept ToolError:\n    pass",
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.error);
    let trace: Vec<_> =
        r.tool_calls.iter().map(|c| (c.tool.as_str(), c.callable.as_deref(), c.error.is_some())).collect();
    assert_eq!(trace, [("echo", None, false), ("lister", Some("show"), true)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_failures_are_clear_python_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    let (kind, message) = error(&run(&s, "tools.lister.show(path='/definitely/missing')").await);
    assert_eq!(kind, "ToolError");
    assert!(message.contains("exit code 2") && message.contains("/definitely/missing"), "{message}");
    let started = std::time::Instant::now();
    let (kind, message) = error(&run(&s, "tools.sleepy.long()").await);
    assert_eq!(kind, "ToolError");
    assert!(message.contains("timed out after 0.5 s"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (kind, message) = error(&run(&s, "tools.curl.get(url='x', verbose=True)").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("unknown argument(s) verbose"), "{message}");
    assert_eq!(error(&run(&s, "tools.curl.get('http://x')").await).0, "TypeError");
    let (kind, message) = error(&run(&s, "tools.wget").await);
    assert_eq!(kind, "AttributeError");
    assert!(message.contains("available: curl, echo, jq, lister, sleepy"), "{message}");
    let (kind, message) = error(&run(&s, "tools.curl.put").await);
    assert_eq!(kind, "AttributeError");
    assert!(message.contains("available: get, post"), "{message}");
    // Catchable; the session carries on.
    let r = run(
        &s,
        "try:\n    tools.lister.show(path='/nope')\nexcept ToolError as e:\n    caught = 'exit code' in str(e)\ncaught",
    )
    .await;
    assert_eq!(value(&r), json!(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_discoverable() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    assert_eq!(value(&run(&s, "dir(tools)").await), json!(["curl", "echo", "jq", "lister", "sleepy"]));
    assert_eq!(value(&run(&s, "tools.curl.get.signature()").await), json!("get(url: str | None = None)"));
    assert_eq!(value(&run(&s, "tools.echo.echo.signature()").await), json!("echo(text: str)"));
    let r = run(&s, "[r['name'] for r in tools.curl.list()]").await;
    assert_eq!(value(&r), json!(["get", "post"]));
    let r = run(&s, "tools.curl.__doc__.splitlines()[0], tools.curl.get.__doc__.splitlines()[0]").await;
    assert_eq!(value(&r), json!(["Make HTTP requests with curl", "GET a URL quietly, following redirects"]));
    let r = run(&s, "[t['name'] for t in tools.search('json')]").await;
    assert_eq!(value(&r)[0], json!("jq"));
    let listed = s.tools().list().await;
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0].tags, ["http", "web"]);
    let r = run(&s, "import asyncio\nawait tools.echo.call_async(text='async')").await;
    assert_eq!(value(&r), json!("async\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn skills_call_tools_and_other_skills() {
    let server = http_server(4);
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    let repo_summary = format!(
        "\"\"\"Summarise a repository from the API.\"\"\"\nimport json\n\ndef run(repo: str) -> dict:\n    data = json.loads(tools.curl.get(url='{server}/repos/' + repo))\n    return {{'name': data['full_name'], 'stars': data['stargazers_count']}}\n"
    );
    run(&s, &format!("skills.create('repo_summary', {repo_summary:?})")).await;
    let compare =
        "async def run(repos: list) -> list:\n    return sorted(skills.repo_summary(repo=r)['stars'] for r in repos)\n";
    run(&s, &format!("skills.create('compare', {compare:?})")).await;
    let r = run(&s, "skills.compare(repos=['a/b', 'c/d'])").await;
    assert_eq!(value(&r), json!([42, 42]));
    assert_eq!(r.tool_calls.len(), 2, "tool calls made inside skills are traced too");
    // From an async cell as well.
    let r = run(&s, "import asyncio\nawait asyncio.sleep(0)\nskills.repo_summary(repo='x/y')['stars']").await;
    assert_eq!(value(&r), json!(42));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tool_call_budget_holds() {
    let dir = tempfile::tempdir().unwrap();
    let s = Session::builder()
        .base_dir(dir.path())
        .tools(registry())
        .limits(codemode::Limits { tool_calls: 2, ..Default::default() })
        .build()
        .await
        .unwrap();
    let code = "out = []\nfor _ in range(3):\n    try:\n        out.append(tools.echo(text='x'))\n    except ToolError as e:\n        out.append(str(e))\nout";
    let out = value(&run(&s, code).await);
    assert_eq!(out[0], json!("x\n"));
    assert!(out[2].as_str().unwrap().contains("tool-call limit"), "{out}");
    // The budget is per run.
    assert_eq!(value(&run(&s, "tools.echo(text='again')").await), json!("again\n"));
}

fn method(name: &str) -> codemode::tools::Method {
    codemode::tools::Method::from_bytes(name.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_endpoints_built_in_rust() {
    let server = http_server(6);
    let api = HttpTool::new("api", &format!("{server}/v1"))
        .unwrap()
        .description("A test API")
        .header("X-Client", "codemode")
        .unwrap()
        .endpoint(
            Endpoint::new("get_repo", method("GET"), "/repos/{owner}/{repo}")
                .description("Get a repository")
                .param(HttpParam::path("owner"))
                .param(HttpParam::path("repo"))
                .param(HttpParam::query("per_page").kind(JsonType::Integer).default(json!(30))),
        )
        .endpoint(
            Endpoint::new("create_issue", method("POST"), "/repos/{owner}/issues")
                .param(HttpParam::path("owner"))
                .param(HttpParam::body("title").required(true))
                .param(HttpParam::body("labels").kind(JsonType::Array)),
        )
        .endpoint(Endpoint::new("missing", method("GET"), "/missing"));
    let mut tools = registry();
    tools.add_http(api).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = Session::builder().base_dir(dir.path()).tools(tools).embeddings(false).build().await.unwrap();

    // JSON comes back parsed; path values are encoded so they cannot add segments.
    let reply = value(&run(&s, "tools.api.get_repo(owner='octo', repo='../admin')").await);
    assert_eq!(reply["path"], json!("/v1/repos/octo/..%2Fadmin?per_page=30"));
    assert_eq!(reply["headers"]["x-client"], json!("codemode"));
    let reply = value(&run(&s, "tools.api.create_issue(owner='octo', title='Bug', labels=['a', 'b'])").await);
    assert_eq!(reply["method"], json!("POST"));
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"title": "Bug", "labels": ["a", "b"]}));
    // Status >= 400 is a ToolError with the status and an excerpt of the body.
    let (kind, message) = error(&run(&s, "tools.api.missing()").await);
    assert_eq!(kind, "ToolError");
    assert!(message.contains("HTTP 404 Not Found: {"), "{message}");
    // Bad arguments are refused before any request is made.
    for code in [
        "tools.api.get_repo(owner='octo')",
        "tools.api.get_repo(owner='o', repo='r', per_page='many')",
        "tools.api.get_repo(owner='o', repo='r', page=2)",
        "tools.api()",
    ] {
        assert_eq!(error(&run(&s, code).await).0, "ToolArgumentError", "{code}");
    }
    let signature = value(&run(&s, "tools.api.get_repo.signature()").await);
    assert_eq!(signature, json!("get_repo(owner: str, repo: str, per_page: int = 30)"));
}

fn param(name: &str, type_name: &str, required: bool, default: Option<Value>) -> codemode::tools::ParamInfo {
    codemode::tools::ParamInfo {
        name: name.into(),
        type_name: type_name.into(),
        required,
        default,
        description: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_functions_are_tools() {
    let mut tools = ToolRegistry::default();
    let params = vec![param("a", "int", true, None), param("b", "int", false, Some(json!(10)))];
    tools
        .add_fn("add", "Add two numbers on the host", params, |args| async move {
            let a = args["a"].as_i64().ok_or("a must be an integer")?;
            let b = args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(json!(a + b))
        })
        .unwrap();
    assert!(tools.add_fn("add", "again", Vec::new(), |_| async { Ok(json!(null)) }).is_err(), "names are unique");
    let dir = tempfile::tempdir().unwrap();
    let s = Session::builder().base_dir(dir.path()).tools(tools).embeddings(false).build().await.unwrap();
    assert_eq!(value(&run(&s, "tools.add(a=1), tools.add(a=1, b=2)").await), json!([11, 3]));
    assert_eq!(value(&run(&s, "tools.add.signature()").await), json!("add(a: int, b: int = 10)"));
    assert_eq!(error(&run(&s, "tools.add(b=1)").await).0, "ToolArgumentError");
    assert_eq!(error(&run(&s, "tools.add(a=1, c=2)").await).0, "ToolArgumentError");
    let (kind, message) = error(&run(&s, "tools.add(a='x')").await);
    assert_eq!(kind, "ToolError");
    assert!(message.contains("a must be an integer"), "{message}");
    // Many calls in one cell: each is one guest-to-host round trip.
    assert_eq!(value(&run(&s, "sum(tools.add(a=i, b=0) for i in range(1000))").await), json!(499500));
}
