#pragma once
// The HTTP trigger: HTTP/1.1 with keep-alive over Boost.Beast, one coroutine
// per connection (read, dispatch, write), every read bounded in size and
// time. A request gets exactly one response.
#include <memory>

#include "trigger/http/http_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn {

// Builds the trigger; binds at start(). Start-up thread.
std::unique_ptr<Trigger> make_http_trigger(const TriggerContext& context, HttpSettings settings);

}  // namespace edgefn
