// Private ActiveMQ Classic broker (Debian's `activemq` package) for tests: own temp dir, own port, STOMP only.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

const ACTIVEMQ_HOME = '/usr/share/activemq';
const ACTIVEMQ_JAR = `${ACTIVEMQ_HOME}/bin/activemq.jar`;
const INSTALL_HINT = 'apt-get install -y --no-install-recommends activemq';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** A running private broker; `restart()` keeps port and data dir, `stop()` also deletes the dir (unless KEEP_TEST_DIRS). */
export type PrivateBroker = {
  host: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the broker but keeps its data and port, for a later restart(). */
  halt(): Promise<void>;
};

// Brokers still running when the test process exits are killed (and their dirs removed) here.
const live = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  }
});

/** Starts a private persistent broker with a STOMP connector on 127.0.0.1 (free port unless given) and waits until it answers CONNECT. */
export async function startActiveMQ(opts: { port?: number } = {}): Promise<PrivateBroker> {
  checkPrerequisites();
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swf-relay-amq-'));
  writeConfig(dir, host, port);

  let child: ChildProcess | undefined;
  try {
    child = await launch(dir, host, port);
  } catch (err) {
    if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const stopChild = async () => {
    if (child) await terminate(child);
    child = undefined;
  };
  return {
    host,
    port,
    dataDir: dir,
    async stop() {
      await stopChild();
      if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stopChild();
      child = await launch(dir, host, port);
    },
    async halt() {
      await stopChild();
    },
  };
}

function checkPrerequisites(): void {
  if (!existsSync(ACTIVEMQ_JAR)) {
    throw new Error(`ActiveMQ is missing (${ACTIVEMQ_JAR} not found): install it with \`${INSTALL_HINT}\``);
  }
  const onPath = (process.env.PATH ?? '').split(path.delimiter).some((d) => {
    try {
      accessSync(path.join(d || '.', 'java'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!onPath) {
    throw new Error(`java is missing (not found on PATH): install it with \`${INSTALL_HINT}\` (pulls in a Java runtime)`);
  }
}

function writeConfig(dir: string, host: string, port: number): void {
  mkdirSync(path.join(dir, 'conf'));
  mkdirSync(path.join(dir, 'data'));
  // Debian's build logs through log4j 1.2; <base>/conf is on the classpath, so conf/log4j.properties is picked up.
  writeFileSync(
    path.join(dir, 'conf', 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, console',
      'log4j.logger.org.apache.activemq.broker.BrokerService=INFO',
      'log4j.appender.console=org.apache.log4j.ConsoleAppender',
      'log4j.appender.console.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.console.layout.ConversionPattern=%d{HH:mm:ss,SSS} %-5p %c{1} - %m%n',
      '',
    ].join('\n'),
  );
  const dataDir = xmlAttr(path.join(dir, 'data'));
  writeFileSync(
    path.join(dir, 'conf', 'activemq.xml'),
    `<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="test" useJmx="false"
          persistent="true" schedulerSupport="false" advisorySupport="false" dataDirectory="${dataDir}">
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
        <storeUsage><storeUsage limit="1 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://${host}:${port}"/>
    </transportConnectors>
  </broker>
</beans>
`,
  );
}

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

async function launch(dir: string, host: string, port: number): Promise<ChildProcess> {
  const logPath = path.join(dir, 'broker.log');
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'java',
      [
        '-Xms64m',
        '-Xmx256m',
        '-Djava.awt.headless=true',
        `-Dactivemq.home=${ACTIVEMQ_HOME}`,
        `-Dactivemq.base=${dir}`,
        `-Dactivemq.conf=${path.join(dir, 'conf')}`,
        `-Dactivemq.data=${path.join(dir, 'data')}`,
        '-jar',
        ACTIVEMQ_JAR,
        'start',
        `xbean:file:${path.join(dir, 'conf', 'activemq.xml')}`,
      ],
      { cwd: dir, stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  child.unref(); // a forgotten broker must not keep the test process alive; the exit hook kills it
  live.set(child, dir);

  let exited: string | undefined;
  child.once('error', (err) => (exited = `spawn failed: ${err.message}`));
  child.once('exit', (code, signal) => {
    exited ??= `exited early (code ${code}, signal ${signal})`;
    live.delete(child);
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline && exited === undefined) {
    const answer = await probeStomp(host, port);
    if (answer === true) return child;
    lastProblem = answer;
    await sleep(200);
  }
  const reason = exited ?? `did not answer STOMP CONNECT within ${START_TIMEOUT_MS / 1000} s (last: ${lastProblem})`;
  await terminate(child);
  throw new Error(`ActiveMQ on ${host}:${port} ${reason}; tail of ${logPath}:\n${tail(logPath, 40)}`);
}

/** One STOMP CONNECT round trip on a raw socket: true on CONNECTED, otherwise a short description of what happened. */
function probeStomp(host: string, port: number): Promise<true | string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = net.createConnection({ host, port });
    const finish = (result: true | string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(`timeout, got ${JSON.stringify(received.slice(0, 200))}`), 2_000);
    socket.on('connect', () => socket.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0'));
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      if (/^[\r\n]*CONNECTED\r?\n/.test(received)) {
        socket.write('DISCONNECT\n\n\0');
        finish(true);
      } else if (received.includes('\0')) finish(`unexpected frame ${JSON.stringify(received.slice(0, 200))}`);
    });
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish(`closed, got ${JSON.stringify(received.slice(0, 200))}`));
  });
}

/** SIGTERM (graceful broker shutdown via the JVM hook), SIGKILL after STOP_TIMEOUT_MS. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  live.delete(child);
}

/** Last lines of the broker log, without Java stack frames (the "Caused by:" lines carry the reason). */
function tail(file: string, lines: number): string {
  try {
    const text = readFileSync(file, 'utf8').split('\n');
    return text.filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line)).slice(-lines).join('\n');
  } catch (err) {
    return `(cannot read: ${(err as Error).message})`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
