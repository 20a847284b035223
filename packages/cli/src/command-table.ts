/**
 * Every command, loaded only when it runs (or when --help lists them all): `dogestry --version`
 * imports none of them, and each command imports only what it uses. Listed in the order the
 * root --help shows them, the daily ones first.
 */
import type { CommandClass } from './base-command.js';

type Loader = () => Promise<{ default: CommandClass }>;

export const COMMANDS: Readonly<Record<string, Loader>> = {
  push: () => import('./commands/push.js'),
  pull: () => import('./commands/pull.js'),
  images: () => import('./commands/images.js'),
  tags: () => import('./commands/tags.js'),
  rm: () => import('./commands/rm.js'),
  verify: () => import('./commands/verify.js'),
  gc: () => import('./commands/gc.js'),
  presign: () => import('./commands/presign.js'),
  login: () => import('./commands/login.js'),
  logout: () => import('./commands/logout.js'),
  registry: () => import('./commands/registry.js'),
  serve: () => import('./commands/serve.js'),
  'remote add': () => import('./commands/remote/add.js'),
  'remote list': () => import('./commands/remote/list.js'),
  'remote remove': () => import('./commands/remote/remove.js'),
  'remote rename': () => import('./commands/remote/rename.js'),
  'remote set-url': () => import('./commands/remote/set-url.js'),
  'cache prune': () => import('./commands/cache/prune.js'),
};

/** Words that group commands; a topic with a default runs it when given alone (`dogestry remote`). */
export const TOPICS: Readonly<Record<string, { summary: string; default?: string }>> = {
  remote: { summary: 'Manage remote aliases in dogestry.cfg (like git remote).', default: 'remote list' },
  cache: { summary: 'Bound the local pull cache and clear what dead pulls and pushes left.' },
};
