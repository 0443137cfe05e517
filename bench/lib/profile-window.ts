/**
 * Loaded into the relay with `--import` by the profile scenario (never by the
 * relay itself): the V8 CPU profiler of node:inspector, switched by SIGUSR2 —
 * the first signal starts a profile, the second stops it and writes
 * `window.cpuprofile` into BENCH_PROFILE_DIR. So the profile covers only the
 * measured step, not start-up and connection set-up as --cpu-prof does.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let running = false;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      void post('Profiler.enable').then(() => post('Profiler.start'));
      return;
    }
    running = false;
    void post('Profiler.stop').then((result) => {
      writeFileSync(path.join(dir, 'window.cpuprofile'), JSON.stringify((result as { profile: unknown }).profile));
    });
  });
}
