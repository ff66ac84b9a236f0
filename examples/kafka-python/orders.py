"""Totals every order that arrives on the `orders` topic.

The answer goes to the trigger's responseTopic (`order-totals`) under the
order's own key; an order that is not valid JSON is answered 400: handled
(committed, not retried) and logged, so one bad message cannot stop its
partition. A handler that raises instead is retried, then dead-lettered.
"""
import json


def init_context(context):
    context.user_data.totalled = 0
    # Runs when this processor's partitions move to another group member.
    context.platform.set_drain_callback(
        lambda: context.logger.info("partitions revoked after %d orders" % context.user_data.totalled))


def handler(context, event):
    try:
        order = json.loads(event.body)
        total = sum(item["price"] * item["quantity"] for item in order["items"])
    except (ValueError, KeyError, TypeError) as e:
        context.logger.warn_with("not an order", partition=event.shard_id, offset=event.offset, error=str(e))
        return context.Response(status_code=400)
    context.user_data.totalled += 1
    return {"order": order.get("id"), "total": round(total, 2), "partition": event.shard_id, "offset": event.offset}
