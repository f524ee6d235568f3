# attack: an HTTP tool's path parameter that walks up or injects a query (`../../fail?pad=1`, `%2e%2e/`, an absolute URL)
# held: the value stays one percent-encoded segment under /items/ on the server
# expect: ok
# value: true
paths = []
for value in ["../../fail?pad=1", "..%2f..%2ffail", "/etc/passwd", "http://169.254.169.254/latest", "a/../../b#frag"]:
    paths.append(tools.api.item(id=value)["path"])
print(paths)
all(p.startswith("/items/") and p.count("/") == 2 for p in paths)
