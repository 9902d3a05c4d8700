"""A TCP relay on loopback for the S3 store tests: a store reached through it goes out of
reach when the test kills it (SIGKILL drops every connection at once). With CERT and KEY,
it answers in TLS (an https endpoint in front of the plain-HTTP test store).

    python3 proxy.py LISTEN_PORT TARGET_PORT [CERT KEY]   prints "ready" once listening
"""
import socket
import ssl
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(64)
    tls = None
    if len(sys.argv) == 5:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[3], sys.argv[4])
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        if tls is not None:
            try:
                client = tls.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                client.close()
                continue
        upstream = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


main()
