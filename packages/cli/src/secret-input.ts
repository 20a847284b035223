/** Ask on the terminal (stderr for the prompt, so stdout stays for results); a secret is not echoed. */
export async function readSecret(prompt: string, hidden: boolean): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  if (!hidden) {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input, output: process.stderr, terminal: false });
    try {
      return (await rl.question('')).trim();
    } finally {
      rl.close();
    }
  }
  return new Promise((resolve, reject) => {
    let typed = '';
    input.setRawMode(true);
    input.resume();
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new Error('interrupted'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    input.on('data', onData);
  });
}
