#!/usr/bin/env python3
"""Markdown report of bench/mqtt/run.sh: reads the JSON lines of $BENCH_RESULTS
and the run's facts from BENCH_* environment variables."""

import json
import os
from statistics import median

env = os.environ
rows = [json.loads(line) for line in open(env["BENCH_RESULTS"]) if line.strip()]
messages = int(env["BENCH_MESSAGES"])

kCeiling = "mosquitto_sub"
kRelay = "relay mosquitto_sub → mosquitto_pub -l"
kEcho = "processor builtin:echo"
kEchoOut = "processor builtin:echo -> out"
kNodeRed = "node-red in -> function -> out"
kPyOut = "processor python echo -> out, 1 worker"
kPy1 = "processor python 1 worker"
kTargets = {kEcho: (kCeiling, 0.8), kEchoOut: (kRelay, 1.0)}


def select(label, qos, phase="load", whole=True):
    """The runs of a configuration; with `whole`, only those that counted
    every message (a run that stalled has no rate to compare)."""
    return [r for r in rows if r["label"] == label and r["qos"] == qos and r["phase"] == phase
            and (not whole or r["received"] == r["count"])]


def med(values):
    values = [v for v in values if v is not None]
    return median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def pct(values):
    values = [int(v) for v in values if v not in ("-", None)]
    if not values:
        return "-"
    return f"{min(values)}–{max(values)} %" if min(values) != max(values) else f"{values[0]} %"


def complete(r):
    return r["received"] == r["count"]


print(f"### MQTT benchmark, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}; "
      f"load average before the run: {env['BENCH_LOAD']}")
print(f"- mosquitto {env['BENCH_MOSQUITTO']}, a fresh broker per run; "
      f"{env['BENCH_VERSION'] or 'processor'}, build type {env['BENCH_BUILD_TYPE'] or 'unknown'}, "
      f"`--log-level info`, builtin:echo with numWorkers {env['BENCH_NATIVE_WORKERS']}; {env['BENCH_PYTHON']}; "
      + (env["BENCH_NODE_RED_VERSION"] or f"Node-RED {env['BENCH_NODE_RED_NOTE'] or 'not run'}"))
print(f"- {env['BENCH_ROUNDS']} rounds; per run {messages:,} messages of {env['BENCH_SIZE']} B as fast as "
      f"the publisher goes, then {int(env['BENCH_LATENCY_MESSAGES']):,} at {int(env['BENCH_LATENCY_RATE']):,} "
      "msg/s for the unloaded latency (where messages come out on bench/out)")
print()

