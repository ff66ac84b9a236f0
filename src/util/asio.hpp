#pragma once
// The one way the project includes Asio and Beast. Boost 1.74's awaitable.hpp
// uses std::exchange without including <utility>, so it must come first.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace edgefn {
namespace asio = boost::asio;
using boost::system::error_code;
template <class T>
using awaitable = asio::awaitable<T>;
}  // namespace edgefn
