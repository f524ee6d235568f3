# attack: send a UDP datagram (DNS to 127.0.0.53, a syslog packet)
# held: no datagram leaves: socket creation or sendto fails
# expect: error PermissionError|OSError
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("127.0.0.53", 53))
