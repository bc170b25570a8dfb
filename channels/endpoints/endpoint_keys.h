// The names endpoints answer to, in one place: the xattr keys the registry
// (registry.cpp) registers kinds under, and every stat name an endpoint may
// list. Header-only and dependency-free so chanctl, which links nothing of
// channels/, spells them the same way. Constants only: no threading.
#pragma once

#include <string_view>

namespace chanfs {

inline constexpr std::string_view kFifoEndpointKey = "fifo";
inline constexpr std::string_view kUdsEndpointKey = "uds";

// In listing order (the registry's order).
inline constexpr std::string_view kEndpointKeys[] = {kFifoEndpointKey, kUdsEndpointKey};

// Without the "stats." prefix, in listing order.
inline constexpr std::string_view kEndpointStatNames[] = {
    "fifo_connected", "fifo_bytes", "fifo_error", "uds_connected",
    "uds_clients",    "uds_bytes",  "uds_error",
};

}  // namespace chanfs
