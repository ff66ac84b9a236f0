#!/bin/bash
# Runs once per cron tick (see function.yaml). Records the free space of the
# file system holding the function's directory, one line per tick:
#
#   2024-05-01T12:00:00Z disk-report /dev/sda1 on /: 42% used, 12345678 KiB available
#
# The line is appended to the file named by REPORT_FILE (spec.env; a
# relative name is relative to the function's directory, the working
# directory of every handler process, or to $STATE_DIRECTORY when systemd
# gives one), written to stderr, which the
# processor logs as worker.<trigger>.<n> (runtimeAttributes.logStderr),
# and to stdout, the tick's response, which nobody receives. A non-zero
# exit is logged as a failed tick.
set -euo pipefail

body=$(cat)   # the trigger's attributes.event.body, on stdin
read -r device used available mount < <(df -Pk . | awk 'NR == 2 { print $1, $5, $4, $6 }')
line="${NUCLIO_EVENT_TIMESTAMP} ${body:-tick} ${device} on ${mount}: ${used} used, ${available} KiB available"

# Under the systemd unit the function's directory (/etc/edgefn/NAME) is
# read-only; STATE_DIRECTORY (/var/lib/edgefn/NAME) is where it may write.
report=${REPORT_FILE:?set REPORT_FILE in spec.env}
if [[ $report != /* && -n ${STATE_DIRECTORY:-} ]]; then
  report=${STATE_DIRECTORY%%:*}/$report
fi
printf '%s\n' "$line" >>"$report"
printf '%s\n' "$line" >&2
printf '%s\n' "$line"
