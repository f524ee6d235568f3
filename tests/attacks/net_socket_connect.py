# attack: open a TCP connection to the host's loopback (ssh, the echo server's neighbourhood, Redis)
# held: sockets are not available (PermissionError or OSError) for any of them
# expect: ok
# value: [true, true, true]
import socket
out = []
for port in (22, 6379, 8080):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1)
        out.append(False)
    except OSError:
        out.append(True)
out
