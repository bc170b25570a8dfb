#!/usr/bin/env python3
"""Python asyncio's pipe and socket APIs on a channel and on its bridges.

usage: pipe_apis.py refuse CHANNEL | add_reader CHANNEL | fifo FIFO | uds SOCKET

refuse:     connect_read_pipe on the channel itself is refused (a channel is a
            regular file to the kernel); prints the error.
add_reader: loop.add_reader on the channel's fd reads one line.
fifo:       connect_read_pipe on a fifo=out: bridge's FIFO reads one line.
uds:        open_unix_connection to a uds=listen: socket reads one line.
Prints the line read; exits non-zero on anything unexpected.
"""
import asyncio
import os
import sys

how, path = sys.argv[1], sys.argv[2]


async def main():
    loop = asyncio.get_running_loop()
    if how == "refuse":
        f = open(path, "rb", buffering=0)
        try:
            await loop.connect_read_pipe(asyncio.Protocol, f)
        except ValueError as e:
            print(f"refused: {e}")
            return
        sys.exit("connect_read_pipe accepted a channel")
    if how == "add_reader":
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        got = asyncio.Queue()

        def readable():
            try:
                got.put_nowait(os.read(fd, 4096))
            except BlockingIOError:
                pass

        loop.add_reader(fd, readable)
        print((await asyncio.wait_for(got.get(), 10)).decode(), end="")
        loop.remove_reader(fd)
        return
    if how == "fifo":
        reader = asyncio.StreamReader()
        f = open(path, "rb", buffering=0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), f)
        print((await asyncio.wait_for(reader.readline(), 10)).decode(), end="")
        return
    if how == "uds":
        reader, writer = await asyncio.open_unix_connection(path)
        print((await asyncio.wait_for(reader.readline(), 10)).decode(), end="")
        writer.close()
        return
    sys.exit(f"unknown mode {how}")


asyncio.run(main())
