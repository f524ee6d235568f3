# attack: provoke skill storage errors whose text would name the host directory (names over the host's file-name limit for get, invoke and delete)
# held: every error says what failed without a host path (the runner checks every output for the storage's host path)
# expect: ok
msgs = []
for op in (lambda: skills.get("a" * 300), lambda: skills.invoke("b" * 300), lambda: skills.delete("c" * 300)):
    try:
        op()
    except Exception as e:
        msgs.append(f"{type(e).__name__}: {str(e)[:600]}")
msgs
