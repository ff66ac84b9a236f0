"""Flags temperature readings above a threshold.

Each message on sensors/<sensor>/temperature carries one reading in degrees
Celsius as text ("21.5"). A reading above ALERT_ABOVE (spec.env) is answered
with a JSON alert, which the trigger publishes to its responseTopic; any
other reading is answered with nothing, and nothing is published. The
message is acknowledged to the broker only once this handler returned, so a
crash means the reading is delivered again, never lost.
"""

import json
import os


def init_context(context):
    context.user_data.threshold = float(os.environ["ALERT_ABOVE"])
    context.logger.info_with("alerting above", celsius=context.user_data.threshold)


def handler(context, event):
    sensor = event.topic.split("/")[1]
    try:
        celsius = float(event.body.decode())
    except ValueError:
        # A reading that is not a number is dropped, not retried: it would
        # fail the same way every time.
        context.logger.warn_with("not a reading", sensor=sensor, body=event.body[:64].decode(errors="replace"))
        return ""
    if celsius <= context.user_data.threshold:
        return ""
    context.logger.info_with("reading above the threshold", sensor=sensor, celsius=celsius)
    return json.dumps({"sensor": sensor, "celsius": celsius, "threshold": context.user_data.threshold})
