/**
 * The `dogestry` command line: finds the command in argv, loads only that command, and runs it;
 * or prints the version or help. Errors before a command runs (an unknown command) follow the
 * same contract as a command's: one line on stderr, or one JSON document under --json, exit 2.
 */
import { readFileSync } from 'node:fs';
import { Output, usageError, wantsHelp, wantsJson } from './cli/output.js';
import { COMMAND_IDS, isCommand, loadCommand, TOPICS } from './command-table.js';

const version = (): string =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function main(argv: readonly string[]): Promise<void> {
  // A reader that stops early (`dogestry images central | head`) ends the output, not in a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
  const output = new Output(wantsJson(argv));
  try {
    await dispatch(argv, output);
  } catch (error) {
    output.fail(error);
  }
}

async function dispatch(argv: readonly string[], output: Output): Promise<void> {
  const [first, second] = argv;
  if (first === '--version') {
    const v = version();
    if (output.json) output.document({ version: v, node: process.version, platform: `${process.platform}-${process.arch}` });
    else process.stdout.write(`dogestry/${v} ${process.platform}-${process.arch} node-${process.version}\n`);
    return;
  }
  if (first === undefined || first === '--help' || first === '-h') return rootHelp();
  if (first === 'help') return help(argv.slice(1));
  if (first.startsWith('-'))
    throw usageError(`give a command before flags, like \`dogestry push REMOTE IMAGE ${first}\` (see \`dogestry --help\`)`);

  const pair = second === undefined ? undefined : `${first} ${second}`;
  if (pair !== undefined && isCommand(pair)) return run(pair, argv.slice(2));
  if (isCommand(first)) return run(first, argv.slice(1));
  const topic = Object.hasOwn(TOPICS, first) ? TOPICS[first] : undefined;
  if (topic) {
    if (second === undefined || second.startsWith('-')) {
      if (topic.default && !wantsHelp(argv)) return run(topic.default, argv.slice(1));
      return topicHelp(first);
    }
    throw unknown(`${first} ${second}`);
  }
  throw unknown(first);
}

async function run(id: string, argv: readonly string[]): Promise<void> {
  const command = await loadCommand(id);
  if (wantsHelp(argv)) {
    const [{ commandHelp }, { baseFlags }] = await Promise.all([import('./cli/help.js'), import('./base-command.js')]);
    process.stdout.write(commandHelp(id, command, baseFlags));
    return;
  }
  await new command(argv, { id, version: version() }).execute();
}

/** `dogestry help [COMMAND]`: the same as COMMAND --help. */
async function help(words: readonly string[]): Promise<void> {
  const id = words.filter((w) => !w.startsWith('-')).join(' ');
  if (id === '') return rootHelp();
  if (isCommand(id)) return run(id, ['--help']);
  if (Object.hasOwn(TOPICS, id)) return topicHelp(id);
  throw unknown(id);
}

async function rootHelp(): Promise<void> {
  const { listHelp } = await import('./cli/help.js');
  process.stdout.write(
    listHelp(
      `dogestry ${version()}: move Docker images between Docker engines and dumb storage (a directory, S3, any HTTP server) with no registry in between.`,
      'dogestry COMMAND [ARGUMENTS] [FLAGS]',
      await summaries(COMMAND_IDS),
      'Run `dogestry COMMAND --help` for its arguments, flags and examples. Every command takes --json (one JSON document on stdout, on success and on failure), --quiet and --config; exit codes are in the README.',
    ),
  );
}

async function topicHelp(topic: string): Promise<void> {
  const { listHelp } = await import('./cli/help.js');
  const fallback = TOPICS[topic]?.default;
  process.stdout.write(
    listHelp(
      TOPICS[topic]?.summary ?? '',
      `dogestry ${topic} COMMAND [ARGUMENTS] [FLAGS]`,
      await summaries(COMMAND_IDS.filter((id) => id.startsWith(`${topic} `))),
      fallback ? `\`dogestry ${topic}\` alone runs \`dogestry ${fallback}\`.` : '',
    ),
  );
}

/** Each command's one-line summary, for the lists --help prints. */
function summaries(ids: readonly string[]): Promise<{ id: string; summary: string }[]> {
  return Promise.all(ids.map(async (id) => ({ id, summary: (await loadCommand(id)).summary })));
}

/** An unknown command, with the nearest ones named. */
function unknown(id: string): Error {
  const near = [...COMMAND_IDS, ...Object.keys(TOPICS)].filter((known) => distance(id, known) <= 2 || known.startsWith(id));
  const suggestion = near.length ? `; did you mean ${near.map((n) => `\`dogestry ${n}\``).join(' or ')}?` : '';
  return usageError(`unknown command \`${id}\`${suggestion} (\`dogestry --help\` lists them)`);
}

/** Levenshtein distance, for suggestions. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
