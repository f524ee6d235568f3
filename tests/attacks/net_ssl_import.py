# attack: import the network stack's native parts (ssl, _socket internals, select on a socket)
# held: ssl is not importable, or usable only without any connection
# expect: error ModuleNotFoundError|ImportError
import ssl
ssl.create_default_context()
