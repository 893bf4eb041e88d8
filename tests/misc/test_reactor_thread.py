import socket

from twisted.internet.protocol import Factory, Protocol


class Hello(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"hello\r\n")
        self.transport.loseConnection()


def test_listen_serves_on_loopback(listen) -> None:
    port = listen(Factory.forProtocol(Hello))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert s.recv(100) == b"hello\r\n"
