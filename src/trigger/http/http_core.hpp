#pragma once
// State shared by the HTTP trigger and its sessions. Sessions hold it by
// shared_ptr, so a session finishing after the trigger object is gone
// touches nothing freed.
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "trigger/event_metrics.hpp"
#include "trigger/http/http_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn::http_trigger {

struct Counters {
  EventMetrics events;
  Counter* rejected;  // answered 4xx/5xx before dispatch (bad framing, limits)
  Gauge* connections;
};

struct Core {
  Core(asio::io_context& context, TriggerInfo trigger_info, HttpSettings http_settings, WorkerPool& worker_pool,
       std::chrono::milliseconds availability, bool dev, Counters metric_counters,
       std::shared_ptr<spdlog::logger> trigger_logger)
      : io(context),
        info(std::move(trigger_info)),
        settings(std::move(http_settings)),
        pool(worker_pool),
        availability_timeout(availability),
        dev_mode(dev),
        counters(metric_counters),
        logger(std::move(trigger_logger)) {}

  asio::io_context& io;
  TriggerInfo info;
  HttpSettings settings;
  WorkerPool& pool;
  std::chrono::milliseconds availability_timeout;
  bool dev_mode;
  Counters counters;
  std::shared_ptr<spdlog::logger> logger;

  std::atomic<bool> draining{false};
  // Open connections by id, with whether each waits for a request. Used to
  // cut idle connections at drain with shutdown(2) on the descriptor, which
  // is safe from any thread, unlike touching another thread's Asio socket.
  struct Connection {
    int fd;
    bool idle;
  };
  std::mutex mutex;
  std::unordered_map<std::uint64_t, Connection> connections;
  std::uint64_t next_connection_id = 0;
};

// One connection, from accept to close. Never throws.
awaitable<void> run_session(std::shared_ptr<Core> core, asio::ip::tcp::socket socket);

}  // namespace edgefn::http_trigger
