// unique_ptr owners for the cnats (libnats) handles, so no handle is ever
// freed by hand: each alias destroys its handle with the library's own
// destroy function.
#pragma once

#include <nats/nats.h>

#include <memory>

namespace chanfs::nats {

template <typename T, void (*Destroy)(T *)>
struct HandleDeleter {
    void operator()(T *p) const noexcept
    {
        if (p) Destroy(p);
    }
};

template <typename T, void (*Destroy)(T *)>
using Handle = std::unique_ptr<T, HandleDeleter<T, Destroy>>;

using OptionsPtr = Handle<natsOptions, natsOptions_Destroy>;
using ConnectionPtr = Handle<natsConnection, natsConnection_Destroy>;
using JsCtxPtr = Handle<jsCtx, jsCtx_Destroy>;
using SubscriptionPtr = Handle<natsSubscription, natsSubscription_Destroy>;
using MsgPtr = Handle<natsMsg, natsMsg_Destroy>;
using MsgListPtr = Handle<natsMsgList, natsMsgList_Destroy>;
using KvStorePtr = Handle<kvStore, kvStore_Destroy>;
using KvWatcherPtr = Handle<kvWatcher, kvWatcher_Destroy>;
using KvEntryPtr = Handle<kvEntry, kvEntry_Destroy>;
using KvKeysListPtr = Handle<kvKeysList, kvKeysList_Destroy>;
using StreamInfoPtr = Handle<jsStreamInfo, jsStreamInfo_Destroy>;
using ConsumerInfoPtr = Handle<jsConsumerInfo, jsConsumerInfo_Destroy>;
using PubAckPtr = Handle<jsPubAck, jsPubAck_Destroy>;
using InboxPtr = Handle<natsInbox, natsInbox_Destroy>;

}  // namespace chanfs::nats
