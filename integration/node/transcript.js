// node/transcript.js - a plain-node program (no npm packages) that uses
// libuv's event loop through http, net, child_process, fs, timers and dgram,
// and prints a transcript that depends only on what the program did: the
// same on native epoll and under the shim.  Sections run one after another
// so that their lines come in a fixed order.  Traffic: 127.0.0.1 only.
//
// After the transcript it prints one line "fds: ..." counting the kinds of
// anonymous inodes in /proc/self/fd (eventpoll, eventfd, io_uring): the
// caller (transcript.sh) checks these per side; they are not part of the
// compared transcript.
'use strict';
const http = require('http');
const net = require('net');
const cp = require('child_process');
const fs = require('fs');
const fsp = require('fs/promises');
const dgram = require('dgram');
const os = require('os');
const path = require('path');
const crypto = require('crypto');

const out = [];
const say = (line) => { out.push(line); console.log(line); };
const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex').slice(0, 16);

// Every section has a bound: a hang is a failure, not a stuck test.
const bounded = (name, ms, p) => Promise.race([
  p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${name}: no result in ${ms} ms`)), ms).unref()),
]);

async function timers() {
  const order = [];
  await new Promise((resolve) => {
    setTimeout(() => order.push('timeout-100'), 100);
    setTimeout(() => order.push('timeout-50'), 50);
    setImmediate(() => order.push('immediate'));
    process.nextTick(() => order.push('nextTick'));
    let ticks = 0;
    const iv = setInterval(() => {
      ticks++;
      if (ticks === 5) { clearInterval(iv); order.push('interval-x5'); setTimeout(resolve, 30); }
    }, 40);
    const cancelled = setTimeout(() => order.push('cancelled-ran'), 5);
    clearTimeout(cancelled);
  });
  // interval-x5 fires at >= 200 ms, after both timeouts; the gaps are wide
  // enough that a loaded machine does not reorder them.
  say(`timers: ${order.join(' ')}`);
}

async function files() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'uepoll-node-'));
  try {
    const data = crypto.createHash('sha512').update('uepoll').digest().toString('hex').repeat(4096);
    const f = path.join(dir, 'a.txt');
    await new Promise((res, rej) => fs.writeFile(f, data, (e) => (e ? rej(e) : res())));
    const back = await new Promise((res, rej) => fs.readFile(f, (e, b) => (e ? rej(e) : res(b))));
    await fsp.appendFile(f, 'tail');
    const st = await fsp.stat(f);
    const back2 = await fsp.readFile(f, 'utf8');
    say(`fs: wrote ${data.length} bytes, read ${back.length} equal=${back.toString() === data}, ` +
        `after append size=${st.size} endsWithTail=${back2.endsWith('tail')}`);
    // A stream through the threadpool (or io_uring where libuv uses it).
    const n = await new Promise((res, rej) => {
      let len = 0;
      fs.createReadStream(f, { highWaterMark: 4096 }).on('data', (c) => { len += c.length; })
        .on('end', () => res(len)).on('error', rej);
    });
    say(`fs: stream read ${n} bytes`);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function netEcho() {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    // Echo, and on the client's FIN (half-close) answer then end.
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  const results = await Promise.all([0, 1, 2, 3].map(() => new Promise((res, rej) => {
    const chunks = [];
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      c.end(big); // writes 1 MiB then half-closes
    });
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => res(Buffer.concat(chunks)));
    c.on('error', rej);
  })));
  await new Promise((r) => server.close(r));
  const expected = Buffer.concat([big, Buffer.from('bye')]);
  say(`net: ${results.length} clients echoed 1 MiB each then half-closed; ` +
      `all equal=${results.every((b) => b.equals(expected))} sha=${sha(results[0])}`);
}

async function httpSection() {
  const server = http.createServer((req, res) => {
    const body = [];
    req.on('data', (d) => body.push(d));
    req.on('end', () => {
      const b = Buffer.concat(body);
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(256 * 1024, 0x61));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${req.method} ${req.url} ${b.length}`);
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const request = (method, url, body) => new Promise((res, rej) => {
    const r = http.request({ host: '127.0.0.1', port, method, path: url, agent }, (resp) => {
      const chunks = [];
      resp.on('data', (d) => chunks.push(d));
      resp.on('end', () => res({ status: resp.statusCode, body: Buffer.concat(chunks) }));
    });
    r.on('error', rej);
    r.end(body);
  });
  const replies = [];
  for (let i = 0; i < 20; i++) replies.push(await request('GET', `/seq/${i}`));
  const par = await Promise.all(Array.from({ length: 40 }, (_, i) => request('POST', `/par/${i}`, 'x'.repeat(i * 100))));
  const big = await request('GET', '/big');
  agent.destroy();
  await new Promise((r) => server.close(r));
  const okSeq = replies.every((r, i) => r.status === 200 && r.body.toString() === `GET /seq/${i} 0`);
  const okPar = par.every((r, i) => r.status === 200 && r.body.toString() === `POST /par/${i} ${i * 100}`);
  say(`http: 20 sequential keep-alive GET ok=${okSeq}; 40 parallel POST ok=${okPar}; ` +
      `/big ${big.status} ${big.body.length} bytes sha=${sha(big.body)}`);
}

