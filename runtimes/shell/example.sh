#!/bin/bash
# An edgefn (and Nuclio) shell handler. One process runs per event:
#   stdin      the event body
#   "$@"       runtimeAttributes.arguments, or the request's X-Nuclio-Arguments
#              header when runtimeAttributes.allowArgumentsHeader is true; split
#              like shell words but never run through a shell
#   env        spec.env, NUCLIO_FUNCTION_*, NUCLIO_EVENT_* (see README.md)
#   stdout     the response body; exit 0 answers 200
#   stderr     the response body too, in the order written (as Nuclio); with
#              runtimeAttributes.logStderr the processor's log instead
#   exit != 0  answers 500 with the exit status and the output
set -euo pipefail

mode="${1:-words}"

case "$mode" in
  words) wc -w | tr -d ' ' ;;
  upper) tr '[:lower:]' '[:upper:]' ;;
  sort) sort ;;
  *)
    echo "unknown mode '${mode}': expected words, upper or sort" >&2
    exit 2
    ;;
esac
