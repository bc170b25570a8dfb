// Node's pipe and socket APIs on a channel and on its bridges.
// usage: node pipe_apis.js refuse|stream CHANNEL | fifo FIFO | uds SOCKET
//   refuse: new net.Socket({fd}) on the channel's fd is refused (a channel
//           is a regular file to the kernel); prints the error code.
//   stream: fs.createReadStream on the channel reads one line.
//   fifo:   new net.Socket({fd}) on a fifo=out: bridge's FIFO reads one line.
//   uds:    net.createConnection to a uds=listen: socket reads one line.
'use strict';
const fs = require('fs');
const net = require('net');

const [how, path] = process.argv.slice(2);
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('nothing within 10 s'), 10000).unref();

function firstLine(stream, done) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
            process.stdout.write(buf.slice(0, nl + 1));
            done();
        }
    });
    stream.on('error', (e) => fail(e.message));
}

if (how === 'refuse') {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
        new net.Socket({ fd, readable: true });
    } catch (e) {
        console.log(`refused: ${e.code}`);
        process.exit(0);
    }
    fail('net.Socket accepted a channel');
} else if (how === 'stream') {
    const s = fs.createReadStream(path);
    firstLine(s, () => process.exit(0));
} else if (how === 'fifo') {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const s = new net.Socket({ fd, readable: true });
    firstLine(s, () => process.exit(0));
} else if (how === 'uds') {
    const s = net.createConnection(path);
    firstLine(s, () => process.exit(0));
} else {
    fail(`unknown mode ${how}`);
}
