# attack: resolve names (an exfiltration channel even without connections)
# held: name resolution is unavailable
# expect: ok
# value: [true, true]
import socket
out = []
for host in ("localhost", "exfil.example.com"):
    try:
        socket.getaddrinfo(host, 80)
        out.append(False)
    except (OSError, NotImplementedError):
        out.append(True)
out
