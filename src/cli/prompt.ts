/** Reading secrets for the CLI: a hidden terminal prompt, or the first line of a stream. */
import { createInterface } from 'node:readline';

/** The first line of `input` (without its line end); empty when the stream is empty. */
export async function readFirstLine(input: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return '';
}

/** Asks for a secret on the terminal without echoing it; fails when stdin is not a terminal. */
export async function promptPassword(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new Error('no terminal to prompt on: use --password-stdin');
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let password = '';
  try {
    for await (const chunk of stdin) {
      for (const char of String(chunk)) {
        if (char === '\r' || char === '\n') return password;
        if (char === '\u0003') throw new Error('cancelled');
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    }
    return password;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
