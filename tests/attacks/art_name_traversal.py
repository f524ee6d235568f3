# attack: artifact names that leave the store: `..` components, absolute paths, backslashes, drive letters, `//`
# held: save, load, exists, get and delete all refuse each name with ValueError
# expect: ok
# value: true
names = ["../../canary/secret.txt", "../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "C:\\x", "a//b", "./a", "a/./b"]
ops = [lambda n: artifacts.save(n, "data"), lambda n: artifacts.load(n), lambda n: artifacts.exists(n),
       lambda n: artifacts.get(n), lambda n: artifacts.delete(n)]
refused = 0
for name in names:
    for op in ops:
        try:
            op(name)
        except ValueError:
            refused += 1
refused == len(names) * len(ops)
