# attack: socketpair, AF_UNIX to the Docker or systemd sockets, and raw sockets
# held: all refused
# expect: ok
# value: [true, true, true]
import socket
out = []
for op in (lambda: socket.socketpair(), lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock"),
           lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)):
    try:
        op()
        out.append(False)
    except (OSError, AttributeError, NotImplementedError):
        out.append(True)
out
