# attack: the data profile's door (`_host.call`) fed hostile frames by hand: not JSON, wrong argument types, an unknown function, the runner's own functions, a huge and a deep frame
# held: every frame gets an InvalidInput (or null) answer, never a crash; the runner's result cannot be spoofed
# profile: data
# expect: ok
# value: [true, true, true, true, true, true, "kept"]
import _host, json
def kind(frame):
    answer = json.loads(_host.call(frame if isinstance(frame, bytes) else json.dumps(frame).encode()))
    return answer.get("err", {}).get("kind")
kinds = [
    kind(b"not json") == "InvalidInput",
    kind({"f": "tools.call_tool", "a": [1, 2]}) == "InvalidInput",
    kind({"f": "os.system", "a": ["ls"]}) == "InvalidInput",
    kind(b"{" * 100000) == "InvalidInput",
    kind({"f": "artifacts.save", "a": ["x" * 5000, "y"]}) is not None,
    json.loads(_host.call(json.dumps({"f": "runner.cell"}).encode())) == {"ok": None},
]
_host.call(json.dumps({"f": "runner.result", "a": [{"value": "spoofed"}]}).encode())
kinds + ["kept"]
