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
