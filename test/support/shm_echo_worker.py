"""Echo worker for shm_echo_driver: answers every event with its own body.

Exit codes: 0 after the daemon closed the channel, 3 when the segment's
protocol version is refused, 1 on anything else.
"""
import sys

import edgefn_channel as ec


def main():
    try:
        channel = ec.Channel.from_environment()
    except ec.ProtocolError as e:
        print("shm_echo_worker: %s" % e, file=sys.stderr)
        return 3 if "version" in str(e) else 1
    with channel:
        while True:
            try:
                request_id, event = channel.recv_event()
            except ec.ChannelClosed:
                return 0
            body = event["body"]
            channel.send_log(request_id, ec.INFO, "echo %s" % event["id"], {"size": len(body)})
            headers = [("X-Echo-" + name, value) for name, value in event["headers"]]
            headers += [("X-Body-Type", type(body).__name__), ("X-Path", event["path"]),
                        ("X-Fields", "&".join("%s=%s" % kv for kv in event["fields"])),
                        ("X-Trigger", "%s/%s" % (event["trigger_kind"], event["trigger_name"]))]
            # Odd requests answer with a bytearray: the no-copy path for
            # writable buffers.
            reply = bytearray(body) if request_id % 2 else body
            channel.send_response(request_id, reply, 200, event["content_type"], headers)


if __name__ == "__main__":
    sys.exit(main())
