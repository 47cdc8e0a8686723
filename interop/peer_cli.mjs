// What the Node.js drivers of the interop matrix share: finding their stack's npm package,
// the command line every driver takes, and writing events of the line protocol
// (interop/README.md) to stdout.

import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(import.meta.url);

/** Loads npm package `name`, looking in NODE_PATH's roots first (the matrix installs there). */
export function requirePackage(name) {
  const roots = (process.env.NODE_PATH || '').split(':').filter(Boolean);
  for (const root of roots) {
    try {
      return require(require.resolve(name, { paths: [root] }));
    } catch {
      // try the next root
    }
  }
  return require(name);
}

/** The driver's options; `tool` names it in error messages. */
export function parseArgs(tool, argv) {
  const args = { role: null, label: 'data', echo: true, sink: false, quiet: false, trickle: true, bind: '127.0.0.1' };
  const fail = (message) => {
    process.stderr.write(`${tool}: ${message}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--role') args.role = value();
    else if (arg === '--label') args.label = value();
    else if (arg === '--no-echo') args.echo = false;
    else if (arg === '--sink') args.sink = true;
    else if (arg === '--quiet') args.quiet = true;
    else if (arg === '--no-trickle') args.trickle = false;
    else if (arg === '--bind') args.bind = value();
    else fail(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (args.role !== 'offerer' && args.role !== 'answerer') fail('--role offerer|answerer is required');
  return args;
}

/** The W3C data channel options of a `create_channel` command. */
export function channelOptions(command) {
  const options = {};
  const given = (v) => v !== undefined && v !== null;
  if (command.ordered === false) options.ordered = false;
  if (given(command.maxRetransmits)) options.maxRetransmits = command.maxRetransmits;
  if (given(command.maxPacketLifeTime)) options.maxPacketLifeTime = command.maxPacketLifeTime;
  if (command.protocol) options.protocol = command.protocol;
  if (command.negotiated) {
    options.negotiated = true;
    options.id = command.id;
  }
  return options;
}

/**
 * Reads commands, one JSON object a line, from stdin: `onCommand(command, line)` for each
 * (a line that is not an object is reported as an `error` event), `onEnd()` when stdin closes.
 * Lines are ignored once `closing()` is true.
 */
export function readCommands({ closing, onCommand, onEnd }) {
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  input.on('line', (raw) => {
    const line = raw.trim();
    if (!line || closing()) return;
    let command;
    try {
      command = JSON.parse(line);
      if (typeof command !== 'object' || command === null) throw new Error('a command must be a JSON object');
    } catch (e) {
      error(`${e.message ?? e} (line: ${line.slice(0, 120)})`);
      return;
    }
    onCommand(command, line);
  });
  input.on('close', onEnd);
}

/** Writes one event line. */
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Reports a problem as an `error` event. */
export function error(message) {
  emit({ event: 'error', message });
}

// One-way latency stamps, the same bytes as rust/peer-cli/src/latency.rs writes: a 4-byte
// marker and the wall-clock send time in microseconds (u64, little endian).
const LATENCY_MARKER = Buffer.from([0xfa, 0x4c, 0x41, 0x54]);
export const STAMP_LEN = 12;
const MAX_LATENCY_SAMPLES = 1 << 20;

function nowMicros() {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

export function stamp(buffer) {
  if (buffer.length < STAMP_LEN) return;
  LATENCY_MARKER.copy(buffer, 0);
  buffer.writeBigUInt64LE(nowMicros(), 4);
}

export class LatencyLog {
  constructor() {
    this.samples = [];
    this.lastArrival = 0;
  }

  record(data) {
    if (data.length < STAMP_LEN || !data.subarray(0, 4).equals(LATENCY_MARKER)) return;
    const now = nowMicros();
    this.lastArrival = Number(now);
    if (this.samples.length < MAX_LATENCY_SAMPLES) {
      const delay = now - data.readBigUInt64LE(4);
      this.samples.push(Number(delay > 0n ? delay : 0n));
    }
  }

  // Adds lat_samples / lat_p50_us / lat_p99_us / lat_last_arrival_us to a stats reply when
  // there were samples.
  addTo(reply) {
    if (this.samples.length === 0) return reply;
    const sorted = Float64Array.from(this.samples).sort();
    const at = (q) => sorted[Math.round((sorted.length - 1) * q)];
    return { ...reply, lat_samples: sorted.length, lat_p50_us: at(0.5), lat_p99_us: at(0.99), lat_last_arrival_us: this.lastArrival };
  }
}