labels = list(dict.fromkeys(r["label"] for r in rows))
best_ratio = {}
for qos in (0, 1):
    print(f"**QoS {qos}** (medians over the rounds; msg/s = messages counted / (last arrival − first publish))")
    print()
    print("| configuration | msg/s | min–max | of its ceiling | p50 / p99 under load (ms) "
          "| p50 / p99 paced (ms) | CPU server | CPU broker |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label in labels:
        load = select(label, qos)
        every = select(label, qos, whole=False)
        if not every:
            continue
        if not load:
            got = ", ".join(f"{r['received']:,}" for r in every)
            print(f"| {label} | **stalled** (counted {got} of {messages:,}) | | | | | "
                  f"{pct(r['server_cpu'] for r in every)} | {pct(r['broker_cpu'] for r in every)} |")
            continue
        rates = [r["msgs"] for r in load]
        ceiling = None
        if label in kTargets:
            ceiling = kTargets[label][0]
        elif label == kNodeRed or label == kPyOut:
            ceiling = kRelay
        elif label.startswith("processor python"):
            ceiling = kCeiling
        ratio = "-"
        if ceiling:
            base = med([r["msgs"] for r in select(ceiling, qos)])
            if base:
                ratio = f"{med(rates) / base:.2f} of {'the relay' if ceiling == kRelay else 'mosquitto_sub'}"
                best_ratio[(label, qos)] = med(rates) / base
        paced = select(label, qos, "paced")
        lat_load = (f"{fmt(med([r.get('p50_ms') for r in load]), 2)} / {fmt(med([r.get('p99_ms') for r in load]), 2)}"
                    if load[0].get("p50_ms") is not None else "-")
        lat_paced = (f"{fmt(med([r.get('p50_ms') for r in paced]), 2)} / "
                     f"{fmt(med([r.get('p99_ms') for r in paced]), 2)}" if paced else "-")
        lost = "" if len(load) == len(every) else f" ({len(every) - len(load)} of {len(every)} runs stalled)"
        print(f"| {label}{lost} | {fmt(med(rates))} | {fmt(min(rates))}–{fmt(max(rates))} | {ratio} | {lat_load} "
              f"| {lat_paced} | {pct(r['server_cpu'] for r in load)} | {pct(r['broker_cpu'] for r in load)} |")
    pub = [r["publisher_msgs"] for r in select(kCeiling, qos)]
    if pub:
        print()
        print(f"Publisher alone (its own rate in the mosquitto_sub runs: first write to last "
              f"{'PUBACK' if qos else 'write'}): median {fmt(med(pub))} msg/s.")
    print()

print("CPU: user + system over the run's wall time, 100 % = one core (server: the processor with its Python "
      "workers, Node-RED's node, or the relay's two clients). Paced latency: publish time to arrival on "
      "bench/out (or bench/in for the counter row), the publisher's CLOCK_MONOTONIC in the payload.")
print()

print("Per round, the ratio to the ceiling measured in the same round:")
print()
for label, (ceiling, _) in list(kTargets.items()) + [(kNodeRed, (kRelay, None)), (kPyOut, (kRelay, None))]:
    for qos in (0, 1):
        pairs = []
        for r in select(label, qos, whole=False):
            if not complete(r):
                pairs.append("stalled")
                continue
            base = [b["msgs"] for b in select(ceiling, qos) if b["round"] == r["round"]]
            if base and base[0]:
                pairs.append(f"{r['msgs'] / base[0]:.2f}")
        if pairs:
            print(f"- {label}, QoS {qos}: {', '.join(pairs)}")
print()

for label, (ceiling, target) in kTargets.items():
    for qos in (0, 1):
        ratio = best_ratio.get((label, qos))
        if ratio is None:
            if select(label, qos, whole=False):
                print(f"- {label}, QoS {qos}: every run stalled (target ≥ {target} of {ceiling}): **missed**")
            continue
        verdict = "**met**" if ratio >= target else "**missed**"
        print(f"- {label}, QoS {qos}: {ratio:.2f} of {ceiling} (target ≥ {target}): {verdict}")
for py in (kPy1, kPyOut):
    p = med([r["msgs"] for r in select(py, 0)])
    n = med([r["msgs"] for r in select(kNodeRed, 0)])
    if p and n:
        print(f"- {py} against Node-RED at QoS 0: {p:,.0f} against {n:,.0f} msg/s ({p / n:.2f}×): "
              + ("**ahead**" if p > n else "**behind**"))
if env["BENCH_IDLE_RSS"] != "-":
    rss = int(env["BENCH_IDLE_RSS"]) / 1024
    print(f"- idle processor with one MQTT trigger (builtin:echo, QoS 1 subscription): RSS {rss:.1f} MiB "
          f"(target ≤ 10 MiB: {'**met**' if rss <= 10 else '**missed**'}), CPU {env['BENCH_IDLE_CPU']} % "
          f"over {env['BENCH_IDLE_WINDOW']} s")
if any(not complete(r) for r in rows):
    print("- **some runs did not count every message (left out of the rates above):**")
    for r in rows:
        if not complete(r):
            print(f"  - round {r['round']}, {r['label']}, QoS {r['qos']}, {r['phase']}: "
                  f"{r['received']} of {r['count']}")
if any(r.get("duplicates") for r in rows):
    print("- duplicates counted: " + ", ".join(f"{r['label']} QoS {r['qos']} round {r['round']}: {r['duplicates']}"
                                             for r in rows if r.get("duplicates")))
