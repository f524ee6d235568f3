//! CLI tools in py-code-mode's YAML format, against real `curl`, `jq`, `ls` and
//! `sleep`, with a real HTTP server on 127.0.0.1; and skills that call them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use codemode::Session;
use codemode::tools::{Endpoint, HttpParam, HttpTool, JsonType, ToolRegistry};
use common::{SPAWNER, dies, error, grandchild, run, value};
use serde_json::{Value, json};

const TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools");
const BAD_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad-tools");
/// py-code-mode-shaped files that load with warnings (`nmap.yaml`).
const COMPAT_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools/compat");

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
    expect("oldformat.yaml", "this is the old `args:` format");
    expect("oldformat.yaml", "under `schema` (`options` and `positional`) and the calls agents make under `recipes`");
    expect("badshort.yaml", "`short` must be 1 to 8 ASCII letters or digits (as `r` or `sS`), not \"a --delete\"");
    expect("cliresult.yaml", "`result` applies to `type: mcp` tools only");
    expect("mcp-badresult.yaml", "unknown `result: everything` (expected text, the default, or structured)");
    assert_eq!(skipped.len(), reasons.iter().map(|(f, _)| f).collect::<std::collections::BTreeSet<_>>().len());
}

#[tokio::test]
async fn upstream_cli_schemas_load_multi_letter_flags_and_python_type_names() {
    let (r, skipped) = ToolRegistry::load_dir(Path::new(COMPAT_TOOLS));
    assert!(skipped.is_empty(), "{skipped:?}");
    // An unknown type is read as a string, with a warning naming the file and option.
    let warnings: Vec<String> = r
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.path.file_name().unwrap().to_string_lossy(), w.message))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("nmap.yaml: option \"exclude\": unknown type \"hostlist\", read as a string"),
        "{warnings:?}"
    );
    let argv =
        r.cli_argv("nmap", Some("quick"), &args(json!({"target": "10.0.0.1", "scripts": ["http-title"]}))).unwrap();
    assert_eq!(argv, ["echo", "-sS", "-p", "80,443", "-T", "4", "--scripts", "http-title", "10.0.0.1"]);
    let argv =
        r.cli_argv("nmap", None, &args(json!({"target": "h", "exclude": "10.0.0.2", "syn_scan": true}))).unwrap();
    assert_eq!(argv, ["echo", "-sS", "--exclude", "10.0.0.2", "h"]);
    let err = r.cli_argv("nmap", None, &args(json!({"target": "h", "exclude": ["a", "b"]}))).unwrap_err().to_string();
    assert!(
        err.contains("exclude takes strings or numbers, not a list") || err.contains("exclude must be a string"),
        "{err}"
    );
    // Python type names are the types agents see and the values are checked against.
    let listed = r.list().await;
    let quick = listed[0].callables.iter().find(|c| c.name.as_deref() == Some("quick")).unwrap();
    let types: Vec<(&str, &str)> = quick.params.iter().map(|p| (p.name.as_str(), p.type_name.as_str())).collect();
    assert_eq!(
        types,
        [
            ("target", "str"),
            ("ports", "str"),
            ("timing", "int"),
            ("scripts", "list"),
            ("syn_scan", "bool"),
            ("input", "str")
        ]
    );
    assert_eq!(quick.params[2].default, Some(json!(4)));
    let err =
        r.cli_argv("nmap", Some("quick"), &args(json!({"target": "h", "timing": "fast"}))).unwrap_err().to_string();
    assert!(err.contains("timing must be an integer"), "{err}");
}

