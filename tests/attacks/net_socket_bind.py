# attack: listen on a port from inside the sandbox (a back door for other processes)
# held: socket creation or bind fails
# expect: error PermissionError|OSError
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("0.0.0.0", 0))
s.listen()
