/**
 * The transport under a STOMP client: plain TCP, or TLS with the configured CA
 * file and optional client certificate/key. Same socket as StompListener opens.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import type { BrokerConfig } from '../config.js';

/**
 * A TCPWrapper (plain TCP, or TLS with `tls` options: the wrapper itself only knows plain TCP)
 * whose writes within one turn of the event loop leave as one: the ingestor acknowledges a
 * whole batch in one loop, and each ACK frame would otherwise be a system call of its own.
 */
function brokerSocket(host: string, port: number, tls: ConnectionOptions | null): TCPWrapper {
  class BrokerSocket extends TCPWrapper {
    // Set from getSocket(), which the base constructor calls: `declare` emits no field that would reset it.
    declare private raw: Socket;
    declare private corked: boolean;

    protected override getSocket(p: number, h: string): Socket {
      this.raw = tls ? tlsConnect({ ...tls, port: p, host: h, servername: h }) : super.getSocket(p, h);
      return this.raw;
    }

    override send(data: string | ArrayBuffer): void {
      if (!this.corked) {
        this.corked = true;
        this.raw.cork();
        process.nextTick(() => {
          this.corked = false;
          this.raw.uncork();
        });
      }
      super.send(data);
    }
  }
  return new BrokerSocket(host, port);
}

/** Opens a socket to the broker for @stomp/stompjs's `webSocketFactory`: TCP, or TLS when `useSsl` (certificate files are read on each call). */
export function openBrokerSocket(config: BrokerConfig): TCPWrapper {
  const { host, port, useSsl, caCertsFile, certFile, keyFile } = config;
  if (!useSsl) return brokerSocket(host, port, null);
  return brokerSocket(host, port, {
    ca: caCertsFile ? readFileSync(caCertsFile) : undefined,
    cert: certFile ? readFileSync(certFile) : undefined,
    key: keyFile ? readFileSync(keyFile) : undefined,
  });
}

/** `stomp://host:port` or `stomp+ssl://host:port`, for messages. */
export function brokerAddress(config: BrokerConfig): string {
  return `${config.useSsl ? 'stomp+ssl' : 'stomp'}://${config.host}:${config.port}`;
}
