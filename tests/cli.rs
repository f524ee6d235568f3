//! The `codemode` binary, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn codemode(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("codemode starts");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("codemode finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_prints_stdout_then_the_value() {
    let out = codemode(&["run", "print('hello')\n6 * 7"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\n42\n");
}

#[test]
fn run_reports_errors_on_stderr_with_exit_code_1() {
    let out = codemode(&["run", "print('before')\nx = 1 / 0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("File \"<cell-1>\", line 2"), "{stderr}");
    assert!(stderr.contains("ZeroDivisionError: division by zero"), "{stderr}");
}

#[test]
fn run_reads_a_file_and_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.py");
    std::fs::write(&file, "import math\nmath.factorial(5)\n").unwrap();
    let out = codemode(&["run", "-f", file.to_str().unwrap()], None);
    assert_eq!(text(&out.stdout), "120\n", "{}", text(&out.stderr));

    let out = codemode(&["run"], Some("print(sum(range(4)))"));
    assert_eq!(text(&out.stdout), "6\n", "{}", text(&out.stderr));
    let out = codemode(&["run", "-"], Some("'dash'"));
    assert_eq!(text(&out.stdout), "'dash'\n", "{}", text(&out.stderr));

    let out = codemode(&["run", "-f", dir.path().join("missing.py").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}

#[test]
fn run_json_prints_the_whole_result() {
    let out = codemode(&["run", "--json", "import sys\nprint('o'); print('e', file=sys.stderr)\n{'a': [1, 2]}"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["stdout"], "o\n");
    assert_eq!(result["stderr"], "e\n");
    assert_eq!(result["value"]["json"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(result["error"], serde_json::Value::Null);
    assert!(result["wall_time"].as_f64().unwrap() > 0.0);
    assert!(result["peak_memory"].as_u64().unwrap() > 1 << 20);
}

#[test]
fn limits_are_set_from_flags() {
    let out = codemode(&["--timeout", "0.5", "run", "while True: pass"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("timeout limit"), "{}", text(&out.stderr));

    let out = codemode(&["--fuel", "50000000", "run", "--json", "while True: pass"], None);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["limit"], "fuel");
    assert_eq!(result["fuel_used"], 50_000_000);

    let out = codemode(&["--memory", "64", "run", "b = bytearray(100 << 20)"], None);
    assert!(text(&out.stderr).contains("MemoryError"), "{}", text(&out.stderr));

    let out = codemode(&["--max-output", "100", "run", "print('y' * 1000)"], None);
    assert!(text(&out.stdout).contains("[stdout truncated: 901 more bytes]"), "{}", text(&out.stdout));
}

#[test]
fn bad_flags_are_rejected_clearly() {
    for (args, needle) in [
        (&["--timeout", "-1", "run", "1"][..], "timeout"),
        (&["--timeout", "soon", "run", "1"][..], "not a number"),
        (&["--memory", "1", "run", "1"][..], "memory"),
        (&["--fuel", "0", "run", "1"][..], "fuel"),
        (&["run", "1", "-f", "x.py"][..], "cannot be used with"),
    ] {
        let out = codemode(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn host_environment_and_secrets_stay_on_the_host() {
    let out = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["run", "import os, sys\n(dict(os.environ), sys.argv, os.getcwd())"])
        .env("CODEMODE_TEST_SECRET", "hunter2")
        .output()
        .expect("codemode runs");
    let stdout = text(&out.stdout);
    assert_eq!(stdout, "({}, [], '/')\n", "{}", text(&out.stderr));
    assert!(!stdout.contains("hunter2"));
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["run", "--help"], &["repl", "--help"]] {
        let out = codemode(args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: codemode"), "{args:?}: {}", text(&out.stdout));
    }
}

#[test]
fn repl_keeps_state_between_inputs() {
    let input = "x = 20\ndef inc(n):\n    return n + 1\n\ninc(x) * 2\n%reset\nx\n";
    let out = codemode(&["repl"], Some(input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("42\n"), "{stdout}");
    assert!(stdout.contains("(session reset)"), "{stdout}");
    assert!(text(&out.stderr).contains("NameError: name 'x' is not defined"), "{}", text(&out.stderr));
}
