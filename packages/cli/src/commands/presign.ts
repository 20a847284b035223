import { writeFile } from 'node:fs/promises';
import { parseDuration, presign } from '@dogestry/core/lib/ticket';
import { BaseCommand } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';

export default class Presign extends BaseCommand {
  static override summary = 'Make a read-only pull ticket for one image, for hosts with no credentials.';
  static override description =
    `Writes a ticket (a small JSON document of presigned GET URLs for exactly the keys that pulling IMAGE needs) to the bucket and prints ONE presigned URL of it. On a deploy host with no AWS credentials:

  dogestry pull 'THAT_URL' IMAGE

The ticket can read nothing but that image, and stops working after --expires (at most 7 days, SigV4's limit; URLs signed with temporary credentials stop when those do). With --output FILE the ticket is written to FILE instead of the bucket; pull accepts the file too.`;
  static override examples = [
    'dogestry presign central app:1 --expires 24h',
    'dogestry presign central app:1 --expires 2h --output app-1.ticket.json',
  ];
  static override args = {
    remote: Args.string({ required: true, description: 'an s3:// remote (alias or URL)' }),
    image: Args.string({ required: true, description: 'name[:tag] or image-id prefix' }),
  };
  static override flags = {
    expires: Flags.string({ default: '24h', description: 'how long the ticket works: 90s, 15m, 24h, 7d (at most 7d)' }),
    output: Flags.string({ char: 'o', description: 'write the ticket to this file instead of storing it in the bucket' }),
  };

  async run(): Promise<{ url?: string; output?: string; image: string; expires: string }> {
    const { args, flags } = this.parse(Presign);
    const expiresIn = parseDuration(flags.expires);
    const result = await presign({ ...this.remote(args.remote, flags), image: args.image, expiresIn, store: !flags.output });
    if (flags.output) {
      await writeFile(flags.output, `${JSON.stringify(result.ticket, null, 1)}\n`, { mode: 0o600 });
      this.logToStderr(`ticket for ${result.ticket.image} written to ${flags.output}; it expires at ${result.ticket.expires}`);
      return { output: flags.output, image: result.ticket.image, expires: result.ticket.expires };
    }
    this.log(result.url ?? '');
    this.logToStderr(`ticket for ${result.ticket.image}; it expires at ${result.ticket.expires}`);
    return { ...(result.url ? { url: result.url } : {}), image: result.ticket.image, expires: result.ticket.expires };
  }
}
