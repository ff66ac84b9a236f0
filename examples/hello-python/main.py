"""A Nuclio-style Python function: greets whoever the request names.

    curl http://127.0.0.1:8080/?name=edge        -> {"greeting": "hello, edge", "count": 1}
    curl -d '{"name": "json"}' -H 'Content-Type: application/json' http://127.0.0.1:8080/
"""
import datetime


def init_context(context):
    # Runs once per worker, before its first event: open clients, load
    # models, warm caches here.
    context.user_data.greeted = 0
    context.user_data.started = datetime.datetime.utcnow().isoformat() + "Z"
    context.logger.info_with("worker initialised", worker_id=context.worker_id)


def handler(context, event):
    name = event.fields.get("name")
    if name is None and isinstance(event.body, dict):
        name = event.body.get("name")
    name = name or "edge"
    context.user_data.greeted += 1
    context.logger.info_with("greeting", name=name, count=context.user_data.greeted)
    return {"greeting": "hello, " + name, "count": context.user_data.greeted}