async function children() {
  // spawn with stdin and stdout piped: the child echoes back what it reads.
  const lines = await new Promise((res, rej) => {
    const c = cp.spawn('/bin/sh', ['-c', 'while read l; do echo "got $l"; done; echo done'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let s = '';
    c.stdout.on('data', (d) => { s += d; });
    c.on('error', rej);
    c.on('close', (code) => res(`${s.trim().split('\n').join(',')} exit=${code}`));
    for (let i = 0; i < 3; i++) c.stdin.write(`line${i}\n`);
    c.stdin.end();
  });
  say(`child_process.spawn: ${lines}`);
  const ex = await new Promise((res) => cp.exec('echo exec-out; echo exec-err >&2; exit 3',
    (err, stdout, stderr) => res(`stdout=${stdout.trim()} stderr=${stderr.trim()} code=${err && err.code}`)));
  say(`child_process.exec: ${ex}`);
  // A node child (the shim is inherited through LD_PRELOAD) piping 64 KiB.
  const n = await new Promise((res, rej) => {
    const c = cp.spawn(process.execPath, ['-e', 'process.stdout.write("z".repeat(65536))']);
    let len = 0;
    c.stdout.on('data', (d) => { len += d.length; });
    c.on('error', rej);
    c.on('close', (code) => res(`${len} bytes exit=${code}`));
  });
  say(`child_process node child: ${n}`);
  // A pipe between two children: sh | wc -c.
  const piped = await new Promise((res, rej) => {
    const a = cp.spawn('/bin/sh', ['-c', 'seq 1 10000']);
    const b = cp.spawn('wc', ['-l']);
    a.stdout.pipe(b.stdin);
    let s = '';
    b.stdout.on('data', (d) => { s += d; });
    b.on('error', rej);
    b.on('close', () => res(s.trim()));
  });
  say(`child_process pipe: seq 1 10000 | wc -l = ${piped}`);
}

async function udp() {
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  await new Promise((r) => a.bind(0, '127.0.0.1', r));
  await new Promise((r) => b.bind(0, '127.0.0.1', r));
  const got = [];
  const all = new Promise((res) => {
    b.on('message', (m, rinfo) => {
      got.push(m.toString());
      b.send(`ack ${m}`, rinfo.port, rinfo.address); // reply to the sender
      if (got.length === 50) res();
    });
  });
  const acks = [];
  const allAcks = new Promise((res) => a.on('message', (m) => { acks.push(m.toString()); if (acks.length === 50) res(); }));
  // One at a time keeps loopback from dropping any (the socket buffers are
  // ample for 50 small datagrams anyway).
  for (let i = 0; i < 50; i++) await new Promise((r) => a.send(`msg ${i}`, b.address().port, '127.0.0.1', r));
  await all;
  await allAcks;
  a.close(); b.close();
  got.sort(); acks.sort();
  say(`dgram: ${got.length} datagrams received, ${acks.length} acks, sha=${sha(got.join('|') + acks.join('|'))}`);
}

function fdKinds() {
  const kinds = { eventpoll: 0, eventfd: 0, io_uring: 0 };
  for (const f of fs.readdirSync('/proc/self/fd')) {
    let l;
    try { l = fs.readlinkSync(`/proc/self/fd/${f}`); } catch { continue; }
    const m = /^anon_inode:\[(\w+)\]$/.exec(l);
    if (m && m[1] in kinds) kinds[m[1]]++;
  }
  return kinds;
}

(async () => {
  const sections = [['timers', timers], ['fs', files], ['net', netEcho], ['http', httpSection],
    ['child_process', children], ['dgram', udp]];
  for (const [name, fn] of sections) await bounded(name, 30000, fn());
  // Read while the loop (and any io_uring ring it set up) is still there.
  const k = fdKinds();
  say('end');
  console.log(`fds: eventpoll=${k.eventpoll} eventfd=${k.eventfd} io_uring=${k.io_uring}`);
})().catch((e) => { console.log(`error: ${e.message}`); process.exitCode = 1; });
