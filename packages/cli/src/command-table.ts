/**
 * Every command, loaded only when it runs (or when --help lists them all): `dogestry --version`
 * imports none of them, and each command imports only what it uses. Listed in the order the
 * root --help shows them, the daily ones first; `remote add` lives in commands/remote/add.js.
 */
import type { CommandClass } from './base-command.js';

export const COMMAND_IDS: readonly string[] = [
  'push',
  'pull',
  'images',
  'tags',
  'rm',
  'verify',
  'gc',
  'presign',
  'login',
  'logout',
  'registry',
  'serve',
  'remote add',
  'remote list',
  'remote remove',
  'remote rename',
  'remote set-url',
  'cache prune',
];

export const isCommand = (id: string): boolean => COMMAND_IDS.includes(id);

/** The command's class; `id` must be one of COMMAND_IDS. */
export async function loadCommand(id: string): Promise<CommandClass> {
  return ((await import(`./commands/${id.split(' ').join('/')}.js`)) as { default: CommandClass }).default;
}

/** Words that group commands; a topic with a default runs it when given alone (`dogestry remote`). */
export const TOPICS: Readonly<Record<string, { summary: string; default?: string }>> = {
  remote: { summary: 'Manage remote aliases in dogestry.cfg (like git remote).', default: 'remote list' },
  cache: { summary: 'Bound the local pull cache and clear what dead pulls and pushes left.' },
};