#[test]
fn short_flags_cannot_smuggle_arguments() {
    for short in ["", "-r", "r x", "r=1", "é", "abcdefghi", "r\u{0}", "$(id)"] {
        let yaml = format!(
            "name: t\ncommand: echo\nschema:\n  options:\n    o: {{type: boolean, short: {short:?}}}\nrecipes:\n  t: {{}}\n"
        );
        let dir = tools_dir(&[("t.yaml", &yaml)]);
        let (r, skipped) = ToolRegistry::check_dir(dir.path());
        assert!(r.warnings().is_empty());
        assert_eq!(skipped.len(), 1, "{short:?} was accepted");
        assert!(skipped[0].reason.contains("`short` must be 1 to 8 ASCII letters or digits"), "{}", skipped[0].reason);
    }
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
    // py-code-mode's README example: `input` feeds stdin too.
    let r = run(&s, "json_data = '{\"key\": [1, 2]}'\ntools.jq.query(filter='.key', input=json_data)").await;
    assert_eq!(value(&r), json!("[\n  1,\n  2\n]\n"));
    let r =
        run(&s, "tools.jq.query(filter='.a', input={'a': 1}), tools.jq.query(filter='.', input=None, stdin='2')").await;
    assert_eq!(value(&r), json!(["1\n", "2\n"]), "a value is fed as its JSON; None is no input");
    let r = run(&s, "tools.jq.query.signature()").await;
    assert_eq!(value(&r), json!("query(filter: str | None = None, input: str | None = None)"));
    let (kind, message) = error(&run(&s, "tools.jq.query(filter='.', input='1', stdin='2')").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("as `stdin` or as `input`, not both"), "{message}");
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
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("exit code 2") && message.contains("/definitely/missing"), "{message}");
    let started = std::time::Instant::now();
    let (kind, message) = error(&run(&s, "tools.sleepy.long()").await);
    assert_eq!(kind, "ToolCallError");
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
    // Every CLI callable takes the standard input, listed under py-code-mode's name.
    let r = run(&s, "tools.curl.get.signature()").await;
    assert_eq!(value(&r), json!("get(url: str | None = None, input: str | None = None)"));
    assert_eq!(
        value(&run(&s, "tools.echo.echo.signature()").await),
        json!("echo(text: str, input: str | None = None)")
    );
    let r = run(&s, "[r['name'] for r in tools.curl.list()]").await;
    assert_eq!(value(&r), json!(["get", "post"]));
    let r = run(&s, "tools.curl.__doc__.splitlines()[0], tools.curl.get.__doc__.splitlines()[0]").await;
    assert_eq!(value(&r), json!(["Make HTTP requests with curl", "GET a URL quietly, following redirects"]));
    let r = run(&s, "[(t['name'], t['score'] > 0) for t in tools.search('json')]").await;
    assert_eq!(value(&r)[0], json!(["jq", true]));
    // Words, not substrings: `a` (in every description) is a stopword and names nothing.
    assert_eq!(value(&run(&s, "tools.search('a')").await), json!([]));
    let r = run(&s, "[t['name'] for t in tools.search('list a directory')]").await;
    assert_eq!(value(&r)[0], json!("lister"));
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
    // Status >= 400 is a ToolCallError with the status and an excerpt of the body.
    let (kind, message) = error(&run(&s, "tools.api.missing()").await);
    assert_eq!(kind, "ToolCallError");
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
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("a must be an integer"), "{message}");
    // Many calls in one cell: each is one guest-to-host round trip.
    assert_eq!(value(&run(&s, "sum(tools.add(a=i, b=0) for i in range(1000))").await), json!(499500));
}

/// A tools directory holding `files` (name, YAML).
fn tools_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).unwrap();
    }
    dir
}

fn load(dir: &Path) -> ToolRegistry {
    let (registry, skipped) = ToolRegistry::load_dir(dir);
    assert!(skipped.is_empty(), "{skipped:?}");
    registry
}

const DATE: &str = "name: date\ncommand: date\nschema:\n  options:\n    utc: {type: boolean, short: u}\n    when: {type: string, short: d}\n    reference: {type: string, short: r, allow_dash: true}\n  positional:\n    - {name: format, type: string}\nrecipes:\n  date:\n    description: The date\n";

const PICK: &str = "name: pick\ncommand: echo\nend_of_options: true\nschema:\n  options:\n    count: {type: integer, short: n}\n    ratio: {type: number}\n    tag: {type: array, short: t}\n  positional:\n    - {name: words, type: array}\nrecipes:\n  some:\n    params: {count: {}, words: {}}\n";

