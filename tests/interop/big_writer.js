// big_writer.js: the Node.js twin of big_writer.c (same arguments and bodies).
'use strict';
const fs = require('fs');

const [framing, path, tag, countArg, sizeArg] = process.argv.slice(2);
if (sizeArg === undefined) {
  process.stderr.write('usage: big_writer.js messages|lp32 PATH TAG COUNT SIZE\n');
  process.exit(2);
}
const count = Number(countArg), size = Number(sizeArg);
const tagsum = [...Buffer.from(tag)].reduce((a, b) => a + b, 0);
const fd = fs.openSync(path, fs.constants.O_WRONLY);
for (let seq = 0; seq < count; seq++) {
  const head = Buffer.from(`${tag}:${seq}:`);
  const body = Buffer.alloc(size, (tagsum + 7 * seq) % 256);
  head.copy(body);
  let msg = body;
  if (framing === 'lp32') {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(size);
    msg = Buffer.concat([len, body]);
  }
  // One write(2) per message: writeSync does not loop over short writes.
  const n = fs.writeSync(fd, msg);
  if (n !== msg.length) throw new Error(`short write ${n}`);
}
fs.closeSync(fd);
