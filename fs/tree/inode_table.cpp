#include "fs/tree/inode_table.h"

#include <time.h>

namespace chanfs::fs {

timespec nowRealtime()
{
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

InodeTable::InodeTable(uid_t rootUid, gid_t rootGid, mode_t rootMode)
{
    auto root = std::make_unique<Node>();
    root->ino = FUSE_ROOT_ID;
    root->isDir = true;
    root->mode = S_IFDIR | (rootMode & 07777);
    root->uid = rootUid;
    root->gid = rootGid;
    root->atime = root->mtime = root->ctime = nowRealtime();
    root->nlookup = 1;  // the kernel never forgets the root
    nodes_.emplace(FUSE_ROOT_ID, std::move(root));
}

Node *InodeTable::get(fuse_ino_t ino)
{
    auto it = nodes_.find(ino);
    return it == nodes_.end() ? nullptr : it->second.get();
}

Node *InodeTable::child(const Node &dir, const std::string &name)
{
    auto it = dir.children.find(name);
    return it == dir.children.end() ? nullptr : get(it->second);
}

Node &InodeTable::add(Node &dir, const std::string &name, bool isDir, mode_t mode, uid_t uid,
                      gid_t gid, fuse_ino_t ino)
{
    auto n = std::make_unique<Node>();
    if (ino == 0) {
        n->ino = nextIno_.fetch_add(1);
    } else {
        n->ino = ino;
        if (nextIno_.load() <= ino) nextIno_.store(ino + 1);
    }
    n->isDir = isDir;
    n->mode = (isDir ? S_IFDIR : S_IFREG) | (mode & 07777);
    n->uid = uid;
    n->gid = gid;
    n->atime = n->mtime = n->ctime = nowRealtime();
    n->parent = dir.ino;
    n->name = name;
    Node &ref = *n;
    dir.children[name] = ref.ino;
    if (isDir) ++dir.subdirs;
    dir.mtime = dir.ctime = ref.ctime;
    nodes_.emplace(ref.ino, std::move(n));
    ++named_;
    return ref;
}

Node &InodeTable::addDetached(mode_t mode, uid_t uid, gid_t gid)
{
    auto n = std::make_unique<Node>();
    n->ino = nextIno_.fetch_add(1);
    n->mode = mode;
    n->uid = uid;
    n->gid = gid;
    n->atime = n->mtime = n->ctime = nowRealtime();
    n->unlinked = true;
    Node &ref = *n;
    nodes_.emplace(ref.ino, std::move(n));
    return ref;
}

void InodeTable::removeName(Node &dir, const std::string &name)
{
    auto it = dir.children.find(name);
    if (it == dir.children.end()) return;
    Node *n = get(it->second);
    dir.children.erase(it);
    --named_;
    dir.mtime = dir.ctime = nowRealtime();
    if (!n) return;
    if (n->isDir) --dir.subdirs;
    n->unlinked = true;
    n->ctime = dir.ctime;
    maybeErase(*n);
}

void InodeTable::move(Node &from, const std::string &name, Node &to, const std::string &newName)
{
    auto it = from.children.find(name);
    if (it == from.children.end()) return;
    const fuse_ino_t ino = it->second;
    from.children.erase(it);
    to.children[newName] = ino;
    const timespec now = nowRealtime();
    from.mtime = from.ctime = to.mtime = to.ctime = now;
    if (Node *n = get(ino)) {
        if (n->isDir) {
            --from.subdirs;
            ++to.subdirs;
        }
        n->parent = to.ino;
        n->name = newName;
        n->ctime = now;
        if (n->channel) n->channel->rename(path(*n));
    }
}

void InodeTable::forget(fuse_ino_t ino, uint64_t nlookup)
{
    Node *n = get(ino);
    if (!n || ino == FUSE_ROOT_ID) return;
    n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
    maybeErase(*n);
}

void InodeTable::maybeErase(Node &n)
{
    // Open files hold their channel themselves, so only lookups matter.
    if (n.unlinked && n.nlookup == 0) nodes_.erase(n.ino);
}

std::string InodeTable::path(const Node &n)
{
    if (n.ino == FUSE_ROOT_ID) return "/";
    std::vector<const std::string *> parts;
    const Node *cur = &n;
    while (cur && cur->ino != FUSE_ROOT_ID) {
        parts.push_back(&cur->name);
        cur = cur->unlinked ? nullptr : get(cur->parent);
    }
    std::string out;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        out += '/';
        out += **it;
    }
    return out;
}

std::vector<const PartialSettings *> InodeTable::defaultsChain(Node &dir)
{
    std::vector<const PartialSettings *> chain;
    Node *cur = &dir;
    while (cur) {
        chain.push_back(&cur->defaults);
        if (cur->ino == FUSE_ROOT_ID) break;
        cur = get(cur->parent);
    }
    return {chain.rbegin(), chain.rend()};
}

}  // namespace chanfs::fs