#[tokio::test]
async fn values_are_checked_against_the_schema_types_and_dashes() {
    let dir = tools_dir(&[("date.yaml", DATE), ("pick.yaml", PICK)]);
    let r = load(dir.path());
    let argv = |tool: &str, given: Value| r.cli_argv(tool, None, &args(given)).map_err(|e| e.to_string());
    for (tool, given, needle) in [
        // The issue's injection: a value read as an option by the program.
        ("date", json!({"format": "-f/etc/passwd"}), "format: a value starting with `-` would be read as an option"),
        ("date", json!({"when": "-1 day"}), "when: a value starting with `-`"),
        // A string parameter given a negative number is the same text.
        ("date", json!({"format": -5}), "format: a value starting with `-`"),
        // A list for a string would become several argv entries.
        ("date", json!({"format": ["+%Y", "-f/etc/passwd"]}), "format must be a string, not a list"),
        ("date", json!({"when": {"a": 1}}), "when must be a string, not a dict"),
        ("date", json!({"utc": "yes"}), "utc is a boolean flag (True or False), not the string \"yes\""),
        ("date", json!({"format": "a\u{0}b"}), "format: a value cannot contain a NUL character"),
        ("pick", json!({"count": "5"}), "count must be an integer, not the string \"5\""),
        ("pick", json!({"count": 1.5}), "count must be an integer, not 1.5"),
        ("pick", json!({"count": true}), "count must be an integer, not True"),
        ("pick", json!({"ratio": "x"}), "ratio must be a number, not the string \"x\""),
        ("pick", json!({"tag": ["a", "-b"]}), "tag: a value starting with `-`"),
        ("pick", json!({"tag": [["nested"]]}), "tag takes strings or numbers, not a list"),
        ("pick", json!({"words": [true]}), "words takes strings or numbers, not True"),
    ] {
        let err = argv(tool, given.clone()).expect_err(&format!("{tool}({given}) must be refused"));
        assert!(err.contains(needle), "{tool}({given}): {err}");
    }
    for (tool, given, expected) in [
        ("date", json!({"format": "+%Y", "utc": true}), vec!["date", "-u", "+%Y"]),
        // The tool's YAML opted in for this option.
        ("date", json!({"reference": "-weird-file"}), vec!["date", "-r", "-weird-file"]),
        ("date", json!({"format": 5}), vec!["date", "5"]),
        // Negative numbers are fine where the type is a number; `--` precedes positionals.
        (
            "pick",
            json!({"count": -3, "ratio": -0.5, "tag": ["a", 2], "words": ["x", "-y"]}),
            vec!["echo", "-n", "-3", "--ratio", "-0.5", "-t", "a", "-t", "2", "--", "x", "-y"],
        ),
        ("pick", json!({"words": "one"}), vec!["echo", "--", "one"]),
        ("pick", json!({"count": 1}), vec!["echo", "-n", "1"]),
    ] {
        assert_eq!(argv(tool, given.clone()).unwrap(), expected, "{tool}({given})");
    }
    // A recipe parameter given as `{}` shows (and is checked as) its schema type.
    let listed = r.list().await;
    let some = &listed.iter().find(|t| t.name == "pick").unwrap().callables[0];
    let types: Vec<&str> = some.params.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(types, ["int", "list", "str"], "then the standard input");
}

