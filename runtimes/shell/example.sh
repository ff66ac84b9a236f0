#!/bin/bash
# An edgefn (and Nuclio) shell handler. One process runs per event:
#   stdin      the event body
#   "$@"       runtimeAttributes.arguments, or the request's X-Nuclio-Arguments
#              header when runtimeAttributes.allowArgumentsHeader is true; split
#              like shell words but never run through a shell
#   env        spec.env, NUCLIO_FUNCTION_*, NUCLIO_EVENT_* (see README.md)
#   stdout     the response body; exit 0 answers 200
#   stderr     the processor's log, one entry per line
#   exit != 0  answers 500
set -euo pipefail

mode="${1:-words}"
echo "event ${NUCLIO_EVENT_ID}: ${NUCLIO_EVENT_METHOD} ${NUCLIO_EVENT_PATH} (${mode})" >&2

case "$mode" in
  words) wc -w | tr -d ' ' ;;
  upper) tr '[:lower:]' '[:upper:]' ;;
  sort) sort ;;
  *)
    echo "unknown mode '${mode}': expected words, upper or sort" >&2
    exit 2
    ;;
esac
