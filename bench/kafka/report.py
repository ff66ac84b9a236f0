#!/usr/bin/env python3
"""Markdown report of bench/kafka/run.sh: reads the JSON lines of $BENCH_RESULTS
and the run's facts from BENCH_* environment variables."""

import json
import os
from statistics import median

env = os.environ
rows = [json.loads(line) for line in open(env["BENCH_RESULTS"]) if line.strip()]
delivered = int(env["BENCH_DELIVERED"])

kCeiling = "kcat -C"
kNative = "processor builtin:echo"
kNativeTarget = 0.7       # of kcat, issue 11
kPythonTarget = 20000     # msg/s with 2 workers, issue 11


def whole(label):
    """The runs of `label` that read every delivered message (a run that
    stalled has no rate to compare)."""
    return [r for r in rows if r["label"] == label and r["received"] == delivered]


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def med(values):
    values = [v for v in values if v is not None]
    return median(values) if values else None


print(f"### Kafka benchmark, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}; "
      f"load average before the run: {env['BENCH_LOAD']}")
print(f"- kafka-mock (librdkafka {env['BENCH_RDKAFKA']} mock cluster), {env['BENCH_BROKERS']} brokers, topic of "
      f"{env['BENCH_PARTITIONS']} partitions; kcat {env['BENCH_KCAT'] or '?'}; "
      f"{env['BENCH_VERSION'] or 'processor'}, build type {env['BENCH_BUILD_TYPE'] or 'unknown'}, "
      f"`--log-level info`; builtin:echo with numWorkers {env['BENCH_NATIVE_WORKERS']}; {env['BENCH_PYTHON']}, "
      f"numWorkers {env['BENCH_PYTHON_WORKERS']}")
print(f"- produced once: {int(env['BENCH_MESSAGES']):,} messages of {env['BENCH_SIZE']} B over {env['BENCH_KEYS']} "
      f"keys by kafka-mock produce-seq (idempotent producer): **{delivered:,} delivered** "
      f"({fmt(float(env['BENCH_PRODUCE_RATE']))} msg/s); {env['BENCH_ROUNDS']} round(s), each configuration reads "
      "them all from the beginning")
print()
print("| configuration | msg/s (median) | min–max | of kcat | CPU s (processor + workers) | runs complete |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
labels = list(dict.fromkeys(r["label"] for r in rows))
ceiling = med([r["msgs"] for r in whole(kCeiling)])
medians = {}
for label in labels:
    every = [r for r in rows if r["label"] == label]
    done = whole(label)
    complete = f"{len(done)} of {len(every)}"
    if not done:
        why = lambda r: r.get("error") or r.get("stopped")  # noqa: E731
        got = ", ".join(f"{r['received']:,}" + (f" ({why(r)})" if why(r) else "") for r in every)
        print(f"| {label} | **stalled** (read {got} of {delivered:,}) | | | | {complete} |")
        continue
    rates = [r["msgs"] for r in done]
    medians[label] = med(rates)
    ratio = f"{medians[label] / ceiling:.2f}" if ceiling and label != kCeiling else "-"
    cpu = [float(r["cpu_s"]) for r in done if r.get("cpu_s") not in (None, "-")]
    not_ok = sum(int(r.get("not_ok") or 0) for r in done)
    note = f" ({not_ok:,} events not ok)" if not_ok else ""
    print(f"| {label}{note} | {fmt(medians[label])} | {fmt(min(rates))}–{fmt(max(rates))} | {ratio} | "
          f"{fmt(med(cpu), 1) if cpu else '-'} | {complete} |")
print()
print("msg/s: messages / (last seen − first seen): kcat's output lines as they come out; the processor's "
      "edgefn_events_total{trigger=\"stream\"} polled every 10 ms. Neither kcat's start-up nor the consumer "
      "group's join counts.")
print()

print("Per round, the ratio to kcat in the same round:")
print()
for label in labels:
    if label == kCeiling:
        continue
    pairs = []
    for r in [r for r in rows if r["label"] == label]:
        base = [b["msgs"] for b in whole(kCeiling) if b["round"] == r["round"]]
        if r["received"] != delivered:
            pairs.append("stalled")
        elif base and base[0]:
            pairs.append(f"{r['msgs'] / base[0]:.2f}")
    if pairs:
        print(f"- {label}: {', '.join(pairs)}")
print()

native = medians.get(kNative)
if native is not None and ceiling:
    ratio = native / ceiling
    print(f"- target native ≥ {kNativeTarget} of kcat: {ratio:.2f}, **{'met' if ratio >= kNativeTarget else 'missed'}**")
for label, value in medians.items():
    if label.startswith("processor python"):
        print(f"- target python ≥ {kPythonTarget:,} msg/s: {fmt(value)}, "
              f"**{'met' if value >= kPythonTarget else 'missed'}**")
