"""shm_bench's worker over the shm channel: an empty handler."""
import os

import edgefn_channel as ec


def handler(event):
    return 200, "text/plain", (), b""


def main():
    channel = ec.Channel.from_environment(spin_us=float(os.environ.get("EDGEFN_SHM_SPIN_US", "50")))
    while True:
        try:
            request_id, event = channel.recv_event()
        except ec.ChannelClosed:
            return
        status, content_type, headers, body = handler(event)
        channel.send_response(request_id, body, status, content_type, headers)


if __name__ == "__main__":
    main()
