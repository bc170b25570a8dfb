// queue_io.js: the Node.js twin of queue_io.c (same arguments, same lines).
'use strict';
const fs = require('fs');

const LINE_LEN = 16;
const line = (text) => Buffer.from(text.padEnd(LINE_LEN - 1, '.').slice(0, LINE_LEN - 1) + '\n');

function write(path, tag, count) {
  const fd = fs.openSync(path, fs.constants.O_WRONLY);
  for (let i = 0; i < count; i++) {
    const b = line(`${tag}:${String(i).padStart(6, '0')}`);
    if (fs.writeSync(fd, b) !== LINE_LEN) throw new Error('short write');
  }
  fs.closeSync(fd);
}

function read(path) {
  const end = line('END');
  const fd = fs.openSync(path, fs.constants.O_RDONLY);
  const buf = Buffer.alloc(LINE_LEN);
  const out = [];
  for (;;) {
    const n = fs.readSync(fd, buf, 0, LINE_LEN, null);
    if (n !== LINE_LEN) throw new Error(`read returned ${n}, want one ${LINE_LEN}-byte line`);
    if (buf.equals(end)) break;
    out.push(Buffer.from(buf));
  }
  fs.closeSync(fd);
  fs.writeSync(1, Buffer.concat(out));
}

const [mode, path, tag, count] = process.argv.slice(2);
if (mode === 'write' && count !== undefined) write(path, tag, Number(count));
else if (mode === 'read' && path !== undefined) read(path);
else {
  process.stderr.write('usage: queue_io.js write PATH TAG COUNT | read PATH\n');
  process.exit(2);
}
