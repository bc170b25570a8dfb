// opendir, readdir, releasedir.
#include <cerrno>
#include <mutex>
#include <shared_mutex>

#include "fs/fuse/ops.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept
{
    Filesystem &fs = fsOf(req);
    auto listing = std::make_unique<DirListing>();
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *dir = fs.inodes.get(ino);
        if (!dir || !dir->isDir) {
            const int err = dir ? ENOTDIR : ENOENT;
            lock.unlock();
            fuse_reply_err(req, err);
            return;
        }
        listing->items.push_back({".", dir->ino, S_IFDIR});
        listing->items.push_back({"..", dir->parent ? dir->parent : dir->ino, S_IFDIR});
        for (const auto &[name, childIno] : dir->children) {
            const Node *c = fs.inodes.get(childIno);
            listing->items.push_back({name, childIno, c ? c->mode : S_IFREG});
        }
    }
    fi->fh = fs.dirs.adopt(std::move(listing));
    if (fuse_reply_open(req, fi) != 0) fs.dirs.take(fi->fh);
}

void opReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *fi) noexcept
{
    const DirListing *listing = FhTable<DirListing>::get(fi->fh);
    std::string buf(size, '\0');
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < listing->items.size(); ++i) {
        const auto &item = listing->items[i];
        struct stat st {};
        st.st_ino = item.ino;
        st.st_mode = item.mode;
        const size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                              item.name.c_str(), &st, static_cast<off_t>(i + 1));
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void opReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info *fi) noexcept
{
    fsOf(req).dirs.take(fi->fh);
    fuse_reply_err(req, 0);
}

}  // namespace chanfs::fs
