# attack: fetch a URL with urllib (http to loopback, a file:// URL for /etc/passwd)
# held: both fail; nothing of the host comes back
# expect: ok
# value: [true, true]
# output-lacks: root:x:0
import urllib.request
out = []
for url in ("http://127.0.0.1:22/", "file:///etc/passwd"):
    try:
        print(urllib.request.urlopen(url, timeout=1).read()[:200])
        out.append(False)
    except OSError:
        out.append(True)
out
