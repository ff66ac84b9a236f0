// The Kafka trigger's strand: what becomes of each record, from its arrival
// until its offset may be committed.
#include <algorithm>

#include "trigger/kafka/kafka_core.hpp"
#include "util/duration.hpp"

namespace edgefn::kafka {
namespace {

using Next = stream::FailurePolicy::Next;

Metrics register_metrics(MetricsRegistry& m, const std::string& trigger) {
  const Labels labels{{"trigger", trigger}};
  auto rebalance = [&](const char* change) {
    return &m.counter("edgefn_kafka_rebalances_total",
                      "Rebalances that assigned partitions to this member or took them from it, by change",
                      {{"trigger", trigger}, {"change", change}});
  };
  auto commits = [&](const char* result) {
    return &m.counter("edgefn_kafka_commits_total", "Offset commits, by result", {{"trigger", trigger}, {"result", result}});
  };
  auto failed = [&](const char* outcome) {
    return &m.counter("edgefn_kafka_failed_events_total", "Kafka events whose handler failed for good, by what became of them",
                      {{"trigger", trigger}, {"outcome", outcome}});
  };
  return Metrics{
      EventMetrics(m, trigger),
      rebalance("assigned"),
      rebalance("revoked"),
      rebalance("lost"),
      commits("ok"),
      commits("failed"),
      &m.counter("edgefn_kafka_retries_total", "Kafka events run again after their handler failed", labels),
      failed("dead_letter"),
      failed("skipped"),
      &m.gauge("edgefn_kafka_assigned_partitions", "Partitions this member consumes", labels),
      &m.gauge("edgefn_kafka_paused", "1 while the partitions are paused (backpressure, pause or drain)", labels),
  };
}

}  // namespace

const char* to_string(GroupState state) noexcept {
  switch (state) {
    case GroupState::kWaitingForWorker: return "waiting for a worker";
    case GroupState::kJoining: return "joining";
    case GroupState::kMember: return "member";
    case GroupState::kClosed: return "closed";
  }
  return "?";
}

bool Partition::quiet(bool explicit_acks) const {
  if (running || producing > 0) return false;
  if (!explicit_acks) return true;
  return std::none_of(records.begin(), records.end(), [](const auto& entry) { return entry.second.waiting_ack; });
}

Core::Core(const TriggerContext& ctx, KafkaSettings kafka_settings)
    : LogSink{get_logger("trigger.kafka." + ctx.config.name)},
      io(ctx.io),
      strand(asio::make_strand(ctx.io)),
      info{ctx.config.kind, ctx.config.name},
      settings(std::move(kafka_settings)),
      pool(ctx.pool),
      host(ctx.host),
      registry(ctx.metrics),
      ack_mode(parse_explicit_ack_mode(ctx.config.explicit_ack_mode).value_or(ExplicitAckMode::kDisable)),
      metrics(register_metrics(ctx.metrics, ctx.config.name)),
      access(info, ctx.access_log || ctx.config.access_log),
      drain_timer(strand) {}

Partition* Core::find(std::uint64_t generation) {
  auto it = by_generation.find(generation);
  return it == by_generation.end() ? nullptr : it->second;
}

// --- assignment -------------------------------------------------------------

void Core::on_assigned(std::vector<TopicPartition> list) {
  for (auto& tp : list) {
    if (auto old = partitions.find(tp); old != partitions.end()) {
      by_generation.erase(old->second.generation);
      in_flight.fetch_sub(old->second.records.size());
      partitions.erase(old);
    }
    Partition& p = partitions[tp];
    p.id = tp;
    p.generation = next_generation++;
    p.lag = &registry.gauge("edgefn_kafka_consumer_lag", "Messages in the partition not yet handled and committed",
                            {{"trigger", info.name}, {"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
    by_generation[p.generation] = &p;
  }
  update_status();
}

void Core::on_revoking(std::vector<TopicPartition> list, bool lost, std::function<void()> done) {
  auto wait = std::make_unique<RevokeWait>();
  wait->done = std::move(done);
  for (auto& tp : list) {
    auto it = partitions.find(tp);
    if (it == partitions.end()) continue;
    Partition& p = it->second;
    p.revoking = true;
    p.scope->cancel();  // what waits for a worker fails with kCancelled
    leave_waiting(p);
    wait->partitions.push_back(std::move(tp));
  }
  // Lost partitions may be someone else's already; a drain has waited.
  std::chrono::milliseconds bound{0};
  if (!lost && !draining)
    bound = settings.max_wait_handler_during_rebalance +
            (ack_mode != ExplicitAckMode::kDisable ? settings.wait_explicit_ack_during_rebalance
                                                   : std::chrono::milliseconds{0});
  wait->deadline = std::make_unique<asio::steady_timer>(strand, bound);
  wait->deadline->async_wait([self = shared_from_this(), raw = wait.get()](error_code ec) {
    if (!ec) self->finish_revoke(raw, true);
  });
  revokes.push_back(std::move(wait));
  check_quiet();
}

void Core::finish_revoke(RevokeWait* wait, bool timed_out) {
  auto it = std::find_if(revokes.begin(), revokes.end(), [wait](const auto& w) { return w.get() == wait; });
  if (it == revokes.end()) return;
  auto owned = std::move(*it);
  revokes.erase(it);
  owned->deadline->cancel();
  for (const auto& tp : owned->partitions) {
    auto found = partitions.find(tp);
    if (found == partitions.end()) continue;
    Partition& p = found->second;
    if (timed_out && !p.quiet(ack_mode != ExplicitAckMode::kDisable))
      logger->warn("{} given up with events still running or unacknowledged: their offsets are not committed, so "
                   "the partition's next owner runs them again",
                   tp.text());
    for (auto& [offset, record] : p.records) {
      if (record.retry_timer) record.retry_timer->cancel();
      if (record.produce_timer) record.produce_timer->cancel();
    }
    in_flight.fetch_sub(p.records.size());
    if (p.lag) p.lag->set(0);
    by_generation.erase(p.generation);
    partitions.erase(found);
  }
  update_pause();
  update_status();
  owned->done();
}

// --- intake -------------------------------------------------------------------

void Core::on_records(std::vector<Record> batch) {
  // The poll thread counted the whole batch in flight; what is not taken
  // here is given back.
  if (closed.load() || draining) {
    in_flight.fetch_sub(batch.size());  // not taken: fetched again by whoever consumes next
    return update_pause();
  }
  Partition* p = nullptr;
  std::vector<Partition*> touched;
  std::size_t taken = 0;
  for (auto& record : batch) {
    if (!p || p->id.partition != record.partition || p->id.topic != record.topic) {
      auto it = partitions.find(TopicPartition{record.topic, record.partition});
      p = it == partitions.end() ? nullptr : &it->second;
      if (p && std::find(touched.begin(), touched.end(), p) == touched.end()) touched.push_back(p);
    }
    // Revoked meanwhile, or an offset seen before (fetched again after a pause).
    if (!p || p->revoking || !p->window.track(record.offset)) continue;
    const auto offset = record.offset;
    p->records[offset].record = std::move(record);
    p->queue.push_back(offset);
    ++taken;
  }
  in_flight.fetch_sub(batch.size() - taken);
  for (Partition* partition : touched) pump(*partition);
  update_pause();
}

void Core::update_pause() {
  const auto n = in_flight.load();
  if (!backpressure.load() && n >= settings.max_in_flight) {
    backpressure.store(true);
    logger->debug("{} event(s) in flight: pausing the partitions", n);
  } else if (backpressure.load() && n <= settings.max_in_flight / 2) {
    backpressure.store(false);
  }
  const bool pause = backpressure.load() || app_paused.load() || draining;
  const bool changed = want_paused.exchange(pause) != pause;
  if (changed) metrics.paused->set(pause ? 1 : 0);
  // The poll thread may be asleep with messages waiting for room.
  if (!pause && in_flight.load() < settings.max_in_flight && (changed || waiting_for_room.exchange(false))) wake();
}

void Core::pump(Partition& p) {
  if (p.running || p.queue.empty() || p.revoking || draining || closed.load() || app_paused.load()) return;
  run(p, p.queue.front());
}

void Core::run(Partition& p, std::int64_t offset) {
  Pending& pending = p.records.at(offset);
  ++pending.attempts;
  p.running = true;
  // The value is needed again only by a retry or a dead letter.
  std::string body = settings.failure.after_failure(pending.attempts) == Next::kSkip ? std::move(pending.record.value)
                                                                                     : pending.record.value;
  Event event = make_event(pending.record, std::move(body), info, settings.brokers);
  DispatchOptions options;
  options.cancel = p.scope;
  std::optional<AccessLog::Entry> access_entry;
  if (access.wanted()) access_entry = AccessLog::entry(event);
  pool.dispatch(std::move(event), std::move(options),
                [self = shared_from_this(), generation = p.generation, offset, started = SteadyClock::now(),
                 access_entry = std::move(access_entry)](DispatchResult result) mutable {
                  const auto took = SteadyClock::now() - started;
                  self->metrics.events.record(result, took);
                  if (access_entry) self->access.write(*access_entry, result, took);
                  asio::post(self->strand, [self, generation, offset, result = std::move(result)]() mutable {
                    self->on_result(generation, offset, std::move(result));
                  });
                });
}

// --- answers --------------------------------------------------------------------

void Core::on_result(std::uint64_t generation, std::int64_t offset, DispatchResult result) {
  Partition* p = find(generation);
  if (!p || !p->records.count(offset)) return;  // revoked or stopped meanwhile
  p->running = false;
  // Not run (stopping, revoked): its offset stays uncommitted for whoever
  // consumes the partition next.
  if (!stream::is_abandoned(result)) after_answer(*p, offset, std::move(result));
  check_quiet();
}

void Core::after_answer(Partition& p, std::int64_t offset, DispatchResult result) {
  Pending& pending = p.records.at(offset);
  auto handled = [&] {
    pending.handled = true;
    if (!p.queue.empty() && p.queue.front() == offset)
      p.queue.pop_front();
    else
      std::erase(p.queue, offset);
  };
  if (stream::is_failure(result)) {
    const std::string why = stream::describe_failure(result);
    const auto& failure = settings.failure;
    switch (failure.after_failure(pending.attempts)) {
      case Next::kRetry: {
        if (p.revoking || draining) {
          logger->info("{} offset {} failed ({}); not retried while {}: left uncommitted for redelivery",
                       p.id.text(), offset, why, draining ? "draining" : "revoking");
          return;
        }
        const auto delay = stream::retry_delay(failure.retry_backoff, pending.attempts);
        logger->info("{} offset {} failed (attempt {} of {}): {}; retrying in {}", p.id.text(), offset,
                     pending.attempts, failure.max_retries + 1, why, format_duration(delay));
        metrics.retries->inc();
        p.running = true;  // the partition waits for it: its order is kept
        pending.retry_timer = std::make_unique<asio::steady_timer>(strand, delay);
        pending.retry_timer->async_wait(
            [self = shared_from_this(), generation = p.generation, offset](error_code ec) {
              if (ec) return;  // revoked, drained or stopped: leave_waiting() took it back
              Partition* partition = self->find(generation);
              if (!partition) return;
              partition->records.at(offset).retry_timer.reset();
              partition->running = false;
              self->pump(*partition);
            });
        return;
      }
      case Next::kSkip:
        handled();
        logger->warn("gave up on {} offset {} after {} attempt(s): {}; skipped{}", p.id.text(), offset,
                     pending.attempts, why, failure.dead_letter_topic.empty() ? " (no deadLetterTopic)" : "");
        metrics.skipped->inc();
        pump(p);
        return complete(p, offset);
      case Next::kDeadLetter: {
        handled();
        logger->warn("gave up on {} offset {} after {} attempt(s): {}; producing it to deadLetterTopic '{}'",
                     p.id.text(), offset, pending.attempts, why, failure.dead_letter_topic);
        auto letter = std::make_shared<const OutgoingRecord>(
            make_dead_letter(pending.record, failure.dead_letter_topic, why, pending.attempts, info.name));
        pump(p);
        return produce_then(p, offset, std::move(letter), "dead letter", [offset](Core& core, Partition& partition) {
          core.metrics.dead_lettered->inc();
          core.complete(partition, offset);
        });
      }
    }
  }
  handled();
  const bool acknowledged = acknowledges(ack_mode, *result);
  auto response = make_response(std::move(*result), pending.record, settings.response_topic);
  pump(p);  // the next record runs while the response goes out
  if (!response) return acknowledged ? complete(p, offset) : wait_for_ack(p, offset);
  produce_then(p, offset, std::make_shared<const OutgoingRecord>(std::move(*response)), "response",
               [offset, acknowledged](Core& core, Partition& partition) {
                 acknowledged ? core.complete(partition, offset) : core.wait_for_ack(partition, offset);
               });
}

void Core::produce_then(Partition& p, std::int64_t offset, std::shared_ptr<const OutgoingRecord> record,
                        const char* what, AfterProduce then) {
  ++p.producing;
  auto on_done = [self = shared_from_this(), generation = p.generation, offset, record, what,
                  then](PublishOutcome outcome) mutable {
    asio::post(self->strand, [self, generation, offset, record = std::move(record), what, then = std::move(then),
                              outcome = std::move(outcome)]() mutable {
      self->on_produced(generation, offset, std::move(record), what, std::move(then), outcome);
    });
  };
  auto out = get_producer();
  if (!out) return on_done(tl::make_unexpected(std::string{"no producer"}));
  out->produce(*record, std::move(on_done));
}

void Core::on_produced(std::uint64_t generation, std::int64_t offset, std::shared_ptr<const OutgoingRecord> record,
                       const char* what, AfterProduce then, const PublishOutcome& outcome) {
  Partition* p = find(generation);
  if (!p || !p->records.count(offset)) return;
  --p->producing;
  if (outcome) {
    then(*this, *p);
    return check_quiet();
  }
  if (p->revoking || draining || closed.load()) {
    logger->warn("the {} of {} offset {} was not produced ({}); the offset stays uncommitted for redelivery", what,
                 p->id.text(), offset, outcome.error());
    return check_quiet();
  }
  const auto delay = settings.failure.retry_backoff;
  logger->warn("the {} of {} offset {} was not produced to '{}': {}; trying again in {}", what, p->id.text(), offset,
               record->topic, outcome.error(), format_duration(delay));
  ++p->producing;
  auto& timer = p->records.at(offset).produce_timer;
  timer = std::make_unique<asio::steady_timer>(strand, delay);
  timer->async_wait([self = shared_from_this(), generation, offset, record = std::move(record), what,
                     then = std::move(then)](error_code ec) mutable {
    if (ec) return;  // leave_waiting() took it back
    Partition* partition = self->find(generation);
    if (!partition) return;
    --partition->producing;
    partition->records.at(offset).produce_timer.reset();
    self->produce_then(*partition, offset, std::move(record), what, std::move(then));
  });
}

// --- acknowledgement ---------------------------------------------------------------

void Core::wait_for_ack(Partition& p, std::int64_t offset) {
  if (offset <= p.acked_through) return complete(p, offset);
  p.records.at(offset).waiting_ack = true;
  logger->debug("{} offset {} waits for the handler's explicit acknowledgement", p.id.text(), offset);
}

bool Core::take_explicit_ack(const QualifiedOffset& offset) {
  TopicPartition id{offset.topic, offset.partition};
  {
    std::lock_guard lock(assigned_mutex);
    if (!assigned.count(id)) return false;
  }
  asio::post(strand, [self = shared_from_this(), id = std::move(id), at = offset.offset] {
    self->on_explicit_ack(id, at);
  });
  return true;
}

void Core::on_explicit_ack(const TopicPartition& id, std::int64_t offset) {
  auto it = partitions.find(id);
  if (it == partitions.end()) return;
  Partition& p = it->second;
  p.acked_through = std::max(p.acked_through, offset);
  std::vector<std::int64_t> acked;
  for (auto& [at, pending] : p.records) {
    if (at > offset) break;
    if (pending.waiting_ack) acked.push_back(at);
  }
  for (auto at : acked) complete(p, at);
  check_quiet();
}

void Core::complete(Partition& p, std::int64_t offset) {
  std::int64_t last = -1;
  std::size_t released = 0;
  p.window.done(offset, [&](AckWindow::Id id) {
    last = id;
    ++released;
    p.records.erase(id);
  });
  if (released == 0) return;
  in_flight.fetch_sub(released);
  p.committable = last + 1;
  {
    std::lock_guard lock(store_mutex);
    to_store[p.id] = last + 1;
  }
  if (p.lag && p.high_watermark >= 0) p.lag->set(std::max<std::int64_t>(0, p.high_watermark - (last + 1)));
  update_pause();
}

// --- quiet, drain, stop --------------------------------------------------------

void Core::leave_waiting(Partition& p) {
  for (auto& [offset, pending] : p.records) {
    if (pending.retry_timer) {
      pending.retry_timer->cancel();
      pending.retry_timer.reset();
      p.running = false;
    }
    if (pending.produce_timer) {
      pending.produce_timer->cancel();
      pending.produce_timer.reset();
      --p.producing;
    }
  }
  // Not started: left uncommitted, for whoever consumes the partition next.
  if (p.running && !p.queue.empty())
    p.queue.erase(p.queue.begin() + 1, p.queue.end());
  else
    p.queue.clear();
}

void Core::check_quiet() {
  if (revokes.empty() && !drained) return;
  const bool explicit_acks = ack_mode != ExplicitAckMode::kDisable;
  std::vector<RevokeWait*> finished;
  for (const auto& wait : revokes) {
    const bool done = std::all_of(wait->partitions.begin(), wait->partitions.end(), [&](const TopicPartition& tp) {
      auto it = partitions.find(tp);
      return it == partitions.end() || it->second.quiet(explicit_acks);
    });
    if (done) finished.push_back(wait.get());
  }
  for (auto* wait : finished) finish_revoke(wait, false);
  if (!drained) return;
  auto all_quiet = [&](bool acks) {
    return std::all_of(partitions.begin(), partitions.end(), [&](const auto& entry) { return entry.second.quiet(acks); });
  };
  if (!all_quiet(false)) return;
  // The handlers are done; explicit acknowledgements get as long as a
  // rebalance gives them, not the whole drain timeout.
  if (all_quiet(explicit_acks) || ack_wait_over) return std::exchange(drained, nullptr)();
  if (ack_wait_timer) return;
  ack_wait_timer = std::make_unique<asio::steady_timer>(strand, settings.wait_explicit_ack_during_rebalance);
  ack_wait_timer->async_wait([self = shared_from_this()](error_code ec) {
    if (ec) return;
    self->ack_wait_over = true;
    self->check_quiet();
  });
}

void Core::begin_drain(SteadyClock::time_point deadline, UniqueFunction<void()> done) {
  draining = true;
  update_pause();
  for (auto& [id, p] : partitions) leave_waiting(p);
  if (state.load() == GroupState::kWaitingForWorker) {
    state.store(GroupState::kClosed);
    return done();
  }
  auto end = std::make_shared<UniqueFunction<void()>>(std::move(done));
  auto finish = run_once([self = shared_from_this(), end] {
    self->drain_timer.cancel();
    // The poll thread commits, leaves the group, and then ends the drain.
    self->on_closed = [end] { (*end)(); };
    self->close_requested.store(true);
    self->wake();
  });
  std::size_t running = 0;
  for (const auto& [id, p] : partitions) running += p.running ? 1 : 0;
  logger->info("draining: {} event(s) running", running);
  drained = finish;
  drain_timer.expires_at(deadline);
  drain_timer.async_wait([self = shared_from_this(), finish](error_code ec) {
    if (ec) return;
    self->logger->warn("drain deadline: events still running are left uncommitted for redelivery");
    self->drained = nullptr;
    finish();
  });
  check_quiet();
}

void Core::set_app_paused(bool on) {
  app_paused.store(on);
  update_pause();
  if (!on)
    for (auto& [id, p] : partitions) pump(p);
}

void Core::shut_down() {
  drained = nullptr;
  drain_timer.cancel();
  if (ack_wait_timer) ack_wait_timer->cancel();
  for (auto& [id, p] : partitions) leave_waiting(p);
  auto waits = std::move(revokes);
  revokes.clear();
  for (auto& wait : waits) {
    wait->deadline->cancel();
    wait->done();
  }
  partitions.clear();
  by_generation.clear();
  in_flight.store(0);
}

void Core::on_watermarks(std::vector<std::pair<TopicPartition, std::int64_t>> marks) {
  for (const auto& [tp, high] : marks) {
    auto it = partitions.find(tp);
    if (it == partitions.end()) continue;
    Partition& p = it->second;
    p.high_watermark = high;
    const std::int64_t base =
        p.committable ? *p.committable : (p.records.empty() ? high : p.records.begin()->first);
    if (p.lag) p.lag->set(std::max<std::int64_t>(0, high - base));
  }
  update_status();
}

void Core::update_status() {
  std::vector<PartitionStatus> snapshot;
  snapshot.reserve(partitions.size());
  for (const auto& [id, p] : partitions)
    snapshot.push_back({id, p.committable.value_or(-1), p.lag ? p.lag->value() : 0, p.records.size()});
  std::lock_guard lock(reason_mutex);
  status = std::move(snapshot);
}

// --- any thread -----------------------------------------------------------------

std::shared_ptr<Producer> Core::get_producer() {
  std::lock_guard lock(producer_mutex);
  // A fatal error (an idempotent producer's sequence broken for good) ends
  // that producer: a new one starts over. The old one closes when its last
  // user lets go of it.
  if (producer && producer->fatal()) {
    logger->error("the Kafka producer failed for good ({}); starting a new one", producer->fatal_reason());
    producer.reset();
  }
  if (!producer && !closed.load()) {
    try {
      producer = std::make_shared<Producer>(settings.producer, logger);
    } catch (const std::exception& e) {
      logger->error("{}", e.what());
    }
  }
  return producer;
}

bool Core::ready() const noexcept {
  if (state.load() != GroupState::kMember || brokers_down.load()) return false;
  std::lock_guard lock(reason_mutex);
  return unknown_topics.empty();
}

void Core::set_reason(std::string text) {
  std::lock_guard lock(reason_mutex);
  not_ready_reason = std::move(text);
}

std::string Core::reason() const {
  std::lock_guard lock(reason_mutex);
  return not_ready_reason;
}

}  // namespace edgefn::kafka
