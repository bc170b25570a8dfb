// A channel's endpoints (user.chanfs.fifo, user.chanfs.uds, ...): one slot
// per node, holding at most one endpoint per registered kind, kept in the
// registry's order so listings are stable. Only the Endpoint interface is
// seen here, never a concrete type.
//
// Thread-safety: none of its own; guarded by the inode table's mutex like
// every Node field. Destroy what take()/takeAll() return outside that lock:
// an endpoint's destructor waits for the bridge event loop.
#pragma once

#include <algorithm>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "channels/endpoints/endpoint.h"

namespace chanfs::fs {

class EndpointSlots {
public:
    bool empty() const { return slots_.empty(); }
    Endpoint *get(std::string_view key) const
    {
        for (const auto &[k, e] : slots_)
            if (k == key) return e.get();
        return nullptr;
    }
    std::shared_ptr<Endpoint> take(std::string_view key)
    {
        for (auto it = slots_.begin(); it != slots_.end(); ++it) {
            if (it->first != key) continue;
            auto e = std::move(it->second);
            slots_.erase(it);
            return e;
        }
        return nullptr;
    }
    // Fills the empty slot of `key` (a registered kind).
    void put(std::string_view key, std::shared_ptr<Endpoint> e)
    {
        const auto kinds = endpointKinds();
        const auto rank = [&kinds](std::string_view k) {
            return std::find_if(kinds.begin(), kinds.end(),
                                [k](const EndpointKind &kind) { return kind.key == k; }) -
                   kinds.begin();
        };
        auto at = std::find_if(slots_.begin(), slots_.end(),
                               [&](const auto &s) { return rank(s.first) > rank(key); });
        slots_.emplace(at, key, std::move(e));
    }
    std::vector<std::shared_ptr<Endpoint>> takeAll()
    {
        std::vector<std::shared_ptr<Endpoint>> all;
        for (auto &[k, e] : slots_) all.push_back(std::move(e));
        slots_.clear();
        return all;
    }
    // Shared references, to use after the table lock is dropped.
    std::vector<std::shared_ptr<Endpoint>> all() const
    {
        std::vector<std::shared_ptr<Endpoint>> out;
        for (const auto &[k, e] : slots_) out.push_back(e);
        return out;
    }
    // (key, endpoint) in registry order.
    const std::vector<std::pair<std::string_view, std::shared_ptr<Endpoint>>> &items() const
    {
        return slots_;
    }

private:
    std::vector<std::pair<std::string_view, std::shared_ptr<Endpoint>>> slots_;
};

}  // namespace chanfs::fs
