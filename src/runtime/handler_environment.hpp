#pragma once
// The environment a handler's process starts with, as Nuclio sets it: the
// function's spec.env and NUCLIO_FUNCTION_* for every process, and
// NUCLIO_EVENT_* / NUCLIO_TRIGGER_* per event (shell handlers).
#include <chrono>
#include <string>
#include <vector>

#include "config/function_config.hpp"
#include "event/event.hpp"
#include "process/environment.hpp"

namespace edgefn {

// The environment shared by all events: `inherited`, then spec.env, then
// the NUCLIO_FUNCTION_* variables; a later entry of the same name wins.
// Sorted by name. Pure.
Environment base_environment(const FunctionConfig& config, const Environment& inherited);

// `base` plus the NUCLIO_EVENT_* and NUCLIO_TRIGGER_* variables of
// `event`, as "NAME=value" strings ready for execve(). Pure; any thread.
std::vector<std::string> event_environment(const Environment& base, const Event& event);

// "2024-05-01T12:00:00Z", as Go's time.RFC3339 prints a UTC time.
std::string rfc3339(std::chrono::system_clock::time_point time);

}  // namespace edgefn