#[tokio::test(flavor = "multi_thread")]
async fn option_injection_is_refused_in_the_sandbox_and_dash_dash_protects_positionals() {
    let lsx = "name: lsx\ncommand: ls\nend_of_options: true\nschema:\n  positional:\n    - {name: path, type: string, required: true}\nrecipes:\n  show: {}\n";
    let tools = tools_dir(&[("date.yaml", DATE), ("lsx.yaml", lsx)]);
    let base = tempfile::tempdir().unwrap();
    let s = Session::builder().base_dir(base.path()).tools(load(tools.path())).embeddings(false).build().await.unwrap();
    // Before the check, date printed the file in its error ("invalid date 'root:x:0:0...'").
    let (kind, message) = error(&run(&s, "tools.date(format='-f/etc/passwd')").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("would be read as an option") && !message.contains("root:"), "{message}");
    let (kind, message) = error(&run(&s, "tools.date(format=['+%Y', '-f/etc/passwd'])").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("format must be a string, not a list"), "{message}");
    let year = value(&run(&s, "tools.date(format='+%Y', utc=True)").await);
    assert_eq!(year.as_str().unwrap().trim().len(), 4, "{year}");
    // After `--`, ls reads `-la` as a file name, not as options.
    let (kind, message) = error(&run(&s, "tools.lsx.show(path='-la')").await);
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("cannot access '-la'"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_and_everything_it_started_are_killed_as_a_group() {
    let tools = tools_dir(&[("spawner.yaml", SPAWNER)]);
    let scratch = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let s = Session::builder().base_dir(base.path()).tools(load(tools.path())).embeddings(false).build().await.unwrap();

    // On timeout the whole group is killed, not only `sh`.
    let pidfile = scratch.path().join("timeout.pid");
    let (kind, message) =
        error(&run(&s, &format!("tools.spawner.hang(pidfile={:?})", pidfile.to_str().unwrap())).await);
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("timed out after 1 s"), "{message}");
    assert!(dies(grandchild(&pidfile)), "the grandchild outlived the timeout");

    // When the tool exits, what it left running is killed and the call returns at
    // once (before, it waited for the grandchild to close stdout: 30 s).
    let pidfile = scratch.path().join("exit.pid");
    let started = std::time::Instant::now();
    let out = value(&run(&s, &format!("tools.spawner.leave(pidfile={:?})", pidfile.to_str().unwrap())).await);
    assert_eq!(out, json!("done\n"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(dies(grandchild(&pidfile)), "the grandchild outlived the tool");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_call_kills_the_group() {
    let tools = tools_dir(&[("spawner.yaml", &SPAWNER.replace("timeout: 1", "timeout: 60"))]);
    let registry = load(tools.path());
    let scratch = tempfile::tempdir().unwrap();
    let pidfile = scratch.path().join("cancel.pid");
    let call_args = args(json!({"pidfile": pidfile.to_str().unwrap()}));
    let call = registry.call("spawner", Some("hang"), &call_args);
    // Dropping the call future (a cancelled run) is the only way this call ends.
    let outcome = tokio::time::timeout(std::time::Duration::from_millis(1500), call).await;
    assert!(outcome.is_err(), "the call should still be running: {outcome:?}");
    assert!(dies(grandchild(&pidfile)), "the grandchild outlived the cancelled call");
}

const CLI_SECRET: &str = "s3cr3t-cli-value-0123456789";
/// With `"` and `\`, which serialized JSON escapes.
const HTTP_SECRET: &str = r#"s3"cr\et-http-0123456789"#;

/// `codemode run CODE` with `files` in `<base>/tools` and host secrets in its
/// environment; returns the guest's stdout.
fn codemode_run(files: &[(&str, String)], code: &str) -> String {
    let base = tempfile::tempdir().unwrap();
    let tools = base.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for (name, yaml) in files {
        std::fs::write(tools.join(name), yaml).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["--base", base.path().to_str().unwrap(), "run", code])
        .env_remove("CODEMODE_REDIS")
        .env("CODEMODE_CLI_TEST_SECRET", CLI_SECRET)
        .env("CODEMODE_HTTP_TEST_SECRET", HTTP_SECRET)
        .env("CODEMODE_HOST_ONLY", "not-for-tools")
        .output()
        .expect("codemode runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The JSON the guest printed on the last line of its stdout.
fn printed(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim().lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn cli_tools_get_a_cleared_environment_plus_their_own_env() {
    let printenv =
        "name: printenv\ncommand: env\nenv:\n  TOOL_TOKEN: \"tok-${CODEMODE_CLI_TEST_SECRET}\"\nrecipes:\n  all: {}\n";
    let jq = std::fs::read_to_string(Path::new(TOOLS).join("jq.yaml")).unwrap();
    let code = "import json\nprint(json.dumps([tools.printenv.all(), tools.jq.query(filter='$ENV', stdin='null')]))";
    let stdout = codemode_run(&[("printenv.yaml", printenv.to_owned()), ("jq.yaml", jq)], code);
    let out = printed(&stdout);
    let (env, jq_env) = (out[0].as_str().unwrap(), out[1].as_str().unwrap());
    // The issue's reproduction: jq's $ENV listed every host variable.
    for seen in [env, jq_env] {
        assert!(!seen.contains("CODEMODE_HOST_ONLY") && !seen.contains("not-for-tools"), "{seen}");
        assert!(!seen.contains(CLI_SECRET) && !seen.contains("CODEMODE_CLI_TEST_SECRET"), "{seen}");
        assert!(seen.contains("PATH"), "the allow-list is passed: {seen}");
    }
    // The tool got its own `env`, expanded on the host; the guest sees it scrubbed.
    assert!(env.contains("TOOL_TOKEN=tok-***"), "{env}");
    assert!(!jq_env.contains("TOOL_TOKEN"), "{jq_env}");
}

#[test]
fn cli_stderr_is_scrubbed_before_it_is_cut() {
    // stderr: `pad` x's, then the secret; the excerpt shows 2048 characters.
    let leaky = r#"name: leaky
command: sh
env:
  TOOL_TOKEN: "${CODEMODE_CLI_TEST_SECRET}"
schema:
  options:
    script: {type: string, short: c}
  positional:
    - {name: pad, type: integer, required: true}
recipes:
  stderr:
    preset: {script: 'head -c "$0" /dev/zero | tr "\000" x >&2; printf %s "$TOOL_TOKEN" >&2; exit 3'}
"#;
    let code = "import json\nout = []\nfor pad in range(2020, 2050):\n    try:\n        tools.leaky.stderr(pad=pad)\n    except ToolError as e:\n        out.append(str(e))\nprint(json.dumps(out))";
    let out = printed(&codemode_run(&[("leaky.yaml", leaky.to_owned())], code));
    let messages = out.as_array().unwrap();
    assert_eq!(messages.len(), 30);
    for message in messages {
        let message = message.as_str().unwrap();
        assert!(message.contains("exit code 3"), "{message}");
        // No start of the secret, however short, next to the cut (before, the first
        // bytes up to the cut were shown unscrubbed).
        assert!(!message.contains("s3c"), "{message}");
    }
    assert!(messages.iter().filter(|m| m.as_str().unwrap().contains("x***")).count() >= 10, "{out}");
}

#[test]
fn http_secrets_are_scrubbed_before_excerpts_and_inside_json() {
    let server = common::http_server(32, |request| {
        let secret = request.headers.get("x-secret").and_then(Value::as_str).unwrap_or_default().to_owned();
        match request.path.strip_prefix("/fail/").and_then(|pad| pad.parse::<usize>().ok()) {
            Some(pad) => (404, format!("{}{secret} and more", "x".repeat(pad))),
            None => (200, json!({"echo": secret, secret.clone(): [secret.clone(), 1], "n": 7}).to_string()),
        }
    });
    let echoer = format!(
        "name: echoer\ntype: http\nbase_url: {server}\nheaders:\n  X-Secret: \"${{CODEMODE_HTTP_TEST_SECRET}}\"\nendpoints:\n  fail:\n    path: /fail/{{pad}}\n    params:\n      pad: {{in: path, type: integer, required: true}}\n  data:\n    path: /data\n"
    );
    let code = "import json\nout = []\nfor pad in range(480, 511):\n    try:\n        tools.echoer.fail(pad=pad)\n    except ToolError as e:\n        out.append(str(e))\nprint(json.dumps([out, tools.echoer.data()]))";
    let out = printed(&codemode_run(&[("echoer.yaml", echoer)], code));
    let messages = out[0].as_array().unwrap();
    assert_eq!(messages.len(), 31);
    for message in messages {
        let message = message.as_str().unwrap();
        assert!(message.contains("HTTP 404"), "{message}");
        // Before, the body was cut at 500 characters and then scrubbed: moving the
        // cut showed the secret character by character.
        assert!(!message.contains("s3"), "{message}");
    }
    assert!(messages.iter().any(|m| m.as_str().unwrap().contains("x*** and more")), "{out}");
    // Before, the serialized JSON (with `\"` and `\\`) was searched, and missed it.
    assert_eq!(out[1], json!({"echo": "***", "***": ["***", 1], "n": 7}));
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_tool_arguments_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    // 30 MB of JSON: before, parsed and copied on the host whatever its size.
    let started = std::time::Instant::now();
    let (kind, message) = error(&run(&s, "tools.echo(text='x' * 30_000_000)").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("over the cap of 1048576 bytes per tool call"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(value(&run(&s, "tools.echo(text='still here')").await), json!("still here\n"));
    assert_eq!(value(&run(&s, "len(tools.echo(text='x' * 100_000))").await), json!(100_001));

    // The cap is the registry's.
    let tools = registry().with_max_argument_bytes(100);
    assert_eq!(tools.max_argument_bytes(), 100);
    let s = Session::builder().base_dir(dir.path()).tools(tools).embeddings(false).build().await.unwrap();
    let (kind, message) = error(&run(&s, "tools.echo(text='x' * 200)").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("over the cap of 100 bytes"), "{message}");
    assert_eq!(value(&run(&s, "tools.echo(text='short')").await), json!("short\n"));
}

/// `codemode ARGS` with `--base base`; returns (exit code, stdout, stderr).
fn codemode(base: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["--base", base.to_str().unwrap()])
        .args(args)
        .env_remove("CODEMODE_REDIS")
        .env_remove("CODEMODE_TOOLS")
        .env_remove("CODEMODE_LOG")
        .output()
        .expect("codemode runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn missing_and_broken_tool_files_are_reported_once() {
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("no-such-tools");
    let (registry, skipped) = ToolRegistry::load_dir(&missing);
    assert!(registry.warnings().is_empty());
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].path.as_path(), skipped[0].reason.as_str()),
        (missing.as_path(), "the tools directory does not exist")
    );
    // A default location that need not exist is no tools, silently.
    assert!(ToolRegistry::load_dir_if_present(&missing).1.is_empty());

    // `tools check` on a directory that does not exist fails, saying so.
    let (code, stdout, stderr) = codemode(base.path(), &["tools", "check", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("the tools directory does not exist"), "{stdout}");
    assert!(stderr.contains("error: not every tool in"), "{stderr}");

    // `--tools` that does not exist: one warning, and the code still runs.
    let (code, stdout, stderr) = codemode(base.path(), &["--tools", missing.to_str().unwrap(), "run", "print(40 + 2)"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("42"), "{stdout}");
    assert_eq!(stderr.matches("the tools directory does not exist").count(), 1, "{stderr}");
    // The default `<base>/tools` does not exist either: nothing to say.
    let (code, _, stderr) = codemode(base.path(), &["run", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("tools"), "{stderr}");

    // Each skipped file once, with its reason; an unknown type is a warning and the tool loads.
    let tools = base.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for file in ["echo.yaml", "oldformat.yaml", "typo.yaml"] {
        std::fs::copy(Path::new(BAD_TOOLS).join(file), tools.join(file)).unwrap();
    }
    std::fs::copy(Path::new(COMPAT_TOOLS).join("nmap.yaml"), tools.join("nmap.yaml")).unwrap();
    let (code, stdout, stderr) = codemode(base.path(), &["run", "print(sorted(dir(tools)))"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("['echo', 'nmap']"), "{stdout}");
    for needle in ["oldformat.yaml", "typo.yaml", "unknown type \"hostlist\""] {
        assert_eq!(stderr.matches(needle).count(), 1, "{needle}: {stderr}");
    }

    // `tools list` honours --base (its `<base>/tools`) and --tools.
    let (code, stdout, _) = codemode(base.path(), &["tools", "list"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("echo: Print text back") && stdout.contains("nmap: Network scanner"), "{stdout}");
    let other = tools_dir(&[("only.yaml", "name: only\ncommand: echo\nrecipes:\n  only: {}\n")]);
    let (code, stdout, _) = codemode(base.path(), &["tools", "list", "--tools", other.path().to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("only: ") && !stdout.contains("echo"), "{stdout}");

    // `tools check` (default: <base>/tools) reports the skipped files and the warning.
    let (code, stdout, _) = codemode(base.path(), &["tools", "check"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("skip  ") && stdout.contains("old `args:` format"), "{stdout}");
    assert!(stdout.contains("warn  ") && stdout.contains("unknown type \"hostlist\""), "{stdout}");
}

#[tokio::test]
async fn a_schema_input_parameter_keeps_its_name_and_stdin_stays_stdin() {
    let tee =
        "name: tee\ncommand: echo\nschema:\n  positional:\n    - {name: input, type: string}\nrecipes:\n  tee: {}\n";
    let dir = tools_dir(&[("tee.yaml", tee)]);
    let r = load(dir.path());
    assert_eq!(r.cli_argv("tee", None, &args(json!({"input": "x", "stdin": "y"}))).unwrap(), ["echo", "x"]);
    let listed = r.list().await;
    let names: Vec<&str> = listed[0].callables[0].params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["input", "stdin"]);
    let out = r.call("tee", None, &args(json!({"input": "-x"}))).await.unwrap_err().to_string();
    assert!(out.contains("would be read as an option"), "the schema's `input` is checked as a positional: {out}");
}
