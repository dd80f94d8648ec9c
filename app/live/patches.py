"""A local fix to python-engineio that Kring depends on (applied once, on import of app.live).

A long-polling response carries every packet queued for the socket since the last poll, but
python-engineio's own client refuses a response of more than `Payload.max_decode_packets` (16)
packets ("Too many packets in payload", a known limit: miguelgrinberg/python-engineio#142) and
drops the connection. In a busy room 17 events between two polls cut such a client off (bots,
integrations, the test suite; browsers have no such limit). `Socket.poll` here returns at most
MAX_PACKETS per response and leaves the rest queued, in order, for the next poll, which the
client sends at once. The WebSocket writer calls the same `poll` and sends packets one by one,
so it only loops more often.
"""
from __future__ import annotations

from engineio import exceptions, payload
from engineio import socket as eio_socket

MAX_PACKETS = payload.Payload.max_decode_packets  # what python-engineio's client decodes


def _poll(self):
    """Wait for packets to send to the client: at most MAX_PACKETS, the rest stay queued."""
    queue_empty = self.server.get_queue_empty_exception()
    try:
        packets = [self.queue.get(timeout=self.server.ping_interval + self.server.ping_timeout)]
        self.queue.task_done()
    except queue_empty:
        raise exceptions.QueueEmpty() from None
    if packets == [None]:
        return []
    while len(packets) < MAX_PACKETS:
        try:
            pkt = self.queue.get(block=False)
            self.queue.task_done()
        except queue_empty:
            break
        if pkt is None:  # the close sentinel stays for the next poll, as upstream does
            self.queue.put(None)
            break
        packets.append(pkt)
    return packets


def apply() -> None:
    """Install the bounded poll (idempotent)."""
    if eio_socket.Socket.poll is not _poll:
        eio_socket.Socket.poll = _poll


apply()
