# A Python function with no function.yaml: its configuration is the
# @nuclio.configure block below, as `nuctl deploy --path handler.py` reads
# it, and edgefn reads it the same way:
#
#   processor --config examples/inline-python/handler.py
#
# spec.runtime (python, from the .py extension) and spec.handler
# (handler:handler, the file's module and Nuclio's default entry point)
# are worked out from the file, as Nuclio's builder does.

# @nuclio.configure
#
# function.yaml:
#   metadata:
#     name: inline-python
#   spec:
#     env:
#     - name: WORD_SEPARATOR
#       value: " "
#     triggers:
#       http:
#         kind: http
#         numWorkers: 2
#         url: ":8080"

import os


def handler(context, event):
    text = event.body.decode("utf-8", errors="replace")
    words = [w for w in text.split(os.environ["WORD_SEPARATOR"]) if w]
    context.logger.info_with("counted", words=len(words))
    return {"words": len(words), "longest": max(words, key=len) if words else ""}
